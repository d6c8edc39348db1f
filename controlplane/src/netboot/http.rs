//! A minimal HTTP/1.1 GET client over `TcpStream` for netboot tarballs: plain `http://`
//! only (distro mirrors serve it; TLS would need a crate this project does not carry),
//! redirects to `http://` followed, timeouts on every read and write, the body streamed to
//! a file while it is hashed.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::{Limits, NetbootError};

/// Redirects followed, at most.
const MAX_REDIRECTS: usize = 3;
/// Connect and per-read/write timeout.
const IO_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest response head.
const MAX_HEAD: usize = 64 << 10;

/// Streams `url`'s body into `path`, following redirects; returns its SHA-256 (hex).
pub(super) fn download_to(url: &str, path: &Path, limits: &Limits) -> Result<String, NetbootError> {
    let deadline = Instant::now() + limits.deadline;
    let mut url = url.to_owned();
    for _ in 0..=MAX_REDIRECTS {
        let (mut body, response) = get(&url)?;
        if let Some(location) = response.location {
            url = redirect_target(&url, &location)?;
            continue;
        }
        if response.length.is_some_and(|n| n > limits.download) {
            return Err(NetbootError::Http(format!(
                "{url} is larger than {} bytes",
                limits.download
            )));
        }
        let mut out = File::create(path)?;
        let mut hash = Sha256::new();
        let (mut got, mut buf) = (0u64, vec![0u8; 64 << 10]);
        loop {
            if Instant::now() > deadline {
                return Err(NetbootError::Http(format!("{url}: download took too long")));
            }
            let n = body.read(&mut buf).map_err(|e| http(&url, e))?;
            if n == 0 {
                break;
            }
            got += n as u64;
            if got > limits.download {
                return Err(NetbootError::Http(format!(
                    "{url} is larger than {} bytes",
                    limits.download
                )));
            }
            hash.update(&buf[..n]);
            out.write_all(&buf[..n])?;
        }
        if response.length.is_some_and(|n| n != got) {
            return Err(NetbootError::Http(format!(
                "{url}: connection closed early"
            )));
        }
        out.sync_all()?;
        return Ok(hash.finalize().iter().map(|b| format!("{b:02x}")).collect());
    }
    Err(NetbootError::Http(format!(
        "more than {MAX_REDIRECTS} redirects"
    )))
}

fn http(url: &str, e: io::Error) -> NetbootError {
    NetbootError::Http(format!("{url}: {e}"))
}

/// What matters of a response head.
struct Head {
    /// Set for a redirect.
    location: Option<String>,
    /// `Content-Length`, when given.
    length: Option<u64>,
}

/// Sends a GET and reads the head; the reader yields the body (decoded when chunked).
fn get(url: &str) -> Result<(Box<dyn Read>, Head), NetbootError> {
    let (host, port, path) = parse_url(url)?;
    let addrs = format!("{host}:{port}")
        .to_socket_addrs()
        .map_err(|e| http(url, e))?;
    let mut last = io::Error::new(io::ErrorKind::NotFound, "host has no address");
    let stream = addrs
        .into_iter()
        .find_map(|a| match TcpStream::connect_timeout(&a, IO_TIMEOUT) {
            Ok(s) => Some(s),
            Err(e) => {
                last = e;
                None
            }
        })
        .ok_or_else(|| http(url, last))?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let host_header = if port == 80 {
        host.clone()
    } else {
        format!("{host}:{port}")
    };
    write!(
        &stream,
        "GET {path} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: fleetboot\r\n\
         Accept-Encoding: identity\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| http(url, e))?;
    let mut reader = BufReader::new(stream);
    let mut head = String::new();
    let mut line = String::new();
    while line != "\r\n" && line != "\n" {
        line.clear();
        let n = (&mut reader)
            .take((MAX_HEAD - head.len()) as u64)
            .read_line(&mut line)
            .map_err(|e| http(url, e))?;
        if n == 0 || head.len() + n >= MAX_HEAD {
            return Err(NetbootError::Http(format!("{url}: bad response head")));
        }
        head.push_str(&line);
    }
    let mut lines = head.lines();
    let status = lines.next().unwrap_or_default();
    let code: u16 = status
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| NetbootError::Http(format!("{url}: bad status line {status:?}")))?;
    let header = |name: &str| {
        head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
    };
    let chunked = header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    let location = match code {
        200 => None,
        301 | 302 | 303 | 307 | 308 => Some(
            header("location")
                .ok_or_else(|| NetbootError::Http(format!("{url}: redirect without a Location")))?,
        ),
        _ => return Err(NetbootError::Http(format!("{url}: {}", status.trim()))),
    };
    let length = if chunked {
        None
    } else {
        header("content-length").and_then(|v| v.parse().ok())
    };
    let body: Box<dyn Read> = if chunked {
        Box::new(Chunked {
            inner: reader,
            left: 0,
            done: false,
        })
    } else {
        Box::new(reader)
    };
    Ok((body, Head { location, length }))
}

/// `http://host[:port]/path` → (host, port, path).
pub(super) fn parse_url(url: &str) -> Result<(String, u16, String), NetbootError> {
    if url.starts_with("https://") {
        return Err(NetbootError::Url(format!(
            "{url}: https netboot URLs need a mirror or proxy over http (pass --url http://...)"
        )));
    }
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| NetbootError::Url(format!("{url}: not an http:// URL")))?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (
            h,
            p.parse()
                .map_err(|_| NetbootError::Url(format!("{url}: bad port")))?,
        ),
        None => (authority, 80),
    };
    if host.is_empty() || path.contains([' ', '\r', '\n']) {
        return Err(NetbootError::Url(format!("{url}: bad URL")));
    }
    let path = if path.is_empty() { "/" } else { path };
    Ok((host.to_owned(), port, path.to_owned()))
}

/// A `Location` resolved against the URL that answered it: absolute, or a server path.
pub(super) fn redirect_target(from: &str, location: &str) -> Result<String, NetbootError> {
    if location.starts_with('/') && !location.starts_with("//") {
        let (host, port, _) = parse_url(from)?;
        return Ok(format!("http://{host}:{port}{location}"));
    }
    parse_url(location)?;
    Ok(location.to_owned())
}

/// A chunked transfer-coding decoder.
struct Chunked<R> {
    inner: R,
    left: u64,
    done: bool,
}

impl<R: BufRead> Read for Chunked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let bad = || io::Error::new(io::ErrorKind::InvalidData, "bad chunked encoding");
        if self.done {
            return Ok(0);
        }
        if self.left == 0 {
            let mut line = String::new();
            (&mut self.inner).take(1024).read_line(&mut line)?;
            let size = line.trim().split(';').next().unwrap_or_default();
            self.left = u64::from_str_radix(size, 16).map_err(|_| bad())?;
            if self.left == 0 {
                self.done = true;
                return Ok(0);
            }
        }
        let want = buf.len().min(self.left as usize);
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.left -= n as u64;
        if self.left == 0 {
            let mut crlf = String::new();
            (&mut self.inner).take(2).read_line(&mut crlf)?;
        }
        Ok(n)
    }
}
