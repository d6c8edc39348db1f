//! Images: the ISOs under `data/isos/`. Each gets a stable, URL-safe id, a group from its
//! folders (`linux/servers/x.iso` → `linux` › `servers`), and an index of its files (see
//! [`crate::iso`]) so that every file inside is served as a slice of the ISO's mapping at
//! `images/<id>/<path inside the ISO>` — no extraction, no copy. Indexes are kept in redb and
//! reused while the ISO's size, mtime and inode are unchanged (stored once per file version,
//! apart from the image list: see [`crate::store`]). Recipes come from the layout
//! table ([`layout_file`]) unless files beside the ISO override them ([`manual_override`]), or
//! a netboot tree was fetched for it ([`crate::netboot`]).

pub mod layout_file;
pub mod manual_override;
pub mod meta;
pub mod report;

use sha2::{Digest, Sha256};

use crate::distro::{BootRecipe, IsoView, Layouts};
use crate::iso::{FileSource, IsoIndex, Kind, Source};
use crate::netboot;
use crate::scan::Found;
use crate::store::FileRecord;

/// One ISO and what is known about it. (Stored as `store::records::StoredImage`, its index
/// apart.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// Stable, URL-safe id: a slug of the file name plus a short hash of the relative path.
    pub id: String,
    /// Path relative to `data/isos/`.
    pub path: String,
    /// Folder names from `data/isos/` down to the ISO (empty at the top level).
    pub group: Vec<String>,
    /// Size in bytes.
    pub size: u64,
    /// The file version the index was built from.
    pub stamp: FileRecord,
    /// The index, or why there is none.
    pub index: Result<IsoIndex, String>,
    /// How to boot it, from the layout table (none without an index).
    pub recipe: Option<BootRecipe>,
}

/// Largest file read from inside an ISO for detection (boot menus, `.disk/info`).
const MAX_TEXT: u64 = 256 << 10;

/// The prefix under which the scan reports ISOs.
const ISOS: &str = "isos/";

/// True for names ending in `.iso`, in any case.
pub fn is_iso(name: &str) -> bool {
    name.len() > 4 && name[name.len() - 4..].eq_ignore_ascii_case(".iso")
}

/// The id of the ISO at `rel` (relative to `data/isos/`): stable across restarts and rescans,
/// distinct for same-named ISOs in different folders.
pub fn image_id(rel: &str) -> String {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    let stem = if is_iso(name) {
        &name[..name.len() - 4]
    } else {
        name
    };
    let mut slug = String::with_capacity(stem.len());
    for c in stem.chars() {
        match c {
            'a'..='z' | '0'..='9' | '.' | '_' => slug.push(c),
            'A'..='Z' => slug.push(c.to_ascii_lowercase()),
            _ if !slug.ends_with('-') => slug.push('-'),
            _ => {}
        }
    }
    let slug = slug.trim_matches(['-', '.']);
    let slug: String = slug.chars().take(60).collect();
    let hash = Sha256::digest(rel.as_bytes());
    let tag: String = hash[..3].iter().map(|b| format!("{b:02x}")).collect();
    if slug.is_empty() {
        format!("iso-{tag}")
    } else {
        format!("{slug}-{tag}")
    }
}

/// Folders of `rel` as a nested group path.
pub fn group_of(rel: &str) -> Vec<String> {
    let mut parts: Vec<String> = rel.split('/').map(str::to_owned).collect();
    parts.pop();
    parts
}

/// Builds the image list from a scan, reusing indexes from `known` (by path) when the file is
/// unchanged, and detecting the layout of new ones with `layouts` (of every one when
/// `redetect`: the table changed). Manual overrides among `found` are applied last. A broken
/// image gets its error recorded; it never affects the others.
pub fn refresh(found: &[Found], known: &[Image], layouts: &Layouts, redetect: bool) -> Vec<Image> {
    found
        .iter()
        .filter_map(|f| {
            let rel = f.record.path.strip_prefix(ISOS)?;
            is_iso(rel).then_some((f, rel))
        })
        .map(|(f, rel)| {
            let mut image = match known.iter().find(|i| i.path == rel && i.stamp == f.record) {
                Some(old) => reuse(old, f, layouts, redetect),
                None => index(f, rel, layouts),
            };
            image.recipe = manual_override::apply(rel, image.recipe.take(), found);
            image.recipe = netboot::apply(&image.id, image.recipe.take(), found);
            image
        })
        .collect()
}

/// An unchanged ISO keeps its index. Its recipe is detected again when the table changed, or
/// when an override or a netboot tree replaced it (either may have changed or gone, and the
/// detected recipe is what remains).
fn reuse(old: &Image, f: &Found, layouts: &Layouts, redetect: bool) -> Image {
    let mut image = old.clone();
    let replaced = manual_override::is_applied(old.recipe.as_ref())
        || netboot::is_applied(old.recipe.as_ref());
    if !redetect && !replaced {
        return image;
    }
    image.recipe = old
        .index
        .as_ref()
        .ok()
        .and_then(|ix| match FileSource::open(&f.abs) {
            Ok(src) => Some(detect(&src, ix, layouts)),
            Err(e) => {
                tracing::warn!(iso = %old.path, error = %e, "cannot open ISO to detect its layout");
                None
            }
        });
    image
}

/// Indexes a new or changed ISO and detects its layout.
fn index(f: &Found, rel: &str, layouts: &Layouts) -> Image {
    let started = std::time::Instant::now();
    let source = FileSource::open(&f.abs).map_err(|e| format!("cannot open: {e}"));
    let index = source
        .as_ref()
        .map_err(Clone::clone)
        .and_then(|src| IsoIndex::read(src).map_err(|e| e.to_string()));
    let recipe = match (&source, &index) {
        (Ok(src), Ok(ix)) => Some(detect(src, ix, layouts)),
        _ => None,
    };
    match &index {
        Ok(ix) => tracing::info!(
            iso = rel,
            files = ix.entries.len(),
            ms = started.elapsed().as_millis() as u64,
            "indexed"
        ),
        Err(e) => {
            tracing::warn!(iso = rel, error = %e, "cannot index ISO; it is still served whole")
        }
    }
    Image {
        id: image_id(rel),
        path: rel.to_owned(),
        group: group_of(rel),
        size: f.record.size,
        stamp: f.record.clone(),
        index,
        recipe,
    }
}

/// Runs the layout table over an indexed ISO, reading small text files through `src`.
fn detect(src: &FileSource, index: &IsoIndex, layouts: &Layouts) -> BootRecipe {
    let paths: Vec<String> = index.entries.iter().map(|e| e.path.clone()).collect();
    let read_text = |path: &str| -> Option<String> {
        let entry = index.get(path)?;
        if entry.kind != Kind::File || entry.size > MAX_TEXT {
            return None;
        }
        let mut bytes = Vec::with_capacity(entry.size as usize);
        for extent in &entry.extents {
            let start = bytes.len();
            bytes.resize(start + extent.len as usize, 0);
            src.read_at(extent.offset, &mut bytes[start..]).ok()?;
        }
        Some(String::from_utf8_lossy(&bytes).into_owned())
    };
    layouts.detect(&IsoView {
        volume_id: &index.volume_id,
        paths: &paths,
        read_text: &read_text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_url_safe_stable_and_distinct() {
        let a = image_id("linux/servers/Ubuntu Server 24.04 (amd64).ISO");
        assert!(a.starts_with("ubuntu-server-24.04-amd64-"), "{a}");
        assert!(
            a.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c)),
            "{a}"
        );
        assert_eq!(a, image_id("linux/servers/Ubuntu Server 24.04 (amd64).ISO"));
        assert_ne!(image_id("a/x.iso"), image_id("b/x.iso"));
        assert!(image_id("ünïcødé.iso").starts_with("n-c-d-"));
        assert!(image_id("(((.iso").starts_with("iso-"));
    }

    #[test]
    fn groups_and_names() {
        assert_eq!(group_of("linux/servers/x.iso"), ["linux", "servers"]);
        assert!(group_of("x.iso").is_empty());
        assert!(is_iso("a.ISO") && is_iso("b.iso") && !is_iso(".iso") && !is_iso("a.img"));
    }
}
