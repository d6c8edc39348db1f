//! proxyDHCP (PXE spec 2.1, RFC 4578): answers PXE and HTTP-boot clients on UDP 67 and 4011
//! with a bootfile and never hands out an address, so it works beside any router's DHCP.
//! [`request`] decodes, [`reply`] decides and encodes (both pure), `server` does the I/O.

use std::net::SocketAddr;

mod interfaces;
pub mod reply;
pub mod request;
pub(crate) mod server;

pub(crate) use interfaces::Interfaces;

pub use reply::{Bootfiles, Policy, UefiStrategy};

/// proxyDHCP settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// The DHCP port (67) address.
    pub dhcp_listen: SocketAddr,
    /// The PXE boot server port (4011) address.
    pub pxe_listen: SocketAddr,
    /// Answer requests arriving on these interfaces only; empty: on every interface (each
    /// request is answered by the interface it arrived on either way).
    pub interfaces: Vec<String>,
    /// What to answer.
    pub policy: Policy,
}
