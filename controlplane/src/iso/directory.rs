//! ECMA-119 (ISO 9660) §9.1 directory records, and grouping the records of one directory
//! into files (a file of 4 GiB or more is several records of the same name, all but the last
//! with the multi-extent flag, §6.5.1 / §9.1.6).
//!
//! Numeric fields are "both-endian" (little-endian then big-endian copies); only the
//! little-endian half is read. Records never cross a 2048-byte logical sector, and a zero
//! length byte means "the rest of this sector is padding".

use super::IsoError;

/// ISO 9660 logical sector size: directory records never cross one.
pub(crate) const SECTOR: usize = 2048;
/// Fixed part of a directory record, before the file identifier.
pub(crate) const MIN_RECORD: usize = 33;

const FLAG_DIR: u8 = 0x02;
const FLAG_ASSOCIATED: u8 = 0x04;
const FLAG_MULTI_EXTENT: u8 = 0x80;

pub(crate) fn le_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

pub(crate) fn le_u16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

/// One directory record, borrowing its name and system use area from the directory buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Record<'a> {
    /// Extended attribute record length, in logical blocks: the data starts after it.
    pub(crate) xattr_blocks: u8,
    /// First logical block of the extent (the extended attribute record, if any).
    pub(crate) lba: u32,
    /// Data length in bytes.
    pub(crate) data_len: u32,
    pub(crate) flags: u8,
    /// The raw file identifier (`\0` for `.`, `\1` for `..`).
    pub(crate) name: &'a [u8],
    /// The system use area (where SUSP / Rock Ridge entries live).
    pub(crate) system_use: &'a [u8],
}

impl<'a> Record<'a> {
    /// Parses the record at the start of `b` (which must hold at least the whole record).
    pub(crate) fn parse(b: &'a [u8]) -> Result<Record<'a>, IsoError> {
        let len = usize::from(
            *b.first()
                .ok_or(IsoError::Malformed("empty directory record"))?,
        );
        if len < MIN_RECORD + 1 || len > b.len() {
            return Err(IsoError::Malformed(
                "directory record has an impossible length",
            ));
        }
        let name_len = usize::from(b[32]);
        let name_end = MIN_RECORD + name_len;
        if name_len == 0 || name_end > len {
            return Err(IsoError::Malformed(
                "directory record's file identifier overruns the record",
            ));
        }
        if b[26] != 0 || b[27] != 0 {
            // Interleaved files would need a gather list; no real boot image uses them.
            return Err(IsoError::Malformed("interleaved files are not supported"));
        }
        // A padding byte follows an even-length identifier.
        let su_start = (name_end + usize::from(name_len & 1 == 0)).min(len);
        Ok(Record {
            xattr_blocks: b[1],
            lba: le_u32(b, 2),
            data_len: le_u32(b, 10),
            flags: b[25],
            name: &b[MIN_RECORD..name_end],
            system_use: &b[su_start..len],
        })
    }

    pub(crate) fn is_dir(&self) -> bool {
        self.flags & FLAG_DIR != 0
    }

    pub(crate) fn is_multi_extent(&self) -> bool {
        self.flags & FLAG_MULTI_EXTENT != 0
    }

    /// `.` or `..`.
    pub(crate) fn is_dot(&self) -> bool {
        self.name == [0] || self.name == [1]
    }

    /// Byte offset of the data in the image, given the logical block size.
    pub(crate) fn data_offset(&self, block_size: u64) -> u64 {
        // Cannot overflow: (2^32 + 2^8) * 2048 < 2^64.
        (u64::from(self.lba) + u64::from(self.xattr_blocks)) * block_size
    }
}

/// Iterates the records of a directory's extent, skipping sector padding.
pub(crate) struct Records<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Records<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Records<'a> {
        Records { buf, pos: 0 }
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<Record<'a>, IsoError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let len = usize::from(*self.buf.get(self.pos)?);
            let sector_end = (self.pos / SECTOR + 1) * SECTOR;
            if len == 0 {
                self.pos = sector_end;
                continue;
            }
            let start = self.pos;
            if start + len > sector_end.min(self.buf.len()) {
                self.pos = self.buf.len();
                return Some(Err(IsoError::Malformed(
                    "directory record crosses a sector boundary",
                )));
            }
            self.pos += len;
            let rec = Record::parse(&self.buf[start..start + len]);
            if rec.is_err() {
                self.pos = self.buf.len();
            }
            return Some(rec);
        }
    }
}

/// One piece of a file's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Part {
    pub(crate) offset: u64,
    pub(crate) len: u64,
}

/// One directory member: its first record (name, flags, system use area) and the data
/// pieces of all its records, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Member<'a> {
    pub(crate) record: Record<'a>,
    pub(crate) parts: Vec<Part>,
}

/// Groups a directory's records into members: drops `.`, `..` and associated files (Apple
/// resource forks), and joins multi-extent records into one member.
pub(crate) fn members(buf: &[u8], block_size: u64) -> Result<Vec<Member<'_>>, IsoError> {
    let mut out: Vec<Member<'_>> = Vec::new();
    // Whether the last member still waits for more records (its last had the flag set).
    let mut open = false;
    for rec in Records::new(buf) {
        let rec = rec?;
        if rec.is_dot() || rec.flags & FLAG_ASSOCIATED != 0 {
            continue;
        }
        let part = Part {
            offset: rec.data_offset(block_size),
            len: u64::from(rec.data_len),
        };
        let multi = rec.is_multi_extent();
        if multi && rec.is_dir() {
            return Err(IsoError::Malformed("directory with the multi-extent flag"));
        }
        match out.last_mut() {
            Some(last) if open => {
                if last.record.name != rec.name {
                    return Err(IsoError::Malformed(
                        "multi-extent file is missing its final record",
                    ));
                }
                last.parts.push(part);
            }
            _ => out.push(Member {
                record: rec,
                parts: vec![part],
            }),
        }
        open = multi;
    }
    if open {
        return Err(IsoError::Malformed(
            "multi-extent file is missing its final record",
        ));
    }
    Ok(out)
}

/// A plain ISO 9660 name: strips the `;1` version and the trailing `.` of extension-less
/// names (`README.;1` → `README`).
pub(crate) fn plain_name(raw: &[u8]) -> String {
    let mut s = String::from_utf8_lossy(raw).into_owned();
    if let Some(semi) = s.rfind(';') {
        if s[semi + 1..].bytes().all(|b| b.is_ascii_digit()) {
            s.truncate(semi);
        }
    }
    if s.len() > 1 && s.ends_with('.') {
        s.pop();
    }
    s
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builds a directory record (both-endian fields filled in both halves).
    pub(crate) fn record(name: &[u8], lba: u32, len: u32, flags: u8, su: &[u8]) -> Vec<u8> {
        let mut r = vec![0u8; MIN_RECORD];
        r[2..6].copy_from_slice(&lba.to_le_bytes());
        r[6..10].copy_from_slice(&lba.to_be_bytes());
        r[10..14].copy_from_slice(&len.to_le_bytes());
        r[14..18].copy_from_slice(&len.to_be_bytes());
        r[25] = flags;
        r[28] = 1;
        r[31] = 1;
        r[32] = name.len() as u8;
        r.extend_from_slice(name);
        if name.len() & 1 == 0 {
            r.push(0);
        }
        r.extend_from_slice(su);
        if r.len() & 1 == 1 {
            r.push(0);
        }
        r[0] = r.len() as u8;
        r
    }

    #[test]
    fn parses_a_record() {
        let b = record(b"VMLINUZ.;1", 20, 1234, 0, b"NM\x05\x01\x00");
        let r = Record::parse(&b).unwrap();
        assert_eq!((r.lba, r.data_len, r.is_dir()), (20, 1234, false));
        assert_eq!(r.name, b"VMLINUZ.;1");
        assert_eq!(r.system_use, b"NM\x05\x01\x00\x00");
        assert_eq!(r.data_offset(2048), 20 * 2048);
        assert_eq!(plain_name(r.name), "VMLINUZ");
        assert_eq!(plain_name(b"A.B;1"), "A.B");
        assert_eq!(plain_name(b"DIR"), "DIR");
        assert_eq!(plain_name(b"X;Y"), "X;Y");
    }

    #[test]
    fn rejects_bad_records() {
        let mut b = record(b"A", 1, 1, 0, b"");
        b[32] = 200;
        assert!(Record::parse(&b).is_err());
        assert!(Record::parse(&[10, 0, 0]).is_err());
        assert!(Record::parse(&[]).is_err());
    }

    #[test]
    fn skips_sector_padding_and_dots() {
        let mut buf = Vec::new();
        buf.extend(record(&[0], 18, 4096, 2, b""));
        buf.extend(record(&[1], 18, 4096, 2, b""));
        buf.extend(record(b"A;1", 30, 5, 0, b""));
        buf.resize(SECTOR, 0);
        buf.extend(record(b"B", 31, 2048, 2, b""));
        buf.resize(2 * SECTOR, 0);
        let m = members(&buf, 2048).unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].record.name, b"A;1");
        assert_eq!(
            m[0].parts,
            vec![Part {
                offset: 30 * 2048,
                len: 5
            }]
        );
        assert!(m[1].record.is_dir());
    }

    #[test]
    fn record_crossing_a_sector_is_an_error() {
        let mut buf = vec![];
        while buf.len() < SECTOR - 20 {
            buf.extend(record(b"FILLER;1", 1, 1, 0, b""));
        }
        buf.extend(record(b"CROSSING_RECORD;1", 1, 1, 0, b""));
        buf.resize(2 * SECTOR, 0);
        assert!(matches!(members(&buf, 2048), Err(IsoError::Malformed(_))));
    }

    #[test]
    fn joins_multi_extent_records() {
        let mut buf = Vec::new();
        buf.extend(record(b"BIG.ISO;1", 100, 0xFFFF_F800, 0x80, b""));
        buf.extend(record(b"BIG.ISO;1", 2_197_252, 0xFFFF_F800, 0x80, b""));
        buf.extend(record(b"BIG.ISO;1", 4_394_404, 1000, 0, b""));
        buf.extend(record(b"NEXT;1", 7, 3, 0, b""));
        let m = members(&buf, 2048).unwrap();
        assert_eq!(m.len(), 2);
        let sizes: u64 = m[0].parts.iter().map(|p| p.len).sum();
        assert_eq!(sizes, 2 * 0xFFFF_F800 + 1000);
        assert_eq!(m[0].parts[2].offset, 4_394_404 * 2048);
        assert_eq!(m[1].parts.len(), 1);
    }

    #[test]
    fn multi_extent_needs_a_final_record() {
        let mut buf = Vec::new();
        buf.extend(record(b"BIG;1", 100, 2048, 0x80, b""));
        assert!(members(&buf, 2048).is_err());
        buf.extend(record(b"OTHER;1", 101, 2048, 0, b""));
        assert!(members(&buf, 2048).is_err());
    }

    #[test]
    fn drops_associated_files() {
        let buf = record(b"A;1", 1, 1, 0x04, b"");
        assert!(members(&buf, 2048).unwrap().is_empty());
    }
}
