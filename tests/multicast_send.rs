//! The data plane's multicast sender on a real link: a session started through `Sessions`
//! sends every source symbol of a file to an IPv4 and an IPv6 group out of the interface
//! named (in namespaces of the test's own); the datagrams decode with
//! `multicast::wire::Header` and carry the file's bytes, zero-padded at the end; the manifest
//! on the boot port has the file's SHA-256 and every chunk's XXH3.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use dataplane::multicast::{
    Destination, Phase, RateBounds, SessionSpec, SessionStatus, Sessions, SlowPolicy,
};
use dataplane::{Catalog, CatalogHandle, Config, DataPlane, EventSink};
use fleetboot_tests::mcast::{self, Link, Received};
use fleetboot_tests::{random_bytes, sha256, TempDir};
use multicast::{chunk_hash, hex, Geometry, Manifest, SessionState};

fn start_plane() -> DataPlane {
    let config = Config {
        tftp_listen: None,
        http_listen: Some("127.0.0.1:0".parse().unwrap()),
        cores: 1,
        driver: fleetboot_tests::driver().parse().unwrap(),
        tftp: Default::default(),
        http: Default::default(),
        dhcp: None,
    };
    let (sink, _events) = EventSink::bounded(1024);
    DataPlane::start(config, CatalogHandle::new(Catalog::default()), sink).unwrap()
}

fn wait_over(sessions: &Sessions, id: u32) -> SessionStatus {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = sessions.get(id).unwrap();
        if !status.phase.is_active() || Instant::now() > deadline {
            return status;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Every source symbol arrived, and together they are the file (the last one zero-padded).
fn check_symbols(got: &Received, data: &[u8], geometry: &Geometry) {
    let symbol = usize::from(geometry.symbol_size);
    for chunk in 0..geometry.chunks() {
        for esi in 0..u32::from(geometry.source_symbols(chunk)) {
            let range = geometry.symbol_range(chunk, esi);
            let payload = got
                .symbols
                .get(&(chunk, esi))
                .unwrap_or_else(|| panic!("symbol {chunk}/{esi} missing"));
            assert_eq!(payload.len(), symbol);
            let bytes = &data[range.start as usize..range.end as usize];
            assert_eq!(&payload[..bytes.len()], bytes, "symbol {chunk}/{esi}");
            assert!(payload[bytes.len()..].iter().all(|b| *b == 0));
        }
    }
}

/// What the sender's side saw: the session's status and its manifest.
struct Sent {
    id: u32,
    status: SessionStatus,
    manifest: Manifest,
}

/// Starts a data plane in the sender's namespace, sends `path` to `group` out of `interface`
/// and reads the manifest on the boot port once the session is over.
fn send(link: &Link, path: PathBuf, group: SocketAddr) -> Sent {
    let interface = link.sender_if;
    mcast::spawn_in(&link.sender, move || {
        let plane = start_plane();
        let sessions = plane.multicast().clone();
        let id = sessions
            .start(SessionSpec {
                path,
                name: "disk.img".into(),
                destination: Destination {
                    group,
                    interface: nix::net::if_::if_nametoindex(interface).unwrap(),
                    ttl: 1,
                },
                rate: RateBounds::mbit(200, 10),
                min_receivers: 0,
                max_wait: Duration::from_secs(5),
                slow: SlowPolicy::Wait,
            })
            .expect("the session starts");
        let status = wait_over(&sessions, id);
        let url = format!("http://{}/multicast/{id:x}", plane.http_addr().unwrap());
        let body = ureq::get(&url)
            .call()
            .unwrap()
            .into_body()
            .read_to_string()
            .unwrap();
        plane.shutdown(Duration::from_secs(1));
        Sent {
            id,
            status,
            manifest: serde_json::from_str(&body).unwrap(),
        }
    })
    .join()
    .unwrap()
}

#[test]
fn sessions_send_every_source_symbol_to_v4_and_v6_groups_out_of_the_chosen_interface() {
    let link = Link::new();
    let dir = TempDir::new("mcsend");
    // Three chunks and a bit: a short last chunk and a short last symbol.
    let data = random_bytes(3 * 1344 * 512 + 5000, 15);
    let path = dir.path().join("disk.img");
    std::fs::write(&path, &data).unwrap();
    let geometry = Geometry::for_size(data.len() as u64);
    for group in ["239.255.70.1:7010", "[ff15::70:1]:7010"] {
        let group: SocketAddr = group.parse().unwrap();
        let receiver = mcast::receive(
            &link.receiver,
            link.receiver_if,
            group,
            Duration::from_secs(30),
        );
        let sent = send(&link, path.clone(), group);
        assert_eq!(sent.status.phase, Phase::Finished, "{:?}", sent.status);
        let got = receiver.join().unwrap();
        assert_eq!(got.session, Some(sent.id), "{group}: {:?}", sent.status);
        check_symbols(&got, &data, &geometry);
        assert_eq!(got.counts[2], 1, "the receiver stops at the first End");
        // Nobody reported: the first round alone, no idling, no repairs; then End (three
        // times: the status may be taken before the last ones left).
        let source: u64 = (0..geometry.chunks())
            .map(|c| u64::from(geometry.source_symbols(c)))
            .sum();
        assert_eq!(got.counts, [source, 0, 1], "{group}");
        assert!(
            (source + 1..=source + 3).contains(&sent.status.datagrams_sent),
            "{group}: {}",
            sent.status.datagrams_sent
        );
        assert_eq!(got.foreign, 0);
        let m = sent.manifest;
        assert_eq!(m.session, sent.id);
        assert_eq!(m.state, SessionState::Finished);
        assert_eq!(m.group, group.ip().to_string());
        assert_eq!(m.port, group.port());
        assert_eq!(m.geometry, geometry);
        assert_eq!(m.sha256, sha256(&data));
        assert_eq!(m.chunk_xxh3.len(), 4);
        for (i, hash) in m.chunk_xxh3.iter().enumerate() {
            let range = geometry.chunk_range(i as u32);
            assert_eq!(
                hash,
                &hex::encode(&chunk_hash(&data[range.start as usize..range.end as usize]))
            );
        }
    }
}
