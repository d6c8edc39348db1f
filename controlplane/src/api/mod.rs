//! The admin HTTP service (axum). One `router()` per resource, merged in [`app`].

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use dataplane::{CatalogHandle, Drops, Stats};

use crate::clients::table::Counters;

/// What handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The catalog being served.
    pub catalog: CatalogHandle,
    /// Data-plane counters.
    pub stats: Arc<Stats>,
    /// Boot events lost because the coordinator lagged.
    pub events_dropped: Drops,
    /// "io_uring" or "epoll".
    pub driver: &'static str,
    /// Client-table counters.
    pub clients: Arc<Counters>,
}

/// The whole admin API.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health))
        .with_state(state)
}

#[derive(Serialize)]
struct Health {
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
}

async fn health(State(state): State<AppState>) -> Json<Health> {
    let (tftp_objects, http_objects) = state.catalog.snapshot().len();
    Json(Health {
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
    })
}
