//! Wake-on-LAN: the magic packet (AMD, "Magic Packet Technology", 1995: six 0xFF bytes, then
//! the target's MAC sixteen times) sent as a UDP broadcast out of the interface that reaches
//! the machine. A sleeping machine has no IP address, so the packet must be a link-layer
//! broadcast on the machine's own segment; which segment is the question answered here:
//!
//! 1. `wol.broadcast` set: that address (out of the interface whose subnet holds it, else
//!    where the routing table sends it; 255.255.255.255 means every interface, as in 3).
//! 2. The client's last known address lies in a local interface's IPv4 subnet: that subnet's
//!    directed broadcast, out of that interface.
//! 3. Otherwise 255.255.255.255 out of every up, non-loopback, broadcast-capable interface.
//!
//! The interface is chosen per datagram with IP_PKTINFO ([`dataplane::sys::pktinfo`]), like
//! proxyDHCP replies: no SO_BINDTODEVICE (which needs CAP_NET_RAW) and no route needed.

use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;

use dataplane::Mac;
use serde::Serialize;

use crate::config::WolSettings;

/// Length of a magic packet: 6 + 16 × 6 bytes.
pub const PACKET_LEN: usize = 102;

/// The magic packet that wakes `mac`.
pub fn magic_packet(mac: Mac) -> [u8; PACKET_LEN] {
    let mut packet = [0xff; PACKET_LEN];
    for copy in packet[6..].chunks_exact_mut(6) {
        copy.copy_from_slice(&mac.0);
    }
    packet
}

/// One IPv4 address of an up, non-loopback, broadcast-capable interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceAddr {
    /// Interface name, e.g. `eth0`.
    pub name: String,
    /// Interface index.
    pub index: u32,
    /// The interface's address.
    pub addr: Ipv4Addr,
    /// Prefix length of its subnet.
    pub prefix: u8,
}

impl InterfaceAddr {
    fn mask(&self) -> u32 {
        u32::MAX
            .checked_shl(32 - u32::from(self.prefix))
            .unwrap_or(0)
    }

    /// Whether `ip` is in this subnet. A /31 or /32 has no broadcast address, so it holds
    /// nothing here.
    pub fn holds(&self, ip: Ipv4Addr) -> bool {
        self.prefix <= 30 && (u32::from(ip) ^ u32::from(self.addr)) & self.mask() == 0
    }

    /// The subnet's directed broadcast address.
    fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) | !self.mask())
    }
}

/// Why the packets went where they went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Reach {
    /// To `wol.broadcast`.
    Configured,
    /// To the directed broadcast of the subnet holding the client's last address.
    Subnet,
    /// To 255.255.255.255 on every interface.
    Everywhere,
}

/// One datagram to send: out of `via` (`None`: where the routing table says) to `to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The interface and source address.
    pub via: Option<InterfaceAddr>,
    /// Destination.
    pub to: SocketAddrV4,
}

/// Where to send a magic packet, from the local interfaces (already filtered: up,
/// non-loopback, broadcast-capable), the client's last known address and the settings.
/// Pure: the policy of the module doc, tested without sockets.
pub fn plan(
    interfaces: &[InterfaceAddr],
    last_ip: Option<Ipv4Addr>,
    settings: &WolSettings,
) -> (Reach, Vec<Route>) {
    let port = settings.port;
    let everywhere = || {
        let mut routes: Vec<Route> = Vec::new();
        for i in interfaces {
            // One packet per interface, from its first address.
            if !routes
                .iter()
                .any(|r| r.via.as_ref().map(|v| v.index) == Some(i.index))
            {
                routes.push(Route {
                    via: Some(i.clone()),
                    to: SocketAddrV4::new(Ipv4Addr::BROADCAST, port),
                });
            }
        }
        routes
    };
    // Out of each interface whose subnet holds `ip`, to the address `to` picks for it.
    let holding = |ip: Ipv4Addr, to: &dyn Fn(&InterfaceAddr) -> Ipv4Addr| -> Vec<Route> {
        interfaces
            .iter()
            .filter(|i| i.holds(ip))
            .map(|i| Route {
                via: Some(i.clone()),
                to: SocketAddrV4::new(to(i), port),
            })
            .collect()
    };
    match (settings.broadcast, last_ip) {
        (Some(Ipv4Addr::BROADCAST), _) => (Reach::Everywhere, everywhere()),
        (Some(fixed), _) => {
            let mut routes = holding(fixed, &|_| fixed);
            if routes.is_empty() {
                routes.push(Route {
                    via: None,
                    to: SocketAddrV4::new(fixed, port),
                });
            }
            (Reach::Configured, routes)
        }
        (None, Some(ip)) => {
            let routes = holding(ip, &InterfaceAddr::broadcast);
            if routes.is_empty() {
                (Reach::Everywhere, everywhere())
            } else {
                (Reach::Subnet, routes)
            }
        }
        (None, None) => (Reach::Everywhere, everywhere()),
    }
}

/// The IPv4 addresses of this host's up, non-loopback, broadcast-capable interfaces, in the
/// order getifaddrs(3) lists them.
///
/// # Errors
/// getifaddrs' error.
pub fn interfaces() -> Result<Vec<InterfaceAddr>, WolError> {
    use nix::net::if_::InterfaceFlags as F;
    let all = nix::ifaddrs::getifaddrs().map_err(|e| WolError::Interfaces(e.into()))?;
    Ok(all
        .filter(|a| a.flags.contains(F::IFF_UP | F::IFF_BROADCAST))
        .filter(|a| !a.flags.contains(F::IFF_LOOPBACK))
        .filter_map(|a| {
            let addr = a.address.as_ref()?.as_sockaddr_in()?.ip();
            let mask = a.netmask.as_ref()?.as_sockaddr_in()?.ip();
            let index = dataplane::sys::pktinfo::interface_index(&a.interface_name)?;
            Some(InterfaceAddr {
                prefix: u8::try_from(u32::from(mask).leading_ones()).unwrap_or(32),
                name: a.interface_name,
                index,
                addr,
            })
        })
        .collect())
}

/// One datagram sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Sent {
    /// Interface it left by; `None`: chosen by the routing table.
    pub interface: Option<String>,
    /// Source address; `None`: chosen by the kernel.
    #[schema(value_type = Option<String>)]
    pub from: Option<Ipv4Addr>,
    /// Destination address and port.
    #[schema(value_type = String)]
    pub to: SocketAddrV4,
}

/// One datagram that could not be sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Failed {
    /// Interface it was for.
    pub interface: Option<String>,
    /// Destination address and port.
    #[schema(value_type = String)]
    pub to: SocketAddrV4,
    /// Why not.
    pub error: String,
}

/// What [`wake`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct WakeReport {
    /// Why these destinations.
    pub reach: Reach,
    /// Datagrams sent.
    pub sent: Vec<Sent>,
    /// Datagrams that failed while others were sent.
    pub failed: Vec<Failed>,
}

/// Why no magic packet was sent.
#[derive(Debug)]
pub enum WolError {
    /// The host has no up, non-loopback, broadcast-capable IPv4 interface to send from.
    NoInterface,
    /// The interfaces could not be listed.
    Interfaces(std::io::Error),
    /// No UDP socket could be opened.
    Socket(std::io::Error),
    /// Every send failed.
    NotSent(Vec<Failed>),
}

impl std::fmt::Display for WolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WolError::NoInterface => {
                f.write_str("no Wake-on-LAN packet sent: no up IPv4 interface that can broadcast")
            }
            WolError::Interfaces(e) => write!(f, "cannot list the network interfaces: {e}"),
            WolError::Socket(e) => write!(f, "cannot open a UDP socket for Wake-on-LAN: {e}"),
            WolError::NotSent(failed) => {
                f.write_str("no Wake-on-LAN packet could be sent:")?;
                for x in failed {
                    let via = x.interface.as_deref().unwrap_or("routing table");
                    write!(f, " to {} via {via}: {};", x.to, x.error)?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for WolError {}

/// Sends the magic packet for `mac` where [`plan`] says, given the client's last known
/// address `last_ip`.
///
/// # Errors
/// Nowhere to send from, no socket, or every send failed; a send that fails while others
/// succeed is in the report's `failed`.
pub fn wake(
    mac: Mac,
    last_ip: Option<Ipv4Addr>,
    settings: &WolSettings,
) -> Result<WakeReport, WolError> {
    let (reach, routes) = plan(&interfaces()?, last_ip, settings);
    if routes.is_empty() {
        return Err(WolError::NoInterface);
    }
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).map_err(WolError::Socket)?;
    socket.set_broadcast(true).map_err(WolError::Socket)?;
    let packet = magic_packet(mac);
    let mut report = WakeReport {
        reach,
        sent: Vec::new(),
        failed: Vec::new(),
    };
    for route in routes {
        let (index, from) = route
            .via
            .as_ref()
            .map_or((0, Ipv4Addr::UNSPECIFIED), |v| (v.index, v.addr));
        let interface = route.via.map(|v| v.name);
        let sent = dataplane::sys::pktinfo::send_nowait(
            socket.as_raw_fd(),
            &packet,
            route.to,
            index,
            from,
        );
        match sent {
            Ok(true) => report.sent.push(Sent {
                interface,
                from: (!from.is_unspecified()).then_some(from),
                to: route.to,
            }),
            // A fresh socket's send buffer holds far more than a few 102-byte datagrams.
            Ok(false) => report.failed.push(Failed {
                interface,
                to: route.to,
                error: "send buffer full".into(),
            }),
            Err(e) => report.failed.push(Failed {
                interface,
                to: route.to,
                error: e.to_string(),
            }),
        }
    }
    if report.sent.is_empty() {
        return Err(WolError::NotSent(report.failed));
    }
    Ok(report)
}

#[cfg(test)]
mod tests;
