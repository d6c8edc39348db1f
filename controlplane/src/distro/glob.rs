//! Case-insensitive path lookups and `*` globs over an ISO's file list.
//!
//! ISO 9660 names come in every case (`BOOT/BCD`, `boot/bcd`, `Boot/BCD`) depending on the
//! authoring tool and on which of Rock Ridge / Joliet / plain 9660 names the indexer used, so
//! every lookup here ignores case and answers with the path as the ISO spells it.
//!
//! A glob is a path whose segments may contain `*` (any run of characters within that one
//! segment; it never crosses a `/`). Lookups walk a directory tree built once per ISO, so a
//! glob costs what the directories it touches hold, not what the whole ISO holds.

use std::collections::HashMap;

/// Normalises a path: `/`-separated, no leading or trailing slash, no empty or `.` segments;
/// `..` drops the previous segment (never climbs above the root).
pub(crate) fn normalize(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for seg in path.split(['/', '\\']) {
        match seg {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    out.join("/")
}

/// Joins `rel` onto directory `dir` (both ISO-root relative) and normalises; an absolute
/// `rel` (leading `/`) ignores `dir`.
pub(crate) fn join(dir: &str, rel: &str) -> String {
    if rel.starts_with('/') || dir.is_empty() {
        normalize(rel)
    } else {
        normalize(&format!("{dir}/{rel}"))
    }
}

/// The directory part of a path (`""` for top-level names).
pub(crate) fn parent(path: &str) -> &str {
    path.rfind('/').map_or("", |i| &path[..i])
}

/// The last segment of a path.
pub(crate) fn basename(path: &str) -> &str {
    path.rfind('/').map_or(path, |i| &path[i + 1..])
}

/// Does one name match one pattern segment? Case-insensitive; `*` matches any run of
/// characters (including none). Everything else is literal.
pub(crate) fn segment_matches(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().flat_map(char::to_lowercase).collect();
    let n: Vec<char> = name.chars().flat_map(char::to_lowercase).collect();
    // Classic greedy wildcard match: remember the last `*` and backtrack to it on mismatch.
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ni));
            pi += 1;
        } else if pi < p.len() && p[pi] == n[ni] {
            pi += 1;
            ni += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Every path of one ISO, indexed for case-insensitive exact lookups and segment-wise globs.
/// Directories that only appear as prefixes of listed files are added, so `casper/` exists
/// whenever `casper/vmlinuz` does. Each path is stored once as spelled plus once lower-cased
/// (the lookup key); the tree refers to paths by index.
#[derive(Debug, Default)]
pub(crate) struct PathIndex {
    /// Paths as the ISO spells them.
    originals: Vec<String>,
    /// Lower-cased path → index into `originals`.
    exact: HashMap<String, usize>,
    /// Directory index ([`ROOT`] for the root) → indexes of its children.
    children: HashMap<usize, Vec<usize>>,
}

/// The root directory's key in `children`.
const ROOT: usize = usize::MAX;

impl PathIndex {
    pub(crate) fn new(paths: &[String]) -> PathIndex {
        let mut index = PathIndex::default();
        for path in paths {
            let original = normalize(path);
            if original.is_empty() {
                continue;
            }
            // Insert every prefix (`a`, `a/b`, `a/b/c`) so implied directories exist too.
            let mut dir = ROOT;
            let mut end = 0;
            for seg in original.split('/') {
                end += seg.len();
                dir = index.insert(&original[..end], dir);
                end += 1;
            }
        }
        index
    }

    fn insert(&mut self, original: &str, parent: usize) -> usize {
        let lower = original.to_lowercase();
        if let Some(&i) = self.exact.get(&lower) {
            return i;
        }
        let i = self.originals.len();
        self.originals.push(original.to_string());
        self.exact.insert(lower, i);
        self.children.entry(parent).or_default().push(i);
        i
    }

    /// The ISO's spelling of `path`, if it exists (any case).
    pub(crate) fn resolve(&self, path: &str) -> Option<&str> {
        let i = *self.exact.get(&normalize(path).to_lowercase())?;
        Some(&self.originals[i])
    }

    /// Does anything match this glob?
    pub(crate) fn exists(&self, pattern: &str) -> bool {
        !self.glob(pattern).is_empty()
    }

    /// Every path matching `pattern`, as the ISO spells them, sorted case-insensitively (so
    /// "first match" is deterministic and a bare `vmlinuz` sorts before `vmlinuz-6.1`).
    pub(crate) fn glob(&self, pattern: &str) -> Vec<&str> {
        let pattern = normalize(pattern).to_lowercase();
        if pattern.is_empty() {
            return Vec::new();
        }
        if !pattern.contains('*') {
            return self.resolve(&pattern).into_iter().collect();
        }
        // Walk the tree one segment at a time; `frontier` holds directory indexes.
        let mut frontier: Vec<usize> = vec![ROOT];
        for seg in pattern.split('/') {
            let mut next = Vec::new();
            for &dir in &frontier {
                if seg.contains('*') {
                    for &child in self.children.get(&dir).into_iter().flatten() {
                        if segment_matches(seg, basename(&self.originals[child])) {
                            next.push(child);
                        }
                    }
                } else {
                    let full = if dir == ROOT {
                        seg.to_string()
                    } else {
                        format!("{}/{seg}", self.originals[dir].to_lowercase())
                    };
                    if let Some(&i) = self.exact.get(&full) {
                        next.push(i);
                    }
                }
            }
            if next.is_empty() {
                return Vec::new();
            }
            frontier = next;
        }
        let mut out: Vec<&str> = frontier
            .iter()
            .map(|&i| self.originals[i].as_str())
            .collect();
        out.sort_by_cached_key(|p| p.to_lowercase());
        out.dedup();
        out
    }

    /// The first match of a glob (see [`glob`](Self::glob) for the order).
    pub(crate) fn first(&self, pattern: &str) -> Option<&str> {
        self.glob(pattern).into_iter().next()
    }

    /// Names (as spelled in the ISO) of the entries directly inside `dir`.
    pub(crate) fn list_dir(&self, dir: &str) -> Vec<&str> {
        let key = normalize(dir);
        let dir = if key.is_empty() {
            ROOT
        } else {
            match self.exact.get(&key.to_lowercase()) {
                Some(&i) => i,
                None => return Vec::new(),
            }
        };
        let mut out: Vec<&str> = self
            .children
            .get(&dir)
            .into_iter()
            .flatten()
            .map(|&i| basename(&self.originals[i]))
            .collect();
        out.sort_by_cached_key(|s| s.to_lowercase());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(paths: &[&str]) -> PathIndex {
        let owned: Vec<String> = paths.iter().map(|s| s.to_string()).collect();
        PathIndex::new(&owned)
    }

    #[test]
    fn segment_globs() {
        assert!(segment_matches("vmlinuz*", "vmlinuz"));
        assert!(segment_matches("vmlinuz*", "VMLINUZ-6.1.0-18-amd64"));
        assert!(segment_matches("*-ucode.img", "intel-ucode.img"));
        assert!(segment_matches("*", ""));
        assert!(segment_matches("a*b*c", "aXXbYYbc"));
        assert!(segment_matches(
            "casper*",
            "casper_pop-os_22.04_amd64_intel_debug_344"
        ));
        assert!(!segment_matches("vmlinuz*", "xvmlinuz"));
        assert!(!segment_matches("a*b", "acbd"));
        assert!(!segment_matches("initrd", "initrd.gz"));
        assert!(segment_matches("BOOT.WIM", "boot.wim"));
        // `?` is literal: only `*` is special.
        assert!(!segment_matches("a?c", "abc"));
    }

    #[test]
    fn normalizes_paths() {
        assert_eq!(normalize("/casper//vmlinuz/"), "casper/vmlinuz");
        assert_eq!(normalize("./isolinux/../casper/./initrd"), "casper/initrd");
        assert_eq!(normalize("../../x"), "x");
        assert_eq!(join("isolinux", "vmlinuz"), "isolinux/vmlinuz");
        assert_eq!(join("isolinux", "/casper/vmlinuz"), "casper/vmlinuz");
        assert_eq!(
            join("isolinux", "../install.amd/vmlinuz"),
            "install.amd/vmlinuz"
        );
    }

    #[test]
    fn index_lookups_ignore_case_and_keep_spelling() {
        let idx = index(&["Boot/BCD", "sources/boot.wim", "bootmgr"]);
        assert_eq!(idx.resolve("boot/bcd"), Some("Boot/BCD"));
        assert_eq!(idx.resolve("/BOOT/bcd"), Some("Boot/BCD"));
        // Implied directory.
        assert_eq!(idx.resolve("SOURCES"), Some("sources"));
        assert!(idx.resolve("boot/boot.sdi").is_none());
        // Directories spelled differently by different entries are still one directory.
        let idx = index(&["Boot/BCD", "BOOT/boot.sdi", "boot/Fonts/x.ttf"]);
        assert_eq!(
            idx.glob("boot/*"),
            vec!["Boot/BCD", "BOOT/boot.sdi", "boot/Fonts"]
        );
        assert_eq!(idx.glob("*/fonts/*.TTF"), vec!["boot/Fonts/x.ttf"]);
        assert_eq!(idx.list_dir(""), vec!["Boot"]);
    }

    #[test]
    fn globs_within_segments_only() {
        let idx = index(&[
            "arch/boot/x86_64/vmlinuz-linux",
            "arch/boot/x86_64/initramfs-linux.img",
            "arch/boot/intel-ucode.img",
            "arch/boot/amd-ucode.img",
            "live/vmlinuz-6.1.0-18-amd64",
            "live/vmlinuz",
        ]);
        assert_eq!(
            idx.glob("arch/boot/*-ucode.img"),
            vec!["arch/boot/amd-ucode.img", "arch/boot/intel-ucode.img"]
        );
        assert_eq!(
            idx.glob("*/boot/x86_64/vmlinuz*"),
            vec!["arch/boot/x86_64/vmlinuz-linux"]
        );
        // `*` never crosses a slash.
        assert!(idx.glob("arch/*/vmlinuz-linux").is_empty());
        assert!(idx.glob("*").contains(&"arch"));
        assert_eq!(idx.first("LIVE/VMLINUZ*"), Some("live/vmlinuz"));
        assert!(idx.exists("arch/boot"));
        assert!(!idx.exists(""));
        assert_eq!(
            idx.list_dir("arch/boot"),
            vec!["amd-ucode.img", "intel-ucode.img", "x86_64"]
        );
        assert!(idx.glob("live/*/vmlinuz").is_empty());
    }
}
