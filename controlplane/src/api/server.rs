//! `GET /api/v1/server`: what this server is — version, driver, the addresses it listens on,
//! and the bootloaders it serves (or lacks). Fixed at start; the console's dashboard shows it.

use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use super::error::{ErrorBody, Json};
use super::AppState;
use crate::bootloaders::{self, Bootloader, Origin};

/// The server, as started.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct ServerInfo {
    /// fleetboot's version.
    pub version: String,
    /// "io_uring" or "epoll" ("none" for the CLI's offline router).
    pub driver: String,
    /// Data-plane cores.
    pub cores: usize,
    /// The data dir.
    pub data_dir: String,
    /// Listening addresses; `None`: off.
    pub listeners: Listeners,
    /// The address boot URLs carry: fixed, or `None` (the address each request arrived at).
    pub server_addr: Option<String>,
    /// The bootloaders served over TFTP and HTTP.
    pub bootloaders: Vec<BootloaderInfo>,
    /// Known bootloaders that are missing, with the firmware that cannot boot without them.
    pub missing_bootloaders: Vec<MissingBootloader>,
}

/// Where the server listens.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct Listeners {
    /// TFTP.
    pub tftp: Option<String>,
    /// HTTP (boot files and scripts).
    pub http: Option<String>,
    /// This admin API and console.
    pub admin: Option<String>,
    /// proxyDHCP.
    pub dhcp: Option<String>,
    /// PXE boot server (port 4011).
    pub pxe: Option<String>,
    /// `/metrics` without login.
    pub metrics: Option<String>,
}

/// One bootloader served.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BootloaderInfo {
    /// Name relative to the TFTP root.
    pub name: String,
    /// Size, bytes.
    pub size: u64,
    /// `embedded`, or the override file's path.
    pub origin: String,
}

/// A known bootloader not served.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MissingBootloader {
    /// Its name.
    pub name: String,
    /// The firmware that needs it.
    pub firmware: String,
}

impl ServerInfo {
    /// The bootloader part of the description, from what `serve` loaded.
    pub fn with_bootloaders(mut self, loaded: &[Bootloader]) -> ServerInfo {
        self.bootloaders = loaded
            .iter()
            .map(|b| BootloaderInfo {
                name: b.name.clone(),
                size: b.blob.len(),
                origin: match &b.origin {
                    Origin::Embedded => "embedded".into(),
                    Origin::Override(p) => p.clone(),
                },
            })
            .collect();
        self.missing_bootloaders = bootloaders::KNOWN
            .iter()
            .filter(|(name, _)| !loaded.iter().any(|b| b.name == *name))
            .map(|(name, firmware)| MissingBootloader {
                name: (*name).into(),
                firmware: (*firmware).into(),
            })
            .collect();
        self
    }
}

/// The server: version, listeners, bootloaders.
#[utoipa::path(get, path = "/api/v1/server", tag = "status",
    responses((status = 200, description = "The server", body = ServerInfo),
              (status = 401, description = "Not logged in", body = ErrorBody)))]
pub async fn show(State(state): State<AppState>) -> Json<ServerInfo> {
    Json(ServerInfo::clone(&state.server))
}
