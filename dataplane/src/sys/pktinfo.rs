//! Datagrams that know their interface (IP_PKTINFO, ip(7)): a request is received together
//! with the interface it came in on and the local address the kernel would answer from, and
//! the reply leaves by that interface from that address. A broadcast to 255.255.255.255 then
//! needs no route at all (an isolated provisioning network has no default route) and never
//! leaves by the wrong NIC of a multi-homed server. TFTP reads either family the same way
//! ([`recv_any_nowait`], IPV6_RECVPKTINFO for IPv6) so a transfer answers from the address
//! its request was sent to.
#![allow(unsafe_code)]

use std::io;
use std::mem::size_of;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::RawFd;

/// Where a datagram arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arrival {
    /// The interface it came in on (`ipi_ifindex`).
    pub ifindex: u32,
    /// This host's address on that interface for a broadcast, else the address the datagram
    /// was sent to (`ipi_spec_dst`): what a reply is sent from.
    pub local: Ipv4Addr,
}

/// One datagram taken off the queue.
#[derive(Debug, Clone, Copy)]
pub struct Received {
    /// Bytes written into the buffer.
    pub len: usize,
    /// The datagram was longer than the buffer and was cut.
    pub truncated: bool,
    /// The sender.
    pub from: SocketAddrV4,
    /// Where it arrived; `None` if the kernel attached no IP_PKTINFO (the option is off).
    pub arrival: Option<Arrival>,
}

/// One datagram of either family taken off the queue.
#[derive(Debug, Clone, Copy)]
pub struct Datagram {
    /// Bytes written into the buffer.
    pub len: usize,
    /// The datagram was longer than the buffer and was cut.
    pub truncated: bool,
    /// The sender.
    pub from: SocketAddr,
    /// The interface it came in on and the address it was for (IPv4: `ipi_spec_dst`, what a
    /// reply is sent from); `None` without IP_PKTINFO / IPV6_RECVPKTINFO.
    pub arrival: Option<(u32, IpAddr)>,
}

impl Datagram {
    /// The address (port 0) a reply should leave from, if the kernel said and it can be a
    /// source: not an IPv6 multicast, and a link-local one with its interface.
    pub fn reply_source(&self) -> Option<SocketAddr> {
        match self.arrival? {
            (_, IpAddr::V4(ip)) => Some(SocketAddr::V4(SocketAddrV4::new(ip, 0))),
            (_, IpAddr::V6(ip)) if ip.is_multicast() => None,
            (ifindex, IpAddr::V6(ip)) => {
                let scope = if ip.is_unicast_link_local() {
                    ifindex
                } else {
                    0
                };
                Some(SocketAddr::V6(SocketAddrV6::new(ip, 0, 0, scope)))
            }
        }
    }
}

/// Room for one `in_pktinfo` or `in6_pktinfo` control message, aligned for `cmsghdr`.
#[repr(C, align(8))]
struct ControlBuf([u8; 64]);

/// Turns on IP_PKTINFO for the IPv4 UDP socket `fd`.
///
/// # Errors
/// The `setsockopt` error.
pub fn enable(fd: RawFd) -> io::Result<()> {
    set_int(fd, libc::IPPROTO_IP, libc::IP_PKTINFO, 1)
}

/// Turns on IPV6_RECVPKTINFO for the IPv6 UDP socket `fd`.
///
/// # Errors
/// The `setsockopt` error.
pub fn enable_v6(fd: RawFd) -> io::Result<()> {
    set_int(fd, libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO, 1)
}

/// Sets an integer socket option.
fn set_int(fd: RawFd, level: libc::c_int, name: libc::c_int, value: libc::c_int) -> io::Result<()> {
    // SAFETY: `value` is a live c_int and the length passed is its size; the kernel only reads
    // it during the call. `fd` is borrowed from a socket the caller keeps open.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            std::ptr::from_ref(&value).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Receives one datagram already queued on the IPv4 socket `fd` without waiting: `Ok(None)`
/// when the queue is empty.
///
/// # Errors
/// The `recvmsg` error, or `InvalidData` for a sender that is not IPv4.
pub fn recv_nowait(fd: RawFd, buf: &mut [u8]) -> io::Result<Option<Received>> {
    let Some(d) = recv_any_nowait(fd, buf)? else {
        return Ok(None);
    };
    let SocketAddr::V4(from) = d.from else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "not an IPv4 sender",
        ));
    };
    let arrival = match d.arrival {
        Some((ifindex, IpAddr::V4(local))) => Some(Arrival { ifindex, local }),
        _ => None,
    };
    Ok(Some(Received {
        len: d.len,
        truncated: d.truncated,
        from,
        arrival,
    }))
}

/// Receives one datagram of either family already queued on `fd` without waiting: `Ok(None)`
/// when the queue is empty.
///
/// # Errors
/// The `recvmsg` error, or `InvalidData` for a sender neither IPv4 nor IPv6.
pub fn recv_any_nowait(fd: RawFd, buf: &mut [u8]) -> io::Result<Option<Datagram>> {
    // SAFETY: sockaddr_storage and msghdr are plain C structs; all-zero is a valid value of
    // each.
    let mut from: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut control = ControlBuf([0; 64]);
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: as above.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = std::ptr::from_mut(&mut from).cast();
    msg.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.0.as_mut_ptr().cast();
    msg.msg_controllen = control.0.len();
    // SAFETY: every pointer in `msg` refers to a live, writable local (`from`, `iov` over
    // `buf`, `control`) of the length given beside it; the kernel writes within those lengths
    // and keeps no pointer after the call. `fd` is borrowed from a socket the caller keeps
    // open. MSG_DONTWAIT: never blocks the core.
    let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_DONTWAIT) };
    if n < 0 {
        let e = io::Error::last_os_error();
        return match e.kind() {
            io::ErrorKind::WouldBlock => Ok(None),
            _ => Err(e),
        };
    }
    let from = sender(&from)?;
    let mut arrival = None;
    // SAFETY: CMSG_LEN only computes a size.
    let pktinfo_len = unsafe { libc::CMSG_LEN(size_of::<libc::in_pktinfo>() as u32) } as usize;
    // SAFETY: as above.
    let pktinfo6_len = unsafe { libc::CMSG_LEN(size_of::<libc::in6_pktinfo>() as u32) } as usize;
    // SAFETY: `msg` was filled by a successful recvmsg: msg_control/msg_controllen describe
    // the control messages the kernel wrote into `control`, which is still alive; the CMSG
    // macros only walk within that length.
    let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(&msg) };
    while !cmsg.is_null() {
        // SAFETY: `cmsg` is non-null and was returned by CMSG_FIRSTHDR/CMSG_NXTHDR for `msg`,
        // so it points at a complete cmsghdr inside `control`.
        let header = unsafe { &*cmsg };
        if header.cmsg_level == libc::IPPROTO_IP
            && header.cmsg_type == libc::IP_PKTINFO
            && header.cmsg_len >= pktinfo_len
        {
            // SAFETY: an IP_PKTINFO message of at least CMSG_LEN(in_pktinfo) bytes carries an
            // in_pktinfo at CMSG_DATA; read_unaligned because CMSG_DATA need not be aligned
            // for the struct.
            let info: libc::in_pktinfo =
                unsafe { std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast()) };
            let local = Ipv4Addr::from(u32::from_be(info.ipi_spec_dst.s_addr));
            arrival = Some((info.ipi_ifindex as u32, IpAddr::V4(local)));
        }
        if header.cmsg_level == libc::IPPROTO_IPV6
            && header.cmsg_type == libc::IPV6_PKTINFO
            && header.cmsg_len >= pktinfo6_len
        {
            // SAFETY: as above, for an IPV6_PKTINFO message carrying an in6_pktinfo.
            let info: libc::in6_pktinfo =
                unsafe { std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast()) };
            let local = Ipv6Addr::from(info.ipi6_addr.s6_addr);
            arrival = Some((info.ipi6_ifindex, IpAddr::V6(local)));
        }
        // SAFETY: as for CMSG_FIRSTHDR: walks within `msg`'s control buffer, null at its end.
        cmsg = unsafe { libc::CMSG_NXTHDR(&msg, cmsg) };
    }
    Ok(Some(Datagram {
        len: (n as usize).min(buf.len()),
        truncated: msg.msg_flags & libc::MSG_TRUNC != 0,
        from,
        arrival,
    }))
}

/// The sender's address out of what recvmsg wrote.
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
            "sender neither IPv4 nor IPv6",
        )),
    }
}

/// Sends `datagram` from `fd` to `to` without waiting, leaving by interface `ifindex` (0: the
/// routing table picks) from source address `source`. `Ok(false)` when the send buffer is
/// full.
///
/// # Errors
/// The `sendmsg` error (e.g. `EADDRNOTAVAIL` when `source` is no longer this host's).
pub fn send_nowait(
    fd: RawFd,
    datagram: &[u8],
    to: SocketAddrV4,
    ifindex: u32,
    source: Ipv4Addr,
) -> io::Result<bool> {
    let mut addr = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: to.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*to.ip()).to_be(),
        },
        sin_zero: [0; 8],
    };
    let mut iov = libc::iovec {
        iov_base: datagram.as_ptr().cast_mut().cast(),
        iov_len: datagram.len(),
    };
    let mut control = ControlBuf([0; 64]);
    // SAFETY: CMSG_SPACE only computes a size.
    let space = unsafe { libc::CMSG_SPACE(size_of::<libc::in_pktinfo>() as u32) } as usize;
    // SAFETY: msghdr is a plain C struct; all-zero is valid.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = std::ptr::from_mut(&mut addr).cast();
    msg.msg_namelen = size_of::<libc::sockaddr_in>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.0.as_mut_ptr().cast();
    msg.msg_controllen = space;
    // SAFETY: `control` holds `space` (≤ 64) bytes aligned for cmsghdr, so CMSG_FIRSTHDR of
    // `msg` is a writable header inside it with room for an in_pktinfo at CMSG_DATA.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::IPPROTO_IP;
        (*cmsg).cmsg_type = libc::IP_PKTINFO;
        (*cmsg).cmsg_len = libc::CMSG_LEN(size_of::<libc::in_pktinfo>() as u32) as usize;
        let info = libc::in_pktinfo {
            ipi_ifindex: ifindex as libc::c_int,
            ipi_spec_dst: libc::in_addr {
                s_addr: u32::from(source).to_be(),
            },
            ipi_addr: libc::in_addr { s_addr: 0 },
        };
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast(), info);
    }
    // SAFETY: every pointer in `msg` refers to a live local (`addr`, `iov` over `datagram`,
    // `control`) of the length given beside it; the kernel only reads them during the call
    // (`iov_base` is cast to *mut only because iovec is shared with reads). `fd` is borrowed
    // from a socket the caller keeps open. MSG_DONTWAIT: never blocks the core.
    let n = unsafe { libc::sendmsg(fd, &msg, libc::MSG_DONTWAIT) };
    if n < 0 {
        let e = io::Error::last_os_error();
        return match e.kind() {
            io::ErrorKind::WouldBlock => Ok(false),
            _ => Err(e),
        };
    }
    Ok(true)
}

/// Asks for a receive queue of `bytes` even above `net.core.rmem_max` (SO_RCVBUFFORCE, which
/// needs CAP_NET_ADMIN), else as much as the limit allows: one socket takes a whole rack's
/// burst of DISCOVERs, and the usual limit queues only a few hundred.
pub fn set_large_recv_buffer(fd: RawFd, bytes: usize) {
    let size = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    if set_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, size).is_err() {
        let _ = set_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, size);
    }
}

/// The index of the interface named `name`, if there is one now (if_nametoindex(3)).
pub fn interface_index(name: &str) -> Option<u32> {
    let name = std::ffi::CString::new(name).ok()?;
    // SAFETY: `name` is a valid NUL-terminated string for the duration of the call.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    (index != 0).then_some(index)
}

#[cfg(test)]
mod tests {
    use std::net::UdpSocket;
    use std::os::fd::AsRawFd;

    use super::*;

    #[test]
    fn loopback_arrival_is_answered_from_the_address_asked() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        enable(server.as_raw_fd()).unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        client
            .send_to(b"hello", server.local_addr().unwrap())
            .unwrap();
        let mut buf = [0u8; 4];
        let got = (0..500)
            .find_map(|_| {
                let r = recv_nowait(server.as_raw_fd(), &mut buf).unwrap();
                if r.is_none() {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                r
            })
            .expect("datagram");
        assert_eq!((got.len, got.truncated), (4, true));
        assert_eq!(&buf, b"hell");
        let arrival = got.arrival.expect("IP_PKTINFO");
        assert_eq!(arrival.local, Ipv4Addr::LOCALHOST);
        assert_eq!(Some(arrival.ifindex), interface_index("lo"));
        let std::net::SocketAddr::V4(client_addr) = client.local_addr().unwrap() else {
            unreachable!()
        };
        assert_eq!(got.from, client_addr);
        assert!(send_nowait(
            server.as_raw_fd(),
            b"reply",
            got.from,
            arrival.ifindex,
            arrival.local
        )
        .unwrap());
        let mut reply = [0u8; 16];
        let (n, from) = client.recv_from(&mut reply).unwrap();
        assert_eq!(&reply[..n], b"reply");
        assert_eq!(from, server.local_addr().unwrap());
        assert_eq!(interface_index("no-such-if0"), None);
    }

    #[test]
    fn ipv6_arrival_names_the_address_asked() {
        let server = UdpSocket::bind("[::1]:0").unwrap();
        enable_v6(server.as_raw_fd()).unwrap();
        let client = UdpSocket::bind("[::1]:0").unwrap();
        client.send_to(b"hi", server.local_addr().unwrap()).unwrap();
        let mut buf = [0u8; 8];
        let got = (0..500)
            .find_map(|_| {
                let r = recv_any_nowait(server.as_raw_fd(), &mut buf).unwrap();
                if r.is_none() {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                r
            })
            .expect("datagram");
        assert_eq!((got.len, got.from), (2, client.local_addr().unwrap()));
        assert_eq!(got.reply_source(), Some("[::1]:0".parse().unwrap()));
        // An IPv6 socket is not an IPv4 one: the DHCP reader says so instead of guessing.
        client.send_to(b"hi", server.local_addr().unwrap()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
        let e = recv_nowait(server.as_raw_fd(), &mut buf).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    }
}
