//! Unattended installs' tables (see [`crate::install`]):
//! - `templates`: name → JSON `{"v":"1","template":{…}}`;
//! - `groups`: name → JSON `{"v":"1","group":{…}}`;
//! - `secrets`: name → JSON `{"v":"1","value":…}` (only ever read to render templates);
//! - `meta.install_key`: the hex key machines' template tokens are derived from.

use redb::{ReadableDatabase as _, ReadableTable as _, TableDefinition};
use serde::{Deserialize, Serialize};

use super::error::err;
use super::{json, read_all, Store, StoreError, META};
use crate::install::{Group, Template};
use crate::users::password;

pub(super) const TEMPLATES: TableDefinition<&str, &[u8]> = TableDefinition::new("templates");
pub(super) const GROUPS: TableDefinition<&str, &[u8]> = TableDefinition::new("groups");
pub(super) const SECRETS: TableDefinition<&str, &[u8]> = TableDefinition::new("secrets");

#[derive(Serialize, Deserialize)]
#[serde(tag = "v")]
enum TemplateRecord {
    #[serde(rename = "1")]
    V1 { template: Template },
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "v")]
enum GroupRecord {
    #[serde(rename = "1")]
    V1 { group: Group },
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "v")]
enum SecretRecord {
    #[serde(rename = "1")]
    V1 { name: String, value: String },
}

impl Store {
    /// Every stored template.
    ///
    /// # Errors
    /// Database failure.
    pub fn templates(&self) -> Result<Vec<Template>, StoreError> {
        let txn = self.db()?.begin_read().map_err(err("list templates"))?;
        let records: Vec<TemplateRecord> = read_all(&txn, TEMPLATES, "list templates", json)?;
        Ok(records
            .into_iter()
            .map(|TemplateRecord::V1 { template }| template)
            .collect())
    }

    /// Stores `template` (`None`: deletes `name`).
    ///
    /// # Errors
    /// Database failure.
    pub fn save_template(&self, name: &str, template: Option<&Template>) -> Result<(), StoreError> {
        let record = template.map(|t| TemplateRecord::V1 {
            template: t.clone(),
        });
        self.put(TEMPLATES, name, record.as_ref(), "save template")
    }

    /// Every group.
    ///
    /// # Errors
    /// Database failure.
    pub fn groups(&self) -> Result<Vec<Group>, StoreError> {
        let txn = self.db()?.begin_read().map_err(err("list groups"))?;
        let records: Vec<GroupRecord> = read_all(&txn, GROUPS, "list groups", json)?;
        Ok(records
            .into_iter()
            .map(|GroupRecord::V1 { group }| group)
            .collect())
    }

    /// Stores `group` (`None`: deletes `name`).
    ///
    /// # Errors
    /// Database failure.
    pub fn save_group(&self, name: &str, group: Option<&Group>) -> Result<(), StoreError> {
        let record = group.map(|g| GroupRecord::V1 { group: g.clone() });
        self.put(GROUPS, name, record.as_ref(), "save group")
    }

    /// Every secret, name → value.
    ///
    /// # Errors
    /// Database failure.
    pub fn secrets(&self) -> Result<Vec<(String, String)>, StoreError> {
        let txn = self.db()?.begin_read().map_err(err("list secrets"))?;
        let records: Vec<SecretRecord> = read_all(&txn, SECRETS, "list secrets", json)?;
        Ok(records
            .into_iter()
            .map(|SecretRecord::V1 { name, value }| (name, value))
            .collect())
    }

    /// Stores secret `name` (`None`: deletes it).
    ///
    /// # Errors
    /// Database failure.
    pub fn save_secret(&self, name: &str, value: Option<&str>) -> Result<(), StoreError> {
        let record = value.map(|v| SecretRecord::V1 {
            name: name.to_owned(),
            value: v.to_owned(),
        });
        self.put(SECRETS, name, record.as_ref(), "save secret")
    }

    /// The install key, made (32 random bytes) on first use, or anew with `renew`.
    ///
    /// # Errors
    /// Database failure, or no randomness.
    pub fn install_key(&self, renew: bool) -> Result<Vec<u8>, StoreError> {
        let txn = self.db()?.begin_write().map_err(err("install key"))?;
        let key = {
            let mut meta = txn.open_table(META).map_err(err("install key"))?;
            let stored = meta
                .get("install_key")
                .map_err(err("install key"))?
                .map(|v| v.value().to_owned());
            match stored.filter(|_| !renew) {
                Some(hex) => hex,
                None => {
                    let fresh =
                        password::hex(&password::random_bytes(32).map_err(err("install key"))?);
                    meta.insert("install_key", fresh.as_str())
                        .map_err(err("install key"))?;
                    fresh
                }
            }
        };
        txn.commit().map_err(err("install key"))?;
        Ok(key.into_bytes())
    }
}
