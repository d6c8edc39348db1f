//! The redb database (`<data dir>/fleetboot.redb`): fleetboot's only source of truth, and the
//! only module that touches redb. Opened in `SingleWriter` mode: `serve` writes, and read-only
//! tools may open it beside a running server.
//!
//! Tables (keys and values are UTF-8 / JSON, documented beside each definition):
//! - `meta`: `&str → &str` — `schema` = "1". (`admin_password`, the legacy admin hash, is
//!   moved into `users` on open: see [`users`].)
//! - `files`: `&str → &[u8]` — path relative to the data dir → JSON [`FileRecord`].
//! - `images`: `&str → &[u8]` — image id → JSON [`Image`] (with its ISO index).
//! - `clients`: `&str → &[u8]` — MAC (`52:54:00:12:34:56`) → JSON [`Client`].
//! - `users`: `&str → &[u8]` — user name → JSON user record (see [`users`]).
//! - `grants`: login sessions and API tokens by the hash of their secret (see [`sessions`]).
//! - `history`, `history_by_mac`: the boot history (see [`history`]).
//! - `image_meta`, `settings`: operators' edits through the API (see [`overrides`]).
//!
//! Opening reads every table through, so a damaged file stops the start with
//! [`StoreError::Corrupt`]; a record that does not decode is skipped and logged; after a failed
//! write, [`Store::reopen`] makes the database usable again.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use dataplane::Mac;

use redb::{
    ConcurrencyMode, Database, ReadOnlyDatabase, ReadableDatabase, ReadableTable, TableDefinition,
};
use serde::{Deserialize, Serialize};

use crate::clients::Client;
use crate::images::Image;

mod error;
mod history;
mod overrides;
mod sessions;
mod users;

pub use error::StoreError;
pub use sessions::{Grant, GrantKind};
use error::{err, guard_open, open_error};
use users::USERS;

const META: TableDefinition<&str, &str> = TableDefinition::new("meta");
const FILES: TableDefinition<&str, &[u8]> = TableDefinition::new("files");
const IMAGES: TableDefinition<&str, &[u8]> = TableDefinition::new("images");
const CLIENTS: TableDefinition<&str, &[u8]> = TableDefinition::new("clients");
const SCHEMA: &str = "1";

/// One served file, as last seen by a scan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    for definition in [
        FILES,
        IMAGES,
        CLIENTS,
        USERS,
        sessions::GRANTS,
        overrides::IMAGE_META,
        overrides::SETTINGS,
    ] {
        read_rows(&txn, definition)?;
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
        {
            let mut meta = txn.open_table(META).map_err(err("init"))?;
            if meta.get("schema").map_err(err("init"))?.is_none() {
                meta.insert("schema", SCHEMA).map_err(err("init"))?;
            }
            txn.open_table(FILES).map_err(err("init"))?;
            txn.open_table(IMAGES).map_err(err("init"))?;
            txn.open_table(USERS).map_err(err("init"))?;
        }
        users::upgrade_legacy_admin(&txn, crate::coordinator::unix_now())?;
        txn.commit().map_err(err("init"))?;
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
        let txn = self.db()?.begin_write().map_err(err("sync files"))?;
        let mut changed = 0;
        {
            let mut table = txn.open_table(FILES).map_err(err("sync files"))?;
            let wanted: std::collections::HashMap<&str, &FileRecord> =
                files.iter().map(|f| (f.path.as_str(), f)).collect();
            let mut stale = Vec::new();
            for row in table.iter().map_err(err("sync files"))? {
                let (k, _) = row.map_err(err("sync files"))?;
                if !wanted.contains_key(k.value()) {
                    stale.push(k.value().to_owned());
                }
            }
            for key in stale {
                table.remove(key.as_str()).map_err(err("sync files"))?;
                changed += 1;
            }
            for file in files {
                let json = serde_json::to_vec(file).map_err(err("sync files"))?;
                let old = table
                    .insert(file.path.as_str(), json.as_slice())
                    .map_err(err("sync files"))?;
                if old.is_none_or(|o| o.value() != json.as_slice()) {
                    changed += 1;
                }
            }
        }
        txn.commit().map_err(err("sync files"))?;
        Ok(changed)
    }

    /// The file inventory, sorted by path.
    ///
    /// # Errors
    /// Database failure.
    pub fn files(&self) -> Result<Vec<FileRecord>, StoreError> {
        read_all(self.db()?, FILES, "list files")
    }
}

impl Store {
    /// Replaces the image list.
    ///
    /// # Errors
    /// Database failure.
    pub fn sync_images(&self, images: &[Image]) -> Result<(), StoreError> {
        let txn = self.db()?.begin_write().map_err(err("sync images"))?;
        {
            let mut table = txn.open_table(IMAGES).map_err(err("sync images"))?;
            table.retain(|_, _| false).map_err(err("sync images"))?;
            for image in images {
                let json = serde_json::to_vec(image).map_err(err("sync images"))?;
                table
                    .insert(image.id.as_str(), json.as_slice())
                    .map_err(err("sync images"))?;
            }
        }
        txn.commit().map_err(err("sync images"))
    }

    /// The stored images, sorted by id.
    ///
    /// # Errors
    /// Database failure.
    pub fn images(&self) -> Result<Vec<Image>, StoreError> {
        read_all(self.db()?, IMAGES, "list images")
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
        let txn = self.db()?.begin_write().map_err(err("save clients"))?;
        {
            let mut table = txn.open_table(CLIENTS).map_err(err("save clients"))?;
            for mac in removed {
                table
                    .remove(mac.to_string().as_str())
                    .map_err(err("save clients"))?;
            }
            for client in changed {
                let json = serde_json::to_vec(client).map_err(err("save clients"))?;
                table
                    .insert(client.mac.to_string().as_str(), json.as_slice())
                    .map_err(err("save clients"))?;
            }
        }
        txn.commit().map_err(err("save clients"))
    }

    /// Every client, sorted by MAC.
    ///
    /// # Errors
    /// Database failure.
    pub fn clients(&self) -> Result<Vec<Client>, StoreError> {
        read_all(self.db()?, CLIENTS, "list clients")
    }
}

/// A read-only view of the database for CLI tools, usable while `serve` holds it.
pub struct ReadOnlyStore {
    db: ReadOnlyDatabase,
}

impl ReadOnlyStore {
    /// Opens `<data_dir>/fleetboot.redb` read-only.
    ///
    /// # Errors
    /// No database there yet, or it cannot be read.
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
        Ok(ReadOnlyStore { db })
    }

    /// The stored images, sorted by id.
    ///
    /// # Errors
    /// Database failure.
    pub fn images(&self) -> Result<Vec<Image>, StoreError> {
        read_all(&self.db, IMAGES, "list images")
    }

    /// Every client, sorted by MAC.
    ///
    /// # Errors
    /// Database failure.
    pub fn clients(&self) -> Result<Vec<Client>, StoreError> {
        read_all(&self.db, CLIENTS, "list clients")
    }
}

/// Every JSON record of a `&str → &[u8]` table, in key order; a table never written is empty.
/// A record that does not decode (damaged, or written by a newer version) is reported and
/// skipped: one bad record must not cost every other one (for clients, their assignments).
fn read_all<T: serde::de::DeserializeOwned>(
    db: &impl ReadableDatabase,
    definition: TableDefinition<&str, &[u8]>,
    op: &'static str,
) -> Result<Vec<T>, StoreError> {
    let txn = db.begin_read().map_err(err(op))?;
    let table = match txn.open_table(definition) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
        Err(e) => return Err(err(op)(e)),
    };
    let mut out = Vec::new();
    for row in table.iter().map_err(err(op))? {
        let (k, v) = row.map_err(err(op))?;
        match serde_json::from_slice(v.value()) {
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

#[cfg(test)]
mod tests;
