//! The `iso_indexes` table: [`index_key`](super::records::index_key) (one version of one ISO
//! file) → JSON [`StoredIndex`], `{"v":"1","volume_id":…,"names":…,"entries":[…],"boot":[…]}`.
//!
//! An index can be megabytes; keyed by file identity it is written once, when that version of
//! the file is first indexed, not with every rescan of the image list; a row no image refers to
//! is deleted by the same sync (see [`super::Store::sync_images`]).
//!
//! Unlike the small records, this one is a struct whose first field is the version rather than
//! a `#[serde(tag = "v")]` enum: the same JSON, but decoded without serde buffering the whole
//! index first. An unknown version does not decode, and the image is left out of
//! [`super::Store::images`]; such a row only exists in a database of a newer schema, which this
//! build refuses to open.

use redb::TableDefinition;
use serde::{Deserialize, Serialize};

use crate::iso::{BootEntry, Entry, Extent, IsoIndex, Kind, Namespace, Platform};

pub(super) const ISO_INDEXES: TableDefinition<&str, &[u8]> = TableDefinition::new("iso_indexes");

/// An ISO index, as stored. Field meanings: [`IsoIndex`]. The inner shapes are the ones
/// schema 1 stored inside the image record ([`IndexBody`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct StoredIndex {
    v: IndexVersion,
    volume_id: String,
    names: StoredNamespace,
    entries: Vec<StoredEntry>,
    boot: Vec<StoredBootEntry>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum IndexVersion {
    #[serde(rename = "1")]
    V1,
}

/// The index's content without the version: what schema 1 stored as the image's `index`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct IndexBody {
    volume_id: String,
    names: StoredNamespace,
    entries: Vec<StoredEntry>,
    boot: Vec<StoredBootEntry>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum StoredNamespace {
    RockRidge,
    Joliet,
    Plain,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct StoredEntry {
    path: String,
    kind: StoredKind,
    size: u64,
    extents: Vec<StoredExtent>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
enum StoredKind {
    File,
    Dir,
    Symlink(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct StoredExtent {
    offset: u64,
    len: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct StoredBootEntry {
    platform: StoredPlatform,
    bootable: bool,
    media: u8,
    load_rba: u32,
    sector_count: u16,
    file: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum StoredPlatform {
    Bios,
    Efi,
    Other(u8),
}

impl StoredIndex {
    pub(super) fn new(index: &IsoIndex) -> StoredIndex {
        let body = IndexBody::new(index);
        StoredIndex {
            v: IndexVersion::V1,
            volume_id: body.volume_id,
            names: body.names,
            entries: body.entries,
            boot: body.boot,
        }
    }

    pub(super) fn into_index(self) -> IsoIndex {
        IndexBody {
            volume_id: self.volume_id,
            names: self.names,
            entries: self.entries,
            boot: self.boot,
        }
        .into_index()
    }
}

impl IndexBody {
    fn new(ix: &IsoIndex) -> IndexBody {
        IndexBody {
            volume_id: ix.volume_id.clone(),
            names: match ix.names {
                Namespace::RockRidge => StoredNamespace::RockRidge,
                Namespace::Joliet => StoredNamespace::Joliet,
                Namespace::Plain => StoredNamespace::Plain,
            },
            entries: ix
                .entries
                .iter()
                .map(|e| StoredEntry {
                    path: e.path.clone(),
                    kind: match &e.kind {
                        Kind::File => StoredKind::File,
                        Kind::Dir => StoredKind::Dir,
                        Kind::Symlink(target) => StoredKind::Symlink(target.clone()),
                    },
                    size: e.size,
                    extents: e
                        .extents
                        .iter()
                        .map(|x| StoredExtent {
                            offset: x.offset,
                            len: x.len,
                        })
                        .collect(),
                })
                .collect(),
            boot: ix
                .boot
                .iter()
                .map(|b| StoredBootEntry {
                    platform: match b.platform {
                        Platform::Bios => StoredPlatform::Bios,
                        Platform::Efi => StoredPlatform::Efi,
                        Platform::Other(id) => StoredPlatform::Other(id),
                    },
                    bootable: b.bootable,
                    media: b.media,
                    load_rba: b.load_rba,
                    sector_count: b.sector_count,
                    file: b.file.clone(),
                })
                .collect(),
        }
    }

    pub(super) fn into_index(self) -> IsoIndex {
        IsoIndex {
            volume_id: self.volume_id,
            names: match self.names {
                StoredNamespace::RockRidge => Namespace::RockRidge,
                StoredNamespace::Joliet => Namespace::Joliet,
                StoredNamespace::Plain => Namespace::Plain,
            },
            entries: self
                .entries
                .into_iter()
                .map(|e| Entry {
                    path: e.path,
                    kind: match e.kind {
                        StoredKind::File => Kind::File,
                        StoredKind::Dir => Kind::Dir,
                        StoredKind::Symlink(target) => Kind::Symlink(target),
                    },
                    size: e.size,
                    extents: e
                        .extents
                        .into_iter()
                        .map(|x| Extent {
                            offset: x.offset,
                            len: x.len,
                        })
                        .collect(),
                })
                .collect(),
            boot: self
                .boot
                .into_iter()
                .map(|b| BootEntry {
                    platform: match b.platform {
                        StoredPlatform::Bios => Platform::Bios,
                        StoredPlatform::Efi => Platform::Efi,
                        StoredPlatform::Other(id) => Platform::Other(id),
                    },
                    bootable: b.bootable,
                    media: b.media,
                    load_rba: b.load_rba,
                    sector_count: b.sector_count,
                    file: b.file,
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stored_index_is_pinned_and_round_trips() {
        let index = IsoIndex {
            volume_id: "V".into(),
            names: Namespace::RockRidge,
            entries: vec![
                Entry {
                    path: "a".into(),
                    kind: Kind::File,
                    size: 3,
                    extents: vec![Extent {
                        offset: 2048,
                        len: 3,
                    }],
                },
                Entry {
                    path: "l".into(),
                    kind: Kind::Symlink("a".into()),
                    size: 0,
                    extents: Vec::new(),
                },
            ],
            boot: vec![BootEntry {
                platform: Platform::Other(2),
                bootable: true,
                media: 0,
                load_rba: 20,
                sector_count: 4,
                file: None,
            }],
        };
        let json = serde_json::to_string(&StoredIndex::new(&index)).unwrap();
        assert_eq!(
            json,
            r#"{"v":"1","volume_id":"V","names":"RockRidge","entries":[{"path":"a","kind":"File","size":3,"extents":[{"offset":2048,"len":3}]},{"path":"l","kind":{"Symlink":"a"},"size":0,"extents":[]}],"boot":[{"platform":{"Other":2},"bootable":true,"media":0,"load_rba":20,"sector_count":4,"file":null}]}"#
        );
        let back: StoredIndex = serde_json::from_str(&json).unwrap();
        assert_eq!(back.into_index(), index);
        assert!(serde_json::from_str::<StoredIndex>(&json.replace("\"1\"", "\"2\"")).is_err());
    }
}
