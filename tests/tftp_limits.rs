//! TFTP under abuse: requests never acknowledged (with the longest timeout option) let go of
//! their slots within seconds, one address cannot take more than its share of transfers, a
//! closed client port ends a transfer at once, netascii conversions are shared under a memory
//! budget, and a windowsize setting over the documented cap is refused at start.

use std::net::UdpSocket;
use std::process::Command;
use std::time::Duration;

use fleetboot_tests::{binary, random_bytes, rrq, run, Server, TempDir};

/// A client socket on `ip` with a read timeout.
fn client(ip: &str) -> UdpSocket {
    let sock = UdpSocket::bind((ip, 0)).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    sock
}

/// OACK options as (name, value) pairs, lower-cased names.
fn oack_options(packet: &[u8]) -> Vec<(String, String)> {
    assert_eq!(&packet[..2], &[0, 6], "expected an OACK, got {packet:?}");
    let fields: Vec<String> = packet[2..]
        .split(|b| *b == 0)
        .filter(|f| !f.is_empty())
        .map(|f| String::from_utf8_lossy(f).to_lowercase())
        .collect();
    fields
        .chunks(2)
        .map(|kv| (kv[0].clone(), kv.get(1).cloned().unwrap_or_default()))
        .collect()
}

#[test]
fn requests_never_acknowledged_let_go_of_their_slots_within_seconds() {
    let s = Server::start(&[("big.bin", &random_bytes(1 << 20, 30))]);
    // Varied ports of one address, each asking for the longest timeout RFC 2349 allows: on
    // their terms, every slot would be held 6 x 255 s.
    let request = rrq(
        "files/big.bin",
        "octet",
        &[("timeout", "255"), ("tsize", "0")],
    );
    let mut socks = Vec::new();
    for _ in 0..20 {
        let sock = client("127.0.0.1");
        sock.send_to(&request, s.tftp).unwrap();
        socks.push(sock);
    }
    for sock in &socks {
        let mut buf = [0u8; 512];
        let (n, _) = sock.recv_from(&mut buf).unwrap();
        let options = oack_options(&buf[..n]);
        assert!(
            options.iter().all(|(k, _)| k != "timeout"),
            "a timeout over the cap must not be acknowledged: {options:?}"
        );
        assert!(options.iter().any(|(k, _)| k == "tsize"), "{options:?}");
    }
    assert_eq!(s.status_number("tftp_active"), 20);
    // The sockets stay open (no ICMP shortcut): only the clamp and the first-ACK budget count.
    // 5 s clamp x (1 + 2 retries) = 15 s.
    let took = s.wait_for_status("tftp_active", 0, Duration::from_secs(30));
    assert!(took >= Duration::from_secs(10), "gave up after {took:?}");
    assert_eq!(s.status_number("tftp_unanswered"), 20);
    drop(socks);
}

#[test]
fn one_address_gets_at_most_64_transfers_and_others_are_still_served() {
    let s = Server::start(&[("mid.bin", &random_bytes(200_000, 31))]);
    let request = rrq("files/mid.bin", "octet", &[]);
    let mut socks = Vec::new();
    for _ in 0..70 {
        let sock = client("127.0.0.1");
        sock.send_to(&request, s.tftp).unwrap();
        socks.push(sock);
    }
    let (mut data, mut refused) = (0, 0);
    for sock in &socks {
        let mut buf = [0u8; 600];
        let (n, _) = sock.recv_from(&mut buf).unwrap();
        match buf[1] {
            3 => data += 1,
            5 => {
                let text = String::from_utf8_lossy(&buf[4..n]);
                assert!(
                    text.contains("too many transfers from your address"),
                    "{text}"
                );
                refused += 1;
            }
            _ => panic!("unexpected {:?}", &buf[..n]),
        }
    }
    assert_eq!((data, refused), (64, 6));
    assert_eq!(s.status_number("tftp_per_ip_refused"), 6);
    // Another address (a different machine) is not held back by the first one's share.
    let other = client("127.0.0.2");
    other.send_to(&request, s.tftp).unwrap();
    let mut buf = [0u8; 600];
    let (n, _) = other.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..4], &[0, 3, 0, 1], "{:?}", &buf[..n.min(40)]);
    drop(socks);
}

#[test]
fn a_closed_client_port_ends_the_transfer_at_once() {
    let s = Server::start(&[("big.bin", &random_bytes(1 << 20, 32))]);
    // An address no other test here binds: once closed, the client's port could otherwise be
    // taken by a socket of a test running beside this one, and the retransmissions would
    // reach it instead of meeting a closed port.
    let sock = client("127.0.0.77");
    // timeout 5 (within the cap): waiting out the retries would take 6 x 5 s.
    let request = rrq("files/big.bin", "octet", &[("timeout", "5")]);
    sock.send_to(&request, s.tftp).unwrap();
    let mut buf = [0u8; 600];
    let (_, from) = sock.recv_from(&mut buf).unwrap();
    sock.send_to(&[0, 4, 0, 0], from).unwrap();
    let (_, _) = sock.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..4], &[0, 3, 0, 1]);
    // Acknowledge, then vanish once DATA 2 has surely arrived: its first retransmission, 5 s
    // later, meets a closed port, and the kernel's ICMP port unreachable must end the
    // transfer then, on either driver (the epoll fallback never wakes a waiting receive for
    // the error; seen in CI as a transfer held to the second retransmission).
    sock.send_to(&[0, 4, 0, 1], from).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    drop(sock);
    let took = s.wait_for_status("tftp_active", 0, Duration::from_secs(40));
    assert!(took < Duration::from_secs(8), "ended after {took:?}");
    assert_eq!(s.status_number("tftp_unreachable"), 1);
    assert_eq!(s.status_number("tftp_unanswered"), 0);
}

/// Text of `len` bytes with a line end every 64.
fn text(len: usize) -> Vec<u8> {
    let mut t: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
    for i in (63..len).step_by(64) {
        t[i] = b'\n';
    }
    t
}

#[test]
fn netascii_transfers_of_one_file_share_one_conversion() {
    let s = Server::start(&[("notes.txt", &text(8 << 20))]);
    // Warm up: the first conversion and the allocator's own start-up cost.
    let warm = client("127.0.0.1");
    warm.send_to(&rrq("files/notes.txt", "netascii", &[]), s.tftp)
        .unwrap();
    let mut buf = [0u8; 600];
    warm.recv_from(&mut buf).unwrap();
    let before = s.rss_bytes();
    let mut socks = Vec::new();
    for _ in 0..30 {
        let sock = client("127.0.0.1");
        sock.send_to(&rrq("files/notes.txt", "netascii", &[]), s.tftp)
            .unwrap();
        socks.push(sock);
    }
    for sock in &socks {
        let (n, _) = sock.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..4], &[0, 3, 0, 1], "{:?}", &buf[..n.min(40)]);
        assert_eq!(&buf[4 + 63..4 + 65], b"\r\n", "converted");
    }
    let grown = s.rss_bytes().saturating_sub(before);
    // One copy per transfer would be 30 x 8.1 MiB.
    assert!(grown < 32 << 20, "RSS grew by {} MiB", grown >> 20);
    drop((warm, socks));
}

#[test]
fn netascii_conversions_past_the_memory_budget_are_refused_and_counted() {
    let s = Server::start_with(
        |d| {
            std::fs::write(d.join("files/a.txt"), text(400 << 10)).unwrap();
            std::fs::write(d.join("files/b.txt"), text(400 << 10)).unwrap();
        },
        &["--tftp-netascii-budget-mib", "1"],
    );
    let mut buf = [0u8; 600];
    // a.txt stays in use: its client never acknowledges.
    let holder = client("127.0.0.1");
    holder
        .send_to(&rrq("files/a.txt", "netascii", &[]), s.tftp)
        .unwrap();
    holder.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..4], &[0, 3, 0, 1]);
    // b.txt would need up to 800 KiB beside a.txt's 406 KiB.
    let late = client("127.0.0.1");
    late.send_to(&rrq("files/b.txt", "netascii", &[]), s.tftp)
        .unwrap();
    let (n, _) = late.recv_from(&mut buf).unwrap();
    let why = String::from_utf8_lossy(&buf[4..n]);
    assert!(buf[1] == 5 && why.contains("netascii"), "{why}");
    assert_eq!(s.status_number("tftp_netascii_refused"), 1);
    // Once a.txt's transfer is over, b.txt fits.
    drop(holder);
    s.wait_for_status("tftp_active", 0, Duration::from_secs(20));
    let out = s.scratch.join("b.txt");
    let o = run(&mut s.tftp_get("netascii", "files/b.txt", &out), 30);
    assert!(o.status.success(), "{o:?}");
    assert_eq!(std::fs::read(out).unwrap(), text(400 << 10));
}

#[test]
fn a_windowsize_setting_over_the_cap_stops_the_start_with_a_clear_error() {
    let dir = TempDir::new("wsize");
    let config = dir.path().join("fleetboot.toml");
    std::fs::write(&config, "[tftp]\nmax_windowsize = 1000\n").unwrap();
    let o = run(
        Command::new(binary())
            .args(["serve", "--config"])
            .arg(&config)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .args([
                "--tftp-listen",
                "127.0.0.1:0",
                "--http-listen",
                "127.0.0.1:0",
            ])
            .args(["--admin-listen", "127.0.0.1:0", "--dhcp-mode", "off"]),
        15,
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "started anyway: {o:?}");
    assert!(
        err.contains("tftp.max_windowsize must be 1..=64, got 1000"),
        "{err}"
    );
}
