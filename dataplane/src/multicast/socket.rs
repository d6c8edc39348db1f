//! A session's socket: UDP connected to the group, out of the chosen interface, with the
//! session's TTL (IPv4) or hop limit (IPv6), and multicast loop off (the server is not a
//! receiver, and looped copies would cost it as much as the datagrams sent).

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;

use socket2::{Domain, Protocol, Socket, Type};

/// Where a session's datagrams go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Destination {
    /// Multicast group (IPv4 or IPv6) and UDP port.
    pub group: SocketAddr,
    /// Index of the interface the datagrams leave by: given, never left to the routing
    /// table (a provisioning network is rarely where the default route points).
    pub interface: u32,
    /// IPv4 TTL or IPv6 hop limit: 1 keeps the datagrams on the link.
    pub ttl: u32,
}

/// Socket send buffer: room for many GSO batches, so pacing, not the buffer, sets the rate.
const SEND_BUFFER: usize = 4 << 20;

/// Opens the socket for `to`.
///
/// # Errors
/// `InvalidInput` for a group that is not multicast or a TTL above 255; the kernel's errors
/// otherwise (`ENODEV` for an unknown interface).
pub(crate) fn open(to: &Destination) -> io::Result<UdpSocket> {
    let invalid = |why: String| io::Error::new(io::ErrorKind::InvalidInput, why);
    if !to.group.ip().is_multicast() {
        return Err(invalid(format!(
            "{} is not a multicast group",
            to.group.ip()
        )));
    }
    if to.group.port() == 0 {
        return Err(invalid("the group's port must not be 0".into()));
    }
    if !(1..=255).contains(&to.ttl) {
        return Err(invalid(format!("TTL {} is not within 1..=255", to.ttl)));
    }
    let socket = Socket::new(
        Domain::for_address(to.group),
        Type::DGRAM,
        Some(Protocol::UDP),
    )?;
    let mut group = to.group;
    match &mut group {
        SocketAddr::V4(_) => {
            crate::sys::set_multicast_if_v4(socket.as_raw_fd(), to.interface)?;
            socket.set_multicast_ttl_v4(to.ttl)?;
            socket.set_multicast_loop_v4(false)?;
        }
        SocketAddr::V6(v6) => {
            socket.set_multicast_if_v6(to.interface)?;
            socket.set_multicast_hops_v6(to.ttl)?;
            socket.set_multicast_loop_v6(false)?;
            // A link-scoped group (ff02::…) means nothing without its link.
            if v6.scope_id() == 0 {
                v6.set_scope_id(to.interface);
            }
        }
    }
    let _ = socket.set_send_buffer_size(SEND_BUFFER);
    // Connected: sends need no address (the GSO and sendmmsg paths expect it), and the source
    // address is the chosen interface's.
    socket.connect(&group.into()).map_err(|e| {
        if group.is_ipv6() && e.raw_os_error() == Some(libc::EADDRNOTAVAIL) {
            // Seen on an interface just brought up: its link-local address is still
            // tentative for a second or two of duplicate address detection.
            io::Error::new(
                e.kind(),
                format!(
                    "interface {} has no usable IPv6 address (is it still in duplicate \
                     address detection?): {e}",
                    to.interface
                ),
            )
        } else {
            e
        }
    })?;
    Ok(socket.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::pktinfo::interface_index;

    #[test]
    fn refuses_unicast_groups_bad_ttls_and_unknown_interfaces() {
        let lo = interface_index("lo").unwrap();
        let to = |group: &str, interface, ttl| Destination {
            group: group.parse().unwrap(),
            interface,
            ttl,
        };
        let kind = |d: Destination| open(&d).unwrap_err().kind();
        assert_eq!(
            kind(to("10.0.0.1:7000", lo, 1)),
            io::ErrorKind::InvalidInput
        );
        assert_eq!(
            kind(to("239.255.1.1:0", lo, 1)),
            io::ErrorKind::InvalidInput
        );
        assert_eq!(
            kind(to("239.255.1.1:7000", lo, 0)),
            io::ErrorKind::InvalidInput
        );
        assert_eq!(
            kind(to("239.255.1.1:7000", lo, 256)),
            io::ErrorKind::InvalidInput
        );
        assert!(open(&to("239.255.1.1:7000", u32::MAX / 2, 1)).is_err());
        let socket = open(&to("239.255.1.1:7000", lo, 1)).unwrap();
        assert_eq!(
            socket.peer_addr().unwrap(),
            "239.255.1.1:7000".parse().unwrap()
        );
    }
}
