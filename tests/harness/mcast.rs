//! Multicast lab: a sender namespace and a receiver namespace joined by a veth pair (IPv4 and
//! IPv6 addresses, no duplicate-address wait), and a receiver that joins a group inside its
//! namespace and keeps every datagram of a session, decoded with `multicast::wire::Header`.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::process::Command;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use multicast::{Header, Kind};

use crate::netns::Netns;

/// The two namespaces and their link.
pub struct Link {
    /// Where the sender runs (the server, or a data plane's threads).
    pub sender: Netns,
    /// Where the receiver runs.
    pub receiver: Netns,
    /// The sender's end of the link (in `sender`).
    pub sender_if: &'static str,
    /// The receiver's end (in `receiver`).
    pub receiver_if: &'static str,
    /// The sender's IPv4 address.
    pub sender_v4: Ipv4Addr,
    /// The receiver's IPv4 address.
    pub receiver_v4: Ipv4Addr,
}

impl Link {
    /// `mcs0` 10.233.0.1/24 fd00:233::1/64 in the sender namespace —
    /// `mcr0` 10.233.0.2/24 fd00:233::2/64 in the receiver namespace.
    pub fn new() -> Link {
        let link = Link {
            sender: Netns::new("fbmcs"),
            receiver: Netns::new("fbmcr"),
            sender_if: "mcs0",
            receiver_if: "mcr0",
            sender_v4: Ipv4Addr::new(10, 233, 0, 1),
            receiver_v4: Ipv4Addr::new(10, 233, 0, 2),
        };
        link.sender.ip(&[
            "link",
            "add",
            link.sender_if,
            "type",
            "veth",
            "peer",
            "name",
            link.receiver_if,
            "netns",
            &link.receiver.0,
        ]);
        for (ns, dev, host) in [
            (&link.sender, link.sender_if, 1),
            (&link.receiver, link.receiver_if, 2),
        ] {
            let v4 = format!("10.233.0.{host}/24");
            ns.ip(&["addr", "add", &v4, "brd", "+", "dev", dev]);
            let v6 = format!("fd00:233::{host}/64");
            ns.ip(&["-6", "addr", "add", &v6, "dev", dev, "nodad"]);
            ns.ip(&["link", "set", dev, "up"]);
        }
        // IPv6 multicast is not delivered while the link-local addresses are tentative
        // (duplicate address detection, about a second).
        let deadline = Instant::now() + Duration::from_secs(10);
        for ns in [&link.sender, &link.receiver] {
            while Instant::now() < deadline {
                let o = crate::run(
                    Command::new("ip").args(["-n", &ns.0, "-6", "addr", "show", "tentative"]),
                    10,
                );
                if o.stdout.is_empty() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        link
    }
}

impl Default for Link {
    fn default() -> Self {
        Link::new()
    }
}

/// Runs `f` on a thread of its own inside `ns`: sockets it opens, and threads and processes
/// it starts, live in that namespace.
pub fn spawn_in<T: Send + 'static>(
    ns: &Netns,
    f: impl FnOnce() -> T + Send + 'static,
) -> JoinHandle<T> {
    let path = format!("/run/netns/{}", ns.0);
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).unwrap();
        nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        f()
    })
}

/// Runs `f` inside `ns` on a scoped thread and returns its result: `f` may borrow.
pub fn inside<T: Send>(ns: &Netns, f: impl FnOnce() -> T + Send) -> T {
    let path = format!("/run/netns/{}", ns.0);
    std::thread::scope(|s| {
        s.spawn(|| {
            let file = std::fs::File::open(&path).unwrap();
            nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            f()
        })
        .join()
        .unwrap()
    })
}

/// What a receiver saw of the first session it heard.
#[derive(Debug, Default)]
pub struct Received {
    /// The session's id.
    pub session: Option<u32>,
    /// Symbols by (chunk, esi).
    pub symbols: BTreeMap<(u32, u32), Vec<u8>>,
    /// Datagrams of the session, by kind: symbols, idle, end.
    pub counts: [u64; 3],
    /// Datagrams of other sessions, or that did not decode.
    pub foreign: u64,
}

/// Joins `group` on interface `interface` inside `ns` and keeps what the first session heard
/// sends until its first `End` or `limit`. Returns once joined; the thread's result is what
/// it received.
pub fn receive(
    ns: &Netns,
    interface: &'static str,
    group: SocketAddr,
    limit: Duration,
) -> JoinHandle<Received> {
    let (joined, ready) = mpsc::channel();
    let thread = spawn_in(ns, move || {
        let bind: SocketAddr = match group {
            SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, group.port()).into(),
            SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, group.port()).into(),
        };
        let socket = UdpSocket::bind(bind).unwrap();
        let index = nix::net::if_::if_nametoindex(interface).unwrap();
        match group.ip() {
            IpAddr::V4(g) => {
                let local = local_v4(interface);
                socket.join_multicast_v4(&g, &local).unwrap();
            }
            IpAddr::V6(g) => socket.join_multicast_v6(&g, index).unwrap(),
        }
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        // Deep enough for a whole test file: a receiver thread descheduled on a busy machine
        // must not turn into loss the test did not ask for (tests run as root: forced).
        nix::sys::socket::setsockopt(&socket, nix::sys::socket::sockopt::RcvBufForce, &(32 << 20))
            .unwrap();
        joined.send(()).unwrap();
        let mut got = Received::default();
        let mut buf = vec![0u8; 65_536];
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            let Ok(n) = socket.recv(&mut buf) else {
                continue;
            };
            let decoded = Header::decode(&buf[..n]);
            if let (Ok((h, _)), None) = (&decoded, got.session) {
                got.session = Some(h.session);
            }
            match decoded {
                Ok((h, payload)) if Some(h.session) == got.session => match h.kind {
                    Kind::Symbol => {
                        got.counts[0] += 1;
                        got.symbols.insert((h.chunk, h.esi), payload.to_vec());
                    }
                    Kind::Idle => got.counts[1] += 1,
                    Kind::End => {
                        got.counts[2] += 1;
                        break;
                    }
                },
                _ => got.foreign += 1,
            }
        }
        got
    });
    ready
        .recv_timeout(Duration::from_secs(10))
        .expect("the receiver joined");
    thread
}

/// The IPv4 address of `interface` in this thread's namespace.
fn local_v4(interface: &str) -> Ipv4Addr {
    nix::ifaddrs::getifaddrs()
        .unwrap()
        .filter(|a| a.interface_name == interface)
        .find_map(|a| a.address?.as_sockaddr_in().map(|s| s.ip()))
        .unwrap_or_else(|| panic!("no IPv4 address on {interface}"))
}
