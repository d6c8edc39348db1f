//! The `grants` table: SHA-256 of a bearer secret (hex) → JSON [`GrantRecord`], e.g.
//! `{"v":"1","kind":"session","user":"admin","role":"admin","name":"","created":…,"expires":…}`.
//! Login sessions and API tokens alike: only the hash is kept, so a copy of the database
//! opens no session.

use redb::{ReadableDatabase as _, TableDefinition};
use serde::{Deserialize, Serialize};

use super::error::err;
use super::{json, read_all, Store, StoreError};
use crate::users::Role;

pub(super) const GRANTS: TableDefinition<&str, &[u8]> = TableDefinition::new("grants");

/// What a bearer secret was issued as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GrantKind {
    /// A login (`POST /api/v1/login`): expires.
    Session,
    /// An API token for automation (`fleetboot token create`): until revoked.
    Token,
}

/// A stored grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// SHA-256 of the secret, hex: the key.
    pub id: String,
    /// Session or token.
    pub kind: GrantKind,
    /// The user it acts as (for a token: who created it).
    pub user: String,
    /// What it may do.
    pub role: Role,
    /// A token's name (`ci`); empty for sessions.
    pub name: String,
    /// Seconds since the epoch.
    pub created: u64,
    /// Seconds since the epoch; `None`: until revoked.
    pub expires: Option<u64>,
}

/// The stored form, versioned apart from [`Grant`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "v")]
enum GrantRecord {
    #[serde(rename = "1")]
    V1 {
        id: String,
        kind: GrantKind,
        user: String,
        role: Role,
        name: String,
        created: u64,
        expires: Option<u64>,
    },
}

impl From<&Grant> for GrantRecord {
    fn from(g: &Grant) -> GrantRecord {
        GrantRecord::V1 {
            id: g.id.clone(),
            kind: g.kind,
            user: g.user.clone(),
            role: g.role,
            name: g.name.clone(),
            created: g.created,
            expires: g.expires,
        }
    }
}

impl From<GrantRecord> for Grant {
    fn from(r: GrantRecord) -> Grant {
        let GrantRecord::V1 {
            id,
            kind,
            user,
            role,
            name,
            created,
            expires,
        } = r;
        Grant {
            id,
            kind,
            user,
            role,
            name,
            created,
            expires,
        }
    }
}

impl Store {
    /// Every grant.
    ///
    /// # Errors
    /// Database failure.
    pub fn grants(&self) -> Result<Vec<Grant>, StoreError> {
        let txn = self.db()?.begin_read().map_err(err("list grants"))?;
        let records: Vec<GrantRecord> = read_all(&txn, GRANTS, "list grants", json)?;
        Ok(records.into_iter().map(Grant::from).collect())
    }

    /// Stores `add` and deletes the grants named in `remove`, in one transaction.
    ///
    /// # Errors
    /// Database failure.
    pub fn change_grants(&self, add: Option<&Grant>, remove: &[String]) -> Result<(), StoreError> {
        let txn = self.db()?.begin_write().map_err(err("save grants"))?;
        {
            let mut table = txn.open_table(GRANTS).map_err(err("save grants"))?;
            for id in remove {
                table.remove(id.as_str()).map_err(err("save grants"))?;
            }
            if let Some(grant) = add {
                let json =
                    serde_json::to_vec(&GrantRecord::from(grant)).map_err(err("save grants"))?;
                table
                    .insert(grant.id.as_str(), json.as_slice())
                    .map_err(err("save grants"))?;
            }
        }
        txn.commit().map_err(err("save grants"))
    }
}
