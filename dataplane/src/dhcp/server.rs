//! proxyDHCP I/O: one socket per port, shared by every core. The kernel hands a broadcast to
//! every socket bound to the port, so one socket per core would answer each broadcasting
//! client once per core; a shared socket gets each datagram once, and whichever core is free
//! takes it. Each datagram arrives with its interface and local address (IP_PKTINFO) and is
//! answered out of that interface, from that address, naming that address as the server: no
//! route needed, right NIC on a multi-homed host. A storm is answered in bursts: one
//! readiness wake-up, then what is queued is read and answered without waiting.

use std::io;
use std::net::{SocketAddr, SocketAddrV4, UdpSocket as StdUdpSocket};
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::Instant;

use monoio::net::udp::UdpSocket;

use super::interfaces::Interfaces;
use super::reply::{self, Decision, Policy, Port};
use super::request::{self, Seen};
use crate::events::{BootEvent, Detail, DhcpSeen, Outcome, Protocol};
use crate::inbox::Inbox;
use crate::runtime::Core;
use crate::stats::Stats;
use crate::sys::pktinfo::{self, Arrival, Received};

/// Larger than any DHCP message an Ethernet client sends (RFC 2131 allows up to the MTU).
const MAX_DATAGRAM: usize = 1500;
/// The shared socket's receive queue: a rack powering on at once must not overflow it.
const RECV_QUEUE: usize = 8 << 20;

/// What one core's listener on one port needs.
pub(crate) struct Listener {
    pub(crate) port: Port,
    pub(crate) policy: Rc<Policy>,
    pub(crate) interfaces: Rc<Interfaces>,
}

/// Runs one port's listener on this core until the data plane drains.
pub(crate) async fn serve(
    core: Rc<Core>,
    socket: StdUdpSocket,
    listener: Listener,
) -> io::Result<()> {
    let socket = UdpSocket::from_std(socket)?;
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut inbox = Inbox::default();
    while let Some(received) = inbox
        .next(&socket, &core.drain, &mut buf, pktinfo::recv_nowait)
        .await
    {
        answer(&core, &socket, &listener, &buf[..received.len], received).await;
    }
    Ok(())
}

/// Decodes, decides and answers one datagram.
async fn answer(
    core: &Core,
    socket: &UdpSocket,
    listener: &Listener,
    datagram: &[u8],
    received: Received,
) {
    let started = Instant::now();
    let from = received.from;
    let Some(arrival) = received.arrival.filter(|a| !a.local.is_unspecified()) else {
        // No address on the arrival interface: nothing we could name as the server.
        tracing::debug!(%from, "dhcp: request on an interface without an IPv4 address");
        Stats::bump(&core.stats.dhcp_ignored);
        return;
    };
    if !listener.interfaces.allows(arrival.ifindex) {
        Stats::bump(&core.stats.dhcp_ignored);
        return;
    }
    let request = match request::parse(datagram) {
        Ok(Seen::Pxe(r)) if !received.truncated => r,
        Ok(Seen::Ignored(_)) if !received.truncated => {
            Stats::bump(&core.stats.dhcp_ignored);
            return;
        }
        Ok(_) => {
            tracing::debug!(%from, "dhcp: oversized datagram dropped");
            Stats::bump(&core.stats.dhcp_malformed);
            return;
        }
        Err(why) => {
            tracing::debug!(%from, ?why, "dhcp: malformed datagram dropped");
            Stats::bump(&core.stats.dhcp_malformed);
            return;
        }
    };
    let policy = &listener.policy;
    let port = listener.port;
    let server = policy.server_for(arrival.local);
    let (outcome, offered) = match reply::decide(&request, port, policy, server) {
        Decision::Answer(answer) => {
            let out = reply::encode(&request, &answer, server);
            let to = reply::destination(&request, port, from);
            match send(socket, &out, to, &request, arrival).await {
                Ok(()) => {
                    Stats::bump(&core.stats.dhcp_answered);
                    (Outcome::Complete, answer.bootfile.describe())
                }
                Err(e) => {
                    tracing::warn!(%to, error = %e, "dhcp: reply not sent");
                    (Outcome::Failed("send"), answer.bootfile.describe())
                }
            }
        }
        Decision::Silent(_) => {
            Stats::bump(&core.stats.dhcp_ignored);
            return;
        }
        Decision::NoBootloader(why) => {
            Stats::bump(&core.stats.dhcp_ignored);
            (Outcome::Refused(why), String::new())
        }
    };
    core.events.emit(BootEvent {
        protocol: Protocol::Dhcp,
        client: SocketAddr::V4(from),
        object: offered,
        bytes: 0,
        duration: started.elapsed(),
        outcome,
        detail: Detail::Dhcp(DhcpSeen::from_request(&request, port)),
    });
}

/// Sends from the arrival address: a reply to a client on the link leaves by the arrival
/// interface, a reply to a relay follows the routing table (the relay is routed). Waits for
/// room in the send buffer a bounded number of times.
async fn send(
    socket: &UdpSocket,
    datagram: &[u8],
    to: SocketAddrV4,
    request: &request::PxeRequest,
    arrival: Arrival,
) -> io::Result<()> {
    let relayed = !request.giaddr.is_unspecified();
    let ifindex = if relayed { 0 } else { arrival.ifindex };
    for _ in 0..3 {
        if pktinfo::send_nowait(socket.as_raw_fd(), datagram, to, ifindex, arrival.local)? {
            return Ok(());
        }
        socket.writable(false).await?;
    }
    Err(io::Error::new(
        io::ErrorKind::WouldBlock,
        "send buffer stayed full",
    ))
}

/// Binds a proxyDHCP socket: broadcast allowed, arrival interface reported. No SO_REUSEPORT:
/// the one socket is shared by the cores ([`StdUdpSocket::try_clone`]).
pub(crate) fn bind(addr: SocketAddr) -> io::Result<StdUdpSocket> {
    let bound = (|| {
        let socket = socket2::Socket::new(
            socket2::Domain::IPV4,
            socket2::Type::DGRAM,
            Some(socket2::Protocol::UDP),
        )?;
        // Lets a DHCP server bound to one address of this host (libvirt's dnsmasq on its
        // bridge) coexist on the port. It also lets a second proxy on the wildcard bind, which
        // would then answer broadcasts too: one proxyDHCP per host.
        socket.set_reuse_address(true)?;
        socket.set_nonblocking(true)?;
        socket.set_broadcast(true)?;
        pktinfo::enable(socket.as_raw_fd())?;
        pktinfo::set_large_recv_buffer(socket.as_raw_fd(), RECV_QUEUE);
        socket.bind(&addr.into())?;
        Ok::<_, io::Error>(StdUdpSocket::from(socket))
    })();
    bound.map_err(|e| io::Error::new(e.kind(), format!("bind UDP {addr}: {e}")))
}
