//! A keep-alive HTTP/1.1 client for whole files and range requests, written apart from the
//! server's codec: one request at a time, the response head parsed just enough to check the
//! status, `Content-Range`, `Content-Length` and that the server keeps the connection open.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Largest response head accepted.
const MAX_HEAD: usize = 16 * 1024;

/// A server that stops answering fails the request instead of hanging the run.
const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// One connection.
#[derive(Debug)]
pub struct Connection {
    stream: TcpStream,
    host: String,
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

impl Connection {
    /// Connects to `server`.
    ///
    /// # Errors
    /// The connect failed. Reads and writes on the connection time out after 30 s.
    pub fn open(server: SocketAddr) -> io::Result<Connection> {
        let stream = TcpStream::connect(server)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        Ok(Connection {
            stream,
            host: server.to_string(),
            buf: vec![0; 64 * 1024],
            start: 0,
            end: 0,
        })
    }

    /// Fetches bytes `offset..offset + len` (`len` > 0) of `path` into `body`.
    ///
    /// # Errors
    /// I/O errors; `InvalidData` when the response is not a keep-alive 206 for exactly that
    /// range; `UnexpectedEof` when the server closed the connection.
    pub fn get_range(
        &mut self,
        path: &str,
        offset: u64,
        len: u64,
        body: &mut Vec<u8>,
    ) -> io::Result<()> {
        let last = offset + len - 1;
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nRange: bytes={offset}-{last}\r\n\r\n",
            self.host
        );
        self.stream.write_all(request.as_bytes())?;
        let head = self.response_head()?;
        check_range_head(&head, offset, last, len)?;
        body.clear();
        body.resize(len as usize, 0);
        let buffered = (self.end - self.start).min(body.len());
        body[..buffered].copy_from_slice(&self.buf[self.start..self.start + buffered]);
        self.start += buffered;
        self.stream.read_exact(&mut body[buffered..])
    }

    /// Fetches all of `path` (a 200 with a `Content-Length`), handing the body to `sink` in
    /// pieces; returns its length.
    ///
    /// # Errors
    /// I/O errors; `InvalidData` for any other status or a missing length; `UnexpectedEof`
    /// when the server closed the connection early.
    pub fn get(&mut self, path: &str, mut sink: impl FnMut(&[u8])) -> io::Result<u64> {
        let request = format!("GET {path} HTTP/1.1\r\nHost: {}\r\n\r\n", self.host);
        self.stream.write_all(request.as_bytes())?;
        let head = self.response_head()?;
        if !head.status.starts_with("HTTP/1.1 200 ") {
            return Err(invalid(format!("status {:?} for {path}", head.status)));
        }
        let len = head
            .length
            .ok_or_else(|| invalid(format!("no Content-Length for {path}")))?;
        let mut left = len;
        while left > 0 {
            if self.start == self.end {
                self.start = 0;
                self.end = self.stream.read(&mut self.buf)?;
                if self.end == 0 {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
            }
            let n = (self.end - self.start).min(usize::try_from(left).unwrap_or(usize::MAX));
            sink(&self.buf[self.start..self.start + n]);
            self.start += n;
            left -= n as u64;
        }
        Ok(len)
    }

    /// Reads and parses the next response head, consuming it from the buffer.
    fn response_head(&mut self) -> io::Result<Head> {
        let head_len = self.read_head()?;
        let text = std::str::from_utf8(&self.buf[self.start..self.start + head_len])
            .map_err(|_| invalid("response head is not UTF-8".into()))?;
        let head = Head::parse(text);
        self.start += head_len;
        Ok(head)
    }

    /// Reads until the buffer holds a whole head; returns its length including the blank line.
    fn read_head(&mut self) -> io::Result<usize> {
        loop {
            let window = &self.buf[self.start..self.end];
            if let Some(at) = window.windows(4).position(|w| w == b"\r\n\r\n") {
                return Ok(at + 4);
            }
            if self.end - self.start >= MAX_HEAD {
                return Err(invalid("response head too long".into()));
            }
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            let n = self.stream.read(&mut self.buf[self.end..])?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            self.end += n;
        }
    }
}

/// `http://IP:PORT/path` (or without the port: 80) split into the address and the path;
/// `None` for anything else (the storms speak to addresses, not names).
pub fn split_url(url: &str) -> Option<(SocketAddr, String)> {
    let rest = url.strip_prefix("http://")?;
    let (authority, path) = rest.find('/').map_or((rest, "/"), |at| rest.split_at(at));
    let addr = authority
        .parse()
        .ok()
        .or_else(|| Some(SocketAddr::new(authority.parse().ok()?, 80)))?;
    Some((addr, path.to_owned()))
}

/// The parts of a response head the clients check.
#[derive(Debug, Default)]
struct Head {
    status: String,
    length: Option<u64>,
    range: Option<String>,
    close: bool,
}

impl Head {
    fn parse(head: &str) -> Head {
        let mut lines = head.split("\r\n");
        let mut h = Head {
            status: lines.next().unwrap_or_default().to_owned(),
            ..Head::default()
        };
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            match name.trim().to_ascii_lowercase().as_str() {
                "content-length" => h.length = value.parse::<u64>().ok(),
                "content-range" => h.range = Some(value.to_owned()),
                "connection" => h.close = value.eq_ignore_ascii_case("close"),
                _ => {}
            }
        }
        h
    }
}

/// Checks a 206 head for `first..=last` with a `len`-byte body on a connection kept open.
fn check_range_head(head: &Head, first: u64, last: u64, len: u64) -> io::Result<()> {
    if !head.status.starts_with("HTTP/1.1 206 ") {
        return Err(invalid(format!("status {:?}", head.status)));
    }
    if head.close {
        return Err(invalid("server closes the connection".into()));
    }
    if head.length != Some(len) {
        return Err(invalid(format!(
            "Content-Length {:?}, asked {len}",
            head.length
        )));
    }
    let want = format!("bytes {first}-{last}/");
    match &head.range {
        Some(r) if r.starts_with(&want) => Ok(()),
        r => Err(invalid(format!("Content-Range {r:?}, asked {want}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn head_checks() {
        let ok =
            "HTTP/1.1 206 Partial Content\r\ncontent-length: 3\r\nContent-Range: bytes 5-7/100\r\n";
        let check =
            |head: &str, first, last, len| check_range_head(&Head::parse(head), first, last, len);
        assert!(check(ok, 5, 7, 3).is_ok());
        assert!(check(ok, 4, 6, 3).is_err());
        assert!(check(&ok.replace("206", "200"), 5, 7, 3).is_err());
        assert!(check(&format!("{ok}Connection: close\r\n"), 5, 7, 3).is_err());
    }

    #[test]
    fn whole_files_stream_past_the_buffer_and_errors_are_errors() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let body: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let sent = body.clone();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut chunk = [0u8; 1024];
            let _ = s.read(&mut chunk).unwrap();
            let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", sent.len());
            s.write_all(head.as_bytes()).unwrap();
            s.write_all(&sent).unwrap();
            let _ = s.read(&mut chunk).unwrap();
            s.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                .unwrap();
            let _ = s.read_to_end(&mut Vec::new());
        });
        let mut c = Connection::open(addr).unwrap();
        let mut got = Vec::new();
        let len = c.get("/f", |piece| got.extend_from_slice(piece)).unwrap();
        assert_eq!(len, body.len() as u64);
        assert!(got == body, "body differs");
        assert!(c.get("/missing", |_| {}).is_err());
        drop(c);
        server.join().unwrap();
    }

    #[test]
    fn urls_split_into_address_and_path() {
        assert_eq!(
            split_url("http://10.0.0.2:8080/images/a/linux?x=1"),
            Some((
                "10.0.0.2:8080".parse().unwrap(),
                "/images/a/linux?x=1".into()
            ))
        );
        assert_eq!(
            split_url("http://10.0.0.2"),
            Some(("10.0.0.2:80".parse().unwrap(), "/".into()))
        );
        assert_eq!(split_url("https://10.0.0.2/x"), None);
        assert_eq!(split_url("http://boot.example/x"), None);
    }

    #[test]
    fn keeps_bytes_of_the_next_response_for_the_next_call() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut seen = Vec::new();
            let mut chunk = [0u8; 1024];
            while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = s.read(&mut chunk).unwrap();
                seen.extend_from_slice(&chunk[..n]);
            }
            // Both answers in one write: the second must stay buffered for the next call.
            s.write_all(
                b"HTTP/1.1 206 P\r\nContent-Length: 2\r\nContent-Range: bytes 0-1/4\r\n\r\nab",
            )
            .unwrap();
            s.write_all(
                b"HTTP/1.1 206 P\r\nContent-Length: 2\r\nContent-Range: bytes 2-3/4\r\n\r\ncd",
            )
            .unwrap();
            // Hold the connection until the client is done with it.
            let _ = s.read_to_end(&mut Vec::new());
        });
        let mut c = Connection::open(addr).unwrap();
        let mut body = Vec::new();
        c.get_range("/f", 0, 2, &mut body).unwrap();
        assert_eq!(body, b"ab");
        c.get_range("/f", 2, 2, &mut body).unwrap();
        assert_eq!(body, b"cd");
        drop(c);
        server.join().unwrap();
    }
}
