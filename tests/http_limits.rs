//! HTTP under abuse: slow and idle clients, readers below the minimum rate, one address
//! opening too many connections, oversized heads, unsupported methods, pipelining and
//! HTTP/1.0, spoken over raw sockets because that is what such clients are.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use fleetboot_tests::{random_bytes, run, Server, TempDir};

fn exchange(s: &Server, request: &[u8]) -> String {
    let mut c = TcpStream::connect(s.http).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(request).unwrap();
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn a_slow_client_dribbling_headers_is_cut_off() {
    let s = Server::start_with(|_| {}, &["--http-head-timeout-ms", "1500"]);
    let mut c = TcpStream::connect(s.http).unwrap();
    c.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let start = Instant::now();
    let request = b"GET /files/x HTTP/1.1\r\nHost: a\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let mut closed_after = None;
    for byte in request {
        if c.write_all(&[*byte]).is_err() {
            closed_after = Some(start.elapsed());
            break;
        }
        let mut buf = [0u8; 64];
        match c.read(&mut buf) {
            Ok(0) => {
                closed_after = Some(start.elapsed());
                break;
            }
            Ok(_) => panic!("a response to an incomplete head"),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => {
                closed_after = Some(start.elapsed());
                break;
            }
        }
        assert!(start.elapsed() < Duration::from_secs(15), "never cut off");
    }
    let after = closed_after.expect("the server waited for the whole dribbled head");
    assert!(
        after >= Duration::from_millis(1400) && after < Duration::from_secs(5),
        "cut off after {after:?}"
    );
}

#[test]
fn a_thousand_idle_keep_alive_connections_do_not_block_a_new_client() {
    // All from 127.0.0.1, so the per-address cap and the idle timeout are raised: this is
    // about idle connections costing others nothing.
    let s = Server::start_with(
        |d| std::fs::write(d.join("files/a.txt"), b"hello").unwrap(),
        &[
            "--http-max-per-ip",
            "1100",
            "--http-idle-timeout-ms",
            "60000",
        ],
    );
    let mut idle = Vec::new();
    for _ in 0..1000 {
        let mut c = TcpStream::connect(s.http).unwrap();
        c.write_all(b"GET /files/a.txt HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        idle.push(c);
    }
    // Every one was answered and stays open.
    for c in &mut idle {
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut buf = [0u8; 512];
        let n = c.read(&mut buf).unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    }
    let start = Instant::now();
    let o = run(
        Command::new("curl").args(["-sS", "--max-time", "5", &s.url("files/a.txt")]),
        10,
    );
    assert_eq!(o.stdout, b"hello", "{o:?}");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "new client waited {:?}",
        start.elapsed()
    );
    // And the idle ones still work.
    idle[999]
        .write_all(b"GET /files/a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut rest = Vec::new();
    idle[999].read_to_end(&mut rest).unwrap();
    assert!(String::from_utf8_lossy(&rest).ends_with("hello"));
}

#[test]
fn limits_and_errors_have_short_clear_answers() {
    let s = Server::start(&[("a.txt", b"hello")]);
    let long_target = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(9000));
    assert!(exchange(&s, long_target.as_bytes()).starts_with("HTTP/1.1 414"));
    let big_head = format!(
        "GET /files/a.txt HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "b".repeat(17000)
    );
    assert!(exchange(&s, big_head.as_bytes()).starts_with("HTTP/1.1 431"));
    let post = exchange(
        &s,
        b"POST /files/a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
    assert!(post.starts_with("HTTP/1.1 405"), "{post}");
    assert!(post.contains("Allow: GET, HEAD"), "{post}");
    assert!(exchange(&s, b"GARBAGE\r\n\r\n").starts_with("HTTP/1.1 400"));
    let body = exchange(
        &s,
        b"GET /files/a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
    );
    assert!(body.starts_with("HTTP/1.1 400"), "{body}");
    for answer in [exchange(&s, long_target.as_bytes()), post] {
        let body_len = answer.split("\r\n\r\n").nth(1).unwrap_or_default().len();
        assert!(body_len < 100, "error bodies stay short: {answer}");
    }
}

#[test]
fn pipelined_requests_and_http_1_0() {
    let s = Server::start(&[("a.txt", b"AAA"), ("b.txt", b"BB")]);
    let both = exchange(
        &s,
        b"GET /files/a.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /files/b.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    let first = both.find("AAA").expect("first response");
    let second = both.find("BB").expect("second response");
    assert!(
        first < second && both.matches("HTTP/1.1 200").count() == 2,
        "{both}"
    );
    // HTTP/1.0 without keep-alive: answered, then closed (read_to_end returns).
    let old = exchange(&s, b"GET /files/a.txt HTTP/1.0\r\n\r\n");
    assert!(
        old.starts_with("HTTP/1.0 200") || old.starts_with("HTTP/1.1 200"),
        "{old}"
    );
    assert!(old.ends_with("AAA"));
}

const KEEP_ALIVE_GET: &[u8] = b"GET /files/a.txt HTTP/1.1\r\nHost: x\r\n\r\n";

/// `n` keep-alive connections, each answered once and held open.
fn keep_alive_connections(s: &Server, n: usize) -> Vec<TcpStream> {
    (0..n)
        .map(|_| {
            let mut c = TcpStream::connect(s.http).unwrap();
            c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            c.write_all(KEEP_ALIVE_GET).unwrap();
            let mut buf = [0u8; 512];
            let n = c.read(&mut buf).unwrap();
            assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
            c
        })
        .collect()
}

/// One more connection is closed without an answer.
fn assert_closed_unanswered(s: &Server) {
    let mut extra = TcpStream::connect(s.http).unwrap();
    extra
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let _ = extra.write_all(KEEP_ALIVE_GET);
    let mut out = Vec::new();
    let _ = extra.read_to_end(&mut out);
    assert!(out.is_empty(), "{}", String::from_utf8_lossy(&out));
}

#[test]
fn one_address_gets_at_most_64_connections_and_others_are_still_served() {
    let s = Server::start(&[("a.txt", b"hello")]);
    let mut held = keep_alive_connections(&s, 64);
    // The 65th is closed unanswered.
    assert_closed_unanswered(&s);
    assert_eq!(s.status_number("http_per_ip_refused"), 1);
    // Another machine is served meanwhile.
    let o = run(
        Command::new("curl").args([
            "-sS",
            "--max-time",
            "5",
            "--interface",
            "127.0.0.2",
            &s.url("files/a.txt"),
        ]),
        10,
    );
    assert_eq!(o.stdout, b"hello", "{o:?}");
    // A connection given back makes room again.
    drop(held.pop());
    s.wait_for_status("http_connections", 63, Duration::from_secs(5));
    let o = run(
        Command::new("curl").args(["-sS", "--max-time", "5", &s.url("files/a.txt")]),
        10,
    );
    assert_eq!(o.stdout, b"hello", "{o:?}");
}

#[test]
fn a_reader_slower_than_the_minimum_rate_is_cut_off_and_counted() {
    let s = Server::start(&[("big.bin", &random_bytes(64 << 20, 33))]);
    let mut c = TcpStream::connect(s.http).unwrap();
    c.write_all(b"GET /files/big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    c.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    // Reads nothing for a moment (the socket buffers fill), then 128 bytes every 100 ms:
    // about 1.3 KB/s, below the default 4096 B/s. It never stops reading, so this is not a
    // stall.
    std::thread::sleep(Duration::from_secs(1));
    let start = Instant::now();
    let mut last_check = Instant::now();
    let mut buf = [0u8; 128];
    while start.elapsed() < Duration::from_secs(45) {
        if let Ok(0) = c.read(&mut buf) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        // The server closing does not show here soon: its unsent bytes still drain to us.
        if last_check.elapsed() >= Duration::from_secs(1) {
            last_check = Instant::now();
            if s.status_number("http_connections") == 0 {
                break;
            }
        }
    }
    let took = start.elapsed();
    // Two 10 s windows at most, the first one being the buffers' fill.
    assert!(took < Duration::from_secs(35), "cut off after {took:?}");
    assert_eq!(s.status_number("http_slow_readers"), 1, "{}", s.status());
    assert_eq!(
        s.status_number("http_timeouts"),
        0,
        "a slow reader is not a stall"
    );
}

#[test]
fn idle_and_unfinished_heads_are_closed_within_seconds_by_default() {
    let s = Server::start(&[("a.txt", b"hello")]);
    /// Seconds until the server closes `c`.
    fn closed_after(mut c: TcpStream) -> Duration {
        c.set_read_timeout(Some(Duration::from_secs(25))).unwrap();
        let start = Instant::now();
        let mut buf = [0u8; 64];
        loop {
            match c.read(&mut buf) {
                Ok(0) => return start.elapsed(),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                    return start.elapsed()
                }
                Err(e) => panic!("still open after {:?}: {e}", start.elapsed()),
            }
        }
    }
    let mut idle = TcpStream::connect(s.http).unwrap();
    idle.write_all(KEEP_ALIVE_GET).unwrap();
    let mut buf = [0u8; 512];
    idle.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let n = idle.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).ends_with("hello"));
    let idle = std::thread::spawn(move || closed_after(idle));
    let mut half = TcpStream::connect(s.http).unwrap();
    half.write_all(b"GET /files/a.txt HTTP/1.1\r\n").unwrap();
    let half = closed_after(half);
    let idle = idle.join().unwrap();
    assert!(
        half >= Duration::from_millis(4500) && half < Duration::from_secs(7),
        "an unfinished head closed after {half:?}"
    );
    assert!(
        idle >= Duration::from_secs(9) && idle < Duration::from_secs(13),
        "an idle keep-alive connection closed after {idle:?}"
    );
}

#[test]
fn past_the_global_connection_cap_a_client_is_closed_and_counted() {
    let config = TempDir::new("httpcap");
    let file = config.path().join("fleetboot.toml");
    std::fs::write(&file, "[http]\nmax_connections = 2\n").unwrap();
    let s = Server::start_with(
        |d| std::fs::write(d.join("files/a.txt"), b"hello").unwrap(),
        &["--config", &file.to_string_lossy()],
    );
    let _held = keep_alive_connections(&s, 2);
    assert_closed_unanswered(&s);
    assert_eq!(s.status_number("http_busy"), 1);
    assert_eq!(s.status_number("http_per_ip_refused"), 0);
}
