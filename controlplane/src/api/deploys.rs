//! `/api/v1/deploys`: disk images written to many machines at once over multicast (see
//! [`crate::deploy`]). Viewers read; admins create and cancel.

use axum::extract::State;
use axum::http::StatusCode;

use super::error::{ApiResult, ErrorBody, Json, Path};
use super::AppState;
use crate::deploy::images::DiskImage;
use crate::service::deploy::{DeployBody, DeployView};
use crate::service::{ErrorKind, ServiceError};

/// Every deploy, oldest first.
#[utoipa::path(get, path = "/api/v1/deploys", tag = "deploys",
    responses((status = 200, description = "Deploys", body = Vec<DeployView>),
              (status = 401, description = "Not logged in", body = ErrorBody)))]
pub async fn list(State(state): State<AppState>) -> ApiResult<Json<Vec<DeployView>>> {
    Ok(Json(state.backend.call(|s| s.deploys()).await?))
}

/// The image files under the data dir's `disks/` (suggestions: a deploy may name any file
/// inside the data dir).
#[utoipa::path(get, path = "/api/v1/deploys/images", tag = "deploys",
    responses((status = 200, description = "Image files", body = Vec<DiskImage>),
              (status = 401, description = "Not logged in", body = ErrorBody)))]
pub async fn images(State(state): State<AppState>) -> ApiResult<Json<Vec<DiskImage>>> {
    // A directory walk: off the runtime.
    let list = tokio::task::spawn_blocking(move || crate::deploy::images::list(&state.data_dir))
        .await
        .map_err(|e| ServiceError::new(ErrorKind::Internal, e.to_string()))?;
    Ok(Json(list))
}

/// Starts a deploy: one multicast session sends the image; the machines boot the deploy
/// agent, write it to their disk, then boot their disk.
#[utoipa::path(post, path = "/api/v1/deploys", tag = "deploys", request_body = DeployBody,
    responses((status = 201, description = "The deploy", body = DeployView),
              (status = 400, description = "Bad image path, machine, group or disk", body = ErrorBody),
              (status = 401, description = "Not logged in", body = ErrorBody),
              (status = 403, description = "Viewers cannot deploy", body = ErrorBody),
              (status = 409, description = "The agent is not installed, or a machine is in another deploy", body = ErrorBody),
              (status = 503, description = "The session cannot start", body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    Json(body): Json<DeployBody>,
) -> ApiResult<(StatusCode, Json<DeployView>)> {
    let view = state
        .backend
        .try_call(move |s| s.create_deploy(body))
        .await?;
    Ok((StatusCode::CREATED, Json(view)))
}

fn deploy_id(text: &str) -> Result<u64, ServiceError> {
    text.parse()
        .map_err(|_| ServiceError::bad_request(format!("{text:?} is not a deploy id")))
}

/// One deploy, with its machines and its session's progress.
#[utoipa::path(get, path = "/api/v1/deploys/{id}", tag = "deploys",
    params(("id" = u64, Path, description = "Deploy id")),
    responses((status = 200, description = "The deploy", body = DeployView),
              (status = 400, description = "Not a deploy id", body = ErrorBody),
              (status = 401, description = "Not logged in", body = ErrorBody),
              (status = 404, description = "No such deploy", body = ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<DeployView>> {
    let id = deploy_id(&id)?;
    Ok(Json(state.backend.try_call(move |s| s.deploy(id)).await?))
}

/// Cancels a running deploy: its session stops, machines not done boot what they booted
/// before.
#[utoipa::path(delete, path = "/api/v1/deploys/{id}", tag = "deploys",
    params(("id" = u64, Path, description = "Deploy id")),
    responses((status = 200, description = "The deploy, cancelled", body = DeployView),
              (status = 400, description = "Not a deploy id", body = ErrorBody),
              (status = 401, description = "Not logged in", body = ErrorBody),
              (status = 403, description = "Viewers cannot cancel", body = ErrorBody),
              (status = 404, description = "No such deploy", body = ErrorBody),
              (status = 409, description = "The deploy has ended", body = ErrorBody)))]
pub async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<DeployView>> {
    let id = deploy_id(&id)?;
    Ok(Json(
        state.backend.try_call(move |s| s.cancel_deploy(id)).await?,
    ))
}
