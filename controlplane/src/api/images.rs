//! `/api/v1/images`: list, show, edit, delete, rescan, fetch a netboot tree.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ApiResult, ErrorBody, Json, Path, Query};
use super::AppState;
use crate::netboot::{self, Trust};
use crate::service::images::{ImagePatch, ImageView};
use crate::service::ErrorKind;

/// Every image, by id.
#[utoipa::path(get, path = "/api/v1/images", tag = "images",
    responses((status = 200, description = "Images", body = Vec<ImageView>),
              (status = 401, description = "Not logged in", body = ErrorBody)))]
pub async fn list(State(state): State<AppState>) -> ApiResult<Json<Vec<ImageView>>> {
    Ok(Json(state.backend.call(|s| s.image_views()).await?))
}

/// One image.
#[utoipa::path(get, path = "/api/v1/images/{id}", tag = "images",
    params(("id" = String, Path, description = "Image id")),
    responses((status = 200, description = "The image", body = ImageView),
              (status = 400, description = "Bad path", body = ErrorBody),
              (status = 401, description = "Not logged in", body = ErrorBody),
              (status = 404, description = "No such image", body = ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<ImageView>> {
    Ok(Json(
        state.backend.try_call(move |s| s.image_view(&id)).await?,
    ))
}

/// Edits an image: description, public flag, group, boot method, command line, extra
/// kernel arguments.
#[utoipa::path(patch, path = "/api/v1/images/{id}", tag = "images",
    params(("id" = String, Path, description = "Image id")),
    request_body = ImagePatch,
    responses((status = 200, description = "The edited image", body = ImageView),
              (status = 400, description = "Invalid edit", body = ErrorBody),
              (status = 401, description = "Not logged in", body = ErrorBody),
              (status = 403, description = "Viewers cannot edit", body = ErrorBody),
              (status = 404, description = "No such image", body = ErrorBody)))]
pub async fn edit(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(patch): Json<ImagePatch>,
) -> ApiResult<Json<ImageView>> {
    Ok(Json(
        state
            .backend
            .try_call(move |s| s.patch_image(&id, patch))
            .await?,
    ))
}

/// `DELETE /api/v1/images/{id}` options.
#[derive(Debug, Deserialize, IntoParams)]
pub struct DeleteOptions {
    /// Delete the ISO file (required: an image is its file in `data/isos/`).
    #[serde(default)]
    pub file: bool,
}

/// Deletes an image's ISO (with `?file=true`) and its edits.
#[utoipa::path(delete, path = "/api/v1/images/{id}", tag = "images",
    params(("id" = String, Path, description = "Image id"), DeleteOptions),
    responses((status = 204, description = "Deleted"),
              (status = 400, description = "Bad path or query", body = ErrorBody),
              (status = 401, description = "Not logged in", body = ErrorBody),
              (status = 403, description = "Viewers cannot delete", body = ErrorBody),
              (status = 404, description = "No such image", body = ErrorBody),
              (status = 409, description = "Without file=true: the ISO would come back at the next scan", body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(options): Query<DeleteOptions>,
) -> ApiResult<StatusCode> {
    if !options.file {
        let known = id.clone();
        state
            .backend
            .try_call(move |s| s.image_exists(&known))
            .await?;
        return Err(ApiError::new(
            ErrorKind::Conflict,
            "an image is its ISO in data/isos/: delete with ?file=true (the ISO is removed), \
             or hide it from the menu with PATCH {\"public\": false}",
        ));
    }
    state.backend.try_call(move |s| s.delete_image(&id)).await?;
    state.backend.rescan().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Scans the data dir now; answers once the result is published.
#[utoipa::path(post, path = "/api/v1/images/rescan", tag = "images",
    responses((status = 200, description = "Images after the scan", body = Vec<ImageView>),
              (status = 401, description = "Not logged in", body = ErrorBody),
              (status = 403, description = "Viewers cannot rescan", body = ErrorBody)))]
pub async fn rescan(State(state): State<AppState>) -> ApiResult<Json<Vec<ImageView>>> {
    state.backend.rescan().await?;
    list(State(state)).await
}

/// `POST /api/v1/images/{id}/netboot`'s body.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NetbootRequest {
    /// The tarball's URL (http or https) [default: the layout's netboot URL].
    #[serde(default)]
    pub url: Option<String>,
    /// Its expected SHA-256, hex.
    #[serde(default)]
    pub sha256: Option<String>,
}

/// Fetches the netboot tree of a needs-netboot image; answers once the image boots from it.
#[utoipa::path(post, path = "/api/v1/images/{id}/netboot", tag = "images",
    params(("id" = String, Path, description = "Image id")),
    request_body = NetbootRequest,
    responses((status = 200, description = "The image, now booting from the tree", body = ImageView),
              (status = 400, description = "Not a needs-netboot image, or the fetch failed", body = ErrorBody),
              (status = 401, description = "Not logged in", body = ErrorBody),
              (status = 403, description = "Viewers cannot fetch", body = ErrorBody),
              (status = 404, description = "No such image", body = ErrorBody)))]
pub async fn fetch_netboot(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(request): Json<NetbootRequest>,
) -> ApiResult<Json<ImageView>> {
    let known = id.clone();
    let image = state
        .backend
        .try_call(move |s| s.image(&known).cloned())
        .await?;
    let data_dir = state.data_dir.clone();
    let ca_file = state.ca_file.clone();
    // Downloads and unpacks: off the runtime's threads.
    tokio::task::spawn_blocking(move || {
        let trust = ca_file
            .as_deref()
            .map_or(Ok(Trust::default()), Trust::with_ca_file)
            .map_err(|e| e.to_string())?;
        netboot::fetch_for(
            &data_dir,
            &image,
            request.url.as_deref(),
            request.sha256.as_deref(),
            &trust,
        )
        .map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| ApiError::new(ErrorKind::Internal, e.to_string()))?
    .map_err(|e| ApiError::new(ErrorKind::BadRequest, e))?;
    state.backend.rescan().await?;
    Ok(Json(
        state.backend.try_call(move |s| s.image_view(&id)).await?,
    ))
}
