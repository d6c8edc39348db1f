//! Every API error is `{"error": CODE, "detail": TEXT}` with the status of its kind, the
//! extractors' rejections (bad JSON, bad path or query) included.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::service::{ErrorKind, ServiceError};

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Stable code: bad_request, unauthorized, forbidden, not_found, conflict, too_large,
    /// rate_limited, unavailable, internal.
    pub error: String,
    /// What went wrong, for a person.
    pub detail: String,
}

/// An error response.
#[derive(Debug)]
pub struct ApiError {
    /// What failed.
    pub error: ServiceError,
    /// Seconds to wait, for 429.
    pub retry_after: Option<u64>,
}

impl From<ServiceError> for ApiError {
    fn from(error: ServiceError) -> ApiError {
        ApiError {
            error,
            retry_after: None,
        }
    }
}

impl ApiError {
    /// An error of `kind`.
    pub fn new(kind: ErrorKind, detail: impl Into<String>) -> ApiError {
        ServiceError::new(kind, detail).into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let kind = self.error.kind;
        let status =
            StatusCode::from_u16(kind.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if kind == ErrorKind::Internal || kind == ErrorKind::Unavailable {
            tracing::error!(detail = %self.error.detail, "admin API request failed");
        }
        let body = ErrorBody {
            error: kind.code().into(),
            detail: self.error.detail,
        };
        let mut response = (status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        if kind == ErrorKind::Unauthorized {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"fleetboot\""),
            );
        }
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> ApiError {
        let kind = if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ErrorKind::TooLarge
        } else {
            ErrorKind::BadRequest
        };
        ApiError::new(kind, r.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> ApiError {
        ApiError::new(ErrorKind::BadRequest, r.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> ApiError {
        ApiError::new(ErrorKind::BadRequest, r.body_text())
    }
}

/// `axum::Json` whose rejection is an [`ApiError`].
#[derive(Debug, axum::extract::FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct Json<T>(pub T);

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// `axum::extract::Path` whose rejection is an [`ApiError`].
#[derive(Debug, axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

/// `axum::extract::Query` whose rejection is an [`ApiError`].
#[derive(Debug, axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

/// A handler's result.
pub type ApiResult<T> = Result<T, ApiError>;
