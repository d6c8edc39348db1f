//! proxyDHCP I/O: one task per port per core on SO_REUSEPORT sockets. Each datagram is
//! decoded, decided and answered at once; there is no per-client state to keep. A storm is
//! answered in bursts: after the ring delivers one datagram, what else is queued is read and
//! answered without waiting, and replies go out with a plain non-blocking send, so a burst
//! costs one wake-up instead of two ring round trips per datagram.

use std::io;
use std::net::{SocketAddr, UdpSocket as StdUdpSocket};
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::Instant;

use monoio::net::udp::UdpSocket;

use super::reply::{self, Decision, Policy, Port};
use super::request::{self, Seen};
use crate::events::{BootEvent, Detail, DhcpSeen, Outcome, Protocol};
use crate::runtime::Core;
use crate::stats::Stats;
use crate::sys;

/// Larger than any DHCP message an Ethernet client sends (RFC 2131 allows up to the MTU).
const MAX_DATAGRAM: usize = 1500;
/// Queued datagrams answered per wake-up before the core turns to its other tasks.
const DRAIN_BATCH: usize = 64;

/// Runs one port's listener until the data plane drains.
pub(crate) async fn serve(
    core: Rc<Core>,
    socket: StdUdpSocket,
    port: Port,
    policy: Rc<Policy>,
) -> io::Result<()> {
    let socket = UdpSocket::from_std(socket)?;
    let mut buf = vec![0u8; MAX_DATAGRAM];
    // Its own buffer: the ring's one comes back with its length cut to the last datagram.
    let mut queued = vec![0u8; MAX_DATAGRAM];
    loop {
        let received = monoio::select! {
            r = socket.recv_from(buf) => r,
            _ = core.drain.started() => return Ok(()),
        };
        let (result, returned) = received;
        buf = returned;
        let Ok((len, from)) = result else {
            continue;
        };
        if let Some(datagram) = buf.get(..len) {
            answer(&core, &socket, port, &policy, datagram, from).await;
        }
        for _ in 0..DRAIN_BATCH {
            match sys::recv_from_nowait(socket.as_raw_fd(), &mut queued) {
                Ok(Some((len, from))) => {
                    answer(&core, &socket, port, &policy, &queued[..len], from.into()).await;
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::debug!(error = %e, "dhcp: receive failed");
                    break;
                }
            }
        }
    }
}

/// Decodes, decides and answers one datagram from `from`.
async fn answer(
    core: &Core,
    socket: &UdpSocket,
    port: Port,
    policy: &Policy,
    datagram: &[u8],
    from: SocketAddr,
) {
    let started = Instant::now();
    let request = match request::parse(datagram) {
        Ok(Seen::Pxe(r)) => r,
        Ok(Seen::Ignored(_)) => {
            Stats::bump(&core.stats.dhcp_ignored);
            return;
        }
        Err(why) => {
            tracing::debug!(%from, ?why, "dhcp: malformed datagram dropped");
            Stats::bump(&core.stats.dhcp_malformed);
            return;
        }
    };
    let (outcome, offered) = match reply::decide(&request, port, policy) {
        Decision::Answer(answer) => {
            let out = reply::encode(&request, &answer, policy);
            let to = reply::destination(&request, port, from);
            match send(socket, out, to).await {
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
        client: from,
        object: offered,
        bytes: 0,
        duration: started.elapsed(),
        outcome,
        detail: Detail::Dhcp(DhcpSeen::from_request(&request, port)),
    });
}

/// Sends at once when the socket buffer has room, else through the ring (which waits).
async fn send(socket: &UdpSocket, datagram: Vec<u8>, to: SocketAddr) -> io::Result<()> {
    if let SocketAddr::V4(v4) = to {
        if sys::send_to_nowait(socket.as_raw_fd(), &datagram, v4)? {
            return Ok(());
        }
    }
    socket.send_to(datagram, to).await.0.map(drop)
}

/// Binds a proxyDHCP socket: broadcast allowed, optionally tied to one interface.
pub(crate) fn bind(addr: SocketAddr, interface: Option<&str>) -> io::Result<StdUdpSocket> {
    let socket = crate::runtime::udp_socket(addr, |s| {
        s.set_broadcast(true)?;
        if let Some(name) = interface {
            s.bind_device(Some(name.as_bytes())).map_err(|e| {
                io::Error::new(e.kind(), format!("bind to interface {name:?}: {e}"))
            })?;
        }
        Ok(())
    })?;
    Ok(socket)
}
