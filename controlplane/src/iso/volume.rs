//! ECMA-119 §8 volume descriptors, from sector 16 until the set terminator: the primary
//! volume descriptor (type 1), a Joliet supplementary one (type 2), the El Torito boot record
//! (type 0, "EL TORITO SPECIFICATION"). After them, ECMA-167 volume recognition descriptors
//! (`BEA01`, `NSR02`/`NSR03`, `TEA01`) tell a UDF image apart from garbage.

use super::directory::{le_u16, le_u32, Record};
use super::joliet::is_joliet_escape;
use super::source::{in_bounds, Source};
use super::IsoError;

/// Volume descriptors live in 2048-byte sectors from 16 on, whatever the logical block size.
pub(crate) const SECTOR: u64 = 2048;
const FIRST: u64 = 16;
/// A real image has a handful; this just bounds the scan.
const MAX_DESCRIPTORS: u64 = 64;

/// One volume's directory tree entry point (from a PVD or SVD).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tree {
    pub(crate) volume_id: String,
    /// Logical block size: the unit of extent locations.
    pub(crate) block_size: u64,
    /// Volume space size, in logical blocks.
    pub(crate) volume_blocks: u64,
    /// Byte offset of the root directory's extent.
    pub(crate) root_offset: u64,
    pub(crate) root_len: u32,
}

/// What the descriptor scan found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Volumes {
    pub(crate) primary: Option<Tree>,
    pub(crate) joliet: Option<Tree>,
    /// Sector of the El Torito boot catalog.
    pub(crate) boot_catalog: Option<u32>,
    /// An `NSR02`/`NSR03` descriptor was seen: the image carries UDF.
    pub(crate) udf: bool,
}

/// Scans the volume descriptors. Never fails for lack of descriptors: the caller decides
/// between [`IsoError::NotIso`] and [`IsoError::UdfOnly`].
pub(crate) fn scan(src: &dyn Source) -> Result<Volumes, IsoError> {
    let mut v = Volumes::default();
    let mut sector = [0u8; SECTOR as usize];
    for i in FIRST..FIRST + MAX_DESCRIPTORS {
        let offset = i * SECTOR;
        if !in_bounds(src, offset, SECTOR) {
            break;
        }
        src.read_at(offset, &mut sector)?;
        match &sector[1..6] {
            b"CD001" => match sector[0] {
                0 if &sector[7..30] == b"EL TORITO SPECIFICATION" => {
                    v.boot_catalog.get_or_insert(le_u32(&sector, 71));
                }
                1 if v.primary.is_none() => v.primary = Some(tree(&sector, false)?),
                2 if v.joliet.is_none() && is_joliet_escape(&sector[88..120]) => {
                    v.joliet = Some(tree(&sector, true)?);
                }
                // Terminator: UDF descriptors may follow, keep looking.
                _ => {}
            },
            b"NSR02" | b"NSR03" => v.udf = true,
            b"BEA01" | b"BOOT2" | b"CDW02" => {}
            // TEA01 ends the recognition sequence; anything else is not a descriptor.
            _ => break,
        }
    }
    Ok(v)
}

fn tree(sector: &[u8], joliet: bool) -> Result<Tree, IsoError> {
    let block_size = u64::from(le_u16(sector, 128));
    if !matches!(block_size, 512 | 1024 | 2048) {
        return Err(IsoError::Malformed(
            "logical block size is not 512, 1024 or 2048",
        ));
    }
    let root = Record::parse(&sector[156..190])
        .map_err(|_| IsoError::Malformed("bad root directory record in a volume descriptor"))?;
    let raw_id = &sector[40..72];
    let volume_id = if joliet {
        super::joliet::name(raw_id)
    } else {
        String::from_utf8_lossy(raw_id).into_owned()
    };
    Ok(Tree {
        volume_id: volume_id.trim_end_matches([' ', '\0']).to_owned(),
        block_size,
        volume_blocks: u64::from(le_u32(sector, 80)),
        root_offset: root.data_offset(block_size),
        root_len: root.data_len,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::iso::directory::tests::record;

    /// A volume descriptor sector of type `ty` with a root record at `root_lba`.
    pub(crate) fn descriptor(ty: u8, id: &[u8; 5], volume_id: &str, root_lba: u32) -> Vec<u8> {
        let mut s = vec![0u8; SECTOR as usize];
        s[0] = ty;
        s[1..6].copy_from_slice(id);
        s[6] = 1;
        s[40..72].fill(b' ');
        s[40..40 + volume_id.len()].copy_from_slice(volume_id.as_bytes());
        s[80..84].copy_from_slice(&100u32.to_le_bytes());
        s[128..130].copy_from_slice(&2048u16.to_le_bytes());
        let root = record(&[0], root_lba, 2048, 2, b"");
        s[156..156 + root.len()].copy_from_slice(&root);
        s
    }

    fn image(descs: &[Vec<u8>]) -> Vec<u8> {
        let mut img = vec![0u8; 16 * SECTOR as usize];
        for d in descs {
            img.extend_from_slice(d);
        }
        img
    }

    #[test]
    fn finds_primary_joliet_and_boot_record() {
        let mut boot = vec![0u8; 2048];
        boot[1..6].copy_from_slice(b"CD001");
        boot[7..30].copy_from_slice(b"EL TORITO SPECIFICATION");
        boot[71..75].copy_from_slice(&33u32.to_le_bytes());
        let mut svd = descriptor(2, b"CD001", "", 25);
        svd[88..91].copy_from_slice(b"%/E");
        let img = image(&[
            descriptor(1, b"CD001", "UBUNTU 24.04", 20),
            boot,
            svd,
            descriptor(255, b"CD001", "", 0),
        ]);
        let v = scan(&img).unwrap();
        let p = v.primary.unwrap();
        assert_eq!(p.volume_id, "UBUNTU 24.04");
        assert_eq!(
            (p.root_offset, p.root_len, p.block_size),
            (20 * 2048, 2048, 2048)
        );
        assert_eq!(v.joliet.unwrap().root_offset, 25 * 2048);
        assert_eq!(v.boot_catalog, Some(33));
        assert!(!v.udf);
    }

    #[test]
    fn udf_only_and_garbage() {
        let mut bea = vec![0u8; 2048];
        bea[1..6].copy_from_slice(b"BEA01");
        let mut nsr = bea.clone();
        nsr[1..6].copy_from_slice(b"NSR02");
        let v = scan(&image(&[bea, nsr])).unwrap();
        assert!(v.udf && v.primary.is_none());
        let v = scan(&vec![0xAB; 40 * 2048]).unwrap();
        assert!(!v.udf && v.primary.is_none());
        assert!(scan(&vec![0u8; 100]).unwrap().primary.is_none());
    }

    #[test]
    fn rejects_odd_block_size() {
        let mut pvd = descriptor(1, b"CD001", "X", 20);
        pvd[128..130].copy_from_slice(&7u16.to_le_bytes());
        assert!(matches!(scan(&image(&[pvd])), Err(IsoError::Malformed(_))));
    }
}
