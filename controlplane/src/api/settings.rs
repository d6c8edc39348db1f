//! `/api/v1/settings`: the menu, kernel arguments and scan interval, changed live.

use axum::extract::State;

use super::error::{ApiResult, ErrorBody, Json};
use super::AppState;
use crate::service::settings::{RuntimeSettings, SettingsPatch};

/// The settings in effect, and which were set through the API.
#[utoipa::path(get, path = "/api/v1/settings", tag = "settings",
    responses((status = 200, description = "Settings", body = RuntimeSettings),
              (status = 401, description = "Not logged in", body = ErrorBody)))]
pub async fn show(State(state): State<AppState>) -> ApiResult<Json<RuntimeSettings>> {
    Ok(Json(state.backend.call(|s| s.settings()).await?))
}

/// Changes settings: stored, in effect at once; `null` returns a field to the configured
/// value.
#[utoipa::path(patch, path = "/api/v1/settings", tag = "settings", request_body = SettingsPatch,
    responses((status = 200, description = "Settings now in effect", body = RuntimeSettings),
              (status = 400, description = "A value out of range", body = ErrorBody),
              (status = 401, description = "Not logged in", body = ErrorBody),
              (status = 403, description = "Viewers cannot change settings", body = ErrorBody),
              (status = 404, description = "No such default image", body = ErrorBody)))]
pub async fn edit(
    State(state): State<AppState>,
    Json(patch): Json<SettingsPatch>,
) -> ApiResult<Json<RuntimeSettings>> {
    Ok(Json(
        state
            .backend
            .try_call(move |s| s.patch_settings(patch))
            .await?,
    ))
}
