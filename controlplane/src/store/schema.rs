//! `meta.schema`: which forms the rows have, and upgrading a database to this build's.
//!
//! - 1 (up to commit 8750aad): the domain types' own JSON; an image's ISO index inside the
//!   image row, rewritten with every rescan ([`super::legacy`]).
//! - 2: versioned records ([`super::records`]); ISO indexes in `iso_indexes`, keyed by file
//!   identity ([`super::index_record`]).
//!
//! [`super::Store::open`] upgrades a schema-1 database in its one start-up write transaction:
//! a crash in the middle leaves schema 1, whole. A database of a newer schema than
//! [`CURRENT`] is refused rather than read wrongly or "upgraded" backwards.

use std::path::Path;

use redb::{ReadableTable, Table, TableHandle, WriteTransaction};

use super::error::err;
use super::index_record::{StoredIndex, ISO_INDEXES};
use super::records::{index_key, StoredClient, StoredFile, StoredImage};
use super::{legacy, StoreError, CLIENTS, FILES, IMAGES, META};

/// The schema this build writes.
pub(super) const CURRENT: u32 = 2;

/// The forms a database's rows have, as far as this build reads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Schema {
    /// Untagged domain JSON, indexes inside images.
    V1,
    /// Versioned records, indexes apart.
    V2,
}

/// The schema named by `meta.schema` (`None`: a new, empty database).
///
/// # Errors
/// [`StoreError::NewerSchema`], or a value that is not a schema number.
pub(super) fn parse(path: &Path, value: Option<&str>) -> Result<Schema, StoreError> {
    let Some(value) = value else {
        return Ok(Schema::V2);
    };
    match value.parse::<u32>() {
        Ok(1) => Ok(Schema::V1),
        Ok(2) => Ok(Schema::V2),
        Ok(n) if n > CURRENT => Err(StoreError::NewerSchema {
            path: path.to_owned(),
            schema: n,
        }),
        _ => Err(err("open")(format!(
            "{}: meta.schema is {value:?}, not a schema this build knows",
            path.display()
        ))),
    }
}

/// Brings the database in `txn` to [`CURRENT`]; `path` is for messages.
///
/// # Errors
/// A newer or unknown schema, or database failure.
pub(super) fn upgrade(txn: &WriteTransaction, path: &Path) -> Result<(), StoreError> {
    let mut meta = txn.open_table(META).map_err(err("upgrade"))?;
    let stored = meta.get("schema").map_err(err("upgrade"))?;
    let schema = parse(path, stored.as_ref().map(|v| v.value()))?;
    let fresh = stored.is_none();
    drop(stored);
    if schema == Schema::V1 {
        from_1(txn)?;
        tracing::info!(path = %path.display(), "database upgraded from schema 1 to 2");
    }
    if schema == Schema::V1 || fresh {
        meta.insert("schema", CURRENT.to_string().as_str())
            .map_err(err("upgrade"))?;
    }
    Ok(())
}

/// Schema 1 → 2: every file, client and image row in its versioned form, each image's index
/// moved to `iso_indexes`. A row that does not decode is left as it was for a client (the
/// reads skip and report it, as before), and dropped for a file or image: the next scan
/// records those again.
fn from_1(txn: &WriteTransaction) -> Result<(), StoreError> {
    let op = "upgrade from schema 1";
    let mut files = txn.open_table(FILES).map_err(err(op))?;
    rewrite(&mut files, true, |_, bytes| {
        json(&StoredFile::new(&legacy::file(bytes)?))
    })?;
    let mut clients = txn.open_table(CLIENTS).map_err(err(op))?;
    rewrite(&mut clients, false, |key, bytes| {
        let mac = key.parse().map_err(serde::de::Error::custom)?;
        json(&StoredClient::new(&legacy::client(mac, bytes)?))
    })?;
    let mut images = txn.open_table(IMAGES).map_err(err(op))?;
    let mut indexes = txn.open_table(ISO_INDEXES).map_err(err(op))?;
    let mut moved = Vec::new();
    rewrite(&mut images, true, |id, bytes| {
        let image = legacy::image(id, bytes)?;
        if let Ok(index) = &image.index {
            moved.push((index_key(&image.stamp), json(&StoredIndex::new(index))?));
        }
        json(&StoredImage::new(&image))
    })?;
    for (key, value) in moved {
        indexes
            .insert(key.as_str(), value.as_slice())
            .map_err(err(op))?;
    }
    Ok(())
}

/// Replaces every value of `table` with `convert(key, value)`; one that fails to convert is
/// logged, and removed when `drop_undecodable`.
fn rewrite(
    table: &mut Table<&str, &[u8]>,
    drop_undecodable: bool,
    mut convert: impl FnMut(&str, &[u8]) -> Result<Vec<u8>, serde_json::Error>,
) -> Result<(), StoreError> {
    let op = "upgrade from schema 1";
    let mut new = Vec::new();
    let mut undecodable = Vec::new();
    for row in table.iter().map_err(err(op))? {
        let (k, v) = row.map_err(err(op))?;
        let key = k.value().to_owned();
        match convert(&key, v.value()) {
            Ok(value) => new.push((key, value)),
            Err(e) => {
                tracing::error!(
                    table = table.name(),
                    key,
                    error = %e,
                    dropped = drop_undecodable,
                    "undecodable schema-1 record not upgraded"
                );
                undecodable.push(key);
            }
        }
    }
    for (key, value) in new {
        table
            .insert(key.as_str(), value.as_slice())
            .map_err(err(op))?;
    }
    if drop_undecodable {
        for key in undecodable {
            table.remove(key.as_str()).map_err(err(op))?;
        }
    }
    Ok(())
}

fn json(value: &impl serde::Serialize) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(value)
}
