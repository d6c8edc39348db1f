//! ISO image indexer: maps every path inside an ISO 9660 image to byte extents of the image,
//! so the data plane can serve files straight out of the image's memory mapping without
//! extracting anything.
//!
//! Formats: ECMA-119 (ISO 9660) volume descriptors and directory records, Rock Ridge
//! (SUSP 1.12 / RRIP 1.12) names, symlinks and deep-directory relocation, Joliet (UCS-2
//! names in a supplementary volume descriptor) and El Torito 1.0 boot catalogs. UDF is only
//! recognised, to give a clear error.
//!
//! Everything here treats the image as hostile: the index only reads metadata sectors via
//! positioned reads, checks every offset against the image length, caps depth, entry count,
//! path length, total name bytes, directory sizes and continuation areas, and returns an [`IsoError`] instead of panicking.
//! An error is about that one image only.
//!
//! One concept per module: [`source`](Source) (where bytes come from), `volume` (volume
//! descriptors), `directory` (directory records), `rockridge` (SUSP/RRIP), `joliet`,
//! `eltorito` and `walk` (the tree walk that ties them together).

mod directory;
mod eltorito;
mod joliet;
mod rockridge;
mod source;
mod volume;
mod walk;

use std::fmt;

use serde::{Deserialize, Serialize};

pub use source::{FileSource, Source};

/// Most entries an index may hold: bounds memory for hostile images.
pub const MAX_ENTRIES: usize = 1_000_000;
/// Deepest directory nesting accepted (root's children are at depth 1).
pub const MAX_DEPTH: usize = 64;
/// Longest path (or symlink target) inside an image, in bytes: Linux's `PATH_MAX`. Rock Ridge
/// names can be long and nest 64 deep, so without it one path could take ~16 KiB.
pub const MAX_PATH: usize = 4096;
/// Most path and symlink-target bytes one index may hold. Real images stay under a few MiB;
/// without it, the entry cap times the longest path would let one crafted image make an index
/// of tens of GB (in memory, then in the database).
pub const MAX_NAME_BYTES: usize = 64 << 20;

/// The index of one ISO image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IsoIndex {
    /// The primary volume descriptor's volume identifier, trailing spaces trimmed.
    pub volume_id: String,
    /// Which name space the paths come from.
    pub names: Namespace,
    /// Every file, directory and symlink, sorted by path (byte order).
    pub entries: Vec<Entry>,
    /// El Torito boot catalog entries, in catalog order (empty if the image is not bootable).
    pub boot: Vec<BootEntry>,
}

/// The directory tree and naming the index was built from, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Namespace {
    /// ISO 9660 tree with Rock Ridge names (POSIX names, symlinks, deep directories).
    RockRidge,
    /// The Joliet tree (UCS-2 names, at most 64 or 103 characters).
    Joliet,
    /// Bare ISO 9660 names (usually upper case, version suffix stripped).
    Plain,
}

/// One path in the image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// `casper/vmlinuz`: no leading slash, `/`-separated.
    pub path: String,
    /// File, directory or symlink.
    pub kind: Kind,
    /// File size in bytes (the sum of the extents' lengths). For a directory, the size of its
    /// directory records; for a symlink, 0.
    pub size: u64,
    /// Where the bytes are, in order. A file's content is the concatenation of these ranges
    /// of the image; empty for an empty file or a symlink. For a directory, the extent of its
    /// ISO 9660 directory records (informational).
    pub extents: Vec<Extent>,
}

/// What an entry is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A Rock Ridge symbolic link and its target, as recorded (not resolved).
    Symlink(String),
}

/// A byte range of the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extent {
    /// Byte offset from the start of the image.
    pub offset: u64,
    /// Length in bytes.
    pub len: u64,
}

/// One El Torito boot catalog entry (the initial/default entry or a section entry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootEntry {
    /// Which firmware this entry is for.
    pub platform: Platform,
    /// Boot indicator 0x88.
    pub bootable: bool,
    /// Emulation type: 0 no emulation, 1-3 floppy, 4 hard disk.
    pub media: u8,
    /// First 2048-byte sector of the boot image.
    pub load_rba: u32,
    /// Number of 512-byte sectors the firmware loads (0 often means "the whole image" for EFI).
    pub sector_count: u16,
    /// The path of the file whose data starts at `load_rba`, if any (for EFI usually a FAT
    /// image such as `boot/grub/efi.img`).
    pub file: Option<String>,
}

/// El Torito platform id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Platform {
    /// 0: x86 PC BIOS.
    Bios,
    /// 0xEF: UEFI.
    Efi,
    /// Anything else (1 PowerPC, 2 Mac, ...).
    Other(u8),
}

impl Platform {
    pub(crate) fn from_id(id: u8) -> Platform {
        match id {
            0 => Platform::Bios,
            0xEF => Platform::Efi,
            other => Platform::Other(other),
        }
    }
}

/// Why an image could not be indexed.
#[derive(Debug)]
pub enum IsoError {
    /// Reading the image failed.
    Io(std::io::Error),
    /// No `CD001` primary volume descriptor.
    NotIso,
    /// UDF recognition sequence but no ISO 9660 tree.
    UdfOnly,
    /// The image ends before something its metadata points at.
    Truncated(&'static str),
    /// A directory is reached twice (a cycle, or two records sharing one directory).
    DirectoryLoop,
    /// A file's or directory's data lies (partly) past the end of the image.
    ExtentOutOfBounds {
        /// The entry's path (`/` for the root directory).
        path: String,
    },
    /// More than [`MAX_ENTRIES`] entries.
    TooManyEntries,
    /// Directories nested deeper than [`MAX_DEPTH`].
    TooDeep,
    /// A path or symlink target longer than [`MAX_PATH`] bytes.
    PathTooLong,
    /// Paths and symlink targets adding up to more than [`MAX_NAME_BYTES`].
    NamesTooLarge,
    /// Some structure breaks the format rules.
    Malformed(&'static str),
}

impl fmt::Display for IsoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IsoError::Io(e) => write!(f, "cannot read the image: {e}"),
            IsoError::NotIso => f.write_str(
                "not an ISO 9660 image: no CD001 primary volume descriptor from sector 16",
            ),
            IsoError::UdfOnly => f.write_str(
                "UDF-only image (BEA01/NSR02/NSR03 present, no ISO 9660 tree; e.g. some \
                 Windows ISOs): not supported yet",
            ),
            IsoError::Truncated(what) => write!(f, "image is truncated: {what}"),
            IsoError::DirectoryLoop => f.write_str(
                "corrupt image: a directory is reached twice (directory records form a loop)",
            ),
            IsoError::ExtentOutOfBounds { path } => {
                write!(
                    f,
                    "corrupt or truncated image: data of {path:?} lies past its end"
                )
            }
            IsoError::TooManyEntries => write!(
                f,
                "image has more than {MAX_ENTRIES} files and directories, refusing to index it"
            ),
            IsoError::TooDeep => write!(
                f,
                "image has directories nested more than {MAX_DEPTH} deep, refusing to index it"
            ),
            IsoError::PathTooLong => write!(
                f,
                "image has a path longer than {MAX_PATH} bytes, refusing to index it"
            ),
            IsoError::NamesTooLarge => write!(
                f,
                "image's paths add up to more than {} MiB, refusing to index it",
                MAX_NAME_BYTES >> 20
            ),
            IsoError::Malformed(what) => write!(f, "malformed ISO image: {what}"),
        }
    }
}

impl std::error::Error for IsoError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            IsoError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<std::io::Error> for IsoError {
    fn from(e: std::io::Error) -> Self {
        IsoError::Io(e)
    }
}

impl IsoIndex {
    /// Indexes the image: reads the volume descriptors, walks the best directory tree
    /// (Rock Ridge, else Joliet, else plain ISO 9660) and the El Torito boot catalog.
    pub fn read(src: &dyn Source) -> Result<IsoIndex, IsoError> {
        walk::read(src)
    }

    /// The entry at exactly `path` (no leading slash).
    pub fn get(&self, path: &str) -> Option<&Entry> {
        let path = path.trim_start_matches('/');
        self.entries
            .binary_search_by(|e| e.path.as_str().cmp(path))
            .ok()
            .map(|i| &self.entries[i])
    }

    /// Like [`get`](Self::get), falling back to an ASCII case-insensitive match (plain ISO 9660
    /// names are upper case while boot configs ask for lower case). Exact match wins; among
    /// case-insensitive matches the first in path order.
    pub fn get_ci(&self, path: &str) -> Option<&Entry> {
        if let Some(e) = self.get(path) {
            return Some(e);
        }
        let path = path.trim_start_matches('/');
        self.entries
            .iter()
            .find(|e| e.path.len() == path.len() && e.path.eq_ignore_ascii_case(path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str) -> Entry {
        Entry {
            path: path.into(),
            kind: Kind::File,
            size: 0,
            extents: Vec::new(),
        }
    }

    #[test]
    fn get_and_get_ci() {
        let idx = IsoIndex {
            volume_id: "X".into(),
            names: Namespace::Plain,
            entries: vec![
                entry("CASPER"),
                entry("CASPER/VMLINUZ"),
                entry("a-b"),
                entry("a/b"),
            ],
            boot: Vec::new(),
        };
        assert_eq!(idx.get("CASPER/VMLINUZ").unwrap().path, "CASPER/VMLINUZ");
        assert_eq!(idx.get("/a/b").unwrap().path, "a/b");
        assert!(idx.get("casper/vmlinuz").is_none());
        assert_eq!(idx.get_ci("casper/vmlinuz").unwrap().path, "CASPER/VMLINUZ");
        assert!(idx.get_ci("casper/initrd").is_none());
    }

    #[test]
    fn serde_round_trip() {
        let idx = IsoIndex {
            volume_id: "V".into(),
            names: Namespace::RockRidge,
            entries: vec![Entry {
                path: "l".into(),
                kind: Kind::Symlink("/x".into()),
                size: 0,
                extents: vec![Extent { offset: 1, len: 2 }],
            }],
            boot: vec![BootEntry {
                platform: Platform::Other(2),
                bootable: true,
                media: 0,
                load_rba: 40,
                sector_count: 4,
                file: Some("b".into()),
            }],
        };
        let json = serde_json::to_string(&idx).unwrap();
        assert_eq!(serde_json::from_str::<IsoIndex>(&json).unwrap(), idx);
    }

    #[test]
    fn errors_display() {
        let e = IsoError::ExtentOutOfBounds { path: "a/b".into() };
        assert!(e.to_string().contains("\"a/b\""));
        assert!(IsoError::UdfOnly.to_string().contains("UDF"));
    }
}
