//! Working out the address clients reach this server on, for next-server and every boot URL:
//! an interface's own address, or the source the routing table picks for the default route
//! (a `connect` on UDP sends nothing, it only selects the source address).

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};

/// The server address: `configured`, else the address of `interface`, else of the listen
/// address when specific, else the source of the default route.
///
/// # Errors
/// When none of these gives an IPv4 address; the message says what to pass.
pub fn server_addr(
    configured: Option<Ipv4Addr>,
    interface: Option<&str>,
    listen: IpAddr,
) -> Result<Ipv4Addr, String> {
    if let Some(a) = configured {
        return Ok(a);
    }
    if let Some(name) = interface {
        return interface_addr(name).map_err(|e| {
            format!("cannot find the IPv4 address of interface {name:?} ({e}); pass --server-addr")
        });
    }
    if let IpAddr::V4(v4) = listen {
        if !v4.is_unspecified() {
            return Ok(v4);
        }
    }
    // TEST-NET-1 (RFC 5737): never routed for real, only used to pick the default source.
    source_for(SocketAddr::from(([192, 0, 2, 1], 9))).map_err(|e| {
        format!(
            "cannot work out this server's address ({e}); pass --server-addr or --dhcp-interface"
        )
    })
}

fn interface_addr(interface: &str) -> std::io::Result<Ipv4Addr> {
    dataplane::sys::interface_ipv4(interface)
}

fn source_for(destination: SocketAddr) -> std::io::Result<Ipv4Addr> {
    let socket = UdpSocket::bind(SocketAddr::from(([0, 0, 0, 0], 0)))?;
    socket.connect(destination)?;
    match socket.local_addr()?.ip() {
        IpAddr::V4(v4) if !v4.is_unspecified() => Ok(v4),
        other => Err(std::io::Error::other(format!("got {other}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_and_specific_listen_addresses_win() {
        let lo = Ipv4Addr::LOCALHOST;
        assert_eq!(
            server_addr(Some(lo), Some("nope0"), IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            Ok(lo)
        );
        let listen = Ipv4Addr::new(127, 0, 0, 7);
        assert_eq!(server_addr(None, None, IpAddr::V4(listen)), Ok(listen));
    }

    #[test]
    fn loopback_interface_has_its_address() {
        assert_eq!(
            server_addr(None, Some("lo"), IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            Ok(Ipv4Addr::LOCALHOST)
        );
        assert!(server_addr(None, Some("no-such-if0"), IpAddr::V4(Ipv4Addr::UNSPECIFIED)).is_err());
    }
}
