//! Who may use the API: users (their rules are in [`crate::users`]), login sessions and API
//! tokens. A session or token is a random secret handed out once; the store keeps only its
//! SHA-256, and [`Grants`] keeps the same in memory so that checking a request costs a hash
//! and a map lookup, on any thread, without the coordinator.

use std::collections::HashMap;
use std::sync::RwLock;

use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::{ErrorKind, Service, ServiceError};
use crate::coordinator::unix_now;
use crate::store::{Grant, GrantKind};
use crate::users::{self, password, Role, User, UserRequest};

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The user acted as (`root` on the control socket).
    pub user: String,
    /// What the caller may do.
    pub role: Role,
    /// The grant's id (SHA-256 of its secret), `None` on the control socket.
    pub grant: Option<String>,
}

/// Every live grant, by the hash of its secret.
#[derive(Debug, Default)]
pub struct Grants {
    by_id: RwLock<HashMap<String, Grant>>,
}

/// The hash under which a secret's grant is kept.
fn grant_id(secret: &str) -> String {
    password::hex(&Sha256::digest(secret.as_bytes()))
}

impl Grants {
    /// Replaces what is held by `grants` (as loaded from the store).
    pub fn load(&self, grants: Vec<Grant>) {
        let mut map = self.by_id.write().unwrap_or_else(|p| p.into_inner());
        *map = grants.into_iter().map(|g| (g.id.clone(), g)).collect();
    }

    /// The caller `secret` authenticates, if it is live.
    pub fn check(&self, secret: &str) -> Option<Caller> {
        let id = grant_id(secret);
        let map = self.by_id.read().unwrap_or_else(|p| p.into_inner());
        let grant = map.get(&id)?;
        if grant.expires.is_some_and(|e| e <= unix_now()) {
            return None;
        }
        Some(Caller {
            user: grant.user.clone(),
            role: grant.role,
            grant: Some(id),
        })
    }

    fn insert(&self, grant: Grant) {
        let mut map = self.by_id.write().unwrap_or_else(|p| p.into_inner());
        map.insert(grant.id.clone(), grant);
    }

    fn remove(&self, ids: &[String]) {
        let mut map = self.by_id.write().unwrap_or_else(|p| p.into_inner());
        for id in ids {
            map.remove(id);
        }
    }

    fn select(&self, keep: impl Fn(&Grant) -> bool) -> Vec<Grant> {
        let map = self.by_id.read().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<Grant> = map.values().filter(|g| keep(g)).cloned().collect();
        out.sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
        out
    }
}

/// An API token as listed (never its secret).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TokenView {
    /// The token's id: the SHA-256 of its secret (for `DELETE /api/v1/tokens/{id}`).
    pub id: String,
    /// Its name.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// Who created it.
    pub user: String,
    /// Seconds since the epoch.
    pub created: u64,
}

/// A secret handed out once: a session's or a new token's.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Issued {
    /// The bearer secret (`Authorization: Bearer …`).
    pub token: String,
    /// Its id, for revoking it.
    pub id: String,
    /// What it may do.
    pub role: Role,
    /// Seconds since the epoch; `null` for API tokens (until revoked).
    pub expires: Option<u64>,
}

impl Service {
    /// `name`'s stored hash and role, for a password check off this thread (argon2id takes
    /// tens of milliseconds).
    ///
    /// # Errors
    /// Database failure.
    pub fn credentials(&self, name: &str) -> Result<Option<(String, Role)>, ServiceError> {
        Ok(match name.parse() {
            Ok(name) => self.store.credentials(&name)?,
            Err(_) => None,
        })
    }

    /// A new login session for `user`, valid for `ttl_secs`.
    ///
    /// # Errors
    /// No randomness, or the database failed.
    pub fn open_session(
        &mut self,
        user: &str,
        role: Role,
        ttl_secs: u64,
    ) -> Result<Issued, ServiceError> {
        let now = unix_now();
        self.issue(
            "fbs_",
            GrantKind::Session,
            user,
            role,
            "",
            now,
            Some(now + ttl_secs),
        )
    }

    /// A new API token named `name`, created by `user`.
    ///
    /// # Errors
    /// A bad name, one taken, no randomness, or the database failed.
    pub fn create_token(
        &mut self,
        user: &str,
        name: &str,
        role: Role,
    ) -> Result<Issued, ServiceError> {
        let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
        if !(1..=64).contains(&name.len()) || !name.chars().all(valid) {
            return Err(ServiceError::bad_request(
                "token name: 1 to 64 characters of A-Z a-z 0-9 . _ -",
            ));
        }
        if !self.tokens().iter().all(|t| t.name != name) {
            return Err(ServiceError::new(
                ErrorKind::Conflict,
                format!("a token named {name} exists"),
            ));
        }
        self.issue("fbt_", GrantKind::Token, user, role, name, unix_now(), None)
    }

    #[allow(clippy::too_many_arguments)]
    fn issue(
        &mut self,
        prefix: &str,
        kind: GrantKind,
        user: &str,
        role: Role,
        name: &str,
        created: u64,
        expires: Option<u64>,
    ) -> Result<Issued, ServiceError> {
        let random = password::random_bytes(32)
            .map_err(|e| ServiceError::new(ErrorKind::Internal, format!("no randomness: {e}")))?;
        let token = format!("{prefix}{}", password::hex(&random));
        let grant = Grant {
            id: grant_id(&token),
            kind,
            user: user.to_owned(),
            role,
            name: name.to_owned(),
            created,
            expires,
        };
        self.reopen_if_failed();
        if let Err(e) = self.store.change_grants(Some(&grant), &[]) {
            self.saving.failed();
            return Err(e.into());
        }
        let issued = Issued {
            token,
            id: grant.id.clone(),
            role,
            expires,
        };
        self.grants.insert(grant);
        Ok(issued)
    }

    /// Revokes the grants `ids` (a logout, a deleted token).
    ///
    /// # Errors
    /// The database failed (then every grant still works).
    pub fn revoke(&mut self, ids: &[String]) -> Result<(), ServiceError> {
        self.reopen_if_failed();
        if let Err(e) = self.store.change_grants(None, ids) {
            self.saving.failed();
            return Err(e.into());
        }
        self.grants.remove(ids);
        Ok(())
    }

    /// Revokes API token `id`.
    ///
    /// # Errors
    /// No such token, or the database failed.
    pub fn delete_token(&mut self, id: &str) -> Result<(), ServiceError> {
        if !self.tokens().iter().any(|t| t.id == id) {
            return Err(ServiceError::not_found(format!("no token {id}")));
        }
        self.revoke(&[id.to_owned()])
    }

    /// Every API token.
    pub fn tokens(&self) -> Vec<TokenView> {
        self.grants
            .select(|g| g.kind == GrantKind::Token)
            .into_iter()
            .map(|g| TokenView {
                id: g.id,
                name: g.name,
                role: g.role,
                user: g.user,
                created: g.created,
            })
            .collect()
    }

    /// Drops sessions past their expiry from memory and the store.
    pub fn expire_sessions(&mut self) {
        let now = unix_now();
        let stale: Vec<String> = self
            .grants
            .select(|g| g.expires.is_some_and(|e| e <= now))
            .into_iter()
            .map(|g| g.id)
            .collect();
        if !stale.is_empty() {
            if let Err(e) = self.revoke(&stale) {
                tracing::warn!(error = %e, "expired sessions not removed yet");
            }
        }
    }

    /// A user query or change; a deleted user's sessions and tokens go with it, and a
    /// changed password ends the user's sessions.
    ///
    /// # Errors
    /// A bad name or hash, a refusal (exists, not found, last admin), or database failure.
    pub fn users(&mut self, request: UserRequest) -> Result<Vec<User>, ServiceError> {
        self.reopen_if_failed();
        let ends = match &request {
            UserRequest::Delete { name } => Some((name.clone(), true)),
            UserRequest::SetPassword { name, .. } => Some((name.clone(), false)),
            UserRequest::List | UserRequest::Add { .. } => None,
        };
        let list = users::apply(&self.store, request).map_err(|e| {
            if matches!(e, users::UserError::Store(_)) {
                self.saving.failed();
            }
            ServiceError::from(e)
        })?;
        if let Some((name, tokens_too)) = ends {
            let ended: Vec<String> = self
                .grants
                .select(|g| g.user == name && (tokens_too || g.kind == GrantKind::Session))
                .into_iter()
                .map(|g| g.id)
                .collect();
            self.revoke(&ended)?;
        }
        Ok(list)
    }
}
