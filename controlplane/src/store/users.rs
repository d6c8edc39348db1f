//! The `users` table: user name → JSON [`UserRecord`], e.g.
//! `{"v":"1","hash":"$argon2id$v=19$m=19456,t=2,p=1$…","role":"admin","created":1767225600}`.
//!
//! Before this table, the only account was `admin`, its hash in `meta.admin_password` in the
//! legacy `sha256:` format; opening such a database moves that hash into a `users` record for
//! `admin` as it is (no hash can be converted without the password). It keeps working until
//! `fleetboot user passwd admin` stores an argon2id hash in its place.

use redb::{ReadableDatabase as _, ReadableTable, TableDefinition, WriteTransaction};
use serde::{Deserialize, Serialize};

use super::error::err;
use super::{Store, StoreError, META};
use crate::users::{password, Role, User, UserError, Username, FIRST_ADMIN};

pub(super) const USERS: TableDefinition<&str, &[u8]> = TableDefinition::new("users");

/// The stored form of a user, versioned apart from [`User`] so either can change alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "v")]
enum UserRecord {
    #[serde(rename = "1")]
    V1 {
        /// argon2id PHC string, or the legacy `sha256:<salt>:<hash>`.
        hash: String,
        role: StoredRole,
        /// Seconds since the epoch.
        created: u64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum StoredRole {
    Admin,
    Viewer,
}

impl From<Role> for StoredRole {
    fn from(role: Role) -> StoredRole {
        match role {
            Role::Admin => StoredRole::Admin,
            Role::Viewer => StoredRole::Viewer,
        }
    }
}

impl From<StoredRole> for Role {
    fn from(role: StoredRole) -> Role {
        match role {
            StoredRole::Admin => Role::Admin,
            StoredRole::Viewer => Role::Viewer,
        }
    }
}

impl UserRecord {
    fn hash(&self) -> &str {
        let UserRecord::V1 { hash, .. } = self;
        hash
    }

    fn role(&self) -> Role {
        let UserRecord::V1 { role, .. } = self;
        (*role).into()
    }

    fn user(&self, name: &str) -> User {
        let UserRecord::V1 {
            hash,
            role,
            created,
        } = self;
        User {
            name: name.to_owned(),
            role: (*role).into(),
            created: *created,
            legacy_password: password::is_legacy(hash),
        }
    }
}

/// Moves a legacy `meta.admin_password` into the `admin` user record (see the module doc).
pub(super) fn upgrade_legacy_admin(txn: &WriteTransaction, now: u64) -> Result<(), StoreError> {
    let mut meta = txn.open_table(META).map_err(err("upgrade users"))?;
    let Some(legacy) = meta
        .remove("admin_password")
        .map_err(err("upgrade users"))?
        .map(|v| v.value().to_owned())
    else {
        return Ok(());
    };
    let mut users = txn.open_table(USERS).map_err(err("upgrade users"))?;
    if users
        .get(FIRST_ADMIN)
        .map_err(err("upgrade users"))?
        .is_none()
    {
        let record = UserRecord::V1 {
            hash: legacy,
            role: StoredRole::Admin,
            created: now,
        };
        let json = serde_json::to_vec(&record).map_err(err("upgrade users"))?;
        users
            .insert(FIRST_ADMIN, json.as_slice())
            .map_err(err("upgrade users"))?;
    }
    Ok(())
}

/// Every user record that decodes, in name order; one that does not is logged and skipped.
fn records(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
) -> Result<Vec<(String, UserRecord)>, StoreError> {
    let mut out = Vec::new();
    for row in table.iter().map_err(err("list users"))? {
        let (k, v) = row.map_err(err("list users"))?;
        match serde_json::from_slice(v.value()) {
            Ok(record) => out.push((k.value().to_owned(), record)),
            Err(e) => tracing::error!(
                key = k.value(),
                error = %e,
                "undecodable user record skipped (left in the database)"
            ),
        }
    }
    Ok(out)
}

impl Store {
    /// Every user, by name.
    ///
    /// # Errors
    /// Database failure.
    pub fn users(&self) -> Result<Vec<User>, StoreError> {
        let txn = self.db()?.begin_read().map_err(err("list users"))?;
        match txn.open_table(USERS) {
            Ok(table) => Ok(records(&table)?
                .iter()
                .map(|(name, record)| record.user(name))
                .collect()),
            Err(redb::TableError::TableDoesNotExist(_)) => Ok(Vec::new()),
            Err(e) => Err(err("list users")(e)),
        }
    }

    /// `name`'s stored hash and role, for a password check.
    ///
    /// # Errors
    /// Database failure.
    pub fn credentials(&self, name: &Username) -> Result<Option<(String, Role)>, StoreError> {
        let txn = self.db()?.begin_read().map_err(err("read user"))?;
        let table = txn.open_table(USERS).map_err(err("read user"))?;
        let Some(value) = table.get(name.as_str()).map_err(err("read user"))? else {
            return Ok(None);
        };
        let record: UserRecord = serde_json::from_slice(value.value()).map_err(err("read user"))?;
        Ok(Some((record.hash().to_owned(), record.role())))
    }

    /// Creates `name` with an already computed `hash`.
    ///
    /// # Errors
    /// [`UserError::Exists`], or database failure.
    pub fn add_user(
        &self,
        name: &Username,
        role: Role,
        hash: String,
        created: u64,
    ) -> Result<(), UserError> {
        self.change_user(name, |current, _| match current {
            Some(_) => Err(UserError::Exists(name.to_string())),
            None => Ok(Some(UserRecord::V1 {
                hash,
                role: role.into(),
                created,
            })),
        })
    }

    /// Replaces `name`'s hash.
    ///
    /// # Errors
    /// [`UserError::NotFound`], or database failure.
    pub fn set_password(&self, name: &Username, hash: String) -> Result<(), UserError> {
        self.change_user(name, |current, _| match current {
            Some(UserRecord::V1 { role, created, .. }) => Ok(Some(UserRecord::V1 {
                hash,
                role,
                created,
            })),
            None => Err(UserError::NotFound(name.to_string())),
        })
    }

    /// Deletes `name`, unless it is the last admin.
    ///
    /// # Errors
    /// [`UserError::NotFound`], [`UserError::LastAdmin`], or database failure.
    pub fn delete_user(&self, name: &Username) -> Result<(), UserError> {
        self.change_user(name, |current, admins| match current {
            Some(record) if record.role() == Role::Admin && admins <= 1 => {
                Err(UserError::LastAdmin(name.to_string()))
            }
            Some(_) => Ok(None),
            None => Err(UserError::NotFound(name.to_string())),
        })
    }

    /// Runs `change` on `name`'s record, given how many admins there are, in one write
    /// transaction (so two changes cannot both remove "the other" admin): `Some` stores the
    /// record it returns, `None` deletes it, an error changes nothing.
    fn change_user(
        &self,
        name: &Username,
        change: impl FnOnce(Option<UserRecord>, usize) -> Result<Option<UserRecord>, UserError>,
    ) -> Result<(), UserError> {
        let txn = self.db()?.begin_write().map_err(err("change user"))?;
        {
            let mut table = txn.open_table(USERS).map_err(err("change user"))?;
            let admins = records(&table)?
                .iter()
                .filter(|(_, r)| r.role() == Role::Admin)
                .count();
            // A record that does not decode (a newer version's) is refused, not overwritten.
            let current = match table.get(name.as_str()).map_err(err("change user"))? {
                Some(v) => Some(serde_json::from_slice(v.value()).map_err(err("change user"))?),
                None => None,
            };
            match change(current, admins)? {
                Some(record) => {
                    let json = serde_json::to_vec(&record).map_err(err("change user"))?;
                    table
                        .insert(name.as_str(), json.as_slice())
                        .map_err(err("change user"))?;
                }
                None => {
                    table.remove(name.as_str()).map_err(err("change user"))?;
                }
            }
        }
        txn.commit().map_err(err("change user"))?;
        Ok(())
    }
}
