//! What operators changed through the API, kept apart from what scans find:
//! - `image_meta`: image id → JSON [`MetaRecord`] (description, public flag, group, boot
//!   method, command line, extra kernel args), kept while the ISO is away so a re-added ISO
//!   gets its edits back.
//! - `settings`: `runtime` → JSON [`SettingsRecord`] (menu and kernel args, scan interval):
//!   set values win over the config file and flags.

use redb::{ReadableDatabase as _, TableDefinition};
use serde::{Deserialize, Serialize};

use super::error::err;
use super::{json, read_all, Store, StoreError};
use crate::images::meta::ImageMeta;
use crate::service::settings::Overrides;

pub(super) const IMAGE_META: TableDefinition<&str, &[u8]> = TableDefinition::new("image_meta");
pub(super) const SETTINGS: TableDefinition<&str, &[u8]> = TableDefinition::new("settings");

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "v")]
enum MetaRecord {
    #[serde(rename = "1")]
    V1 { id: String, meta: ImageMeta },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "v")]
enum SettingsRecord {
    #[serde(rename = "1")]
    V1(Overrides),
}

const RUNTIME: &str = "runtime";

impl Store {
    /// Every image's edits.
    ///
    /// # Errors
    /// Database failure.
    pub fn image_meta(&self) -> Result<Vec<(String, ImageMeta)>, StoreError> {
        let txn = self.db()?.begin_read().map_err(err("list image edits"))?;
        let records: Vec<MetaRecord> = read_all(&txn, IMAGE_META, "list image edits", json)?;
        Ok(records
            .into_iter()
            .map(|MetaRecord::V1 { id, meta }| (id, meta))
            .collect())
    }

    /// Stores `id`'s edits; `None` forgets them.
    ///
    /// # Errors
    /// Database failure.
    pub fn save_image_meta(&self, id: &str, meta: Option<&ImageMeta>) -> Result<(), StoreError> {
        let record = meta.map(|m| MetaRecord::V1 {
            id: id.to_owned(),
            meta: m.clone(),
        });
        self.put(IMAGE_META, id, record.as_ref(), "save image edits")
    }

    /// The settings changed through the API.
    ///
    /// # Errors
    /// Database failure.
    pub fn setting_overrides(&self) -> Result<Overrides, StoreError> {
        let txn = self.db()?.begin_read().map_err(err("read settings"))?;
        let records: Vec<SettingsRecord> = read_all(&txn, SETTINGS, "read settings", json)?;
        Ok(records
            .into_iter()
            .next()
            .map(|SettingsRecord::V1(o)| o)
            .unwrap_or_default())
    }

    /// Stores the settings changed through the API.
    ///
    /// # Errors
    /// Database failure.
    pub fn save_setting_overrides(&self, overrides: &Overrides) -> Result<(), StoreError> {
        let record = SettingsRecord::V1(overrides.clone());
        self.put(SETTINGS, RUNTIME, Some(&record), "save settings")
    }

    /// Writes `value` as JSON at `key` (`None` deletes it), in a transaction of its own.
    pub(super) fn put<T: Serialize>(
        &self,
        definition: TableDefinition<&str, &[u8]>,
        key: &str,
        value: Option<&T>,
        op: &'static str,
    ) -> Result<(), StoreError> {
        let txn = self.db()?.begin_write().map_err(err(op))?;
        {
            let mut table = txn.open_table(definition).map_err(err(op))?;
            match value {
                Some(v) => {
                    let json = serde_json::to_vec(v).map_err(err(op))?;
                    table.insert(key, json.as_slice()).map_err(err(op))?;
                }
                None => {
                    table.remove(key).map_err(err(op))?;
                }
            }
        }
        txn.commit().map_err(err(op))
    }
}
