//! proxyDHCP (PXE spec 2.1, RFC 4578): answers PXE and HTTP-boot clients on UDP 67 and 4011
//! with a bootfile and never hands out an address, so it works beside any router's DHCP.
//! [`request`] decodes, [`reply`] decides and encodes (both pure), [`server`] does the I/O.

use std::net::SocketAddr;

pub mod reply;
pub mod request;
pub(crate) mod server;

pub use reply::{Bootfiles, Policy, UefiStrategy};

/// proxyDHCP settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// The DHCP port (67) address.
    pub dhcp_listen: SocketAddr,
    /// The PXE boot server port (4011) address.
    pub pxe_listen: SocketAddr,
    /// Bind both to this interface only (SO_BINDTODEVICE): limited broadcasts then leave by it.
    pub interface: Option<String>,
    /// What to answer.
    pub policy: Policy,
}
