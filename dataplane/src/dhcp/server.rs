//! proxyDHCP I/O: one task per port per core on SO_REUSEPORT sockets. Each datagram is
//! decoded, decided and answered at once; there is no per-client state to keep.

use std::io;
use std::net::{SocketAddr, UdpSocket as StdUdpSocket};
use std::rc::Rc;
use std::time::Instant;

use monoio::net::udp::UdpSocket;

use super::reply::{self, Decision, Policy, Port};
use super::request::{self, Seen};
use crate::events::{BootEvent, Detail, DhcpSeen, Outcome, Protocol};
use crate::runtime::Core;
use crate::stats::Stats;

/// Larger than any DHCP message an Ethernet client sends (RFC 2131 allows up to the MTU).
const MAX_DATAGRAM: usize = 1500;

/// Runs one port's listener until the data plane drains.
pub(crate) async fn serve(
    core: Rc<Core>,
    socket: StdUdpSocket,
    port: Port,
    policy: Rc<Policy>,
) -> io::Result<()> {
    let socket = UdpSocket::from_std(socket)?;
    let mut buf = vec![0u8; MAX_DATAGRAM];
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
        let started = Instant::now();
        let Some(datagram) = buf.get(..len) else {
            continue;
        };
        let request = match request::parse(datagram) {
            Ok(Seen::Pxe(r)) => r,
            Ok(Seen::Ignored(_)) => {
                Stats::bump(&core.stats.dhcp_ignored);
                continue;
            }
            Err(why) => {
                tracing::debug!(%from, ?why, "dhcp: malformed datagram dropped");
                Stats::bump(&core.stats.dhcp_malformed);
                continue;
            }
        };
        let (outcome, offered) = match reply::decide(&request, port, &policy) {
            Decision::Answer(answer) => {
                let out = reply::encode(&request, &answer, &policy);
                let to = reply::destination(&request, port, from);
                match socket.send_to(out, to).await.0 {
                    Ok(_) => {
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
                continue;
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
