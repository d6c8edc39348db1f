//! A file server for download tests: serves one body to every GET on loopback, over http or
//! https (a certificate for 127.0.0.1 from a fresh test CA), honours `Range: bytes=N-`, and
//! can misbehave on purpose: drop the first connection half-way, or trickle bytes slowly.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How the body is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    /// All at once.
    Full,
    /// The first answer stops after this many bytes and closes (announcing the whole
    /// length); later requests are served normally.
    CutFirstAfter(usize),
    /// `chunk` bytes every `every`, until the body ends or the client goes away.
    Trickle {
        /// Bytes per write.
        chunk: usize,
        /// Pause after each write.
        every: Duration,
    },
}

/// A running origin server. Its threads live until the test process ends.
pub struct Origin {
    /// `http(s)://127.0.0.1:PORT`.
    pub base: String,
    /// The test CA's certificate (PEM), for https.
    pub ca_pem: Option<String>,
    /// The `Range` header of each request so far (`None`: no Range).
    pub ranges: Arc<Mutex<Vec<Option<String>>>>,
}

impl Origin {
    /// Serves `body` over plain http.
    pub fn http(body: Vec<u8>, pace: Pace) -> Origin {
        Origin::start(body, pace, None)
    }

    /// Serves `body` over https with a certificate signed by a fresh CA.
    pub fn https(body: Vec<u8>, pace: Pace) -> Origin {
        let (config, ca_pem) = tls_config();
        let mut origin = Origin::start(body, pace, Some(config));
        origin.ca_pem = Some(ca_pem);
        origin
    }

    /// The URL of `name` on this server (every name serves the same body).
    pub fn url(&self, name: &str) -> String {
        format!("{}/{name}", self.base)
    }

    fn start(body: Vec<u8>, pace: Pace, tls: Option<Arc<rustls::ServerConfig>>) -> Origin {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let scheme = if tls.is_some() { "https" } else { "http" };
        let base = format!("{scheme}://{}", listener.local_addr().unwrap());
        let ranges = Arc::new(Mutex::new(Vec::new()));
        let seen = ranges.clone();
        let body = Arc::new(body);
        std::thread::spawn(move || {
            for (n, tcp) in listener.incoming().flatten().enumerate() {
                let (body, seen, tls) = (body.clone(), seen.clone(), tls.clone());
                let pace = match pace {
                    Pace::CutFirstAfter(_) if n > 0 => Pace::Full,
                    p => p,
                };
                std::thread::spawn(move || {
                    let _ = tcp.set_read_timeout(Some(Duration::from_secs(10)));
                    match tls {
                        Some(config) => {
                            let conn = rustls::ServerConnection::new(config).unwrap();
                            let mut stream = rustls::StreamOwned::new(conn, tcp);
                            answer(&mut stream, &body, pace, &seen);
                            stream.conn.send_close_notify();
                            let _ = stream.flush();
                        }
                        None => answer(&mut { tcp }, &body, pace, &seen),
                    }
                });
            }
        });
        Origin {
            base,
            ca_pem: None,
            ranges,
        }
    }
}

/// Reads one request head and answers it (200, or 206 for `Range: bytes=N-`).
fn answer(stream: &mut impl ReadWrite, body: &[u8], pace: Pace, seen: &Mutex<Vec<Option<String>>>) {
    let mut head = Vec::new();
    let mut byte = [0u8];
    // A client that refuses the certificate ends the handshake: the read fails.
    while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
        head.push(byte[0]);
    }
    if !head.ends_with(b"\r\n\r\n") {
        return;
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let range = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("range").then(|| v.trim().to_owned())
    });
    seen.lock().unwrap().push(range.clone());
    let start = range
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|n| n.parse::<usize>().ok())
        .filter(|n| *n < body.len());
    let (status, from) = match start {
        Some(n) => (
            format!(
                "206 Partial Content\r\nContent-Range: bytes {n}-{}/{}",
                body.len() - 1,
                body.len()
            ),
            n,
        ),
        None => ("200 OK".to_owned(), 0),
    };
    let rest = &body[from..];
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nAccept-Ranges: bytes\r\nConnection: close\r\n\r\n",
        rest.len()
    );
    if stream.write_all(head.as_bytes()).is_err() {
        return;
    }
    match pace {
        Pace::Full => {
            let _ = stream.write_all(rest);
        }
        Pace::CutFirstAfter(n) => {
            let _ = stream.write_all(&rest[..n.min(rest.len())]);
        }
        Pace::Trickle { chunk, every } => {
            for part in rest.chunks(chunk) {
                if stream
                    .write_all(part)
                    .and_then(|()| stream.flush())
                    .is_err()
                {
                    return;
                }
                std::thread::sleep(every);
            }
        }
    }
    let _ = stream.flush();
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

/// A server config with a certificate for 127.0.0.1 signed by a fresh CA, and that CA (PEM).
fn tls_config() -> (Arc<rustls::ServerConfig>, String) {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "fleetboot test CA");
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate().unwrap())
        .unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .unwrap();
    (Arc::new(config), ca.pem())
}
