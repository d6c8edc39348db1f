//! The multicast socket: joined on the interface that reaches the server (or the one named),
//! a large receive buffer, and batches of datagrams.
//!
//! The receiver is bound by packets per second, not bytes: UDP_GRO lets the kernel hand over
//! up to 64 KiB of same-size datagrams at once (one "super-datagram", split again here by the
//! segment size in its control message), and recvmmsg takes many of those per system call.

use std::io::{self, IoSliceMut};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::Duration;

use nix::ifaddrs::getifaddrs;
use nix::net::if_::if_nametoindex;
use nix::sys::socket::{
    recvmmsg, setsockopt, sockopt, ControlMessageOwned, MsgFlags, MultiHeaders, SockaddrStorage,
};
use socket2::{Domain, InterfaceIndexOrAddress, Protocol, SockAddr, Socket, Type};

/// Asked-for receive buffer: about 250 ms at 1 Gbit/s, so a stall of the receiving thread
/// (a decode, a slow disk write) does not drop datagrams.
const RECEIVE_BUFFER: usize = 32 << 20;
/// Messages per recvmmsg.
const BATCH: usize = 32;
/// Room for one message: a GRO super-datagram is at most 64 KiB.
const MESSAGE: usize = 64 << 10;

/// A socket that has joined the session's group.
pub(crate) struct Group {
    socket: Socket,
}

impl Group {
    /// Joins `group` on `interface`, or on the interface whose address reaches `server`.
    /// Waits at most `poll` in each [`Group::receive`].
    pub(crate) fn join(
        group: SocketAddr,
        interface: Option<&str>,
        server: SocketAddr,
        poll: Duration,
    ) -> Result<Group, String> {
        let ifindex = match interface {
            Some(name) => if_nametoindex(name).map_err(|e| format!("no interface {name}: {e}"))?,
            None => interface_towards(server)?,
        };
        let failed = |what: &str, e: io::Error| format!("cannot {what} for group {group}: {e}");
        let socket = Socket::new(Domain::for_address(group), Type::DGRAM, Some(Protocol::UDP))
            .map_err(|e| failed("open a socket", e))?;
        // Several receivers on one host (or a restarted one) share the port.
        socket
            .set_reuse_address(true)
            .map_err(|e| failed("reuse the port", e))?;
        // Bound to the group itself, the socket gets that group's datagrams only, not every
        // group that another socket of this host joined on the same port.
        let bind: SocketAddr = match group.ip() {
            IpAddr::V4(ip) => SocketAddr::new(ip.into(), group.port()),
            IpAddr::V6(ip) => std::net::SocketAddrV6::new(ip, group.port(), 0, ifindex).into(),
        };
        socket
            .bind(&SockAddr::from(bind))
            .map_err(|e| failed("bind", e))?;
        match group.ip() {
            IpAddr::V4(ip) => {
                socket.join_multicast_v4_n(&ip, &InterfaceIndexOrAddress::Index(ifindex))
            }
            IpAddr::V6(ip) => socket.join_multicast_v6(&ip, ifindex),
        }
        .map_err(|e| failed("join", e))?;
        // Beyond rmem_max only with CAP_NET_ADMIN; without it, as much as allowed.
        if setsockopt(&socket, sockopt::RcvBufForce, &RECEIVE_BUFFER).is_err() {
            let _ = socket.set_recv_buffer_size(RECEIVE_BUFFER);
        }
        // Kernels without UDP GRO hand over datagrams one by one: slower, still correct.
        let _ = setsockopt(&socket, sockopt::UdpGroSegment, &true);
        socket
            .set_read_timeout(Some(poll))
            .map_err(|e| failed("set a timeout", e))?;
        Ok(Group { socket })
    }

    /// Waits for datagrams (at most the poll time) and takes what has arrived.
    pub(crate) fn receive(&self, batch: &mut Batch) -> io::Result<()> {
        batch.messages.clear();
        let mut slices: Vec<[IoSliceMut<'_>; 1]> = batch
            .buffer
            .chunks_mut(MESSAGE)
            .map(|b| [IoSliceMut::new(b)])
            .collect();
        let received = match recvmmsg(
            self.socket.as_raw_fd(),
            &mut batch.headers,
            slices.iter_mut(),
            MsgFlags::MSG_WAITFORONE,
            None,
        ) {
            Ok(received) => received,
            Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        for message in received {
            if message.flags.contains(MsgFlags::MSG_TRUNC) {
                continue;
            }
            let segment = message.cmsgs().ok().and_then(|mut cmsgs| {
                cmsgs.find_map(|c| match c {
                    ControlMessageOwned::UdpGroSegments(size) => usize::try_from(size).ok(),
                    _ => None,
                })
            });
            let segment = segment.filter(|&s| s > 0).unwrap_or(message.bytes.max(1));
            batch.messages.push((message.bytes, segment));
        }
        Ok(())
    }
}

/// Buffers for one recvmmsg.
pub(crate) struct Batch {
    buffer: Vec<u8>,
    headers: MultiHeaders<SockaddrStorage>,
    /// Per message received: its length and segment size.
    messages: Vec<(usize, usize)>,
}

impl Batch {
    pub(crate) fn new() -> Batch {
        Batch {
            buffer: vec![0; BATCH * MESSAGE],
            headers: MultiHeaders::preallocate(BATCH, Some(nix::cmsg_space!(i32))),
            messages: Vec::with_capacity(BATCH),
        }
    }

    /// The datagrams received, super-datagrams split into their segments.
    pub(crate) fn datagrams(&self) -> impl Iterator<Item = &[u8]> {
        self.messages
            .iter()
            .enumerate()
            .flat_map(|(i, &(len, segment))| self.buffer[i * MESSAGE..][..len].chunks(segment))
    }
}

/// The index of the interface holding the address this host uses to reach `server`.
fn interface_towards(server: SocketAddr) -> Result<u32, String> {
    let local: SocketAddr = if server.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    // A connected UDP socket sends nothing: it only asks the routing table for a source.
    let probe = UdpSocket::bind(local)
        .and_then(|s| s.connect(server).and_then(|()| s.local_addr()))
        .map_err(|e| format!("no route to server {server}: {e}"))?;
    let address = probe.ip();
    let name = getifaddrs()
        .map_err(|e| format!("cannot list interfaces: {e}"))?
        .find(|ifa| {
            ifa.address.as_ref().is_some_and(|a| {
                a.as_sockaddr_in().map(|s| IpAddr::from(s.ip())) == Some(address)
                    || a.as_sockaddr_in6().map(|s| IpAddr::from(s.ip())) == Some(address)
            })
        })
        .map(|ifa| ifa.interface_name)
        .ok_or_else(|| format!("no interface holds {address}, the address towards {server}"))?;
    if_nametoindex(name.as_str()).map_err(|e| format!("no interface {name}: {e}"))
}
