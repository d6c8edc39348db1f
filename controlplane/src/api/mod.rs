//! The admin HTTP service (axum): the REST API under `/api/v1` (JSON; errors are
//! `{"error": CODE, "detail": TEXT}`), its OpenAPI document at `/api/v1/openapi.json`
//! (generated from the handlers' annotations), `/health`, `/metrics`, and the web console
//! at `/` ([`ui`]). The same router is
//! served on the admin TCP listener (callers log in) and on the control socket (trusted).
//! Handlers are thin: every rule is in [`crate::service`], reached through [`Backend`].

pub mod auth;
pub mod backend;
pub mod clients;
pub mod deploys;
pub mod error;
pub mod events;
pub mod images;
pub mod install;
pub mod jobs;
pub mod listener;
pub mod multicast;
pub mod server;
pub mod settings;
pub mod status;
pub mod ui;
pub mod users;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::{Method, Uri};
use axum::middleware;
use axum::routing::get;
use axum::{Extension, Router};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use dataplane::{CatalogHandle, Drops, Stats};

pub use backend::Backend;
use error::ApiError;

use crate::clients::table::Counters;
use crate::live::Hub;
use crate::service::access::Grants;
use crate::service::ErrorKind;

/// What handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The service, on the coordinator's thread.
    pub backend: Backend,
    /// Live sessions and tokens.
    pub grants: Arc<Grants>,
    /// Live events.
    pub hub: Arc<Hub>,
    /// Failed logins per source.
    pub logins: Arc<auth::LoginLimiter>,
    /// How long a login lasts.
    pub session_ttl: Duration,
    /// The data dir.
    pub data_dir: PathBuf,
    /// Extra CAs for https fetches.
    pub ca_file: Option<PathBuf>,
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
    /// Admin connections refused at the cap.
    pub admin_refused: Arc<listener::Refused>,
    /// Download jobs.
    pub jobs: crate::transfer::Jobs,
    /// Largest upload, bytes.
    pub upload_max: u64,
    /// Prometheus metrics.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Where Wake-on-LAN packets go.
    pub wol: crate::config::WolSettings,
    /// What this server is (`GET /api/v1/server`).
    pub server: Arc<server::ServerInfo>,
    /// Multicast sessions; `None` without a data plane (the CLI's offline router).
    pub multicast: Option<crate::service::multicast::Multicast>,
}

/// The OpenAPI document's frame; paths come from the routes.
#[derive(OpenApi)]
#[openapi(
    info(title = "fleetboot admin API", description = "Images, clients, users and settings of a fleetboot server."),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    tags(
        (name = "auth", description = "Login, logout, who am I"),
        (name = "images", description = "ISO images"),
        (name = "clients", description = "Machines, assignments, boot history"),
        (name = "users", description = "Users and API tokens (admins only)"),
        (name = "settings", description = "Live settings"),
        (name = "install", description = "Unattended installs: templates, groups, secrets"),
        (name = "multicast", description = "Multicast sessions: one file to many machines at once"),
        (name = "deploys", description = "Disk images to many machines at once over multicast"),
        (name = "events", description = "Live events (SSE)"),
        (name = "status", description = "Health and counters"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Every documented route, and the document.
fn documented() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(status::health))
        .routes(routes!(status::status))
        .routes(routes!(server::show))
        .routes(routes!(auth::login))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::me))
        .routes(routes!(status::metrics))
        .routes(routes!(images::list))
        // Uploads stream to disk, bounded by the upload limit, not by the request body limit
        // every other route keeps (JSON bodies are read whole).
        .merge(
            OpenApiRouter::new()
                .routes(routes!(jobs::upload))
                .layer(DefaultBodyLimit::disable()),
        )
        .routes(routes!(jobs::download))
        .routes(routes!(jobs::list))
        .routes(routes!(jobs::show, jobs::cancel))
        .routes(routes!(clients::wake))
        .routes(routes!(install::list_families))
        .routes(routes!(install::list_templates))
        .routes(routes!(
            install::show_template,
            install::put_template,
            install::delete_template
        ))
        .routes(routes!(install::list_groups))
        .routes(routes!(install::put_group, install::delete_group))
        .routes(routes!(install::list_secrets))
        .routes(routes!(install::put_secret, install::delete_secret))
        .routes(routes!(install::show_install))
        .routes(routes!(install::rendered))
        .routes(routes!(images::show, images::edit, images::delete))
        .routes(routes!(images::rescan))
        .routes(routes!(images::fetch_netboot))
        .routes(routes!(clients::list))
        .routes(routes!(clients::show, clients::edit, clients::delete))
        .routes(routes!(clients::boots))
        .routes(routes!(clients::history))
        .routes(routes!(users::list, users::add))
        .routes(routes!(users::set_password, users::delete))
        .routes(routes!(users::tokens, users::create_token))
        .routes(routes!(users::delete_token))
        .routes(routes!(settings::show, settings::edit))
        .routes(routes!(multicast::start, multicast::list))
        .routes(routes!(multicast::show, multicast::cancel))
        .routes(routes!(deploys::list, deploys::create))
        .routes(routes!(deploys::images))
        .routes(routes!(deploys::show, deploys::cancel))
        .routes(routes!(events::stream))
        .split_for_parts()
}

/// The OpenAPI document (without the routes of `--metrics-listen`).
pub fn openapi() -> utoipa::openapi::OpenApi {
    documented().1
}

/// The admin service; `trusted` for the control socket (no login).
pub fn app(state: AppState, trusted: bool) -> Router {
    let (routes, doc) = documented();
    let doc = Arc::new(doc);
    let router = routes
        .route(
            "/api/v1/openapi.json",
            get(move || {
                let doc = doc.clone();
                async move { axum::Json(doc.as_ref().clone()) }
            }),
        )
        .merge(ui::router())
        .fallback(not_found)
        .method_not_allowed_fallback(not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), auth::guard));
    let router = if trusted {
        router.layer(Extension(auth::Trusted))
    } else {
        router
    };
    router.with_state(state)
}

/// `/metrics` alone, without authentication, for `--metrics-listen` (an address only the
/// monitoring network reaches).
pub fn metrics_app(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(status::metrics))
        .fallback(not_found)
        .with_state(state)
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::new(ErrorKind::NotFound, format!("no route {}", uri.path()))
}

async fn not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        ErrorKind::MethodNotAllowed,
        format!("{method} is not allowed on {}", uri.path()),
    )
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    /// Paths anyone may call.
    const OPEN: [&str; 2] = ["/health", "/api/v1/login"];

    /// (path, method, operation) of every operation in the document.
    fn operations(doc: &Value) -> Vec<(String, String, Value)> {
        let mut all = Vec::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, op) in item.as_object().expect("path item") {
                all.push((path.clone(), method.clone(), op.clone()));
            }
        }
        all
    }

    #[test]
    fn the_document_is_openapi_3_1_and_every_guarded_operation_declares_401() {
        let doc = serde_json::to_value(super::openapi()).unwrap();
        assert!(
            doc["openapi"]
                .as_str()
                .is_some_and(|v| v.starts_with("3.1.")),
            "{}",
            doc["openapi"]
        );
        let ops = operations(&doc);
        assert!(ops.len() >= 30, "only {} operations", ops.len());
        for (path, method, op) in ops {
            let declares_401 = op["responses"].get("401").is_some();
            if OPEN.contains(&path.as_str()) {
                // Open to anyone: said so with an empty security requirement.
                assert_eq!(op["security"], serde_json::json!([{}]), "{method} {path}");
            } else {
                assert!(declares_401, "{method} {path} does not declare 401");
            }
        }
    }

    #[test]
    fn every_error_response_is_the_error_body() {
        let doc = serde_json::to_value(super::openapi()).unwrap();
        for (path, method, op) in operations(&doc) {
            for (status, response) in op["responses"].as_object().expect("responses") {
                if !status.starts_with('4') && !status.starts_with('5') {
                    continue;
                }
                let schema = &response["content"]["application/json"]["schema"]["$ref"];
                assert_eq!(
                    schema, "#/components/schemas/ErrorBody",
                    "{method} {path} {status}"
                );
            }
        }
    }
}
