//! HTTP/1.1 request-head parser.
//!
//! Syntax follows RFC 9112 (request line §3, field lines §5, body framing §6.3, line endings
//! §2.2) and semantics RFC 9110 (fields §5, version handling §2.5). The parser borrows from
//! the caller's buffer and never allocates or panics; every malformed input maps to a
//! [`ParseError`]. The response-head renderer is in [`super::http_response`], the HTTP-date
//! codec in [`super::date`].

use std::fmt;

/// Request method. GET and HEAD are served, POST only where a client reports back (the
/// install callbacks); anything else gets 405 with `Allow`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `GET`.
    Get,
    /// `HEAD`.
    Head,
    /// `POST`.
    Post,
    /// Any other syntactically valid method token.
    Other,
}

/// Protocol version of a request (HTTP/1.x only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// HTTP/1.0: connections close unless the client asks for keep-alive.
    Http10,
    /// HTTP/1.1 (and any higher 1.x minor, RFC 9110 §2.5).
    Http11,
}

/// One parsed request head; every slice borrows from the parsed buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestHead<'a> {
    /// Request method.
    pub method: Method,
    /// Raw request-target including any query; the path part for absolute-form.
    pub target: &'a [u8],
    /// Request version.
    pub version: Version,
    /// `Host` value, or the authority of an absolute-form target (RFC 9112 §3.2.2).
    pub host: Option<&'a [u8]>,
    /// `Range` value; `None` when absent, or repeated together with itself or `If-Range`.
    pub range: Option<&'a [u8]>,
    /// `If-Range` value.
    pub if_range: Option<&'a [u8]>,
    /// First `If-None-Match` value (later lines can only add matches; ignoring them is safe).
    pub if_none_match: Option<&'a [u8]>,
    /// `If-Modified-Since` value; `None` when repeated (RFC 9110 §13.1.3).
    pub if_modified_since: Option<&'a [u8]>,
    /// `Connection: close` was sent.
    pub connection_close: bool,
    /// `Connection: keep-alive` was sent.
    pub connection_keep_alive: bool,
    /// The request carries a body (`Content-Length` > 0 or any `Transfer-Encoding`).
    pub has_body: bool,
    /// `Content-Length`, when sent (repeated equal values count once).
    pub content_length: Option<u64>,
    /// Any `Transfer-Encoding` was sent: the body is framed by it, not by a length
    /// (RFC 9112 §6.1), and this server reads no such body.
    pub transfer_encoding: bool,
}

/// How the body of a request is framed (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body: neither `Content-Length` nor `Transfer-Encoding` (rule 7), or a length of 0.
    None,
    /// Exactly this many bytes follow the head (rule 6).
    Length(u64),
    /// Framed by a transfer coding (chunked): its length is not known up front (rules 3, 4).
    Coded,
}

impl RequestHead<'_> {
    /// How this request's body is framed. A `Transfer-Encoding` overrides any
    /// `Content-Length` (RFC 9112 §6.3 rule 3); such a request is read by nobody here.
    pub fn body(&self) -> BodyFraming {
        match (self.transfer_encoding, self.content_length) {
            (true, _) => BodyFraming::Coded,
            (false, None | Some(0)) => BodyFraming::None,
            (false, Some(n)) => BodyFraming::Length(n),
        }
    }
}

/// Why a request head was refused, or that it is not complete yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// No complete head yet and no limit exceeded: read more.
    Incomplete,
    /// Request line longer than [`Limits::max_request_line`] (414).
    RequestLineTooLong,
    /// Head longer than [`Limits::max_head`] or too many fields (431).
    HeadersTooLarge,
    /// Malformed request (400); the text says what was wrong.
    BadRequest(&'static str),
    /// Not HTTP/1.x (505).
    VersionNotSupported,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Incomplete => f.write_str("incomplete request head"),
            ParseError::RequestLineTooLong => f.write_str("request line too long"),
            ParseError::HeadersTooLarge => f.write_str("request head too large"),
            ParseError::BadRequest(why) => write!(f, "bad request: {why}"),
            ParseError::VersionNotSupported => f.write_str("HTTP version not supported"),
        }
    }
}

impl std::error::Error for ParseError {}

/// Size limits applied while parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest request line, without its line ending.
    pub max_request_line: usize,
    /// Largest head, from the first byte of the buffer through the final empty line.
    pub max_head: usize,
    /// Most field lines.
    pub max_headers: usize,
}

/// Parses one request head from the start of `buf`. Returns the head and the bytes consumed,
/// including skipped leading empty lines and the final empty line; bytes after it (a pipelined
/// request) are left alone.
///
/// # Errors
/// [`ParseError::Incomplete`] until a whole head is buffered, unless a limit is already
/// exceeded; the other variants for malformed or oversized heads.
pub fn parse_request<'a>(
    buf: &'a [u8],
    limits: &Limits,
) -> Result<(RequestHead<'a>, usize), ParseError> {
    use ParseError::{BadRequest, HeadersTooLarge, Incomplete, RequestLineTooLong};
    // Whatever is buffered while incomplete belongs to this head, so it bounds the head size.
    let more = || {
        if buf.len() > limits.max_head {
            HeadersTooLarge
        } else {
            Incomplete
        }
    };
    // RFC 9112 §2.2: ignore empty lines before the request line (stray CRLF after a body).
    let mut start = 0;
    loop {
        match buf.get(start..).unwrap_or_default() {
            [b'\n', ..] => start += 1,
            [b'\r', b'\n', ..] => start += 2,
            [b'\r'] => return Err(more()),
            _ => break,
        }
    }
    let rest = buf.get(start..).unwrap_or_default();
    let Some(nl) = find(rest, b'\n') else {
        // Check the request-line limit now, so a client cannot stream an endless target.
        let pending = match rest {
            [line @ .., b'\r'] => line.len(),
            _ => rest.len(),
        };
        return Err(if pending > limits.max_request_line {
            RequestLineTooLong
        } else {
            more()
        });
    };
    let line = strip_cr(&rest[..nl]);
    if line.len() > limits.max_request_line {
        return Err(RequestLineTooLong);
    }
    let mut words = line.splitn(3, |&b| b == b' ');
    let (Some(method), Some(target), Some(version)) = (words.next(), words.next(), words.next())
    else {
        return Err(BadRequest("malformed request line"));
    };
    if method.is_empty() || !method.iter().all(|&b| is_tchar(b)) {
        return Err(BadRequest("invalid method"));
    }
    let method = match method {
        b"GET" => Method::Get,
        b"HEAD" => Method::Head,
        b"POST" => Method::Post,
        _ => Method::Other,
    };
    let version = parse_version(version)?;
    let (target, authority) = parse_target(method, target)?;

    let mut head = RequestHead {
        method,
        target,
        version,
        host: None,
        range: None,
        if_range: None,
        if_none_match: None,
        if_modified_since: None,
        connection_close: false,
        connection_keep_alive: false,
        has_body: false,
        content_length: None,
        transfer_encoding: false,
    };
    let (mut seen_host, mut bad_range, mut bad_ims, mut chunked) = (false, false, false, false);
    let mut content_length: Option<u64> = None;
    let mut fields = 0usize;
    let mut pos = start + nl + 1;
    loop {
        let rest = buf.get(pos..).unwrap_or_default();
        let Some(nl) = find(rest, b'\n') else {
            return Err(more());
        };
        pos += nl + 1;
        if pos > limits.max_head {
            return Err(HeadersTooLarge);
        }
        let line = strip_cr(&rest[..nl]);
        if line.is_empty() {
            break;
        }
        if matches!(line[0], b' ' | b'\t') {
            // RFC 9112 §5.2: obs-fold may be rejected; joining lines would need a copy.
            return Err(BadRequest("obsolete line folding"));
        }
        fields += 1;
        if fields > limits.max_headers {
            return Err(HeadersTooLarge);
        }
        let Some(colon) = find(line, b':') else {
            return Err(BadRequest("field line without colon"));
        };
        let (name, value) = (&line[..colon], trim_ows(&line[colon + 1..]));
        // Also catches whitespace before the colon, which RFC 9112 §5.1 says must be rejected.
        if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
            return Err(BadRequest("invalid field name"));
        }
        // RFC 9110 §5.5: CR, LF and NUL are never valid in a value; other controls neither.
        if value.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
            return Err(BadRequest("control character in field value"));
        }
        let is = |n: &str| name.eq_ignore_ascii_case(n.as_bytes());
        if is("host") {
            // RFC 9112 §3.2: more than one Host is a 400.
            if seen_host {
                return Err(BadRequest("duplicate Host"));
            }
            seen_host = true;
            head.host = Some(value);
        } else if is("content-length") {
            // RFC 9112 §6.3: differing lengths are unrecoverable framing errors.
            for item in value.split(|&b| b == b',') {
                let n = parse_u64(trim_ows(item)).ok_or(BadRequest("invalid Content-Length"))?;
                if content_length.is_some_and(|c| c != n) {
                    return Err(BadRequest("conflicting Content-Length"));
                }
                content_length = Some(n);
            }
        } else if is("transfer-encoding") {
            chunked = true;
        } else if is("connection") {
            for option in value.split(|&b| b == b',').map(trim_ows) {
                head.connection_close |= option.eq_ignore_ascii_case(b"close");
                head.connection_keep_alive |= option.eq_ignore_ascii_case(b"keep-alive");
            }
        } else if is("range") || is("if-range") {
            // A repeated singleton is ambiguous; the full representation is always correct.
            let slot = if is("range") {
                &mut head.range
            } else {
                &mut head.if_range
            };
            bad_range |= slot.is_some();
            *slot = Some(value);
        } else if is("if-none-match") {
            head.if_none_match = head.if_none_match.or(Some(value));
        } else if is("if-modified-since") {
            bad_ims |= head.if_modified_since.is_some();
            head.if_modified_since = Some(value);
        }
    }
    if bad_range {
        head.range = None;
    }
    if bad_ims {
        head.if_modified_since = None;
    }
    if authority.is_some() {
        head.host = authority;
    }
    head.has_body = chunked || content_length.is_some_and(|n| n > 0);
    head.content_length = content_length;
    head.transfer_encoding = chunked;
    Ok((head, pos))
}

fn parse_version(v: &[u8]) -> Result<Version, ParseError> {
    match *v {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            match (major, minor) {
                (b'1', b'0') => Ok(Version::Http10),
                (b'1', _) => Ok(Version::Http11),
                _ => Err(ParseError::VersionNotSupported),
            }
        }
        _ => Err(ParseError::BadRequest("malformed HTTP version")),
    }
}

/// Returns the origin-form target (the path part of an absolute-form one) and, for
/// absolute-form, its authority (RFC 9112 §3.2).
fn parse_target(m: Method, t: &[u8]) -> Result<(&[u8], Option<&[u8]>), ParseError> {
    if t.is_empty() || t.iter().any(|&b| b <= b' ' || b == 0x7f) {
        return Err(ParseError::BadRequest("invalid request-target"));
    }
    if t[0] == b'/' {
        return Ok((t, None));
    }
    let scheme = t.iter().position(|&b| b == b':').map(|i| t.split_at(i));
    if let Some((scheme, rest)) = scheme {
        let http = scheme.eq_ignore_ascii_case(b"http") || scheme.eq_ignore_ascii_case(b"https");
        if let (true, Some(rest)) = (http, rest.strip_prefix(b"://")) {
            let end = rest.iter().position(|&b| matches!(b, b'/' | b'?' | b'#'));
            let (authority, path) = rest.split_at(end.unwrap_or(rest.len()));
            return match path.first() {
                _ if authority.is_empty() => Err(ParseError::BadRequest("empty authority")),
                None => Ok((b"/", Some(authority))),
                Some(b'/') => Ok((path, Some(authority))),
                Some(_) => Err(ParseError::BadRequest("absolute-form without path")),
            };
        }
    }
    // asterisk-form and authority-form only make sense for methods answered with 405 anyway.
    if matches!(m, Method::Other | Method::Post) {
        return Ok((t, None));
    }
    Err(ParseError::BadRequest(
        "request-target is not origin-form or absolute-form",
    ))
}

/// Index of the first `b` in `s`.
pub(crate) fn find(s: &[u8], b: u8) -> Option<usize> {
    s.iter().position(|&c| c == b)
}

/// Drops one trailing CR: lines may end in CRLF or, for robustness, bare LF (RFC 9112 §2.2).
fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Trims optional whitespace (SP / HTAB) from both ends.
pub(crate) fn trim_ows(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(start, |i| i + 1);
    s.get(start..end).unwrap_or_default()
}

/// A non-empty run of ASCII digits as u64; `None` on anything else or overflow.
pub(crate) fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    s.iter().try_fold(0u64, |n, &b| {
        let d = b.checked_sub(b'0').filter(|d| *d <= 9)?;
        n.checked_mul(10)?.checked_add(u64::from(d))
    })
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::wire::date::parse_http_date;
    use crate::wire::http_response::tests::response;
    use crate::wire::http_response::{render_response, ContentRange, ResponseHead, Status};

    const LIMITS: Limits = Limits {
        max_request_line: 8192,
        max_head: 16384,
        max_headers: 64,
    };
    const IPXE: &[u8] = b"GET /boot.ipxe?mac=52:54:00:12:34:56 HTTP/1.1\r\nConnection: keep-alive\r\nUser-Agent: iPXE/1.21.1+ (g988d2)\r\nHost: 10.0.0.2:8080\r\n\r\n";
    const CURL: &[u8] = b"GET /images/ubuntu-24.04-live-server-amd64.iso HTTP/1.1\r\nHost: 10.0.0.2:8080\r\nRange: bytes=0-1048575\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n";

    fn parse(buf: &[u8]) -> Result<(RequestHead<'_>, usize), ParseError> {
        parse_request(buf, &LIMITS)
    }

    #[test]
    fn ipxe_and_curl_captures() {
        let (h, n) = parse(IPXE).unwrap();
        assert_eq!(
            (h.method, h.version, n),
            (Method::Get, Version::Http11, IPXE.len())
        );
        assert_eq!(h.target, b"/boot.ipxe?mac=52:54:00:12:34:56");
        assert_eq!(h.host, Some(&b"10.0.0.2:8080"[..]));
        assert!(h.connection_keep_alive && !h.connection_close && !h.has_body);
        let (h, n) = parse(CURL).unwrap();
        assert_eq!((h.range, n), (Some(&b"bytes=0-1048575"[..]), CURL.len()));
        assert_eq!(
            (h.if_range, h.if_none_match, h.if_modified_since),
            (None, None, None)
        );
        // Every strict prefix is incomplete, never an error.
        for i in 0..CURL.len() {
            assert_eq!(parse(&CURL[..i]), Err(ParseError::Incomplete), "prefix {i}");
        }
    }

    #[test]
    fn pipelined_bare_lf_and_leading_empty_lines() {
        let mut buf = IPXE.to_vec();
        buf.extend_from_slice(b"\r\n\nHEAD /a HTTP/1.0\nConnection: Keep-Alive, foo\n\nGET /b");
        let (first, n) = parse(&buf).unwrap();
        assert_eq!(
            (first.target, n),
            (&b"/boot.ipxe?mac=52:54:00:12:34:56"[..], IPXE.len())
        );
        let (second, m) = parse(&buf[n..]).unwrap();
        assert_eq!(
            (second.method, second.version),
            (Method::Head, Version::Http10)
        );
        assert!(second.connection_keep_alive && second.host.is_none());
        assert_eq!(&buf[n + m..], b"GET /b");
        assert_eq!(parse(&buf[n + m..]), Err(ParseError::Incomplete));
    }

    #[test]
    fn limits_apply_while_incomplete() {
        let small = Limits {
            max_request_line: 16,
            max_head: 64,
            max_headers: 2,
        };
        let p = |b: &[u8]| parse_request(b, &small).err();
        assert_eq!(p(b"GET /0123456789"), Some(ParseError::Incomplete));
        assert_eq!(p(b"GET /0123456789a\r"), Some(ParseError::Incomplete));
        assert_eq!(
            p(b"GET /0123456789ab"),
            Some(ParseError::RequestLineTooLong)
        );
        assert_eq!(
            p(b"GET /0123456789ab HTTP/1.1\r\n"),
            Some(ParseError::RequestLineTooLong)
        );
        let long = [b"GET / HTTP/1.1\r\nX-A: ".as_slice(), &[b'a'; 60]].concat();
        assert_eq!(p(&long), Some(ParseError::HeadersTooLarge));
        assert_eq!(p(&[b'\n'; 65]), Some(ParseError::HeadersTooLarge));
        let many = b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
        assert_eq!(p(many), Some(ParseError::HeadersTooLarge));
        assert_eq!(p(&many[..22]), Some(ParseError::Incomplete));
    }

    #[test]
    fn malformed_heads_are_refused() {
        let bad: &[&[u8]] = &[
            b"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n",
            b"GET / HTTP/1.1\r\n\tfolded: x\r\n\r\n",
            b"GET / HTTP/1.1\r\nNoColon\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost : a\r\n\r\n",
            b"GET / HTTP/1.1\r\n: a\r\n\r\n",
            b"GET / HTTP/1.1\r\nX: a\x00b\r\n\r\n",
            b"GET / HTTP/1.1\r\nX: a\rb\r\n\r\n",
            b"GET /a\x01b HTTP/1.1\r\n\r\n",
            b"GET /a\x7fb HTTP/1.1\r\n\r\n",
            b"GET * HTTP/1.1\r\n\r\n",
            b"GET foo HTTP/1.1\r\n\r\n",
            b"GET http:///x HTTP/1.1\r\n\r\n",
            b"GET http://h?q HTTP/1.1\r\n\r\n",
            b"GET  / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1 \r\n\r\n",
            b"GET /\r\n\r\n",
            b"G(T / HTTP/1.1\r\n\r\n",
            b"GET / http/1.1\r\n\r\n",
            b"GET / HTTP/1.10\r\n\r\n",
            b"\rGET / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            b"GET / HTTP/1.1\r\nContent-Length: 3, 4\r\n\r\n",
            b"GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
            b"GET / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n",
        ];
        for req in bad {
            let got = parse(req);
            assert!(
                matches!(got, Err(ParseError::BadRequest(_))),
                "{got:?} for {req:?}"
            );
        }
        for v in [&b"HTTP/2.0"[..], b"HTTP/0.9", b"HTTP/3.0"] {
            let req = [b"GET / ", v, b"\r\n\r\n"].concat();
            assert_eq!(parse(&req), Err(ParseError::VersionNotSupported));
        }
    }

    #[test]
    fn fields_and_forms() {
        let req = b"GET http://boot.example:8080/x/y?z HTTP/1.9\r\nhOsT: other\r\nCONTENT-LENGTH: 0, 0\r\nContent-Length: 0\r\nconnection: Upgrade,  close\r\nRange: bytes=1-2\r\nRange: bytes=3-4\r\nIf-None-Match: \"a\"\r\nIf-None-Match: \"b\"\r\nIf-Modified-Since: x\r\nIf-Modified-Since: y\r\nX-Empty:\r\n\r\n";
        let (h, _) = parse(req).unwrap();
        assert_eq!((h.target, h.version), (&b"/x/y?z"[..], Version::Http11));
        assert_eq!(h.host, Some(&b"boot.example:8080"[..]));
        assert!(h.connection_close && !h.connection_keep_alive && !h.has_body);
        assert_eq!((h.range, h.if_modified_since), (None, None));
        assert_eq!(h.if_none_match, Some(&b"\"a\""[..]));
        let (h, _) = parse(b"GET http://h HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n").unwrap();
        assert_eq!(
            (h.target, h.host, h.has_body),
            (&b"/"[..], Some(&b"h"[..]), true)
        );
        let (h, n) = parse(b"POST /x HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello").unwrap();
        assert_eq!((h.method, h.has_body, n), (Method::Post, true, 39));
        assert_eq!(h.body(), BodyFraming::Length(5));
        let (h, _) = parse(b"OPTIONS * HTTP/1.1\r\nIf-Range: \"e\"\r\n\r\n").unwrap();
        assert_eq!(
            (h.method, h.target, h.if_range),
            (Method::Other, &b"*"[..], Some(&b"\"e\""[..]))
        );
        assert_eq!(
            parse(b"get / HTTP/1.1\r\n\r\n").unwrap().0.method,
            Method::Other
        );
    }

    /// Captured: what busybox 1.35's wget sends for `--post-data=ok` (the test ISOs' done call).
    const BUSYBOX_POST: &[u8] = b"POST /t/0123456789abcdef0123456789abcdef/done HTTP/1.1\r\nHost: 10.0.0.2:8080\r\nUser-Agent: Wget\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 2\r\n\r\nok";

    #[test]
    fn body_framing_follows_rfc_9112_section_6_3() {
        let (h, n) = parse(BUSYBOX_POST).unwrap();
        assert_eq!((h.method, h.body()), (Method::Post, BodyFraming::Length(2)));
        assert_eq!(&BUSYBOX_POST[n..], b"ok");
        let framing = |req: &[u8]| parse(req).map(|(h, _)| (h.body(), h.has_body));
        // Rule 7: a request without either field has no body; a zero length neither.
        assert_eq!(
            framing(b"POST /a HTTP/1.1\r\n\r\n"),
            Ok((BodyFraming::None, false))
        );
        assert_eq!(
            framing(b"POST /a HTTP/1.1\r\nContent-Length: 0\r\n\r\n"),
            Ok((BodyFraming::None, false))
        );
        // Repeated equal lengths are one length (§6.3 rule 5 lets a recipient accept them).
        assert_eq!(
            framing(b"POST /a HTTP/1.1\r\nContent-Length: 7, 7\r\nContent-length: 7\r\n\r\n"),
            Ok((BodyFraming::Length(7), true))
        );
        // Rule 3: Transfer-Encoding wins over Content-Length.
        for te in [&b"chunked"[..], b"gzip, chunked", b"identity"] {
            let req = [
                &b"POST /a HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: "[..],
                te,
                b"\r\n\r\n",
            ]
            .concat();
            assert_eq!(framing(&req), Ok((BodyFraming::Coded, true)));
        }
        // Lengths that cannot frame anything are errors, not guesses (rule 5).
        for bad in [&b"1x"[..], b"", b"+2", b"1 2", b"18446744073709551616"] {
            let req = [
                &b"POST /a HTTP/1.1\r\nContent-Length: "[..],
                bad,
                b"\r\n\r\n",
            ]
            .concat();
            assert!(
                matches!(parse(&req), Err(ParseError::BadRequest(_))),
                "{bad:?}"
            );
        }
        // The largest length parses; bounding it is the server's business.
        let (h, _) =
            parse(b"POST /a HTTP/1.1\r\nContent-Length: 18446744073709551615\r\n\r\n").unwrap();
        assert_eq!(h.body(), BodyFraming::Length(u64::MAX));
    }

    /// xorshift64: deterministic randomness without a crate.
    pub(crate) fn xorshift(mut x: u64) -> u64 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^ (x << 17)
    }

    #[test]
    fn never_panics_on_hostile_input() {
        let seeds: [&[u8]; 3] = [IPXE, CURL, b"GET http://h/ HTTP/1.0\n\n"];
        let alphabet = b"GET HTP/1.0\r\n:,-=*?#\t\x00\x7f\xffabc";
        let (mut x, mut buf, mut out, mut parsed) = (7u64, Vec::new(), Vec::new(), 0);
        for round in 0..60_000 {
            x = xorshift(x);
            buf.clear();
            buf.extend_from_slice(seeds[(x % 3) as usize]);
            for _ in 0..(x >> 8) % 6 {
                x = xorshift(x);
                let at = (x >> 16) as usize % (buf.len() + 1);
                let b = alphabet[(x >> 40) as usize % alphabet.len()];
                match x % 3 {
                    0 if at < buf.len() => buf[at] = b,
                    1 => buf.insert(at, b),
                    _ => buf.truncate(at),
                }
            }
            if round % 7 == 0 {
                buf.iter_mut().for_each(|b| {
                    x = xorshift(x);
                    *b = alphabet[x as usize % alphabet.len()];
                });
            }
            let small = Limits {
                max_request_line: x as usize % 64,
                max_head: x as usize % 200,
                max_headers: 3,
            };
            for limits in [&LIMITS, &small] {
                if let Ok((_, n)) = parse_request(&buf, limits) {
                    assert!(n > 0 && n <= buf.len() && n <= limits.max_head);
                    parsed += 1;
                }
            }
            let _ = parse_http_date(&buf);
            out.clear();
            let r = ContentRange::Bytes {
                first: x,
                last: x >> 3,
                complete: x >> 1,
            };
            render_response(
                &ResponseHead {
                    content_range: Some(r),
                    content_length: x,
                    ..response(Status::Ok200)
                },
                &mut out,
            );
        }
        assert!(parsed > 10_000, "{parsed}");
    }
}
