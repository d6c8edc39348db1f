//! Walks the served parts of the data dir: `isos/` and `files/`. Nothing else under the data
//! dir is ever served (the database, bootloader overrides are handled apart, secrets).
//!
//! Rules that keep hostile trees harmless: hidden entries (`.name`, also partial uploads) are
//! skipped; a symlink is followed only when its target resolves inside a served root (so a
//! link can never expose the database or anything outside); depth is capped; names must be valid UTF-8 (they become URLs and TFTP names).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::store::FileRecord;

/// The data-dir subfolders whose files are served, under the same name in URLs and TFTP.
pub const SERVED_ROOTS: [&str; 2] = ["isos", "files"];
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
            walk(&roots, &dir, sub, 0, &mut out);
        }
    }
    out.sort_by(|a, b| a.record.path.cmp(&b.record.path));
    out
}

fn walk(roots: &[PathBuf], dir: &Path, rel: &str, depth: usize, out: &mut Vec<Found>) {
    if depth > MAX_DEPTH {
        tracing::warn!(dir = %dir.display(), "scan: too deep, skipped");
        return;
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(dir = %dir.display(), error = %e, "scan: cannot read directory");
            return;
        }
    };
    for entry in entries.flatten() {
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
        if !roots.iter().any(|r| real.starts_with(r)) {
            tracing::warn!(entry = %path.display(), target = %real.display(), "scan: link leads outside the served folders, skipped");
            continue;
        }
        let Ok(meta) = std::fs::metadata(&real) else {
            continue;
        };
        let rel_path = format!("{rel}/{name}");
        if meta.is_dir() {
            walk(roots, &real, &rel_path, depth + 1, out);
        } else if meta.is_file() {
            out.push(Found {
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
}
