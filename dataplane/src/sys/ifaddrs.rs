//! Which interface holds a local address (`getifaddrs(3)`).

use std::ffi::CStr;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The name of the interface holding `local`, if any does.
pub(crate) fn interface_of(local: IpAddr) -> Option<String> {
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs writes a pointer to a list it allocated into `list`, a live local;
    // on failure it returns -1 and the list is not to be freed.
    if unsafe { libc::getifaddrs(&mut list) } != 0 {
        return None;
    }
    let mut found = None;
    let mut at = list;
    while !at.is_null() && found.is_none() {
        // SAFETY: `at` is a node of the list getifaddrs returned, valid until freeifaddrs.
        let entry = unsafe { &*at };
        // SAFETY: a non-null ifa_addr points to a sockaddr whose family says its real type:
        // sockaddr_in for AF_INET and sockaddr_in6 for AF_INET6, as the casts below read.
        let addr =
            unsafe { entry.ifa_addr.as_ref() }.and_then(|sa| match i32::from(sa.sa_family) {
                libc::AF_INET => {
                    let v4 = unsafe { &*(entry.ifa_addr as *const libc::sockaddr_in) };
                    Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr))))
                }
                libc::AF_INET6 => {
                    let v6 = unsafe { &*(entry.ifa_addr as *const libc::sockaddr_in6) };
                    Some(IpAddr::V6(Ipv6Addr::from(v6.sin6_addr.s6_addr)))
                }
                _ => None,
            });
        if addr == Some(local) && !entry.ifa_name.is_null() {
            // SAFETY: ifa_name is a NUL-terminated string owned by the list, valid until freed.
            let name = unsafe { CStr::from_ptr(entry.ifa_name) };
            found = Some(name.to_string_lossy().into_owned());
        }
        at = entry.ifa_next;
    }
    // SAFETY: `list` came from a successful getifaddrs and is freed once; no reference into
    // it outlives this call (the name was copied out).
    unsafe { libc::freeifaddrs(list) };
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_held_by_lo_and_a_documentation_address_by_nothing() {
        assert_eq!(
            interface_of(IpAddr::V4(Ipv4Addr::LOCALHOST)).as_deref(),
            Some("lo")
        );
        assert_eq!(
            interface_of(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 250))),
            None
        );
    }
}
