//! A small HTTP/1.1 file server for download tests: one file, `Range: bytes=N-` answered with
//! 206, and faults on demand (a body cut once, Range ignored, a slow body), over TCP or TLS.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the server does.
#[derive(Debug, Clone, Default)]
pub(super) struct Spec {
    /// The file.
    pub(super) body: Vec<u8>,
    /// The first whole-file answer stops after this many body bytes and hangs up.
    pub(super) cut_once_at: Option<usize>,
    /// Answer every request with the whole file (200), Range or not.
    pub(super) ignore_range: bool,
    /// Send the body 4 KiB at a time, 20 ms apart.
    pub(super) slow: bool,
}

/// A running server.
pub(super) struct Served {
    /// `http(s)://127.0.0.1:port`.
    pub(super) base: String,
    /// The `Range` header of every request, in order.
    pub(super) ranges: Arc<Mutex<Vec<Option<String>>>>,
}

/// Serves `spec` on loopback; over TLS when `tls` is given. Each connection gets a thread.
pub(super) fn serve(spec: Spec, tls: Option<Arc<rustls::ServerConfig>>) -> Served {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let scheme = if tls.is_some() { "https" } else { "http" };
    let base = format!("{scheme}://{}", listener.local_addr().unwrap());
    let ranges = Arc::new(Mutex::new(Vec::new()));
    let served = Served {
        base,
        ranges: ranges.clone(),
    };
    let spec = Arc::new(spec);
    let cut_done = Arc::new(AtomicBool::new(false));
    std::thread::spawn(move || {
        for tcp in listener.incoming().flatten() {
            let _ = tcp.set_read_timeout(Some(Duration::from_secs(10)));
            let (spec, ranges, cut_done) = (spec.clone(), ranges.clone(), cut_done.clone());
            let tls = tls.clone();
            std::thread::spawn(move || match tls {
                None => answer(tcp, &spec, &ranges, &cut_done),
                Some(config) => {
                    let conn = rustls::ServerConnection::new(config).unwrap();
                    let mut stream = rustls::StreamOwned::new(conn, tcp);
                    answer(&mut stream, &spec, &ranges, &cut_done);
                    stream.conn.send_close_notify();
                    let _ = stream.flush();
                }
            });
        }
    });
    served
}

fn answer(
    mut s: impl Read + Write,
    spec: &Spec,
    ranges: &Mutex<Vec<Option<String>>>,
    cut_done: &AtomicBool,
) {
    let mut head = Vec::new();
    let mut byte = [0u8];
    // A client refusing the certificate ends the handshake: the read fails.
    while !head.ends_with(b"\r\n\r\n") && s.read(&mut byte).unwrap_or(0) == 1 {
        head.push(byte[0]);
    }
    if !head.ends_with(b"\r\n\r\n") {
        return;
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let range = head.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.eq_ignore_ascii_case("range")
            .then(|| value.trim().to_owned())
    });
    ranges.lock().unwrap().push(range.clone());
    let len = spec.body.len();
    let start = range
        .filter(|_| !spec.ignore_range)
        .and_then(|r| {
            r.strip_prefix("bytes=")?
                .strip_suffix('-')?
                .parse::<usize>()
                .ok()
        })
        .unwrap_or(0);
    if start >= len && start > 0 {
        let _ = s.write_all(
            b"HTTP/1.1 416 Range Not Satisfiable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
        return;
    }
    let status = if start > 0 {
        format!(
            "206 Partial Content\r\nContent-Range: bytes {start}-{}/{len}",
            len - 1
        )
    } else {
        "200 OK".to_owned()
    };
    let answer = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nETag: \"v1\"\r\nConnection: close\r\n\r\n",
        len - start
    );
    if s.write_all(answer.as_bytes()).is_err() {
        return;
    }
    let mut body = &spec.body[start..];
    if let Some(at) = spec.cut_once_at.filter(|_| start == 0) {
        if !cut_done.swap(true, Ordering::SeqCst) {
            body = &body[..at];
        }
    }
    let piece = if spec.slow { 4096 } else { body.len().max(1) };
    for chunk in body.chunks(piece) {
        if s.write_all(chunk).and_then(|()| s.flush()).is_err() {
            return;
        }
        if spec.slow {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
