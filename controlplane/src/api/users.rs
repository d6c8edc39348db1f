//! `/api/v1/users` and `/api/v1/tokens` (admins only, reads included).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Extension;
use serde::Deserialize;
use utoipa::ToSchema;

use super::auth::require_admin;
use super::error::{ApiError, ApiResult, ErrorBody, Json, Path};
use super::AppState;
use crate::service::access::{Caller, Issued, TokenView};
use crate::service::ErrorKind;
use crate::users::{self, Role, User, UserRequest};

/// A password as given: in clear (hashed here), or already an argon2id PHC string (the CLI
/// hashes before sending, so no password crosses the socket).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordBody {
    /// The password.
    #[serde(default)]
    pub password: Option<String>,
    /// Or its argon2id PHC string.
    #[serde(default)]
    pub password_hash: Option<String>,
}

/// `POST /api/v1/users`'s body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// 1 to 64 characters of A-Z a-z 0-9 . _ -
    #[schema(pattern = r"^[A-Za-z0-9._-]{1,64}$")]
    pub name: String,
    /// admin or viewer.
    pub role: Role,
    /// The password.
    #[serde(default)]
    pub password: Option<String>,
    /// Or its argon2id PHC string.
    #[serde(default)]
    pub password_hash: Option<String>,
}

/// The hash to store for a password given either way.
async fn hash_of(password: Option<String>, hash: Option<String>) -> ApiResult<String> {
    match (password, hash) {
        (Some(p), None) => tokio::task::spawn_blocking(move || users::hash_password(&p))
            .await
            .map_err(|e| ApiError::new(ErrorKind::Internal, e.to_string()))?
            .map_err(|e| ApiError::from(crate::service::ServiceError::from(e))),
        (None, Some(h)) => Ok(h),
        _ => Err(ApiError::new(
            ErrorKind::BadRequest,
            "give exactly one of password and password_hash",
        )),
    }
}

/// Every user.
#[utoipa::path(get, path = "/api/v1/users", tag = "users",
    responses((status = 200, description = "Users", body = Vec<User>),
              (status = 401, description = "Not logged in", body = ErrorBody),
              (status = 403, description = "Admins only", body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<Vec<User>>> {
    require_admin(&caller)?;
    Ok(Json(
        state
            .backend
            .try_call(|s| s.users(UserRequest::List))
            .await?,
    ))
}

/// Creates a user.
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = NewUser,
    responses((status = 201, description = "Every user, after the change", body = Vec<User>),
              (status = 400, description = "Bad name or password", body = ErrorBody),
              (status = 401, description = "Not logged in", body = ErrorBody),
              (status = 403, description = "Admins only", body = ErrorBody),
              (status = 409, description = "The name is taken", body = ErrorBody)))]
pub async fn add(
    State(state): State<AppState>,
    Json(body): Json<NewUser>,
) -> ApiResult<(StatusCode, Json<Vec<User>>)> {
    let hash = hash_of(body.password, body.password_hash).await?;
    let request = UserRequest::Add {
        name: body.name,
        role: body.role,
        hash,
    };
    let list = state.backend.try_call(move |s| s.users(request)).await?;
    Ok((StatusCode::CREATED, Json(list)))
}

/// Sets a user's password (their sessions end).
#[utoipa::path(patch, path = "/api/v1/users/{name}", tag = "users",
    params(("name" = String, Path, description = "User name", pattern = r"^[A-Za-z0-9._-]{1,64}$")),
    request_body = PasswordBody,
    responses((status = 200, description = "Every user", body = Vec<User>),
              (status = 400, description = "Bad password", body = ErrorBody),
              (status = 401, description = "Not logged in", body = ErrorBody),
              (status = 403, description = "Admins only", body = ErrorBody),
              (status = 404, description = "No such user", body = ErrorBody)))]
pub async fn set_password(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Json(body): Json<PasswordBody>,
) -> ApiResult<Json<Vec<User>>> {
    let hash = hash_of(body.password, body.password_hash).await?;
    let request = UserRequest::SetPassword { name, hash };
    Ok(Json(
        state.backend.try_call(move |s| s.users(request)).await?,
    ))
}

/// Deletes a user (never the last admin); their sessions and tokens end.
#[utoipa::path(delete, path = "/api/v1/users/{name}", tag = "users",
    params(("name" = String, Path, description = "User name", pattern = r"^[A-Za-z0-9._-]{1,64}$")),
    responses((status = 200, description = "Every user, after the change", body = Vec<User>),
              (status = 400, description = "Bad name", body = ErrorBody),
              (status = 401, description = "Not logged in", body = ErrorBody),
              (status = 403, description = "Admins only", body = ErrorBody),
              (status = 404, description = "No such user", body = ErrorBody),
              (status = 409, description = "The last admin", body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<Vec<User>>> {
    let request = UserRequest::Delete { name };
    Ok(Json(
        state.backend.try_call(move |s| s.users(request)).await?,
    ))
}

/// `POST /api/v1/tokens`'s body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// 1 to 64 characters of A-Z a-z 0-9 . _ -
    #[schema(pattern = r"^[A-Za-z0-9._-]{1,64}$")]
    pub name: String,
    /// admin or viewer.
    pub role: Role,
}

/// Every API token (never the secrets).
#[utoipa::path(get, path = "/api/v1/tokens", tag = "users",
    responses((status = 200, description = "Tokens", body = Vec<TokenView>),
              (status = 401, description = "Not logged in", body = ErrorBody),
              (status = 403, description = "Admins only", body = ErrorBody)))]
pub async fn tokens(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<Vec<TokenView>>> {
    require_admin(&caller)?;
    Ok(Json(state.backend.call(|s| s.tokens()).await?))
}

/// Creates an API token for automation; its secret is shown only in this answer.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "users", request_body = NewToken,
    responses((status = 201, description = "The token, with its secret", body = Issued),
              (status = 400, description = "Bad name", body = ErrorBody),
              (status = 401, description = "Not logged in", body = ErrorBody),
              (status = 403, description = "Admins only", body = ErrorBody),
              (status = 409, description = "The name is taken", body = ErrorBody)))]
pub async fn create_token(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Json(body): Json<NewToken>,
) -> ApiResult<(StatusCode, Json<Issued>)> {
    let issued = state
        .backend
        .try_call(move |s| s.create_token(&caller.user, &body.name, body.role))
        .await?;
    Ok((StatusCode::CREATED, Json(issued)))
}

/// Revokes an API token.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "users",
    params(("id" = String, Path, description = "Token id (from the list)")),
    responses((status = 204, description = "Revoked"),
              (status = 400, description = "Bad path", body = ErrorBody),
              (status = 401, description = "Not logged in", body = ErrorBody),
              (status = 403, description = "Admins only", body = ErrorBody),
              (status = 404, description = "No such token", body = ErrorBody)))]
pub async fn delete_token(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state.backend.try_call(move |s| s.delete_token(&id)).await?;
    Ok(StatusCode::NO_CONTENT)
}
