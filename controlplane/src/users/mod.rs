//! Users of the admin API and the CLI: names, roles, and the rules around them, written once
//! here (the first admin, passwords hashed before they reach the store, the login check). The
//! store keeps the records and refuses, inside its transactions, what would leave no admin.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::store::{Store, StoreError};

pub mod password;

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything, users included.
    Admin,
    /// Read only.
    Viewer,
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Role, String> {
        match s {
            "admin" => Ok(Role::Admin),
            "viewer" => Ok(Role::Viewer),
            _ => Err(format!("no role {s:?} (admin or viewer)")),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Admin => "admin",
            Role::Viewer => "viewer",
        })
    }
}

/// A valid user name: 1 to 64 characters of `A-Z a-z 0-9 . _ -`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Username(String);

impl Username {
    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Username {
    type Err = UserError;

    fn from_str(s: &str) -> Result<Username, UserError> {
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
        if (1..=64).contains(&s.len()) && s.chars().all(allowed) {
            Ok(Username(s.to_owned()))
        } else {
            Err(UserError::InvalidName(s.to_owned()))
        }
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The user every first start creates.
pub const FIRST_ADMIN: &str = "admin";

/// A user as listed (never with its hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct User {
    /// The name.
    pub name: String,
    /// What the user may do: admin or viewer.
    pub role: Role,
    /// When the user was created, seconds since the epoch.
    pub created: u64,
    /// The password is still in the pre-argon2id format: `user passwd` replaces it.
    pub legacy_password: bool,
}

/// Why a user operation was refused or failed.
#[derive(Debug)]
pub enum UserError {
    /// Not a valid user name.
    InvalidName(String),
    /// The name is taken.
    Exists(String),
    /// No such user.
    NotFound(String),
    /// Deleting this admin would leave none.
    LastAdmin(String),
    /// Empty password.
    EmptyPassword,
    /// A new password's hash that is not an argon2id PHC string.
    BadHash,
    /// No randomness for a salt or a password.
    Random(std::io::Error),
    /// The database failed.
    Store(StoreError),
}

impl fmt::Display for UserError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UserError::InvalidName(n) => write!(
                f,
                "invalid user name {n:?}: 1 to 64 characters of A-Z a-z 0-9 . _ -"
            ),
            UserError::Exists(n) => write!(f, "user {n} already exists"),
            UserError::NotFound(n) => write!(f, "no user {n}"),
            UserError::LastAdmin(n) => write!(
                f,
                "{n} is the last admin and cannot be deleted (add another admin first)"
            ),
            UserError::EmptyPassword => f.write_str("empty password"),
            UserError::BadHash => f.write_str("a new password hash must be an argon2id PHC string"),
            UserError::Random(e) => write!(f, "no randomness: {e}"),
            UserError::Store(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for UserError {}

impl From<StoreError> for UserError {
    fn from(e: StoreError) -> UserError {
        UserError::Store(e)
    }
}

/// On first start (no user at all), creates [`FIRST_ADMIN`] with a generated password and
/// returns that password, to be shown once; `None` when users exist.
///
/// # Errors
/// Database failure, or no randomness.
pub fn ensure_first_admin(store: &Store) -> Result<Option<String>, UserError> {
    if !store.users()?.is_empty() {
        return Ok(None);
    }
    let password = password::generate().map_err(UserError::Random)?;
    apply(
        store,
        UserRequest::Add {
            name: FIRST_ADMIN.into(),
            role: Role::Admin,
            hash: hash_password(&password)?,
        },
    )?;
    Ok(Some(password))
}

/// The role of `name` when `password` is theirs; `None` for a wrong password or an unknown
/// user, which take the same time.
///
/// # Errors
/// Database failure.
pub fn verify(store: &Store, name: &str, password: &str) -> Result<Option<Role>, StoreError> {
    let credentials = match name.parse::<Username>() {
        Ok(name) => store.credentials(&name)?,
        Err(_) => None,
    };
    Ok(match credentials {
        Some((hash, role)) => password::verify(&hash, password).then_some(role),
        None => {
            password::verify_nobody(password);
            None
        }
    })
}

/// A user query or change, applied by a running server (sent over the control socket) or by
/// the CLI on the database. Passwords arrive hashed: the CLI pays for argon2id, not the
/// server's coordinator thread, and no password crosses the socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "user_op", rename_all = "snake_case")]
pub enum UserRequest {
    /// Nothing to change: just the list.
    List,
    /// Create `name`.
    Add {
        /// User name (checked on arrival).
        name: String,
        /// Role.
        role: Role,
        /// argon2id PHC string, from [`hash_password`].
        hash: String,
    },
    /// Replace `name`'s password.
    SetPassword {
        /// User name.
        name: String,
        /// argon2id PHC string, from [`hash_password`].
        hash: String,
    },
    /// Delete `name`, unless the last admin.
    Delete {
        /// User name.
        name: String,
    },
}

/// Applies `request`; returns every user afterwards.
///
/// # Errors
/// A bad name or hash, a refusal (exists, not found, last admin), or database failure.
pub fn apply(store: &Store, request: UserRequest) -> Result<Vec<User>, UserError> {
    match request {
        UserRequest::List => {}
        UserRequest::Add { name, role, hash } => {
            store.add_user(
                &name.parse()?,
                role,
                argon2id(hash)?,
                crate::coordinator::unix_now(),
            )?;
        }
        UserRequest::SetPassword { name, hash } => {
            store.set_password(&name.parse()?, argon2id(hash)?)?;
        }
        UserRequest::Delete { name } => store.delete_user(&name.parse()?)?,
    }
    Ok(store.users()?)
}

/// `hash` when it is an argon2id PHC string: nothing else may be stored as a new password
/// (the legacy format least of all).
fn argon2id(hash: String) -> Result<String, UserError> {
    if password::is_argon2id(&hash) {
        Ok(hash)
    } else {
        Err(UserError::BadHash)
    }
}

/// The hash [`UserRequest`] carries for `password`.
///
/// # Errors
/// An empty password, or no randomness.
pub fn hash_password(password: &str) -> Result<String, UserError> {
    if password.is_empty() {
        return Err(UserError::EmptyPassword);
    }
    password::hash(password).map_err(UserError::Random)
}

#[cfg(test)]
mod tests;
