//! The address named to clients (next-server, boot URLs) when it is fixed: by
//! `--server-addr` (NAT, a service address), or by a specific HTTP listen address. Otherwise
//! there is none to work out: every answer names the address its request arrived at
//! (proxyDHCP through IP_PKTINFO, `/boot.ipxe` through its Host or local address), which is
//! right on every interface of a multi-homed server and needs no route.

use std::net::{IpAddr, Ipv4Addr};

/// `configured`, else the HTTP listen address when it is a specific IPv4 address.
pub fn fixed_server_addr(configured: Option<Ipv4Addr>, listen: IpAddr) -> Option<Ipv4Addr> {
    configured.or(match listen {
        IpAddr::V4(v4) if !v4.is_unspecified() => Some(v4),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_then_specific_listen_address_else_none() {
        let lo = Ipv4Addr::LOCALHOST;
        let any = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
        let listen = Ipv4Addr::new(127, 0, 0, 7);
        assert_eq!(fixed_server_addr(Some(lo), IpAddr::V4(listen)), Some(lo));
        assert_eq!(fixed_server_addr(None, IpAddr::V4(listen)), Some(listen));
        assert_eq!(fixed_server_addr(None, any), None);
    }
}
