//! Multicast sessions: `POST /api/v1/multicast` starts one (admins), `GET` lists and shows
//! them, `DELETE /api/v1/multicast/{id}` cancels one. The rules are in
//! [`crate::service::multicast`].

use axum::extract::State;
use axum::http::StatusCode;

use super::error::{ApiError, ApiResult, ErrorBody, Json, Path};
use super::AppState;
use crate::service::multicast::{Multicast, SendSpec, SessionView};
use crate::service::ErrorKind;

/// The sessions, when this process serves the data plane (not the CLI's offline router).
fn multicast(state: &AppState) -> Result<&Multicast, ApiError> {
    state.multicast.as_ref().ok_or_else(|| {
        ApiError::new(
            ErrorKind::Unavailable,
            "multicast sessions need a running server (fleetboot serve)",
        )
    })
}

/// Starts a session for a file of the data dir; the answer names the manifest's URL. The
/// session is `preparing` while the file is hashed, then `waiting` for receivers.
#[utoipa::path(post, path = "/api/v1/multicast", tag = "multicast",
    request_body = SendSpec,
    responses((status = 201, description = "Started", body = SessionView),
              (status = 400, description = "Bad path, group, interface or value", body = ErrorBody),
              (status = 401, description = "Not logged in", body = ErrorBody),
              (status = 403, description = "Viewers cannot start sessions", body = ErrorBody),
              (status = 503, description = "No data plane here, or too many sessions", body = ErrorBody)))]
pub async fn start(
    State(state): State<AppState>,
    Json(spec): Json<SendSpec>,
) -> ApiResult<(StatusCode, Json<SessionView>)> {
    let multicast = multicast(&state)?.clone();
    // Mapping the file and opening the socket touch the disk and the kernel: off the runtime.
    let view = tokio::task::spawn_blocking(move || multicast.start(spec))
        .await
        .map_err(|e| ApiError::new(ErrorKind::Internal, e.to_string()))??;
    Ok((StatusCode::CREATED, Json(view)))
}

/// Every session, running or over.
#[utoipa::path(get, path = "/api/v1/multicast", tag = "multicast",
    responses((status = 200, description = "Sessions", body = Vec<SessionView>),
              (status = 401, description = "Not logged in", body = ErrorBody)))]
pub async fn list(State(state): State<AppState>) -> Json<Vec<SessionView>> {
    Json(
        state
            .multicast
            .as_ref()
            .map(Multicast::list)
            .unwrap_or_default(),
    )
}

/// One session, with its receivers.
#[utoipa::path(get, path = "/api/v1/multicast/{id}", tag = "multicast",
    params(("id" = String, Path, description = "Session id (hex)")),
    responses((status = 200, description = "The session", body = SessionView),
              (status = 401, description = "Not logged in", body = ErrorBody),
              (status = 404, description = "No such session", body = ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<SessionView>> {
    Ok(Json(multicast(&state)?.get(&id)?))
}

/// Cancels a session: `End` goes to the group, receivers turn to HTTP. A session over is
/// left as it is.
#[utoipa::path(delete, path = "/api/v1/multicast/{id}", tag = "multicast",
    params(("id" = String, Path, description = "Session id (hex)")),
    responses((status = 200, description = "The session, cancelled", body = SessionView),
              (status = 401, description = "Not logged in", body = ErrorBody),
              (status = 403, description = "Viewers cannot cancel", body = ErrorBody),
              (status = 404, description = "No such session", body = ErrorBody),
              (status = 503, description = "No data plane here", body = ErrorBody)))]
pub async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<SessionView>> {
    Ok(Json(multicast(&state)?.cancel(&id)?))
}
