//! ISOs coming in over the network: uploads ([`receive_multipart`], `POST /images`) and
//! downloads run as background jobs ([`Jobs`], `POST /images/download`).
//!
//! Both write under `data/isos/.incoming/` (hidden, so never scanned), hash with SHA-256 on
//! the way, and move a finished file into `data/isos/<folder>/<name>` with fsync and a rename
//! that never replaces an existing ISO. Whatever stops a transfer early (an error, a dropped
//! connection, a cancel, a crash followed by [`cleanup_incoming`]) leaves no file behind.
//! Names from the network are checked once, at the edge, into the types of [`names`].

mod download;
mod jobs;
pub mod names;
mod temp;
mod upload;

use std::fmt;

use sha2::{Digest, Sha256};

pub use jobs::{DownloadOptions, DownloadRequest, JobId, JobState, JobStatus, Jobs, MAX_RUNNING};
pub use temp::cleanup_incoming;
pub use upload::{receive_multipart, Uploaded};

/// Why a transfer was refused or failed; each variant maps to one HTTP status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferError {
    /// A bad name, folder, URL, checksum or form (400).
    BadInput(String),
    /// No such job (404).
    NotFound(String),
    /// An ISO of that name is already there, or is being downloaded (409).
    Exists(String),
    /// Larger than the size cap, in bytes (413).
    TooLarge(u64),
    /// Too many downloads waiting already (503).
    Busy(usize),
    /// The file system or the server failed (500); the detail is for the log.
    Internal(String),
}

impl TransferError {
    /// The HTTP status this error answers with.
    pub fn status(&self) -> axum::http::StatusCode {
        use axum::http::StatusCode as S;
        match self {
            TransferError::BadInput(_) => S::BAD_REQUEST,
            TransferError::NotFound(_) => S::NOT_FOUND,
            TransferError::Exists(_) => S::CONFLICT,
            TransferError::TooLarge(_) => S::PAYLOAD_TOO_LARGE,
            TransferError::Busy(_) => S::SERVICE_UNAVAILABLE,
            TransferError::Internal(_) => S::INTERNAL_SERVER_ERROR,
        }
    }

    /// A short machine-readable code for the API's `error` field.
    pub fn code(&self) -> &'static str {
        match self {
            TransferError::BadInput(_) => "bad_request",
            TransferError::NotFound(_) => "not_found",
            TransferError::Exists(_) => "exists",
            TransferError::TooLarge(_) => "too_large",
            TransferError::Busy(_) => "busy",
            TransferError::Internal(_) => "internal",
        }
    }
}

impl fmt::Display for TransferError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransferError::BadInput(m) | TransferError::Internal(m) => f.write_str(m),
            TransferError::NotFound(id) => write!(f, "no job {id}"),
            TransferError::Exists(path) => write!(f, "isos/{path} exists already"),
            TransferError::TooLarge(cap) => write!(f, "the file is larger than {cap} bytes"),
            TransferError::Busy(n) => {
                write!(f, "{n} downloads are waiting already; try again later")
            }
        }
    }
}

impl std::error::Error for TransferError {}

/// A finished SHA-256 as lowercase hex.
fn hex_digest(hash: Sha256) -> String {
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks an expected SHA-256 given by a user: 64 hex digits, any case; returns it lowercase.
fn parse_sha256(s: &str) -> Result<String, TransferError> {
    if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(s.to_ascii_lowercase())
    } else {
        Err(TransferError::BadInput(format!(
            "sha256 {s:?}: expected 64 hex digits"
        )))
    }
}

#[cfg(test)]
mod tests;
