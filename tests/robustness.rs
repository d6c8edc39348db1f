//! The server survives what operators and networks do to it: files truncated or replaced while
//! being served, garbage datagrams, and a SIGTERM in the middle of transfers (drained, exit 0).

use std::io::{Read, Write};
use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fleetboot_tests::{random_bytes, rrq, run, sha256, sha256_file, Server};

#[test]
fn truncating_a_file_mid_transfer_kills_that_transfer_only() {
    let data = random_bytes(32 << 20, 20);
    let s = Server::start(&[("victim.bin", &data), ("other.txt", b"still here")]);
    let victim = s.data.join("files/victim.bin");
    let http = Command::new("curl")
        .args(["-sS", "--limit-rate", "4M", "--max-time", "60", "-o"])
        .arg(s.scratch.join("http.part"))
        .arg(s.url("files/victim.bin"))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let tftp = s
        .tftp_get("binary", "files/victim.bin", &s.scratch.join("tftp.part"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    // Truncate in place, as `cp` over an existing file or a careless `>` does.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&victim)
        .unwrap()
        .set_len(1000)
        .unwrap();
    for mut child in [http, tftp] {
        let deadline = Instant::now() + Duration::from_secs(90);
        while child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "a client hung after truncation");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    assert_ne!(sha256_file(&s.scratch.join("http.part")), sha256(&data));
    // The server is alive and serves everything else.
    let o = run(
        Command::new("curl").args(["-sS", "--max-time", "5", &s.url("files/other.txt")]),
        10,
    );
    assert_eq!(o.stdout, b"still here", "server died?\n{}", s.log());
    // After the rescan, the file is served as it now is.
    std::thread::sleep(Duration::from_millis(600));
    let o = run(
        Command::new("curl").args(["-sS", "--max-time", "5", &s.url("files/victim.bin")]),
        10,
    );
    assert_eq!(o.stdout, &data[..1000]);
}

#[test]
fn replacing_a_file_lets_running_transfers_finish_with_the_old_bytes() {
    let old = random_bytes(8 << 20, 21);
    let s = Server::start(&[("img.bin", &old)]);
    let out = s.scratch.join("old.bin");
    let child = Command::new("curl")
        .args(["-sS", "--limit-rate", "8M", "--max-time", "60", "-o"])
        .arg(&out)
        .arg(s.url("files/img.bin"))
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    // Atomic replace (write elsewhere, rename over): the right way to update an image.
    let new = random_bytes(4 << 20, 22);
    let tmp = s.data.join("files/.img.bin.tmp");
    std::fs::write(&tmp, &new).unwrap();
    std::fs::rename(&tmp, s.data.join("files/img.bin")).unwrap();
    let status = child.wait_with_output().unwrap().status;
    assert!(status.success());
    assert_eq!(sha256_file(&out), sha256(&old));
    std::thread::sleep(Duration::from_millis(600));
    let o = run(
        Command::new("curl").args(["-sS", "--max-time", "10", &s.url("files/img.bin")]),
        15,
    );
    assert_eq!(sha256(&o.stdout), sha256(&new));
}

#[test]
fn garbage_datagrams_are_counted_and_change_nothing() {
    let s = Server::start(&[("a.txt", b"hello")]);
    let before = s.status_number("tftp_malformed");
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let junk: [&[u8]; 6] = [
        b"",
        b"\x00",
        b"\x00\x01",
        b"\x00\x09hello\x00",
        b"\x00\x04\x00\x01",
        &[0xff; 1500],
    ];
    for datagram in junk {
        sock.send_to(datagram, s.tftp).unwrap();
    }
    // An RRQ without its terminating NULs, and one with a mode nobody supports.
    sock.send_to(b"\x00\x01files/a.txt", s.tftp).unwrap();
    sock.send_to(b"\x00\x01files/a.txt\x00mail\x00", s.tftp)
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while s.status_number("tftp_malformed") < before + 7 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        s.status_number("tftp_malformed") >= before + 7,
        "{}",
        s.status()
    );
    let out = s.scratch.join("a.txt");
    let o = run(&mut s.tftp_get("binary", "files/a.txt", &out), 20);
    assert!(o.status.success());
    assert_eq!(std::fs::read(out).unwrap(), b"hello");
}

#[test]
fn sigterm_drains_transfers_then_exits_zero() {
    let data = random_bytes(6 << 20, 23);
    let mut s = Server::start(&[("slow.bin", &data)]);
    let out = s.scratch.join("slow.bin");
    let child = Command::new("curl")
        .args(["-sS", "--limit-rate", "4M", "--max-time", "60", "-o"])
        .arg(&out)
        .arg(s.url("files/slow.bin"))
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(400));
    let http = s.http;
    let started = Instant::now();
    let code = s.stop();
    assert_eq!(code, Some(0), "exit status after SIGTERM");
    assert!(
        started.elapsed() < Duration::from_secs(12),
        "drain took {:?}",
        started.elapsed()
    );
    let status = child.wait_with_output().unwrap().status;
    assert!(status.success(), "the in-flight download was cut");
    assert_eq!(sha256_file(&out), sha256(&data));
    assert!(
        std::net::TcpStream::connect(http).is_err(),
        "still accepting after exit"
    );
}

#[test]
fn tftp_clients_that_vanish_leave_no_transfer_or_descriptor_behind() {
    let data = random_bytes(1 << 20, 24);
    let s = Server::start(&[("big.bin", &data)]);
    let baseline = s.open_fds();
    let options = [("blksize", "1428"), ("timeout", "1"), ("windowsize", "4")];
    // Every client keeps its socket until all have asked: a port closed early may be handed to
    // a later client, whose RRQ would then look like the first one's repeat.
    let mut clients = Vec::new();
    for i in 0..30 {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let request = rrq("files/big.bin", "octet", &options);
        sock.send_to(&request, s.tftp).unwrap();
        if i % 3 == 0 {
            // A client that asks twice (its first answer was slow) is one transfer.
            sock.send_to(&request, s.tftp).unwrap();
        }
        let mut buf = [0u8; 1600];
        let (n, from) = sock.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..2], &[0, 6], "expected an OACK, got {:?}", &buf[..n]);
        if i % 2 == 0 {
            // Takes the first window, then reboots: no ACK, no ERROR ever again.
            sock.send_to(&[0, 4, 0, 0], from).unwrap();
            let (n, _) = sock.recv_from(&mut buf).unwrap();
            assert_eq!(&buf[..4], &[0, 3, 0, 1], "{:?}", &buf[..n.min(8)]);
        }
        clients.push(sock);
    }
    // They all vanish; the next retransmission (1 s) meets a closed port, and timeouts
    // would end the transfers anyway (1 s, at most 5 retries).
    drop(clients);
    let deadline = Instant::now() + Duration::from_secs(30);
    while s.status_number("tftp_active") > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(s.status_number("tftp_active"), 0, "{}", s.status());
    // Their sockets are closed too, not only their counters.
    let deadline = Instant::now() + Duration::from_secs(5);
    while s.open_fds() > baseline + 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        s.open_fds() <= baseline + 2,
        "{} descriptors open, {baseline} before the clients came",
        s.open_fds()
    );
    assert_eq!(
        s.status_number("tftp_transfers"),
        30,
        "a repeated RRQ started a second transfer"
    );
    let out = s.scratch.join("big.bin");
    let o = run(&mut s.tftp_get("binary", "files/big.bin", &out), 30);
    assert!(o.status.success());
    assert_eq!(sha256_file(&out), sha256(&data));
}

#[test]
fn a_client_that_goes_silent_mid_head_sees_the_connection_closed() {
    let s = Server::start_with(|_| {}, &["--http-head-timeout-ms", "500"]);
    let baseline = s.open_fds();
    let mut clients = Vec::new();
    for _ in 0..20 {
        let mut c = std::net::TcpStream::connect(s.http).unwrap();
        c.write_all(b"GET /files/x HTTP/1.1\r\n").unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        clients.push(c);
    }
    for mut c in clients.drain(..) {
        let mut buf = [0u8; 64];
        match c.read(&mut buf) {
            Ok(0) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            other => panic!("expected the server to close the connection, got {other:?}"),
        }
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while s.open_fds() > baseline + 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(s.open_fds() <= baseline + 2, "{} open", s.open_fds());
}
