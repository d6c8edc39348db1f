//! Walks the served parts of the data dir: `isos/`, `files/` and `agent/` (the deploy agent,
//! see [`crate::deploy::agent`]). Nothing else under the data dir is ever served (the
//! database, bootloader overrides are handled apart, secrets, deploys' images in `disks/`).
//!
//! Rules that keep hostile trees harmless: hidden entries (`.name`, also partial uploads) are
//! skipped; a symlink is followed only when its target resolves inside a served root (so a
//! link can never expose the database or anything outside); a folder is listed once per root
//! however many links lead to it (so a link to a parent ends); depth is capped; names must be
//! valid UTF-8 (they become URLs and TFTP names).

use std::collections::{HashSet, VecDeque};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::store::FileRecord;

/// The data-dir subfolders whose files are served, under the same name in URLs and TFTP.
pub const SERVED_ROOTS: [&str; 3] = ["isos", "files", crate::deploy::agent::DIR];
const MAX_DEPTH: usize = 32;

/// A file found by a scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// Where it is on disk (inside the data dir).
    pub abs: PathBuf,
    /// Its record: path relative to the data dir, size, mtime, inode.
    pub record: FileRecord,
}

/// Lists every servable file, sorted by relative path. Problems with single entries are
/// logged and skip that entry; they never fail the scan.
pub fn scan(data_dir: &Path) -> Vec<Found> {
    let Ok(root) = data_dir.canonicalize() else {
        return Vec::new();
    };
    let roots: Vec<PathBuf> = SERVED_ROOTS
        .iter()
        .filter_map(|sub| root.join(sub).canonicalize().ok())
        .filter(|dir| dir.starts_with(&root))
        .collect();
    let mut out = Vec::new();
    for (sub, dir) in SERVED_ROOTS
        .iter()
        .zip(SERVED_ROOTS.iter().map(|s| root.join(s)))
    {
        if dir.is_dir() {
            Walk {
                roots: &roots,
                visited: HashSet::new(),
                linked: VecDeque::new(),
                out: &mut out,
            }
            .run(&dir, sub);
        }
    }
    out.sort_by(|a, b| a.record.path.cmp(&b.record.path));
    out
}

/// One served root's walk. Each real folder is listed once per root (by device and inode), so
/// a link looping back to a parent ends, and a folder reached by a link and by its real path
/// yields its files once. Linked folders wait until the plain tree is done, so a folder's real
/// path wins over any link to it.
struct Walk<'a> {
    roots: &'a [PathBuf],
    visited: HashSet<(u64, u64)>,
    linked: VecDeque<(PathBuf, String, usize)>,
    out: &'a mut Vec<Found>,
}

impl Walk<'_> {
    fn run(mut self, dir: &Path, rel: &str) {
        self.dir(dir, rel, 0);
        while let Some((real, rel, depth)) = self.linked.pop_front() {
            self.dir(&real, &rel, depth);
        }
    }

    fn dir(&mut self, dir: &Path, rel: &str, depth: usize) {
        if depth > MAX_DEPTH {
            tracing::warn!(dir = %dir.display(), "scan: too deep, skipped");
            return;
        }
        match std::fs::metadata(dir) {
            Ok(meta) if self.visited.insert((meta.dev(), meta.ino())) => {}
            Ok(_) => {
                // Every scan meets it again: not worth a warning each time.
                tracing::debug!(dir = %dir.display(), path = rel, "scan: folder already listed, skipped");
                return;
            }
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "scan: cannot read directory");
                return;
            }
        }
        let mut entries: Vec<_> = match std::fs::read_dir(dir) {
            Ok(e) => e.flatten().collect(),
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "scan: cannot read directory");
                return;
            }
        };
        // Sorted, so which of two links to one folder is listed does not depend on the file
        // system's order.
        entries.sort_by_key(std::fs::DirEntry::file_name);
        for entry in entries {
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                tracing::warn!(entry = ?entry.path(), "scan: name is not UTF-8, skipped");
                continue;
            };
            if name.starts_with('.') {
                continue;
            }
            let path = entry.path();
            // Resolve symlinks and refuse anything that lands outside the data dir.
            let Ok(real) = path.canonicalize() else {
                continue;
            };
            if !self.roots.iter().any(|r| real.starts_with(r)) {
                tracing::warn!(entry = %path.display(), target = %real.display(), "scan: link leads outside the served folders, skipped");
                continue;
            }
            let Ok(meta) = std::fs::metadata(&real) else {
                continue;
            };
            let rel_path = format!("{rel}/{name}");
            if meta.is_dir() {
                if entry.file_type().is_ok_and(|t| t.is_symlink()) {
                    self.linked.push_back((real, rel_path, depth + 1));
                } else {
                    self.dir(&real, &rel_path, depth + 1);
                }
            } else if meta.is_file() {
                self.out.push(Found {
                    abs: real,
                    record: FileRecord {
                        path: rel_path,
                        size: meta.len(),
                        mtime_ns: i128::from(meta.mtime()) * 1_000_000_000
                            + i128::from(meta.mtime_nsec()),
                        inode: meta.ino(),
                    },
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_only_isos_and_files_and_stays_inside() {
        let dir = std::env::temp_dir().join(format!("fleetboot-scan-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("isos/linux/servers")).unwrap();
        std::fs::create_dir_all(dir.join("files")).unwrap();
        std::fs::write(dir.join("isos/linux/servers/Ubuntu Server.ISO"), b"x").unwrap();
        std::fs::write(dir.join("isos/.partial.iso"), b"x").unwrap();
        std::fs::write(dir.join("files/ks.cfg"), b"y").unwrap();
        std::fs::write(dir.join("fleetboot.redb"), b"secret").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", dir.join("files/passwd")).unwrap();
        std::os::unix::fs::symlink("../fleetboot.redb", dir.join("files/db")).unwrap();
        std::os::unix::fs::symlink("../isos/linux", dir.join("files/linux")).unwrap();
        let found: Vec<String> = scan(&dir).into_iter().map(|f| f.record.path).collect();
        assert_eq!(
            found,
            [
                "files/ks.cfg",
                "files/linux/servers/Ubuntu Server.ISO",
                "isos/linux/servers/Ubuntu Server.ISO"
            ]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn looping_and_aliased_folders_are_walked_once() {
        let dir = std::env::temp_dir().join(format!("fleetboot-scan-loop-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("isos/sub")).unwrap();
        std::fs::create_dir_all(dir.join("files")).unwrap();
        std::fs::write(dir.join("isos/a.iso"), b"a").unwrap();
        std::fs::write(dir.join("isos/sub/b.iso"), b"b").unwrap();
        std::os::unix::fs::symlink(".", dir.join("isos/loop")).unwrap();
        std::os::unix::fs::symlink("..", dir.join("isos/sub/up")).unwrap();
        // Sorts before `sub`: the real path must still win.
        std::os::unix::fs::symlink("sub", dir.join("isos/alias")).unwrap();
        // Two loops make the walk exponential when loops are followed: bound the wait.
        let (tx, rx) = std::sync::mpsc::channel();
        let scanned = dir.clone();
        std::thread::spawn(move || {
            let found: Vec<String> = scan(&scanned).into_iter().map(|f| f.record.path).collect();
            let _ = tx.send(found);
        });
        let found = rx
            .recv_timeout(std::time::Duration::from_secs(20))
            .expect("the scan never ends");
        assert_eq!(found, ["isos/a.iso", "isos/sub/b.iso"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
