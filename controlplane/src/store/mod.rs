//! The redb database (`<data dir>/fleetboot.redb`): fleetboot's only source of truth, and the
//! only module that touches redb. Opened in `SingleWriter` mode: `serve` writes, and read-only
//! tools may open it beside a running server.
//!
//! Tables (keys are UTF-8; values are JSON records in their stored forms, versioned apart from
//! the domain types: `store/records.rs`):
//! - `meta`: `&str → &str` — `schema` = "2" (what each schema holds, and the upgrade:
//!   `store/schema.rs`). (`admin_password`, the legacy admin hash, is moved into `users` on
//!   open: `store/users.rs`.)
//! - `files`: `&str → &[u8]` — path relative to the data dir → `StoredFile`.
//! - `images`: `&str → &[u8]` — image id → `StoredImage` (small: no index).
//! - `iso_indexes`: `&str → &[u8]` — file identity (`<size>:<mtime_ns>:<inode>:<path>`) →
//!   `StoredIndex`, written once per file version (`store/index_record.rs`).
//! - `clients`: `&str → &[u8]` — MAC (`52:54:00:12:34:56`) → `StoredClient`.
//! - `users`: `&str → &[u8]` — user name → `UserRecord`.
//! - `grants`: login sessions and API tokens by the hash of their secret (`store/sessions.rs`).
//! - `history`: `u64 → &[u8]`, `history_by_mac`: `(&str, u64) → ()` — the boot history
//!   (`store/history.rs`).
//! - `image_meta`, `settings`: operators' edits through the API (`store/overrides.rs`).
//! - `templates`, `groups`, `secrets`, `meta.install_key`: unattended installs
//!   (`store/install.rs`).
//! - `deploys`: multicast deploys of disk images (`store/deploys.rs`).
//!
//! Opening reads every table through, so a damaged file stops the start with
//! [`StoreError::Corrupt`]; a record that does not decode is skipped and logged; after a failed
//! write, [`Store::reopen`] makes the database usable again.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use dataplane::Mac;

use redb::{
    ConcurrencyMode, Database, ReadOnlyDatabase, ReadTransaction, ReadableDatabase, ReadableTable,
    ReadableTableMetadata, TableDefinition,
};

use crate::clients::Client;
use crate::images::Image;

mod deploys;
mod error;
mod history;
mod index_record;
mod install;
mod legacy;
mod overrides;
mod records;
mod schema;
mod sessions;
mod users;

pub use error::StoreError;
use error::{err, guard_open, open_error};
use index_record::{StoredIndex, ISO_INDEXES};
use records::{index_key, StoredClient, StoredFile, StoredImage};
use schema::Schema;
pub use sessions::{Grant, GrantKind};
use users::USERS;

const META: TableDefinition<&str, &str> = TableDefinition::new("meta");
const FILES: TableDefinition<&str, &[u8]> = TableDefinition::new("files");
const IMAGES: TableDefinition<&str, &[u8]> = TableDefinition::new("images");
const CLIENTS: TableDefinition<&str, &[u8]> = TableDefinition::new("clients");

/// Every table of records, besides `meta`: created by [`Store::open`] and read through by
/// every open. A new table is added here (one of other key or value types, beside `META` in
/// [`read_through`] and [`Store::open_with`]).
const RECORD_TABLES: &[TableDefinition<&str, &[u8]>] = &[
    FILES,
    IMAGES,
    ISO_INDEXES,
    CLIENTS,
    USERS,
    sessions::GRANTS,
    overrides::IMAGE_META,
    overrides::SETTINGS,
    install::TEMPLATES,
    install::GROUPS,
    install::SECRETS,
    deploys::DEPLOYS,
];

/// One served file, as last seen by a scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRecord {
    /// Path relative to the data dir, `/`-separated (`isos/linux/a.iso`).
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: i128,
    /// Inode number.
    pub inode: u64,
}

/// Reads every row of every table once (values not decoded): damage anywhere shows now, at
/// start, rather than as a failure in the middle of serving.
fn read_through(db: &impl ReadableDatabase) -> Result<(), redb::Error> {
    let txn = db.begin_read()?;
    read_rows(&txn, META)?;
    for definition in RECORD_TABLES {
        read_rows(&txn, *definition)?;
    }
    read_rows(&txn, history::HISTORY)?;
    read_rows(&txn, history::BY_MAC)?;
    Ok(())
}

/// Reads every row of one table, if it exists.
fn read_rows<K: redb::Key + 'static, V: redb::Value + 'static>(
    txn: &redb::ReadTransaction,
    definition: TableDefinition<K, V>,
) -> Result<(), redb::Error> {
    match txn.open_table(definition) {
        Ok(table) => {
            for row in table.iter()? {
                row?;
            }
            Ok(())
        }
        Err(redb::TableError::TableDoesNotExist(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Opens the database file at a path (tests open it on a backend that fails on demand).
pub(crate) type Opener = Box<dyn Fn(&Path) -> Result<Database, redb::Error> + Send>;

/// The open database.
pub struct Store {
    /// `None` only between a failed reopen and the next one.
    db: Option<Database>,
    path: PathBuf,
    opener: Opener,
}

impl Store {
    /// Opens (creating if needed) the database in `data_dir`.
    ///
    /// # Errors
    /// The file cannot be created, is locked by another writer, or is not a redb database.
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
        Store::open_with(
            data_dir,
            Box::new(|path| {
                Ok(Database::builder()
                    .set_concurrency_mode(ConcurrencyMode::SingleWriter)
                    .create(path)?)
            }),
        )
    }

    /// [`Store::open`] through `opener`.
    pub(crate) fn open_with(data_dir: &Path, opener: Opener) -> Result<Store, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(err("create data dir"))?;
        let path = data_dir.join("fleetboot.redb");
        let db = guard_open(&path, || {
            let db = opener(&path)?;
            read_through(&db)?;
            Ok(db)
        })?;
        let store = Store {
            db: Some(db),
            path,
            opener,
        };
        let txn = store.db()?.begin_write().map_err(err("init"))?;
        let init = || {
            schema::upgrade(&txn, &store.path)?;
            for definition in RECORD_TABLES {
                txn.open_table(*definition).map_err(err("init"))?;
            }
            users::upgrade_legacy_admin(&txn, crate::coordinator::unix_now())
        };
        match init() {
            Ok(()) => txn.commit().map_err(err("init"))?,
            Err(e) => {
                txn.abort().map_err(err("init"))?;
                return Err(e);
            }
        }
        Ok(store)
    }

    /// Where the database lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn db(&self) -> Result<&Database, StoreError> {
        self.db.as_ref().ok_or_else(|| {
            err("access")("closed after an I/O error, and not reopened yet".to_owned())
        })
    }

    /// Closes and opens the database again. redb refuses every transaction after an I/O
    /// error until the file is reopened (which also repairs what the failed commit left).
    ///
    /// # Errors
    /// The file cannot be opened now; the next call tries again.
    pub fn reopen(&mut self) -> Result<(), StoreError> {
        // The old handle holds the file's lock: it must go first.
        self.db = None;
        let db = (self.opener)(&self.path).map_err(|e| open_error(&self.path, e))?;
        self.db = Some(db);
        Ok(())
    }

    /// Replaces the file inventory with `files`; returns how many records changed.
    ///
    /// # Errors
    /// Database failure.
    pub fn sync_files(&self, files: &[FileRecord]) -> Result<usize, StoreError> {
        let op = "sync files";
        let txn = self.db()?.begin_write().map_err(err(op))?;
        let mut changed = 0;
        {
            let mut table = txn.open_table(FILES).map_err(err(op))?;
            let wanted: HashMap<&str, &FileRecord> =
                files.iter().map(|f| (f.path.as_str(), f)).collect();
            let before = table.len().map_err(err(op))?;
            table
                .retain(|k, _| wanted.contains_key(k))
                .map_err(err(op))?;
            changed += (before - table.len().map_err(err(op))?) as usize;
            for file in files {
                let json = serde_json::to_vec(&StoredFile::new(file)).map_err(err(op))?;
                let old = table
                    .insert(file.path.as_str(), json.as_slice())
                    .map_err(err(op))?;
                if old.is_none_or(|o| o.value() != json.as_slice()) {
                    changed += 1;
                }
            }
        }
        txn.commit().map_err(err(op))?;
        Ok(changed)
    }

    /// The file inventory, sorted by path.
    ///
    /// # Errors
    /// Database failure.
    pub fn files(&self) -> Result<Vec<FileRecord>, StoreError> {
        let txn = self.db()?.begin_read().map_err(err("list files"))?;
        read_all(&txn, FILES, "list files", |path, bytes| {
            decode_file(Schema::V2, path, bytes)
        })
    }
}

impl Store {
    /// Replaces the image list. An image's index is written only when no row holds it yet
    /// (its file version is new), and index rows no image refers to any more are deleted.
    ///
    /// # Errors
    /// Database failure.
    pub fn sync_images(&self, images: &[Image]) -> Result<(), StoreError> {
        let op = "sync images";
        let txn = self.db()?.begin_write().map_err(err(op))?;
        {
            let mut table = txn.open_table(IMAGES).map_err(err(op))?;
            table.retain(|_, _| false).map_err(err(op))?;
            for image in images {
                let json = serde_json::to_vec(&StoredImage::new(image)).map_err(err(op))?;
                table
                    .insert(image.id.as_str(), json.as_slice())
                    .map_err(err(op))?;
            }
            let wanted: HashMap<String, _> = images
                .iter()
                .filter_map(|i| Some((index_key(&i.stamp), i.index.as_ref().ok()?)))
                .collect();
            let mut indexes = txn.open_table(ISO_INDEXES).map_err(err(op))?;
            indexes
                .retain(|key, _| wanted.contains_key(key))
                .map_err(err(op))?;
            for (key, index) in wanted {
                if indexes.get(key.as_str()).map_err(err(op))?.is_none() {
                    let json = serde_json::to_vec(&StoredIndex::new(index)).map_err(err(op))?;
                    indexes
                        .insert(key.as_str(), json.as_slice())
                        .map_err(err(op))?;
                }
            }
        }
        txn.commit().map_err(err(op))
    }

    /// The stored images with their indexes, sorted by id.
    ///
    /// # Errors
    /// Database failure.
    pub fn images(&self) -> Result<Vec<Image>, StoreError> {
        let txn = self.db()?.begin_read().map_err(err("list images"))?;
        read_images(&txn, Schema::V2)
    }

    /// Deletes the records of `removed`, then writes (creates or replaces) `changed`, in one
    /// transaction.
    ///
    /// # Errors
    /// Database failure.
    pub fn save_clients<'a>(
        &self,
        changed: impl IntoIterator<Item = &'a Client>,
        removed: &BTreeSet<Mac>,
    ) -> Result<(), StoreError> {
        let op = "save clients";
        let txn = self.db()?.begin_write().map_err(err(op))?;
        {
            let mut table = txn.open_table(CLIENTS).map_err(err(op))?;
            for mac in removed {
                table.remove(mac.to_string().as_str()).map_err(err(op))?;
            }
            for client in changed {
                let json = serde_json::to_vec(&StoredClient::new(client)).map_err(err(op))?;
                table
                    .insert(client.mac.to_string().as_str(), json.as_slice())
                    .map_err(err(op))?;
            }
        }
        txn.commit().map_err(err(op))
    }

    /// Every client, sorted by MAC.
    ///
    /// # Errors
    /// Database failure.
    pub fn clients(&self) -> Result<Vec<Client>, StoreError> {
        let txn = self.db()?.begin_read().map_err(err("list clients"))?;
        read_all(&txn, CLIENTS, "list clients", |mac, bytes| {
            decode_client(Schema::V2, mac, bytes)
        })
    }
}

/// A read-only view of the database for CLI tools, usable while `serve` holds it. It reads
/// schema 1 too, for a database an older server still holds.
pub struct ReadOnlyStore {
    db: ReadOnlyDatabase,
    schema: Schema,
}

impl ReadOnlyStore {
    /// Opens `<data_dir>/fleetboot.redb` read-only.
    ///
    /// # Errors
    /// No database there yet, it cannot be read, or [`StoreError::NewerSchema`].
    pub fn open(data_dir: &Path) -> Result<ReadOnlyStore, StoreError> {
        let path = data_dir.join("fleetboot.redb");
        if !path.is_file() {
            return Err(err("open")(format!(
                "no database at {} (run `fleetboot serve` once)",
                path.display()
            )));
        }
        let db = guard_open(&path, || {
            let db = Database::builder()
                .set_concurrency_mode(ConcurrencyMode::SingleWriter)
                .open_read_only(&path)?;
            read_through(&db)?;
            Ok(db)
        })?;
        let txn = db.begin_read().map_err(err("open"))?;
        let stored = match txn.open_table(META) {
            Ok(meta) => meta
                .get("schema")
                .map_err(err("open"))?
                .map(|v| v.value().to_owned()),
            Err(redb::TableError::TableDoesNotExist(_)) => None,
            Err(e) => return Err(err("open")(e)),
        };
        let schema = schema::parse(&path, stored.as_deref())?;
        drop(txn);
        Ok(ReadOnlyStore { db, schema })
    }

    /// The stored images with their indexes, sorted by id.
    ///
    /// # Errors
    /// Database failure.
    pub fn images(&self) -> Result<Vec<Image>, StoreError> {
        let txn = self.db.begin_read().map_err(err("list images"))?;
        read_images(&txn, self.schema)
    }

    /// Every client, sorted by MAC.
    ///
    /// # Errors
    /// Database failure.
    pub fn clients(&self) -> Result<Vec<Client>, StoreError> {
        let txn = self.db.begin_read().map_err(err("list clients"))?;
        read_all(&txn, CLIENTS, "list clients", |mac, bytes| {
            decode_client(self.schema, mac, bytes)
        })
    }
}

fn decode_file(schema: Schema, path: &str, bytes: &[u8]) -> Result<FileRecord, String> {
    match schema {
        Schema::V1 => legacy::file(bytes),
        Schema::V2 => serde_json::from_slice(bytes).map(|f: StoredFile| f.into_file(path)),
    }
    .map_err(|e| e.to_string())
}

fn decode_client(schema: Schema, mac: &str, bytes: &[u8]) -> Result<Client, String> {
    let mac: Mac = mac.parse().map_err(|e| format!("key: {e}"))?;
    match schema {
        Schema::V1 => legacy::client(mac, bytes),
        Schema::V2 => serde_json::from_slice(bytes).map(|c: StoredClient| c.into_client(mac)),
    }
    .map_err(|e| e.to_string())
}

/// Every image with its index. One whose index row is missing or does not decode is left out
/// (and logged), as if never indexed: the next scan indexes it again.
fn read_images(txn: &ReadTransaction, schema: Schema) -> Result<Vec<Image>, StoreError> {
    let op = "list images";
    let indexes = match (schema, txn.open_table(ISO_INDEXES)) {
        (Schema::V1, _) | (_, Err(redb::TableError::TableDoesNotExist(_))) => None,
        (_, Ok(table)) => Some(table),
        (_, Err(e)) => return Err(err(op)(e)),
    };
    read_all(txn, IMAGES, op, |id, bytes| {
        let stored: StoredImage = match schema {
            Schema::V1 => return legacy::image(id, bytes).map_err(|e| e.to_string()),
            Schema::V2 => serde_json::from_slice(bytes).map_err(|e| e.to_string())?,
        };
        if !stored.has_index() {
            return Ok(stored.into_image(id, None));
        }
        let key = index_key(&stored.stamp());
        let row = match &indexes {
            Some(table) => table.get(key.as_str()).map_err(|e| e.to_string())?,
            None => None,
        };
        let row = row.ok_or_else(|| format!("its index ({key}) is missing"))?;
        let index: StoredIndex = serde_json::from_slice(row.value())
            .map_err(|e| format!("its index ({key}) does not decode: {e}"))?;
        Ok(stored.into_image(id, Some(index.into_index())))
    })
}

/// Every record of a `&str → &[u8]` table, decoded by `decode(key, value)`, in key order; a
/// table never written is empty. A record that does not decode (damaged, or written by a
/// newer version) is reported and skipped: one bad record must not cost every other one (for
/// clients, their assignments).
fn read_all<T>(
    txn: &ReadTransaction,
    definition: TableDefinition<&str, &[u8]>,
    op: &'static str,
    mut decode: impl FnMut(&str, &[u8]) -> Result<T, String>,
) -> Result<Vec<T>, StoreError> {
    let table = match txn.open_table(definition) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
        Err(e) => return Err(err(op)(e)),
    };
    let mut out = Vec::new();
    for row in table.iter().map_err(err(op))? {
        let (k, v) = row.map_err(err(op))?;
        match decode(k.value(), v.value()) {
            Ok(record) => out.push(record),
            Err(e) => tracing::error!(
                table = %definition,
                key = k.value(),
                error = %e,
                "undecodable record skipped (left in the database); the others are used"
            ),
        }
    }
    Ok(out)
}

/// Decodes a plain JSON record (for [`read_all`]).
fn json<T: serde::de::DeserializeOwned>(_key: &str, bytes: &[u8]) -> Result<T, String> {
    serde_json::from_slice(bytes).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod upgrade_tests;
