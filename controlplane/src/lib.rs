//! fleetboot's control plane: settings, the redb store, scanning the data dir, building and
//! publishing catalog snapshots for the data plane, and the admin API. The `fleetboot` binary
//! (`main.rs`) is a thin shell over this crate.

pub mod api;
pub mod boot;
pub mod bootloaders;
pub mod cli;
pub mod clients;
pub mod config;
pub mod control;
pub mod coordinator;
pub mod deploy;
pub mod distro;
pub mod history;
pub mod images;
pub mod install;
pub mod iso;
pub mod live;
pub mod logging;
pub mod metrics;
pub mod netaddr;
pub mod netboot;
pub mod publish;
pub mod scan;
pub mod serve;
pub mod service;
pub mod store;
pub mod transfer;
pub mod users;
pub mod wol;
