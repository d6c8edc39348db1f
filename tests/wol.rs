//! Wake-on-LAN leaves by the right interface: a server namespace with two veth links to two
//! "segments" (namespaces of their own); a receiver socket on each segment sees the exact
//! 102 bytes when, and only when, the packet is meant for its segment.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::Duration;

use controlplane::config::WolSettings;
use controlplane::wol::{wake, Reach, Sent};
use dataplane::Mac;
use fleetboot_tests::netns::Netns;

/// 52:54:00:ab:cd:ef's magic packet, written out by hand.
const MAGIC: [u8; 102] = {
    let mut p = [0xff; 102];
    let mac = [0x52, 0x54, 0x00, 0xab, 0xcd, 0xef];
    let mut i = 6;
    while i < 102 {
        p[i] = mac[(i - 6) % 6];
        i += 1;
    }
    p
};

/// Runs `f` on a thread inside `ns`: sockets it opens stay in that namespace.
fn inside<T: Send>(ns: &Netns, f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            let file = std::fs::File::open(format!("/run/netns/{}", ns.0)).unwrap();
            nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            f()
        })
        .join()
        .unwrap()
    })
}

struct Lab {
    server: Netns,
    segment_a: Netns,
    segment_b: Netns,
}

/// server va0 10.231.1.1/24 — 10.231.1.2/24 in segment A;
/// server vb0 10.231.2.1/24 — 10.231.2.2/24 in segment B.
fn lab() -> Lab {
    let lab = Lab {
        server: Netns::new("fbwols"),
        segment_a: Netns::new("fbwola"),
        segment_b: Netns::new("fbwolb"),
    };
    for (segment, local, peer, net) in [
        (&lab.segment_a, "va0", "va1", "10.231.1"),
        (&lab.segment_b, "vb0", "vb1", "10.231.2"),
    ] {
        lab.server.ip(&[
            "link", "add", local, "type", "veth", "peer", "name", peer, "netns", &segment.0,
        ]);
        lab.server.ip(&[
            "addr",
            "add",
            &format!("{net}.1/24"),
            "brd",
            "+",
            "dev",
            local,
        ]);
        lab.server.ip(&["link", "set", local, "up"]);
        segment.ip(&[
            "addr",
            "add",
            &format!("{net}.2/24"),
            "brd",
            "+",
            "dev",
            peer,
        ]);
        segment.ip(&["link", "set", peer, "up"]);
    }
    lab
}

fn receiver(ns: &Netns, port: u16) -> UdpSocket {
    inside(ns, || {
        let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, port)).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(1500)))
            .unwrap();
        socket
    })
}

/// The next datagram and its sender, or None after the timeout.
fn next(socket: &UdpSocket) -> Option<(Vec<u8>, SocketAddr)> {
    let mut buf = [0; 2048];
    let (n, from) = socket.recv_from(&mut buf).ok()?;
    Some((buf[..n].to_vec(), from))
}

fn mac() -> Mac {
    "52:54:00:ab:cd:ef".parse().unwrap()
}

fn sent(interface: &str, from: [u8; 4], to: &str) -> Sent {
    Sent {
        interface: Some(interface.into()),
        from: Some(from.into()),
        to: to.parse().unwrap(),
    }
}

#[test]
fn a_client_on_a_local_subnet_is_woken_by_that_subnets_broadcast_only() {
    let lab = lab();
    let (a, b) = (receiver(&lab.segment_a, 9), receiver(&lab.segment_b, 9));
    let settings = WolSettings {
        port: 9,
        broadcast: None,
    };
    let report = inside(&lab.server, || {
        wake(mac(), Some([10, 231, 2, 77].into()), &settings)
    })
    .unwrap();
    assert_eq!(report.reach, Reach::Subnet);
    assert_eq!(
        report.sent,
        [sent("vb0", [10, 231, 2, 1], "10.231.2.255:9")]
    );
    assert!(report.failed.is_empty(), "{report:?}");
    let (bytes, from) = next(&b).expect("segment B got the packet");
    assert_eq!(bytes, MAGIC);
    assert_eq!(from.ip(), Ipv4Addr::new(10, 231, 2, 1));
    assert_eq!(next(&a), None, "segment A got a packet meant for B");
}

#[test]
fn an_unknown_address_is_woken_on_every_interface() {
    let lab = lab();
    let (a, b) = (receiver(&lab.segment_a, 9), receiver(&lab.segment_b, 9));
    let settings = WolSettings {
        port: 9,
        broadcast: None,
    };
    let report = inside(&lab.server, || wake(mac(), None, &settings)).unwrap();
    assert_eq!(report.reach, Reach::Everywhere);
    let mut got = report.sent.clone();
    got.sort_by(|x, y| x.interface.cmp(&y.interface));
    assert_eq!(
        got,
        [
            sent("va0", [10, 231, 1, 1], "255.255.255.255:9"),
            sent("vb0", [10, 231, 2, 1], "255.255.255.255:9"),
        ]
    );
    for (segment, server) in [(&a, [10, 231, 1, 1]), (&b, [10, 231, 2, 1])] {
        let (bytes, from) = next(segment).expect("every segment got the packet");
        assert_eq!(bytes, MAGIC);
        assert_eq!(from.ip(), Ipv4Addr::from(server));
        assert_eq!(next(segment), None, "one packet per interface");
    }
}

#[test]
fn a_configured_broadcast_address_and_port_win() {
    let lab = lab();
    let (a, b) = (
        receiver(&lab.segment_a, 4009),
        receiver(&lab.segment_b, 4009),
    );
    let settings = WolSettings {
        port: 4009,
        broadcast: Some([10, 231, 1, 255].into()),
    };
    let report = inside(&lab.server, || {
        wake(mac(), Some([10, 231, 2, 77].into()), &settings)
    })
    .unwrap();
    assert_eq!(report.reach, Reach::Configured);
    assert_eq!(
        report.sent,
        [sent("va0", [10, 231, 1, 1], "10.231.1.255:4009")]
    );
    assert_eq!(next(&a).expect("segment A got the packet").0, MAGIC);
    assert_eq!(next(&b), None);
}
