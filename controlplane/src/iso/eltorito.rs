//! El Torito 1.0 ("Bootable CD-ROM Format Specification", Phoenix/IBM 1995) boot catalog:
//! 32-byte entries starting at the sector named by the boot record volume descriptor — a
//! validation entry (header id 1, checksum, key bytes 0x55 0xAA), the initial/default entry,
//! then section headers (0x90 more follow, 0x91 final) each followed by its section entries
//! (and their 0x44 extension entries). Sectors here are always 2048 bytes.

use super::directory::{le_u16, le_u32};
use super::source::{read_vec, Source};
use super::{BootEntry, IsoError, Platform};

const ENTRY: u64 = 32;
const SECTOR: u64 = 2048;
/// Catalog entries read at most (xorriso allows 32 boot images; this is generous).
const MAX_ENTRIES: u64 = 1024;

/// Reads the boot catalog at `sector`. `file` is left `None` here (resolved against the
/// directory tree by the caller).
pub(crate) fn read(src: &dyn Source, sector: u32) -> Result<Vec<BootEntry>, IsoError> {
    let base = u64::from(sector) * SECTOR;
    let entry = |i: u64| -> Result<Vec<u8>, IsoError> {
        if i >= MAX_ENTRIES {
            return Err(IsoError::Malformed(
                "El Torito boot catalog has too many entries",
            ));
        }
        read_vec(
            src,
            base + i * ENTRY,
            ENTRY as usize,
            "El Torito boot catalog lies past the end",
        )
    };
    let validation = entry(0)?;
    if !valid(&validation) {
        return Err(IsoError::Malformed(
            "El Torito boot catalog has a bad validation entry",
        ));
    }
    let mut out = vec![boot_entry(validation[1], &entry(1)?)];
    let mut i = 2;
    loop {
        let header = entry(i)?;
        i += 1;
        let last = match header[0] {
            0x90 => false,
            0x91 => true,
            // Lenient: some catalogs end without a final header.
            _ => break,
        };
        for _ in 0..le_u16(&header, 2) {
            let e = entry(i)?;
            i += 1;
            if e[0] != 0x88 && e[0] != 0x00 {
                return Err(IsoError::Malformed(
                    "El Torito section entry has a bad boot indicator",
                ));
            }
            out.push(boot_entry(header[1], &e));
            // Extension entries (0x44) follow while bit 5 says so.
            let mut more = e[1] & 0x20 != 0;
            while more {
                let x = entry(i)?;
                i += 1;
                if x[0] != 0x44 {
                    return Err(IsoError::Malformed(
                        "El Torito section entry extension is missing",
                    ));
                }
                more = x[1] & 0x20 != 0;
            }
        }
        if last {
            break;
        }
    }
    Ok(out)
}

/// Header id 1, key bytes, and the 16-bit words summing to zero.
fn valid(e: &[u8]) -> bool {
    let sum = e.chunks_exact(2).fold(0u16, |acc, w| {
        acc.wrapping_add(u16::from_le_bytes([w[0], w[1]]))
    });
    e[0] == 1 && e[30] == 0x55 && e[31] == 0xAA && sum == 0
}

fn boot_entry(platform: u8, e: &[u8]) -> BootEntry {
    BootEntry {
        platform: Platform::from_id(platform),
        bootable: e[0] == 0x88,
        media: e[1] & 0x0F,
        load_rba: le_u32(e, 8),
        sector_count: le_u16(e, 6),
        file: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validation(platform: u8) -> [u8; 32] {
        let mut e = [0u8; 32];
        e[0] = 1;
        e[1] = platform;
        e[30] = 0x55;
        e[31] = 0xAA;
        let sum = e.chunks_exact(2).fold(0u16, |a, w| {
            a.wrapping_add(u16::from_le_bytes([w[0], w[1]]))
        });
        e[28..30].copy_from_slice(&0u16.wrapping_sub(sum).to_le_bytes());
        e
    }

    fn boot(indicator: u8, media: u8, count: u16, rba: u32) -> [u8; 32] {
        let mut e = [0u8; 32];
        e[0] = indicator;
        e[1] = media;
        e[6..8].copy_from_slice(&count.to_le_bytes());
        e[8..12].copy_from_slice(&rba.to_le_bytes());
        e
    }

    fn header(id: u8, platform: u8, n: u16) -> [u8; 32] {
        let mut e = [0u8; 32];
        e[0] = id;
        e[1] = platform;
        e[2..4].copy_from_slice(&n.to_le_bytes());
        e
    }

    fn image(entries: &[[u8; 32]]) -> Vec<u8> {
        let mut img = vec![0u8; 2048];
        for e in entries {
            img.extend_from_slice(e);
        }
        img.resize(2 * 2048, 0);
        img
    }

    #[test]
    fn bios_and_efi() {
        let mut ext = [0u8; 32];
        ext[0] = 0x44;
        let img = image(&[
            validation(0),
            boot(0x88, 0, 4, 40),
            header(0x91, 0xEF, 2),
            boot(0x88, 0x20, 0, 50), // followed by one extension
            ext,
            boot(0x00, 4, 1, 60),
        ]);
        let b = read(&img, 1).unwrap();
        assert_eq!(b.len(), 3);
        assert_eq!(b[0].platform, Platform::Bios);
        assert_eq!(
            (b[0].bootable, b[0].load_rba, b[0].sector_count),
            (true, 40, 4)
        );
        assert_eq!(b[1].platform, Platform::Efi);
        assert_eq!((b[1].media, b[1].load_rba), (0, 50));
        assert_eq!((b[2].bootable, b[2].media, b[2].load_rba), (false, 4, 60));
    }

    #[test]
    fn checksum_and_key_bytes() {
        let mut v = validation(0);
        assert!(valid(&v));
        v[4] = b'X';
        assert!(!valid(&v));
        let mut v = validation(0);
        v[31] = 0;
        assert!(!valid(&v));
        let img = image(&[v, boot(0x88, 0, 4, 40)]);
        assert!(matches!(read(&img, 1), Err(IsoError::Malformed(_))));
    }

    #[test]
    fn bounds() {
        let img = image(&[validation(0), boot(0x88, 0, 4, 40), header(0x90, 0, 60000)]);
        assert!(read(&img, 1).is_err());
        assert!(matches!(read(&img, 5), Err(IsoError::Truncated(_))));
        // Catalog ending without a final header is accepted.
        let img = image(&[validation(0xEF), boot(0x88, 0, 0, 40)]);
        assert_eq!(read(&img, 1).unwrap()[0].platform, Platform::Efi);
    }
}
