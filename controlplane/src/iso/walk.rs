//! Builds an [`IsoIndex`]: picks the tree (Rock Ridge in the primary tree, else the Joliet
//! tree, else plain ISO 9660 names), walks it depth-first with an explicit stack, and
//! resolves El Torito boot images to paths.
//!
//! Hostile-image rules: every directory extent is visited at most once (a second visit is a
//! loop, or two records sharing one directory, which would multiply the work); directories
//! are at most 16 MiB and 512 MiB in total; depth, entry count, path length and the bytes of
//! all paths are capped; every extent is checked against the image length.

use std::collections::{HashMap, HashSet};

use super::directory::{self, plain_name, Member, Record};
use super::rockridge::{self, Rr};
use super::source::{in_bounds, read_vec, Source};
use super::volume::{self, Tree};
use super::{eltorito, joliet};
use super::{
    Entry, Extent, IsoError, IsoIndex, Kind, Namespace, MAX_DEPTH, MAX_ENTRIES, MAX_NAME_BYTES,
    MAX_PATH,
};

/// Largest single directory accepted (real ones are a few hundred KiB at most).
const MAX_DIR: u32 = 16 * 1024 * 1024;
/// Directory bytes read per image.
const MAX_DIR_TOTAL: u64 = 512 * 1024 * 1024;

pub(crate) fn read(src: &dyn Source) -> Result<IsoIndex, IsoError> {
    read_limited(src, MAX_ENTRIES)
}

/// [`read`] with a given entry cap (tests use a small one).
fn read_limited(src: &dyn Source, max_entries: usize) -> Result<IsoIndex, IsoError> {
    let vols = volume::scan(src)?;
    let Some(primary) = vols.primary else {
        return Err(if vols.udf {
            IsoError::UdfOnly
        } else {
            IsoError::NotIso
        });
    };
    let volume_end = primary.volume_blocks.checked_mul(primary.block_size);
    if volume_end.is_none_or(|end| end > src.len()) {
        return Err(IsoError::Truncated(
            "the file is shorter than the volume size its primary volume descriptor records",
        ));
    }
    let mut walker = Walker {
        src,
        block_size: primary.block_size,
        rr_skip: None,
        joliet: false,
        visited: HashSet::new(),
        entries: Vec::new(),
        dir_bytes: 0,
        name_bytes: 0,
        max_entries,
        rr: rockridge::Reader {
            src,
            block_size: primary.block_size,
            budget: rockridge::CE_BUDGET,
        },
    };
    let root = walker.read_dir("/", primary.root_offset, primary.root_len)?;
    walker.rr_skip = match directory::Records::new(&root).next() {
        Some(Ok(dot)) if dot.name == [0] => walker.rr.detect(dot.system_use)?,
        _ => None,
    };
    let names = match (&walker.rr_skip, &vols.joliet) {
        (Some(_), _) => {
            walker.walk(root)?;
            Namespace::RockRidge
        }
        (None, Some(tree)) => {
            walker.start_tree(tree);
            let root = walker.read_dir("/", tree.root_offset, tree.root_len)?;
            walker.walk(root)?;
            Namespace::Joliet
        }
        (None, None) => {
            walker.walk(root)?;
            Namespace::Plain
        }
    };
    let mut entries = walker.entries;
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    let before = entries.len();
    entries.dedup_by(|later, first| later.path == first.path);
    if entries.len() != before {
        tracing::warn!(
            dropped = before - entries.len(),
            "ISO index: duplicate paths, kept the first of each"
        );
    }
    let mut boot = match vols.boot_catalog {
        Some(sector) => eltorito::read(src, sector)?,
        None => Vec::new(),
    };
    if !boot.is_empty() {
        // Files sharing data (hard links) resolve to the first path in sort order.
        let mut starts: HashMap<u64, &str> = HashMap::new();
        for e in entries.iter().filter(|e| e.kind == Kind::File) {
            if let Some(first) = e.extents.first() {
                starts.entry(first.offset).or_insert(&e.path);
            }
        }
        for b in &mut boot {
            let offset = u64::from(b.load_rba) * volume::SECTOR;
            b.file = starts.get(&offset).map(|p| (*p).to_owned());
        }
    }
    Ok(IsoIndex {
        volume_id: primary.volume_id,
        names,
        entries,
        boot,
    })
}

struct Walker<'a> {
    src: &'a dyn Source,
    block_size: u64,
    /// `Some(skip)` when walking the primary tree with Rock Ridge.
    rr_skip: Option<usize>,
    joliet: bool,
    /// Byte offsets of the directory extents read so far.
    visited: HashSet<u64>,
    entries: Vec<Entry>,
    dir_bytes: u64,
    /// Path and symlink-target bytes so far.
    name_bytes: usize,
    max_entries: usize,
    rr: rockridge::Reader<'a>,
}

/// A directory waiting to be listed.
struct Pending {
    path: String,
    offset: u64,
    len: u32,
    depth: usize,
}

impl Walker<'_> {
    fn start_tree(&mut self, tree: &Tree) {
        self.block_size = tree.block_size;
        self.joliet = true;
    }

    /// Reads one directory's records, enforcing the loop, size and bounds rules.
    fn read_dir(&mut self, path: &str, offset: u64, len: u32) -> Result<Vec<u8>, IsoError> {
        if !self.visited.insert(offset) {
            return Err(IsoError::DirectoryLoop);
        }
        if len > MAX_DIR {
            return Err(IsoError::Malformed("a directory is larger than 16 MiB"));
        }
        self.dir_bytes += u64::from(len);
        if self.dir_bytes > MAX_DIR_TOTAL {
            return Err(IsoError::Malformed("directories total more than 512 MiB"));
        }
        if !in_bounds(self.src, offset, u64::from(len)) {
            return Err(out_of_bounds(path));
        }
        read_vec(self.src, offset, len as usize, "directory")
    }

    /// Lists `root` and everything below it.
    fn walk(&mut self, root: Vec<u8>) -> Result<(), IsoError> {
        let mut stack: Vec<(Pending, Option<Vec<u8>>)> = vec![(
            Pending {
                path: String::new(),
                offset: 0,
                len: 0,
                depth: 0,
            },
            Some(root),
        )];
        while let Some((dir, buf)) = stack.pop() {
            let buf = match buf {
                Some(b) => b,
                None => self.read_dir(&dir.path, dir.offset, dir.len)?,
            };
            for member in directory::members(&buf, self.block_size)? {
                if let Some(sub) = self.member(&dir, member)? {
                    stack.push((sub, None));
                }
            }
        }
        Ok(())
    }

    /// Records one directory member; returns it if it is a directory to list.
    fn member(&mut self, dir: &Pending, m: Member<'_>) -> Result<Option<Pending>, IsoError> {
        let rec = &m.record;
        let rr = match self.rr_skip {
            Some(skip) => self.rr.parse(rec.system_use, skip)?,
            None => Rr::default(),
        };
        if rr.relocated {
            return Ok(None);
        }
        let name = match rr.name {
            Some(n) => n,
            None if self.joliet => joliet::name(rec.name),
            None => plain_name(rec.name),
        };
        if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0']) {
            return Err(IsoError::Malformed(
                "a file name is empty, \".\" or \"..\", or contains '/' or NUL",
            ));
        }
        if self.entries.len() >= self.max_entries {
            return Err(IsoError::TooManyEntries);
        }
        let path = if dir.path.is_empty() {
            name
        } else {
            format!("{}/{name}", dir.path)
        };
        self.count_name(&path)?;
        if let Some(target) = rr.symlink {
            self.count_name(&target)?;
            self.entries.push(Entry {
                path,
                kind: Kind::Symlink(target),
                size: 0,
                extents: Vec::new(),
            });
            return Ok(None);
        }
        let (offset, len) = match rr.child_link {
            Some(block) => self.relocated_dir(&path, block)?,
            None if rec.is_dir() => (m.parts[0].offset, rec.data_len),
            None => {
                self.push_file(path, &m)?;
                return Ok(None);
            }
        };
        let depth = dir.depth + 1;
        if depth > MAX_DEPTH {
            return Err(IsoError::TooDeep);
        }
        self.entries.push(Entry {
            path: path.clone(),
            kind: Kind::Dir,
            size: u64::from(len),
            extents: vec![Extent {
                offset,
                len: u64::from(len),
            }],
        });
        Ok(Some(Pending {
            path,
            offset,
            len,
            depth,
        }))
    }

    /// Charges a path or symlink target to the name caps.
    fn count_name(&mut self, name: &str) -> Result<(), IsoError> {
        if name.len() > MAX_PATH {
            return Err(IsoError::PathTooLong);
        }
        self.name_bytes += name.len();
        if self.name_bytes > MAX_NAME_BYTES {
            return Err(IsoError::NamesTooLarge);
        }
        Ok(())
    }

    fn push_file(&mut self, path: String, m: &Member<'_>) -> Result<(), IsoError> {
        let mut extents = Vec::with_capacity(m.parts.len());
        let mut size = 0u64;
        for p in m.parts.iter().filter(|p| p.len > 0) {
            if !in_bounds(self.src, p.offset, p.len) {
                return Err(out_of_bounds(&path));
            }
            size += p.len;
            extents.push(Extent {
                offset: p.offset,
                len: p.len,
            });
        }
        self.entries.push(Entry {
            path,
            kind: Kind::File,
            size,
            extents,
        });
        Ok(())
    }

    /// Where the directory a Rock Ridge `CL` points at lives, and its length (from its own
    /// `.` record, as the `CL` record itself is a zero-length file).
    fn relocated_dir(&self, path: &str, block: u32) -> Result<(u64, u32), IsoError> {
        // Cannot overflow: 2^32 * 2048 < 2^64.
        let offset = u64::from(block) * self.block_size;
        let avail = self.src.len().saturating_sub(offset).min(256);
        if avail < 34 {
            return Err(out_of_bounds(path));
        }
        let head = read_vec(self.src, offset, avail as usize, "relocated directory")?;
        match Record::parse(&head) {
            Ok(dot) if dot.name == [0] && dot.is_dir() => Ok((offset, dot.data_len)),
            _ => Err(IsoError::Malformed(
                "a Rock Ridge child link does not point at a directory",
            )),
        }
    }
}

fn out_of_bounds(path: &str) -> IsoError {
    IsoError::ExtentOutOfBounds {
        path: if path.is_empty() { "/" } else { path }.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iso::directory::tests::record;
    use crate::iso::volume::tests::descriptor;

    const S: usize = 2048;

    /// A minimal image: PVD at 16, terminator at 17, root directory at 18 holding `members`
    /// (after `.` and `..`, whose system use area is `root_su`), then `extra` sectors.
    fn image(root_su: &[u8], members: &[Vec<u8>], extra: usize) -> Vec<u8> {
        let mut img = vec![0u8; 16 * S];
        let mut pvd = descriptor(1, b"CD001", "HAND MADE", 18);
        let total = (19 + extra) as u32;
        pvd[80..84].copy_from_slice(&total.to_le_bytes());
        img.extend(pvd);
        img.extend(descriptor(255, b"CD001", "", 0));
        let mut dir = record(&[0], 18, S as u32, 2, root_su);
        dir.extend(record(&[1], 18, S as u32, 2, b""));
        for m in members {
            dir.extend_from_slice(m);
        }
        dir.resize(S, 0);
        img.extend(dir);
        img.resize(total as usize * S, 0);
        img
    }

    fn su(sig: &[u8; 2], body: &[u8]) -> Vec<u8> {
        let mut e = vec![sig[0], sig[1], (4 + body.len()) as u8, 1];
        e.extend_from_slice(body);
        e
    }

    fn rr_root() -> Vec<u8> {
        let mut a = su(b"SP", &[0xBE, 0xEF, 0]);
        a.extend(su(b"RR", &[0]));
        a
    }

    #[test]
    fn plain_image_with_a_multi_extent_file() {
        let img = image(
            b"",
            &[
                record(b"BIG.BIN;1", 19, 100, 0x80, b""),
                record(b"BIG.BIN;1", 21, 50, 0, b""),
                record(b"EMPTY.;1", 0, 0, 0, b""),
            ],
            3,
        );
        let idx = read(&img).unwrap();
        assert_eq!(
            (idx.volume_id.as_str(), idx.names),
            ("HAND MADE", Namespace::Plain)
        );
        let big = idx.get("BIG.BIN").unwrap();
        assert_eq!(big.size, 150);
        assert_eq!(
            big.extents,
            vec![
                Extent {
                    offset: 19 * 2048,
                    len: 100
                },
                Extent {
                    offset: 21 * 2048,
                    len: 50
                }
            ]
        );
        let empty = idx.get_ci("empty").unwrap();
        assert!(empty.extents.is_empty() && empty.size == 0);
    }

    #[test]
    fn rock_ridge_names_symlinks_and_bad_names() {
        let nm = |n: &[u8]| su(b"NM", &[&[0][..], n].concat());
        let link = su(b"SL", &[0, 8, 0, 0, 3, b'e', b't', b'c']);
        let img = image(
            &rr_root(),
            &[
                record(b"A;1", 19, 3, 0, &nm(b"lower-case.txt")),
                record(b"L;1", 0, 0, 0, &[nm(b"link"), link].concat()),
            ],
            1,
        );
        let idx = read(&img).unwrap();
        assert_eq!(idx.names, Namespace::RockRidge);
        assert_eq!(idx.get("lower-case.txt").unwrap().size, 3);
        assert_eq!(idx.get("link").unwrap().kind, Kind::Symlink("/etc".into()));

        let img = image(&rr_root(), &[record(b"A;1", 19, 3, 0, &nm(b"a/b"))], 1);
        assert!(matches!(read(&img), Err(IsoError::Malformed(_))));
    }

    #[test]
    fn child_link_must_point_at_a_directory() {
        let cl = su(b"CL", &[19, 0, 0, 0, 0, 0, 0, 19]);
        let img = image(&rr_root(), &[record(b"D;1", 0, 0, 0, &cl)], 1);
        assert!(matches!(read(&img), Err(IsoError::Malformed(_))));
    }

    /// A Rock Ridge image whose root holds a chain of `levels` nested directories, each named
    /// with `name_len` bytes, the deepest holding `files` empty files.
    fn chain(levels: u32, name_len: usize, files: usize) -> Vec<u8> {
        let nm = su(b"NM", &[vec![0], vec![b'n'; name_len]].concat());
        let mut file_sectors = Vec::new();
        let mut sector = Vec::new();
        for i in 0..files {
            let r = record(format!("F{i:05};1").as_bytes(), 0, 0, 0, b"");
            if sector.len() + r.len() > S {
                sector.resize(S, 0);
                file_sectors.extend(std::mem::take(&mut sector));
            }
            sector.extend(r);
        }
        sector.resize(S, 0);
        file_sectors.extend(sector);
        // The deepest directory's `.` and `..` take room in its first sector: one spare.
        let deepest_len = (file_sectors.len() + S) as u32;
        let total = 19 + levels + deepest_len / S as u32;
        let mut img = vec![0u8; 16 * S];
        let mut pvd = descriptor(1, b"CD001", "CHAIN", 18);
        pvd[80..84].copy_from_slice(&total.to_le_bytes());
        img.extend(pvd);
        img.extend(descriptor(255, b"CD001", "", 0));
        let root_su = rr_root();
        for level in 0..=levels {
            let at = 18 + level;
            let len = if level == levels {
                deepest_len
            } else {
                S as u32
            };
            let mut dir = record(&[0], at, len, 2, if level == 0 { &root_su } else { b"" });
            dir.extend(record(&[1], at.saturating_sub(1).max(18), S as u32, 2, b""));
            if level < levels {
                let child_len = if level + 1 == levels {
                    deepest_len
                } else {
                    S as u32
                };
                dir.extend(record(b"D", at + 1, child_len, 2, &nm));
                dir.resize(S, 0);
            } else {
                dir.resize(S, 0);
                dir.extend_from_slice(&file_sectors);
            }
            img.extend(dir);
        }
        img.resize(total as usize * S, 0);
        img
    }

    #[test]
    fn long_paths_and_name_bytes_are_capped() {
        const NAME: usize = 200;
        let per_level = NAME + 1;
        // Just under the path cap, then just over it.
        let fits = (MAX_PATH / per_level) as u32;
        assert!(read(&chain(fits, NAME, 1)).is_ok());
        assert!(matches!(
            read(&chain(fits + 1, NAME, 1)),
            Err(IsoError::PathTooLong)
        ));
        // Long paths, each under the cap, adding up to more than the total.
        let levels = fits - 1;
        let file_path = levels as usize * per_level + "F00000".len();
        let files = MAX_NAME_BYTES / file_path + 1;
        assert!(matches!(
            read(&chain(levels, NAME, files)),
            Err(IsoError::NamesTooLarge)
        ));
        assert_eq!(
            read(&chain(levels, NAME, files / 2)).unwrap().entries.len(),
            levels as usize + files / 2
        );
    }

    #[test]
    fn loops_bounds_and_caps() {
        // A subdirectory that is the root again.
        let img = image(b"", &[record(b"SELF", 18, S as u32, 2, b"")], 0);
        assert!(matches!(read(&img), Err(IsoError::DirectoryLoop)));
        // A file past the end.
        let img = image(b"", &[record(b"F;1", 500, 10, 0, b"")], 0);
        assert!(matches!(
            read(&img),
            Err(IsoError::ExtentOutOfBounds { path }) if path == "F"
        ));
        // An absurd directory size.
        let img = image(b"", &[record(b"D", 19, u32::MAX, 2, b"")], 1);
        assert!(matches!(read(&img), Err(IsoError::Malformed(_))));
        // The entry cap.
        let files: Vec<_> = (0..5)
            .map(|i| record(format!("F{i};1").as_bytes(), 0, 0, 0, b""))
            .collect();
        let img = image(b"", &files, 0);
        assert_eq!(read_limited(&img, 5).unwrap().entries.len(), 5);
        assert!(matches!(
            read_limited(&img, 4),
            Err(IsoError::TooManyEntries)
        ));
    }
}
