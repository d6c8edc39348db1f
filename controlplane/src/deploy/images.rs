//! The images a deploy can send, as the console suggests them: regular files under the data
//! dir's `disks/` folder (where the README tells operators to put them). Any file inside the
//! data dir can still be named; this list is a convenience, so it is bounded rather than
//! complete on a huge tree.

use std::path::Path;

use serde::Serialize;
use utoipa::ToSchema;

/// The data-dir folder deploy images live in.
pub const DIR: &str = "disks";
/// Most files listed.
const MAX_FILES: usize = 1000;
/// Deepest folder searched below [`DIR`].
const MAX_DEPTH: usize = 4;

/// One image file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct DiskImage {
    /// Relative to the data dir (`disks/base.img`), as a deploy names it.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
}

/// The regular files under `data_dir/disks/`, sorted by path. Symbolic links are not
/// followed (a deploy checks where its image really is); a missing folder lists nothing.
pub fn list(data_dir: &Path) -> Vec<DiskImage> {
    let mut out = Vec::new();
    walk(&data_dir.join(DIR), DIR, 0, &mut out);
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

fn walk(dir: &Path, rel: &str, depth: usize, out: &mut Vec<DiskImage>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if out.len() >= MAX_FILES {
            return;
        }
        let (Ok(kind), Some(name)) = (
            entry.file_type(),
            entry.file_name().to_str().map(str::to_owned),
        ) else {
            continue;
        };
        let path = format!("{rel}/{name}");
        if kind.is_dir() && depth < MAX_DEPTH {
            walk(&entry.path(), &path, depth + 1, out);
        } else if kind.is_file() {
            let size = entry.metadata().map_or(0, |m| m.len());
            out.push(DiskImage { path, size });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_files_under_disks_only() {
        let dir = std::env::temp_dir().join(format!("fleetboot-disks-{}", std::process::id()));
        let data = dir.join("data");
        std::fs::create_dir_all(data.join("disks/rack")).unwrap();
        std::fs::create_dir_all(data.join("isos")).unwrap();
        std::fs::write(data.join("disks/b.img"), b"12345").unwrap();
        std::fs::write(data.join("disks/rack/a.img.zst"), b"1").unwrap();
        std::fs::write(data.join("isos/x.iso"), b"1").unwrap();
        std::os::unix::fs::symlink(data.join("isos/x.iso"), data.join("disks/link.img")).unwrap();
        let paths: Vec<(String, u64)> = list(&data).into_iter().map(|d| (d.path, d.size)).collect();
        assert_eq!(
            paths,
            [
                ("disks/b.img".to_owned(), 5),
                ("disks/rack/a.img.zst".to_owned(), 1)
            ]
        );
        assert!(list(&dir.join("nowhere")).is_empty());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
