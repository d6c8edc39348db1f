//! Why a request failed, in the terms an API client acts on: each kind is one HTTP status and
//! one stable `error` code of the JSON error body.

use std::fmt;

use crate::store::StoreError;
use crate::users::UserError;

/// The class of a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request is malformed or names something invalid (400).
    BadRequest,
    /// No credentials, or they are wrong or expired (401).
    Unauthorized,
    /// Authenticated, but not allowed (403).
    Forbidden,
    /// The thing named does not exist (404).
    NotFound,
    /// The path exists, the method does not (405).
    MethodNotAllowed,
    /// It conflicts with what exists (409).
    Conflict,
    /// Too large (413).
    TooLarge,
    /// Too many tries from this source (429).
    RateLimited,
    /// The database or the server cannot do it now (503).
    Unavailable,
    /// A fault of ours (500).
    Internal,
}

impl ErrorKind {
    /// The `error` code of the JSON body.
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::BadRequest => "bad_request",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::NotFound => "not_found",
            ErrorKind::MethodNotAllowed => "method_not_allowed",
            ErrorKind::Conflict => "conflict",
            ErrorKind::TooLarge => "too_large",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Internal => "internal",
        }
    }

    /// The HTTP status.
    pub fn status(self) -> u16 {
        match self {
            ErrorKind::BadRequest => 400,
            ErrorKind::Unauthorized => 401,
            ErrorKind::Forbidden => 403,
            ErrorKind::NotFound => 404,
            ErrorKind::MethodNotAllowed => 405,
            ErrorKind::Conflict => 409,
            ErrorKind::TooLarge => 413,
            ErrorKind::RateLimited => 429,
            ErrorKind::Unavailable => 503,
            ErrorKind::Internal => 500,
        }
    }
}

/// A failure and its explanation for a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceError {
    /// The class.
    pub kind: ErrorKind,
    /// What went wrong, as a sentence.
    pub detail: String,
}

impl ServiceError {
    /// A failure of `kind`.
    pub fn new(kind: ErrorKind, detail: impl Into<String>) -> ServiceError {
        ServiceError {
            kind,
            detail: detail.into(),
        }
    }

    /// 400.
    pub fn bad_request(detail: impl Into<String>) -> ServiceError {
        ServiceError::new(ErrorKind::BadRequest, detail)
    }

    /// 404.
    pub fn not_found(detail: impl Into<String>) -> ServiceError {
        ServiceError::new(ErrorKind::NotFound, detail)
    }
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.detail)
    }
}

impl std::error::Error for ServiceError {}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> ServiceError {
        ServiceError::new(ErrorKind::Unavailable, e.to_string())
    }
}

impl From<UserError> for ServiceError {
    fn from(e: UserError) -> ServiceError {
        let kind = match &e {
            UserError::InvalidName(_) | UserError::EmptyPassword | UserError::BadHash => {
                ErrorKind::BadRequest
            }
            UserError::Exists(_) | UserError::LastAdmin(_) => ErrorKind::Conflict,
            UserError::NotFound(_) => ErrorKind::NotFound,
            UserError::Random(_) => ErrorKind::Internal,
            UserError::Store(_) => ErrorKind::Unavailable,
        };
        ServiceError::new(kind, e.to_string())
    }
}
