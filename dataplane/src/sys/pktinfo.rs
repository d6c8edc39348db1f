//! Datagrams received with the local address they were sent to (`IP_PKTINFO`,
//! `IPV6_RECVPKTINFO`), so an answer on a multi-homed host can leave from that address rather
//! than from whichever one the routing table prefers.
#![allow(unsafe_code)]

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::RawFd;

/// One datagram taken off a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Received {
    /// Bytes written to the buffer.
    pub(crate) len: usize,
    /// The sender.
    pub(crate) from: SocketAddr,
    /// Our address the datagram was for (for IPv4 the kernel's choice of local address to
    /// answer from, which for a broadcast is the interface's own); `None` when the kernel did
    /// not say or it cannot be a source (IPv6 multicast).
    pub(crate) local: Option<SocketAddr>,
}

/// Asks the kernel to report each datagram's destination on `fd` (an IPv4 or IPv6 socket).
///
/// # Errors
/// `setsockopt` refused.
pub(crate) fn report_destination(fd: RawFd, v6: bool) -> io::Result<()> {
    let (level, name) = match v6 {
        false => (libc::IPPROTO_IP, libc::IP_PKTINFO),
        true => (libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO),
    };
    let on: libc::c_int = 1;
    // SAFETY: the option value is one c_int that lives across the call, and its size is
    // passed; a bad descriptor or option is an error return.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            std::ptr::from_ref(&on).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Receives one queued datagram from `fd` into `buf` without waiting (`Ok(None)`: the queue
/// is empty), with its destination when [`report_destination`] was set. A datagram longer
/// than `buf` is cut to it.
///
/// # Errors
/// `recvmsg` failed, or the sender's address family is neither IPv4 nor IPv6.
pub(crate) fn recv_nowait(fd: RawFd, buf: &mut [u8]) -> io::Result<Option<Received>> {
    // SAFETY: sockaddr_storage is a plain C struct; all-zero is a valid value.
    let mut from: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    // u64 elements align the control buffer for cmsghdr; 128 bytes hold one pktinfo of
    // either family (CMSG_SPACE of 12 or 20 bytes) with room to spare.
    let mut control = [0u64; 16];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: msghdr is a plain C struct; all-zero is a valid (empty) value.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = std::ptr::from_mut(&mut from).cast();
    msg.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control);
    // SAFETY: every pointer in `msg` refers to a live local (`from`, `iov`, `control`) or to
    // `buf`, each writable for the length given, all outliving the call; the kernel writes
    // within those lengths and updates msg_namelen/msg_controllen/msg_flags. MSG_DONTWAIT
    // keeps the call from blocking the core.
    let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_DONTWAIT) };
    if n < 0 {
        let e = io::Error::last_os_error();
        return match e.kind() {
            io::ErrorKind::WouldBlock => Ok(None),
            _ => Err(e),
        };
    }
    let from = sender(&from)?;
    let mut local = None;
    // SAFETY: `msg` is the header recvmsg just filled: msg_control points at `control` and
    // msg_controllen is what the kernel wrote there, which is what CMSG_FIRSTHDR/NXTHDR walk.
    let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(&msg) };
    while !cmsg.is_null() {
        // SAFETY: a non-null cmsg from CMSG_FIRSTHDR/NXTHDR points at a whole cmsghdr inside
        // `control`.
        let header = unsafe { &*cmsg };
        // SAFETY: CMSG_DATA of a valid header points at its payload inside `control`; the
        // level/type checked here say the payload is an in_pktinfo or in6_pktinfo, which the
        // kernel wrote whole (cmsg_len covers it), read unaligned to be safe.
        unsafe {
            let data = libc::CMSG_DATA(cmsg);
            match (header.cmsg_level, header.cmsg_type) {
                (libc::IPPROTO_IP, libc::IP_PKTINFO) => {
                    let info = data.cast::<libc::in_pktinfo>().read_unaligned();
                    let ip = Ipv4Addr::from(u32::from_be(info.ipi_spec_dst.s_addr));
                    local = Some(SocketAddr::V4(SocketAddrV4::new(ip, 0)));
                }
                (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO) => {
                    let info = data.cast::<libc::in6_pktinfo>().read_unaligned();
                    local = local_v6(Ipv6Addr::from(info.ipi6_addr.s6_addr), info.ipi6_ifindex);
                }
                _ => {}
            }
        }
        // SAFETY: as for CMSG_FIRSTHDR; NXTHDR returns null past the last header.
        cmsg = unsafe { libc::CMSG_NXTHDR(&msg, cmsg) };
    }
    Ok(Some(Received {
        len: (n as usize).min(buf.len()),
        from,
        local,
    }))
}

/// A usable source for answers to a datagram sent to `ip` on interface `ifindex`.
fn local_v6(ip: Ipv6Addr, ifindex: u32) -> Option<SocketAddr> {
    if ip.is_multicast() {
        return None;
    }
    // A link-local address is only an address together with its interface.
    let scope = if ip.is_unicast_link_local() {
        ifindex
    } else {
        0
    };
    Some(SocketAddr::V6(SocketAddrV6::new(ip, 0, 0, scope)))
}

fn sender(from: &libc::sockaddr_storage) -> io::Result<SocketAddr> {
    match i32::from(from.ss_family) {
        libc::AF_INET => {
            // SAFETY: for AF_INET the storage holds a sockaddr_in, which it is large and
            // aligned enough for.
            let v4 = unsafe { &*std::ptr::from_ref(from).cast::<libc::sockaddr_in>() };
            let ip = Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr));
            Ok(SocketAddr::V4(SocketAddrV4::new(
                ip,
                u16::from_be(v4.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: for AF_INET6 the storage holds a sockaddr_in6, as for AF_INET.
            let v6 = unsafe { &*std::ptr::from_ref(from).cast::<libc::sockaddr_in6>() };
            Ok(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(v6.sin6_addr.s6_addr),
                u16::from_be(v6.sin6_port),
                u32::from_be(v6.sin6_flowinfo),
                v6.sin6_scope_id,
            )))
        }
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "sender is neither IPv4 nor IPv6",
        )),
    }
}
