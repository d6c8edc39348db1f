//! Schema 1's rows (fleetboot up to commit 8750aad): the domain types' own JSON, untagged,
//! with an image's ISO index inside the image. Frozen here and only read: to upgrade a database
//! ([`super::schema`]), or to read one beside an older server ([`super::ReadOnlyStore`]).

use dataplane::Mac;
use serde::Deserialize;

use super::index_record::IndexBody;
use super::records::{ClientV1, StoredClient, StoredRecipe};
use super::FileRecord;
use crate::clients::Client;
use crate::images::Image;

/// A schema-1 `files` value (its `path` repeats the key).
#[derive(Deserialize)]
struct FileV0 {
    path: String,
    size: u64,
    mtime_ns: i128,
    inode: u64,
}

impl From<FileV0> for FileRecord {
    fn from(f: FileV0) -> FileRecord {
        FileRecord {
            path: f.path,
            size: f.size,
            mtime_ns: f.mtime_ns,
            inode: f.inode,
        }
    }
}

/// A schema-1 `images` value (its `id` repeats the key).
#[derive(Deserialize)]
struct ImageV0 {
    path: String,
    group: Vec<String>,
    size: u64,
    stamp: FileV0,
    index: Result<IndexBody, String>,
    #[serde(default)]
    recipe: Option<StoredRecipe>,
}

/// A schema-1 `files` row.
pub(super) fn file(bytes: &[u8]) -> Result<FileRecord, serde_json::Error> {
    serde_json::from_slice::<FileV0>(bytes).map(FileRecord::from)
}

/// A schema-1 `clients` row: the fields of [`ClientV1`], plus a `mac` that repeats the key
/// (ignored).
pub(super) fn client(mac: Mac, bytes: &[u8]) -> Result<Client, serde_json::Error> {
    serde_json::from_slice::<ClientV1>(bytes).map(|c| StoredClient::V1(c).into_client(mac))
}

/// A schema-1 `images` row.
pub(super) fn image(id: &str, bytes: &[u8]) -> Result<Image, serde_json::Error> {
    let old: ImageV0 = serde_json::from_slice(bytes)?;
    Ok(Image {
        id: id.to_owned(),
        path: old.path,
        group: old.group,
        size: old.size,
        stamp: old.stamp.into(),
        index: old.index.map(IndexBody::into_index),
        recipe: old.recipe.map(StoredRecipe::into_recipe),
    })
}
