//! HTTP/1.1 response-head renderer: status line (RFC 9112 §4), reason phrases (RFC 9110 §15),
//! `Content-Range` (RFC 9110 §14.4) and connection persistence (RFC 9112 §9.3). The head is
//! appended to a caller-owned, reused `Vec<u8>`; fields that would inject lines are dropped.

use super::http::Version;

/// Response status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)] // the variant names are their documentation
pub enum Status {
    Ok200,
    NoContent204,
    PartialContent206,
    NotModified304,
    BadRequest400,
    NotFound404,
    MethodNotAllowed405,
    LengthRequired411,
    PayloadTooLarge413,
    UriTooLong414,
    RangeNotSatisfiable416,
    HeadersTooLarge431,
    InternalError500,
    ServiceUnavailable503,
    VersionNotSupported505,
}

impl Status {
    /// The numeric status code.
    pub fn code(self) -> u16 {
        self.line().0
    }

    /// The reason phrase (RFC 9110 §15 names).
    pub fn reason(self) -> &'static str {
        self.line().1
    }

    fn line(self) -> (u16, &'static str) {
        match self {
            Status::Ok200 => (200, "OK"),
            Status::NoContent204 => (204, "No Content"),
            Status::PartialContent206 => (206, "Partial Content"),
            Status::NotModified304 => (304, "Not Modified"),
            Status::BadRequest400 => (400, "Bad Request"),
            Status::NotFound404 => (404, "Not Found"),
            Status::MethodNotAllowed405 => (405, "Method Not Allowed"),
            Status::LengthRequired411 => (411, "Length Required"),
            Status::PayloadTooLarge413 => (413, "Content Too Large"),
            Status::UriTooLong414 => (414, "URI Too Long"),
            Status::RangeNotSatisfiable416 => (416, "Range Not Satisfiable"),
            Status::HeadersTooLarge431 => (431, "Request Header Fields Too Large"),
            Status::InternalError500 => (500, "Internal Server Error"),
            Status::ServiceUnavailable503 => (503, "Service Unavailable"),
            Status::VersionNotSupported505 => (505, "HTTP Version Not Supported"),
        }
    }
}

/// A `Content-Range` value (RFC 9110 §14.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentRange {
    /// `bytes first-last/complete` (206, and each part of a multipart body).
    Bytes {
        /// First byte offset.
        first: u64,
        /// Last byte offset, inclusive.
        last: u64,
        /// Length of the whole representation.
        complete: u64,
    },
    /// `bytes */complete` (416).
    Unsatisfied {
        /// Length of the whole representation.
        complete: u64,
    },
}

impl ContentRange {
    /// Appends the field value, e.g. `bytes 0-0/123`.
    pub fn write_value(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"bytes ");
        let complete = match *self {
            ContentRange::Bytes {
                first,
                last,
                complete,
            } => {
                push_u64(out, first);
                out.push(b'-');
                push_u64(out, last);
                complete
            }
            ContentRange::Unsatisfied { complete } => {
                out.push(b'*');
                complete
            }
        };
        out.push(b'/');
        push_u64(out, complete);
    }
}

/// Everything needed to render a response head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseHead<'a> {
    /// Status code.
    pub status: Status,
    /// The request's version: decides how keep-alive is signalled.
    pub version: Version,
    /// `Content-Type`.
    pub content_type: Option<&'a str>,
    /// `Content-Length`: the body length, or for HEAD the length GET would send. Not sent
    /// with 304, where it could only be wrong (RFC 9110 §8.6).
    pub content_length: u64,
    /// `Content-Range`.
    pub content_range: Option<ContentRange>,
    /// `ETag`, already quoted.
    pub etag: Option<&'a str>,
    /// `Last-Modified`, already formatted (see [`http_date`](super::date::http_date)).
    pub last_modified: Option<&'a str>,
    /// Send `Accept-Ranges: bytes`.
    pub accept_ranges: bool,
    /// Keep the connection open after this response.
    pub keep_alive: bool,
    /// `Allow` (405).
    pub allow: Option<&'a str>,
    /// Further fields, sent as given.
    pub extra: &'a [(&'a str, &'a str)],
}

impl ResponseHead<'static> {
    /// A head with a status and nothing else (no body, no optional fields): the start of a
    /// struct update for the fields a response sets.
    pub fn new(status: Status, version: Version, keep_alive: bool) -> Self {
        ResponseHead {
            status,
            version,
            content_type: None,
            content_length: 0,
            content_range: None,
            etag: None,
            last_modified: None,
            accept_ranges: false,
            keep_alive,
            allow: None,
            extra: &[],
        }
    }
}

/// Appends the response head, through its final empty line, to `out`. Fields whose name or
/// value contains CR or LF are dropped rather than allowed to inject lines.
pub fn render_response(head: &ResponseHead<'_>, out: &mut Vec<u8>) {
    // RFC 9110 §2.5: answer with our highest 1.x version even to HTTP/1.0 clients.
    out.extend_from_slice(b"HTTP/1.1 ");
    push_u64(out, u64::from(head.status.code()));
    out.push(b' ');
    out.extend_from_slice(head.status.reason().as_bytes());
    out.extend_from_slice(b"\r\nServer: fleetboot\r\n");
    if let Some(ct) = head.content_type {
        field(out, "Content-Type", ct);
    }
    // RFC 9110 §8.6: never in a 204; a 304's would describe the unsent representation.
    if !matches!(head.status, Status::NotModified304 | Status::NoContent204) {
        out.extend_from_slice(b"Content-Length: ");
        push_u64(out, head.content_length);
        out.extend_from_slice(b"\r\n");
    }
    if let Some(range) = head.content_range {
        out.extend_from_slice(b"Content-Range: ");
        range.write_value(out);
        out.extend_from_slice(b"\r\n");
    }
    if head.accept_ranges {
        out.extend_from_slice(b"Accept-Ranges: bytes\r\n");
    }
    let optional = [
        ("ETag", head.etag),
        ("Last-Modified", head.last_modified),
        ("Allow", head.allow),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            field(out, name, value);
        }
    }
    for (name, value) in head.extra {
        field(out, name, value);
    }
    // HTTP/1.1 persists by default; HTTP/1.0 only when told (RFC 9112 §9.3).
    match (head.keep_alive, head.version) {
        (false, _) => out.extend_from_slice(b"Connection: close\r\n"),
        (true, Version::Http10) => out.extend_from_slice(b"Connection: keep-alive\r\n"),
        (true, Version::Http11) => {}
    }
    out.extend_from_slice(b"\r\n");
}

fn field(out: &mut Vec<u8>, name: &str, value: &str) {
    let clean = |s: &str| !s.bytes().any(|b| b == b'\r' || b == b'\n');
    if name.is_empty() || !clean(name) || !clean(value) {
        return;
    }
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Appends `n` in decimal without going through `fmt`.
fn push_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn response(status: Status) -> ResponseHead<'static> {
        ResponseHead::new(status, Version::Http11, true)
    }

    #[test]
    fn renders_response_heads() {
        let mut out = Vec::new();
        let partial = ResponseHead {
            content_type: Some("application/x-iso9660-image"),
            content_length: 5_000_000_000,
            content_range: Some(ContentRange::Bytes {
                first: 1,
                last: 5_000_000_000,
                complete: u64::MAX,
            }),
            etag: Some("\"5f3a-10000\""),
            last_modified: Some("Sun, 06 Nov 1994 08:49:37 GMT"),
            accept_ranges: true,
            extra: &[("X-A", "1"), ("X-Bad", "1\r\nSet-Cookie: x"), ("", "v")],
            ..response(Status::PartialContent206)
        };
        render_response(&partial, &mut out);
        let want = concat!(
            "HTTP/1.1 206 Partial Content\r\nServer: fleetboot\r\n",
            "Content-Type: application/x-iso9660-image\r\nContent-Length: 5000000000\r\n",
            "Content-Range: bytes 1-5000000000/18446744073709551615\r\nAccept-Ranges: bytes\r\n",
            "ETag: \"5f3a-10000\"\r\nLast-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\n",
            "X-A: 1\r\n\r\n",
        );
        assert_eq!(String::from_utf8_lossy(&out), want);
        let not_allowed = ResponseHead {
            allow: Some("GET, HEAD"),
            keep_alive: false,
            ..response(Status::MethodNotAllowed405)
        };
        let unsatisfied = ResponseHead {
            version: Version::Http10,
            content_range: Some(ContentRange::Unsatisfied { complete: 123 }),
            ..response(Status::RangeNotSatisfiable416)
        };
        let start = "HTTP/1.1 ";
        let cases = [
            (
                response(Status::NotModified304),
                "304 Not Modified\r\nServer: fleetboot\r\n\r\n",
            ),
            (
                response(Status::NoContent204),
                "204 No Content\r\nServer: fleetboot\r\n\r\n",
            ),
            (
                not_allowed,
                concat!(
                    "405 Method Not Allowed\r\nServer: fleetboot\r\nContent-Length: 0\r\n",
                    "Allow: GET, HEAD\r\nConnection: close\r\n\r\n",
                ),
            ),
            (
                unsatisfied,
                concat!(
                    "416 Range Not Satisfiable\r\nServer: fleetboot\r\nContent-Length: 0\r\n",
                    "Content-Range: bytes */123\r\nConnection: keep-alive\r\n\r\n",
                ),
            ),
        ];
        for (head, want) in cases {
            out.clear();
            render_response(&head, &mut out);
            assert_eq!(String::from_utf8_lossy(&out), format!("{start}{want}"));
        }
        assert_eq!(Status::HeadersTooLarge431.code(), 431);
        assert_eq!(Status::LengthRequired411.reason(), "Length Required");
        assert_eq!(Status::UriTooLong414.reason(), "URI Too Long");
    }
}
