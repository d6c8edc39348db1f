//! fleetboot's data plane: a thread-per-core io_uring server for proxyDHCP, TFTP and HTTP that
//! sends boot files straight from memory-mapped files.
//!
//! Its whole interface: serve byte ranges of [`Blob`]s named in a [`Catalog`] (published by
//! the control plane through a [`CatalogHandle`]), and report what happened as
//! [`BootEvent`]s. It knows nothing of databases, ISO formats or distributions.
#![warn(missing_docs)]

pub mod blob;
pub mod boot;
mod busy;
pub mod catalog;
pub mod dhcp;
pub mod events;
pub mod http;
mod inbox;
pub mod install;
pub mod mac;
pub mod multicast;
pub mod neighbour;
pub mod path;
pub mod per_source;
pub mod runtime;
pub mod stats;
pub mod sys;
pub mod tftp;
pub mod wire;

pub use blob::{Blob, BlobSlice};
pub use boot::{Asker, BootPolicy, ClientScript, Inventory, OnceToken, ScriptServed, Use};
pub use catalog::{Catalog, CatalogHandle, Exposure};
pub use events::{
    BootEvent, BootScriptSeen, Detail, DhcpSeen, Drops, EventSink, Outcome, Protocol,
};
pub use http::mac_check::{MacCheck, MacRefused};
pub use install::{InstallReport, InstallStage, Installs};
pub use mac::Mac;
pub use runtime::{Config, DataPlane, Driver};
pub use stats::Stats;
