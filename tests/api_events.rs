//! What the control plane tells while the data plane works, against a running server: boot
//! events on the SSE stream (a real tftp-hpa transfer, an HTTP fetch) and their replay after a
//! reconnect with `Last-Event-ID`, a Wake-on-LAN packet caught on a test socket, and the
//! OpenMetrics counters behind authentication.

use std::net::UdpSocket;
use std::process::Command;
use std::time::{Duration, Instant};

use fleetboot_tests::{curl, run, Server};
use serde_json::json;

const FILE: &[u8] = b"fleetboot event test payload\n";

/// Fetches `files/<remote>` with tftp-hpa.
fn tftp_fetch(s: &Server, remote: &str) {
    let local = s.scratch.join(remote);
    let out = run(
        &mut s.tftp_get("binary", &format!("files/{remote}"), &local),
        20,
    );
    assert!(out.status.success(), "tftp get {remote}: {out:?}");
    assert_eq!(std::fs::read(&local).unwrap(), FILE);
}

fn start() -> Server {
    Server::start(&[("hello.bin", FILE), ("again.bin", FILE)])
}

#[test]
fn a_tftp_transfer_is_a_boot_event_and_a_reconnect_replays_what_came_after() {
    let s = start();
    let api = s.admin_api();
    let token = api.token().unwrap().to_owned();
    let mut events = s.events(&token, None);
    tftp_fetch(&s, "hello.bin");
    let boot = events.wait_for("tftp boot", Duration::from_secs(10), |e| {
        e.kind == "boot" && e.data["protocol"] == "tftp"
    });
    assert!(
        boot.data["object"]
            .as_str()
            .is_some_and(|o| o.contains("hello.bin")),
        "{boot:?}"
    );
    assert_eq!(boot.data["bytes"], FILE.len() as u64, "{boot:?}");
    assert!(
        boot.data["client"]
            .as_str()
            .is_some_and(|c| c.starts_with("127.0.0.1")),
        "{boot:?}"
    );
    let seen_id = boot.id.expect("boot events carry ids");
    drop(events);

    // While nobody listens: an HTTP fetch and another TFTP transfer.
    assert_eq!(curl(&s.url("files/hello.bin")).as_bytes(), FILE);
    tftp_fetch(&s, "again.bin");
    let boots_recorded = || {
        let history = api.get("/api/v1/boots?limit=10");
        history.body.as_array().map_or(0, Vec::len)
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while boots_recorded() < 3 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }

    let mut resumed = s.events(&token, Some(seen_id));
    let again = resumed.wait_for("replayed tftp boot", Duration::from_secs(10), |e| {
        e.kind == "boot"
            && e.data["protocol"] == "tftp"
            && e.data["object"]
                .as_str()
                .is_some_and(|o| o.contains("again.bin"))
    });
    let replayed = resumed.seen.clone();
    assert!(
        replayed.iter().all(|e| e.id.is_some_and(|id| id > seen_id)),
        "replayed what the client had: {replayed:#?}"
    );
    let ids: Vec<u64> = replayed.iter().filter_map(|e| e.id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    assert!(
        replayed
            .iter()
            .any(|e| e.kind == "boot" && e.data["protocol"] == "http"),
        "no http boot event replayed: {replayed:#?}"
    );
    assert!(again.id.unwrap() > seen_id);

    // Live events still follow the replay.
    tftp_fetch(&s, "hello.bin");
    resumed.wait_for("live tftp boot", Duration::from_secs(10), |e| {
        e.kind == "boot" && e.id > again.id
    });

    let anonymous = s.anonymous().get("/api/v1/events");
    assert_eq!(anonymous.status, 401, "{}", anonymous.text);
}

/// 52:54:00:ab:cd:ef's magic packet: six 0xff, then the MAC sixteen times.
fn magic() -> Vec<u8> {
    let mac = [0x52, 0x54, 0x00, 0xab, 0xcd, 0xef];
    let mut p = vec![0xff; 6];
    for _ in 0..16 {
        p.extend_from_slice(&mac);
    }
    p
}

#[test]
fn wake_sends_the_magic_packet_to_the_configured_address_and_viewers_may_not() {
    let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = receiver.local_addr().unwrap().port().to_string();
    let s = Server::start_with(
        |_| {},
        &["--wol-broadcast", "127.0.0.1", "--wol-port", &port],
    );
    let api = s.admin_api();
    let woke = api.send("POST", "/api/v1/clients/52:54:00:AB:CD:EF/wake", None);
    assert_eq!(woke.status, 200, "{}", woke.text);
    let sent = woke.body["sent"].as_array().unwrap();
    assert_eq!(sent.len(), 1, "{}", woke.text);
    assert_eq!(sent[0]["to"], format!("127.0.0.1:{port}"), "{}", woke.text);
    assert_eq!(woke.body["failed"], json!([]), "{}", woke.text);

    receiver
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = [0u8; 2048];
    let (n, _) = receiver.recv_from(&mut buf).expect("no magic packet");
    assert_eq!(&buf[..n], magic().as_slice());
    // Exactly one.
    receiver
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    assert!(receiver.recv_from(&mut buf).is_err(), "a second packet");

    api.post(
        "/api/v1/users",
        &json!({"name": "vera", "role": "viewer", "password": "viewer-password-1"}),
    );
    let viewer = s.login("vera", "viewer-password-1");
    let refused = viewer.send("POST", "/api/v1/clients/52:54:00:ab:cd:ef/wake", None);
    assert_eq!(refused.status, 403, "{}", refused.text);
    assert!(refused.body["error"].is_string(), "{}", refused.text);
    let bad = api.send("POST", "/api/v1/clients/not-a-mac/wake", None);
    assert_eq!(bad.status, 400, "{}", bad.text);
    let anonymous = s
        .anonymous()
        .send("POST", "/api/v1/clients/52:54:00:ab:cd:ef/wake", None);
    assert_eq!(anonymous.status, 401, "{}", anonymous.text);
    assert!(receiver.recv_from(&mut buf).is_err(), "a refused wake sent");
}

#[test]
fn metrics_count_a_tftp_transfer_behind_a_token() {
    let s = start();
    let api = s.admin_api();
    let token = api.token().unwrap().to_owned();
    tftp_fetch(&s, "hello.bin");
    let metrics = || {
        let out = run(
            Command::new("curl")
                .args(["-sS", "--max-time", "10", "-w", "\n%{content_type}", "-H"])
                .arg(format!("authorization: Bearer {token}"))
                .arg(format!("http://{}/metrics", s.admin)),
            20,
        );
        let all = String::from_utf8_lossy(&out.stdout).into_owned();
        let (text, kind) = all.rsplit_once('\n').unwrap_or((&all, ""));
        (text.to_owned(), kind.to_owned())
    };
    let want = "fleetboot_requests_total{protocol=\"tftp\"} 1";
    let deadline = Instant::now() + Duration::from_secs(10);
    let (text, kind) = loop {
        let (text, kind) = metrics();
        if text.lines().any(|l| l == want) || Instant::now() > deadline {
            break (text, kind);
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(text.lines().any(|l| l == want), "{text}");
    assert!(kind.starts_with("application/openmetrics-text"), "{kind}");
    assert!(text.trim_end().ends_with("# EOF"), "{text}");
    assert!(text.contains("# TYPE fleetboot_requests counter"), "{text}");

    let anonymous = s.anonymous().get("/metrics");
    assert_eq!(anonymous.status, 401, "{}", anonymous.text);
    assert!(!anonymous.text.contains("fleetboot_requests_total"));
}
