//! `/health` (open to anyone: ok or not, nothing else) and `/api/v1/status` (the counters).

use std::sync::atomic::Ordering::Relaxed;

use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use dataplane::Stats;

use super::error::{ErrorBody, Json};
use super::AppState;

/// `/health`'s answer.
#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: &'static str,
}

/// Whether the admin service answers (no authentication, no detail).
#[utoipa::path(get, path = "/health", tag = "status", security(()),
    responses((status = 200, description = "Serving", body = Health)))]
pub async fn health() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// The counters.
#[derive(Serialize, ToSchema)]
pub struct Status {
    status: &'static str,
    driver: &'static str,
    tftp_objects: usize,
    http_objects: usize,
    tftp_active: usize,
    tftp_transfers: u64,
    tftp_duplicate_requests: u64,
    tftp_busy: u64,
    tftp_malformed: u64,
    tftp_per_ip_refused: u64,
    tftp_unanswered: u64,
    tftp_unreachable: u64,
    tftp_netascii_refused: u64,
    http_connections: usize,
    http_requests: u64,
    http_timeouts: u64,
    http_busy: u64,
    http_per_ip_refused: u64,
    http_slow_readers: u64,
    boot_mac_refused: u64,
    bytes_sent: u64,
    dhcp_answered: u64,
    dhcp_ignored: u64,
    dhcp_malformed: u64,
    events_dropped: u64,
    clients_refused_source: u64,
    clients_refused_full: u64,
    clients_expired: u64,
    admin_refused: u64,
}

/// Counters of the data plane and the client table.
#[utoipa::path(get, path = "/api/v1/status", tag = "status",
    responses((status = 200, description = "Counters", body = Status),
              (status = 401, description = "Not logged in", body = ErrorBody)))]
pub async fn status(State(state): State<AppState>) -> Json<Status> {
    let (tftp_objects, http_objects) = state.catalog.snapshot().len();
    Json(Status {
        status: "ok",
        driver: state.driver,
        tftp_objects,
        http_objects,
        tftp_active: state.stats.tftp_active.load(Relaxed),
        tftp_transfers: Stats::read(&state.stats.tftp_transfers),
        tftp_duplicate_requests: Stats::read(&state.stats.tftp_duplicate_requests),
        tftp_busy: Stats::read(&state.stats.tftp_busy),
        tftp_malformed: Stats::read(&state.stats.tftp_malformed),
        tftp_per_ip_refused: Stats::read(&state.stats.tftp_per_ip_refused),
        tftp_unanswered: Stats::read(&state.stats.tftp_unanswered),
        tftp_unreachable: Stats::read(&state.stats.tftp_unreachable),
        tftp_netascii_refused: Stats::read(&state.stats.tftp_netascii_refused),
        http_connections: state.stats.http_connections.load(Relaxed),
        http_requests: Stats::read(&state.stats.http_requests),
        http_timeouts: Stats::read(&state.stats.http_timeouts),
        http_busy: Stats::read(&state.stats.http_busy),
        http_per_ip_refused: Stats::read(&state.stats.http_per_ip_refused),
        http_slow_readers: Stats::read(&state.stats.http_slow_readers),
        boot_mac_refused: Stats::read(&state.stats.boot_mac_refused),
        bytes_sent: Stats::read(&state.stats.bytes_sent),
        dhcp_answered: Stats::read(&state.stats.dhcp_answered),
        dhcp_ignored: Stats::read(&state.stats.dhcp_ignored),
        dhcp_malformed: Stats::read(&state.stats.dhcp_malformed),
        events_dropped: state.events_dropped.get(),
        clients_refused_source: state.clients.refused_source.load(Relaxed),
        clients_refused_full: state.clients.refused_full.load(Relaxed),
        clients_expired: state.clients.expired.load(Relaxed),
        admin_refused: state.admin_refused.0.load(Relaxed),
    })
}

/// Prometheus metrics (OpenMetrics text): requests, bytes and errors per protocol, active
/// transfers, DHCP answers by arch, boots per image, job progress.
#[utoipa::path(get, path = "/metrics", tag = "status",
    responses((status = 200, description = "Metrics", content_type = "application/openmetrics-text", body = String),
              (status = 401, description = "Not logged in", body = ErrorBody)))]
pub async fn metrics(State(state): State<AppState>) -> impl axum::response::IntoResponse {
    let text = state.metrics.render(
        &state.stats,
        &state.clients,
        &state.events_dropped,
        &state.catalog,
    );
    (
        [(
            axum::http::header::CONTENT_TYPE,
            crate::metrics::CONTENT_TYPE,
        )],
        text,
    )
}
