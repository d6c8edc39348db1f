//! Rock Ridge: IEEE P1281 SUSP 1.12 (System Use Sharing Protocol: `SP`, `CE`, `ST`, `ER`
//! entries in a directory record's system use area) and IEEE P1282 RRIP 1.12 (`NM` names,
//! `SL` symlinks, `CL`/`RE` deep-directory relocation; `PX`, `TF` and the rest are ignored).
//!
//! A system use area may continue in a continuation area (`CE`: block, offset, length),
//! which may itself continue: hops, area sizes and the total bytes read per image are capped.

use super::directory::le_u32;
use super::source::{read_vec, Source};
use super::IsoError;

/// Longest continuation area accepted (SUSP keeps one inside a logical block; be lenient).
const MAX_CE_LEN: u32 = 64 * 1024;
/// Continuation hops per directory record.
const MAX_CE_HOPS: usize = 32;
/// Continuation-area bytes read per image, all records together.
pub(crate) const CE_BUDGET: u64 = 256 * 1024 * 1024;
/// Longest name accepted (POSIX names are at most 255 bytes on every common filesystem).
const MAX_NAME: usize = 1024;
/// Longest symlink target accepted (PATH_MAX).
const MAX_TARGET: usize = 4096;

const NM_CONTINUE: u8 = 0x01;
const NM_CURRENT: u8 = 0x02;
const NM_PARENT: u8 = 0x04;
const NM_HOST: u8 = 0x20;

const SL_CONTINUE: u8 = 0x01;
const SL_CURRENT: u8 = 0x02;
const SL_PARENT: u8 = 0x04;
const SL_ROOT: u8 = 0x08;
const SL_VOLROOT: u8 = 0x10;

/// Reads SUSP entries of one record, following continuation areas.
pub(crate) struct Reader<'a> {
    pub(crate) src: &'a dyn Source,
    pub(crate) block_size: u64,
    /// Bytes of continuation areas this image may still read.
    pub(crate) budget: u64,
}

impl Reader<'_> {
    /// Calls `f(signature, entry)` for every SUSP entry of `area` and its continuations
    /// (`entry` includes the 4-byte header). Stops at `ST` or at the first entry that does not
    /// fit (padding at the end of an area is legal).
    fn for_each(&mut self, area: &[u8], mut f: impl FnMut([u8; 2], &[u8])) -> Result<(), IsoError> {
        let mut owned: Vec<u8>;
        let mut area = area;
        for _ in 0..MAX_CE_HOPS {
            let mut next = None;
            let mut pos = 0;
            while pos + 4 <= area.len() {
                let len = usize::from(area[pos + 2]);
                if len < 4 || pos + len > area.len() {
                    break;
                }
                let entry = &area[pos..pos + len];
                let sig = [entry[0], entry[1]];
                match &sig {
                    b"ST" => break,
                    b"CE" if len >= 28 => next = Some(continuation(entry, self.block_size)),
                    _ => f(sig, entry),
                }
                pos += len;
            }
            let Some((offset, len)) = next else {
                return Ok(());
            };
            if len > MAX_CE_LEN {
                return Err(IsoError::Malformed(
                    "Rock Ridge continuation area too large",
                ));
            }
            self.budget = self
                .budget
                .checked_sub(u64::from(len))
                .ok_or(IsoError::Malformed(
                    "Rock Ridge continuation areas exceed 256 MiB in total",
                ))?;
            owned = read_vec(
                self.src,
                offset,
                len as usize,
                "Rock Ridge continuation area lies past the end",
            )?;
            area = &owned;
        }
        Err(IsoError::Malformed(
            "too many chained Rock Ridge continuation areas",
        ))
    }

    /// Whether the root directory's `.` record announces Rock Ridge: `SP` first in its system
    /// use area, plus an `ER` naming RRIP (or RRIP 1.09 `RR`, or `PX`/`NM`). Returns the `SP`
    /// skip length to apply to every other record's system use area.
    pub(crate) fn detect(&mut self, root_dot: &[u8]) -> Result<Option<usize>, IsoError> {
        let Some(skip) = sp_skip(root_dot) else {
            return Ok(None);
        };
        let mut rrip = false;
        self.for_each(root_dot, |sig, e| {
            rrip |= match &sig {
                b"ER" => e.len() >= 8 && is_rrip_id(&e[8..e.len().min(8 + usize::from(e[4]))]),
                b"RR" | b"PX" | b"NM" => true,
                _ => false,
            };
        })?;
        Ok(rrip.then_some(skip))
    }

    /// Collects the Rock Ridge facts of one record's system use area (after the skip bytes).
    pub(crate) fn parse(&mut self, system_use: &[u8], skip: usize) -> Result<Rr, IsoError> {
        let area = system_use.get(skip..).unwrap_or(&[]);
        let mut rr = Rr::default();
        let mut name: Option<Vec<u8>> = None;
        let mut name_done = false;
        let mut link = Link::default();
        let mut err = None;
        self.for_each(area, |sig, e| match &sig {
            b"NM" if e.len() >= 5 && !name_done => {
                let flags = e[4];
                if flags & (NM_CURRENT | NM_PARENT | NM_HOST) != 0 {
                    return;
                }
                let n = name.get_or_insert_with(Vec::new);
                n.extend_from_slice(&e[5..]);
                name_done = flags & NM_CONTINUE == 0;
                if n.len() > MAX_NAME {
                    err = Some(IsoError::Malformed(
                        "Rock Ridge name longer than 1024 bytes",
                    ));
                    n.truncate(MAX_NAME);
                }
            }
            b"SL" if e.len() >= 5 && !link.done => {
                if let Err(e) = link.add(e) {
                    err = Some(e);
                }
            }
            b"RE" => rr.relocated = true,
            b"CL" if e.len() >= 8 => rr.child_link = Some(le_u32(e, 4)),
            _ => {}
        })?;
        if let Some(e) = err {
            return Err(e);
        }
        rr.name = name.map(|n| String::from_utf8_lossy(&n).into_owned());
        rr.symlink = link.started.then(|| link.target());
        Ok(rr)
    }
}

/// The Rock Ridge facts of one directory record.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Rr {
    /// `NM`: the POSIX name.
    pub(crate) name: Option<String>,
    /// `SL`: this is a symlink to that target.
    pub(crate) symlink: Option<String>,
    /// `RE`: a relocated directory, listed again where its `CL` points from: skip it here.
    pub(crate) relocated: bool,
    /// `CL`: this (file) record stands for the directory at that logical block.
    pub(crate) child_link: Option<u32>,
}

/// `CE` → (byte offset, length) of the continuation area.
fn continuation(e: &[u8], block_size: u64) -> (u64, u32) {
    let block = u64::from(le_u32(e, 4));
    let offset = u64::from(le_u32(e, 12));
    (block * block_size + offset, le_u32(e, 20))
}

/// The skip length of an `SP` entry at the very start of `area`.
fn sp_skip(area: &[u8]) -> Option<usize> {
    match area {
        [b'S', b'P', len, _, 0xBE, 0xEF, skip, ..] if *len >= 7 => Some(usize::from(*skip)),
        _ => None,
    }
}

fn is_rrip_id(id: &[u8]) -> bool {
    [&b"RRIP_1991A"[..], b"IEEE_P1282", b"IEEE_1282"].contains(&id)
}

/// Symlink target being assembled from `SL` component records.
#[derive(Default)]
struct Link {
    parts: Vec<String>,
    /// A leading root component: the target is absolute.
    absolute: bool,
    /// The last component continues in the next component record.
    component_open: bool,
    started: bool,
    /// An `SL` without the continue flag was seen: later ones are ignored.
    done: bool,
    len: usize,
}

impl Link {
    fn add(&mut self, e: &[u8]) -> Result<(), IsoError> {
        self.started = true;
        self.done = e[4] & SL_CONTINUE == 0;
        let mut rest = &e[5..];
        while let [flags, len, tail @ ..] = rest {
            let len = usize::from(*len);
            let Some(content) = tail.get(..len) else {
                break;
            };
            rest = &tail[len..];
            let piece = if flags & SL_CURRENT != 0 {
                ".".into()
            } else if flags & SL_PARENT != 0 {
                "..".into()
            } else if flags & (SL_ROOT | SL_VOLROOT) != 0 {
                if self.parts.is_empty() {
                    self.absolute = true;
                }
                self.component_open = false;
                continue;
            } else {
                String::from_utf8_lossy(content).into_owned()
            };
            self.len += piece.len() + 1;
            if self.len > MAX_TARGET {
                return Err(IsoError::Malformed(
                    "Rock Ridge symlink target longer than 4096 bytes",
                ));
            }
            match self.parts.last_mut() {
                Some(last) if self.component_open => last.push_str(&piece),
                _ => self.parts.push(piece),
            }
            self.component_open = flags & SL_CONTINUE != 0;
        }
        Ok(())
    }

    fn target(&self) -> String {
        let joined = self.parts.join("/");
        if self.absolute {
            format!("/{joined}")
        } else {
            joined
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(sig: &[u8; 2], body: &[u8]) -> Vec<u8> {
        let mut e = vec![sig[0], sig[1], (4 + body.len()) as u8, 1];
        e.extend_from_slice(body);
        e
    }

    fn nm(flags: u8, name: &[u8]) -> Vec<u8> {
        entry(b"NM", &[&[flags][..], name].concat())
    }

    fn ce(block: u32, offset: u32, len: u32) -> Vec<u8> {
        let mut b = Vec::new();
        for v in [block, offset, len] {
            b.extend_from_slice(&v.to_le_bytes());
            b.extend_from_slice(&v.to_be_bytes());
        }
        entry(b"CE", &b)
    }

    fn sl(flags: u8, comps: &[(u8, &[u8])]) -> Vec<u8> {
        let mut b = vec![flags];
        for (f, c) in comps {
            b.push(*f);
            b.push(c.len() as u8);
            b.extend_from_slice(c);
        }
        entry(b"SL", &b)
    }

    fn reader(src: &Vec<u8>) -> Reader<'_> {
        Reader {
            src,
            block_size: 2048,
            budget: CE_BUDGET,
        }
    }

    #[test]
    fn detects_sp_and_er() {
        let img = vec![];
        let mut area = entry(b"SP", &[0xBE, 0xEF, 0]);
        area.extend(entry(
            b"ER",
            &[
                10, 0, 0, 1, b'R', b'R', b'I', b'P', b'_', b'1', b'9', b'9', b'1', b'A',
            ],
        ));
        assert_eq!(reader(&img).detect(&area).unwrap(), Some(0));
        // SUSP without any RRIP entry: not Rock Ridge.
        let sp_only = entry(b"SP", &[0xBE, 0xEF, 0]);
        assert_eq!(reader(&img).detect(&sp_only).unwrap(), None);
        assert_eq!(reader(&img).detect(&nm(0, b"x")).unwrap(), None);
    }

    #[test]
    fn joins_nm_entries_and_applies_skip() {
        let img = vec![];
        let mut area = vec![0xAA, 0xBB]; // two skip bytes
        area.extend(nm(NM_CONTINUE, b"long-"));
        area.extend(entry(b"PX", &[0; 32]));
        area.extend(nm(0, b"name"));
        area.extend(nm(0, b"ignored"));
        let rr = reader(&img).parse(&area, 2).unwrap();
        assert_eq!(rr.name.as_deref(), Some("long-name"));
        assert!(rr.symlink.is_none() && !rr.relocated);
    }

    #[test]
    fn follows_continuation_areas_for_a_200_char_name() {
        let long: Vec<u8> = (0..230).map(|i| b'a' + (i % 26) as u8).collect();
        // Continuation at block 2, offset 100, holding the second half and another CE.
        let mut img = vec![0u8; 4 * 2048];
        let mut cont = nm(NM_CONTINUE, &long[100..200]);
        cont.extend(ce(3, 0, 40));
        img[2 * 2048 + 100..2 * 2048 + 100 + cont.len()].copy_from_slice(&cont);
        let tail = nm(0, &long[200..]);
        img[3 * 2048..3 * 2048 + tail.len()].copy_from_slice(&tail);
        let mut area = nm(NM_CONTINUE, &long[..100]);
        area.extend(ce(2, 100, cont.len() as u32));
        let mut r = reader(&img);
        let rr = r.parse(&area, 0).unwrap();
        assert_eq!(rr.name.unwrap().as_bytes(), &long[..]);
        assert_eq!(r.budget, CE_BUDGET - cont.len() as u64 - 40);
    }

    #[test]
    fn continuation_errors() {
        let img = vec![0u8; 4096];
        let out_of_bounds = ce(1, 2000, 100);
        assert!(matches!(
            reader(&img).parse(&out_of_bounds, 0),
            Err(IsoError::Truncated(_))
        ));
        let huge = ce(0, 0, 1 << 20);
        assert!(reader(&img).parse(&huge, 0).is_err());
        // A continuation area that points at itself loops until the hop cap.
        let mut img = vec![0u8; 4096];
        let selfref = ce(1, 0, 28);
        img[2048..2048 + 28].copy_from_slice(&selfref);
        assert!(matches!(
            reader(&img).parse(&selfref, 0),
            Err(IsoError::Malformed(_))
        ));
        let mut r = reader(&img);
        r.budget = 10;
        assert!(r.parse(&ce(1, 0, 28), 0).is_err());
    }

    #[test]
    fn symlinks() {
        let img = vec![];
        let abs = sl(0, &[(SL_ROOT, b""), (0, b"usr"), (0, b"lib")]);
        assert_eq!(
            reader(&img).parse(&abs, 0).unwrap().symlink.unwrap(),
            "/usr/lib"
        );
        let rel = sl(0, &[(SL_CURRENT, b""), (SL_PARENT, b""), (0, b"x")]);
        assert_eq!(
            reader(&img).parse(&rel, 0).unwrap().symlink.unwrap(),
            "./../x"
        );
        // A component split across two SL entries.
        let mut split = sl(SL_CONTINUE, &[(0, b"dir"), (SL_CONTINUE, b"fi")]);
        split.extend(sl(0, &[(0, b"le.txt")]));
        assert_eq!(
            reader(&img).parse(&split, 0).unwrap().symlink.unwrap(),
            "dir/file.txt"
        );
        // Truncated component record: ignored, no panic.
        let bad = entry(b"SL", &[0, 0, 50, b'a']);
        assert_eq!(reader(&img).parse(&bad, 0).unwrap().symlink.unwrap(), "");
    }

    #[test]
    fn relocation_entries() {
        let img = vec![];
        let re = entry(b"RE", &[]);
        assert!(reader(&img).parse(&re, 0).unwrap().relocated);
        let cl = entry(b"CL", &[7, 0, 0, 0, 0, 0, 0, 7]);
        assert_eq!(reader(&img).parse(&cl, 0).unwrap().child_link, Some(7));
    }

    #[test]
    fn garbage_areas_do_not_panic() {
        let img = vec![0u8; 2048];
        let mut x: u32 = 0x1234_5678;
        for _ in 0..2000 {
            let mut area = vec![0u8; (x % 64) as usize];
            for b in area.iter_mut() {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                *b = match x % 5 {
                    0 => b'N',
                    1 => b'S',
                    _ => x as u8,
                };
            }
            let _ = reader(&img).parse(&area, (x % 3) as usize);
            let _ = reader(&img).detect(&area);
        }
    }
}
