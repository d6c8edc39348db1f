//! `/api/v1/clients` and `/api/v1/boots`: machines, their assignments and boot history.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use serde::Deserialize;
use utoipa::IntoParams;

use super::error::{ApiError, ApiResult, ErrorBody, Json, Path, Query};
use super::AppState;
use crate::clients::Client;
use crate::history::BootRecord;
use crate::service::clients::ClientPatch;
use crate::service::ErrorKind;

/// A client's MAC address in the path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct MacPath {
    /// MAC address: `52:54:00:12:34:56`, `52-54-00-12-34-56` or `525400123456`, any case.
    /// The pattern tells generators what a MAC is; anything else is answered 400.
    #[param(
        pattern = r"^[0-9A-Fa-f]{2}([:-]?[0-9A-Fa-f]{2}){5}$",
        example = "52:54:00:12:34:56"
    )]
    pub mac: String,
}

/// `GET /api/v1/clients` options.
#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct ClientQuery {
    /// Only clients whose MAC, name, address, vendor, product, serial or assignment contains
    /// this text (any case).
    #[serde(default)]
    pub q: Option<String>,
    /// Only clients of this firmware (`bios`, `efi-x64`, …; `unknown`: not reported).
    #[serde(default)]
    pub arch: Option<String>,
    /// `true`: only clients with an assigned or next-boot image; `false`: only those without.
    #[serde(default)]
    pub assigned: Option<bool>,
    /// Skip this many (after filtering).
    #[serde(default)]
    pub offset: Option<usize>,
    /// Return at most this many.
    #[serde(default)]
    pub limit: Option<usize>,
}

fn matches(c: &Client, q: &str) -> bool {
    let q = q.to_lowercase();
    let hit = |field: &str| field.to_lowercase().contains(&q);
    hit(&c.mac.to_string())
        || [
            c.name.as_deref(),
            c.ip.as_deref(),
            c.manufacturer.as_deref(),
            c.product.as_deref(),
            c.serial.as_deref(),
            c.assigned.as_deref(),
            c.next_boot.as_deref(),
            c.notes.as_deref(),
        ]
        .into_iter()
        .flatten()
        .any(hit)
}

/// Every client seen or assigned, by MAC; `X-Total-Count` says how many matched.
#[utoipa::path(get, path = "/api/v1/clients", tag = "clients", params(ClientQuery),
    responses((status = 200, description = "Clients", body = Vec<Client>,
               headers(("x-total-count" = u64, description = "How many clients matched (before offset and limit)"))),
              (status = 400, description = "Bad query", body = ErrorBody),
              (status = 401, description = "Not logged in", body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Query(query): Query<ClientQuery>,
) -> ApiResult<(HeaderMap, Json<Vec<Client>>)> {
    let all = state.backend.call(|s| s.clients()).await?;
    let q = query.q.as_deref().filter(|q| !q.is_empty());
    let arch = query.arch.as_deref().filter(|a| !a.is_empty());
    let matching: Vec<Client> = all
        .into_iter()
        .filter(|c| q.is_none_or(|q| matches(c, q)))
        .filter(|c| arch.is_none_or(|a| c.arch.as_deref().unwrap_or("unknown") == a))
        .filter(|c| {
            query
                .assigned
                .is_none_or(|want| (c.assigned.is_some() || c.next_boot.is_some()) == want)
        })
        .collect();
    let total = matching.len();
    let page = matching
        .into_iter()
        .skip(query.offset.unwrap_or(0))
        .take(query.limit.unwrap_or(usize::MAX))
        .collect();
    let mut headers = HeaderMap::new();
    headers.insert("x-total-count", HeaderValue::from(total));
    Ok((headers, Json(page)))
}

/// One client.
#[utoipa::path(get, path = "/api/v1/clients/{mac}", tag = "clients",
    params(MacPath),
    responses((status = 200, description = "The client", body = Client),
              (status = 400, description = "Not a MAC address", body = ErrorBody),
              (status = 401, description = "Not logged in", body = ErrorBody),
              (status = 404, description = "No such client", body = ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    Path(MacPath { mac }): Path<MacPath>,
) -> ApiResult<Json<Client>> {
    Ok(Json(state.backend.try_call(move |s| s.client(&mac)).await?))
}

/// Changes a client: name, notes, assigned image, next-boot-once image, allowed images,
/// extra kernel arguments. A MAC not seen yet gets a record.
#[utoipa::path(patch, path = "/api/v1/clients/{mac}", tag = "clients",
    params(MacPath),
    request_body = ClientPatch,
    responses((status = 200, description = "The client as saved", body = Client),
              (status = 400, description = "Bad MAC, unknown or disallowed image", body = ErrorBody),
              (status = 401, description = "Not logged in", body = ErrorBody),
              (status = 403, description = "Viewers cannot change clients", body = ErrorBody),
              (status = 404, description = "No such image", body = ErrorBody)))]
pub async fn edit(
    State(state): State<AppState>,
    Path(MacPath { mac }): Path<MacPath>,
    Json(patch): Json<ClientPatch>,
) -> ApiResult<Json<Client>> {
    Ok(Json(
        state
            .backend
            .try_call(move |s| s.patch_client(&mac, patch))
            .await?,
    ))
}

/// Deletes a client's record (its boot history stays).
#[utoipa::path(delete, path = "/api/v1/clients/{mac}", tag = "clients",
    params(MacPath),
    responses((status = 204, description = "Deleted"),
              (status = 400, description = "Not a MAC address", body = ErrorBody),
              (status = 401, description = "Not logged in", body = ErrorBody),
              (status = 403, description = "Viewers cannot delete", body = ErrorBody),
              (status = 404, description = "No such client", body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    Path(MacPath { mac }): Path<MacPath>,
) -> ApiResult<StatusCode> {
    state
        .backend
        .try_call(move |s| s.delete_client(&mac))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// History paging.
#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct Page {
    /// Only records older than this sequence number (the last `seq` of the previous page).
    #[serde(default)]
    pub before: Option<u64>,
    /// At most this many (1 to 1000) [default: 100].
    #[serde(default)]
    pub limit: Option<usize>,
}

impl Page {
    /// The page of `mac`'s history (everyone's with `None`).
    async fn of(self, state: &AppState, mac: Option<String>) -> ApiResult<Json<Vec<BootRecord>>> {
        let limit = self.limit.unwrap_or(100).clamp(1, 1000);
        let before = self.before;
        let page = state
            .backend
            .try_call(move |s| s.boots(mac.as_deref(), before, limit))
            .await?;
        Ok(Json(page))
    }
}

/// A client's boot history, newest first.
#[utoipa::path(get, path = "/api/v1/clients/{mac}/boots", tag = "clients",
    params(MacPath, Page),
    responses((status = 200, description = "Boot events, newest first", body = Vec<BootRecord>),
              (status = 400, description = "Not a MAC address", body = ErrorBody),
              (status = 401, description = "Not logged in", body = ErrorBody)))]
pub async fn boots(
    State(state): State<AppState>,
    Path(MacPath { mac }): Path<MacPath>,
    Query(page): Query<Page>,
) -> ApiResult<Json<Vec<BootRecord>>> {
    page.of(&state, Some(mac)).await
}

/// Every machine's boot history, newest first.
#[utoipa::path(get, path = "/api/v1/boots", tag = "clients", params(Page),
    responses((status = 200, description = "Boot events, newest first", body = Vec<BootRecord>),
              (status = 400, description = "Bad query", body = ErrorBody),
              (status = 401, description = "Not logged in", body = ErrorBody)))]
pub async fn history(
    State(state): State<AppState>,
    Query(page): Query<Page>,
) -> ApiResult<Json<Vec<BootRecord>>> {
    page.of(&state, None).await
}

/// Sends a Wake-on-LAN magic packet for a machine: to the directed broadcast of the subnet
/// its last address is in, out of that interface; else out of every interface (or to the
/// configured `wol.broadcast`).
#[utoipa::path(post, path = "/api/v1/clients/{mac}/wake", tag = "clients",
    params(MacPath),
    responses((status = 200, description = "Where the packet went", body = crate::wol::WakeReport),
              (status = 400, description = "Not a MAC address", body = ErrorBody),
              (status = 401, description = "Not logged in", body = ErrorBody),
              (status = 403, description = "Viewers cannot wake machines", body = ErrorBody),
              (status = 503, description = "No interface to send from", body = ErrorBody)))]
pub async fn wake(
    State(state): State<AppState>,
    Path(MacPath { mac }): Path<MacPath>,
) -> ApiResult<Json<crate::wol::WakeReport>> {
    let mac = crate::service::clients::parse_mac(&mac)?;
    let last_ip = state
        .backend
        .call(move |s| {
            s.client(&mac.to_string())
                .ok()
                .and_then(|c| c.ip?.parse::<std::net::Ipv4Addr>().ok())
        })
        .await?;
    let wol = state.wol;
    let report = tokio::task::spawn_blocking(move || crate::wol::wake(mac, last_ip, &wol))
        .await
        .map_err(|e| ApiError::new(ErrorKind::Internal, e.to_string()))?
        .map_err(|e| ApiError::new(ErrorKind::Unavailable, e.to_string()))?;
    tracing::info!(%mac, reach = ?report.reach, sent = report.sent.len(), "Wake-on-LAN sent");
    Ok(Json(report))
}
