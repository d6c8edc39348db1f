//! HTTP I/O: the per-core accept loop and one task per connection. A connection reads into one
//! reused buffer, answers every complete request head in it (pipelining) and writes each
//! response as a gathered write ([`super::write`]): head bytes plus body slices straight from
//! the blob.

use std::io;
use std::net::{SocketAddr, TcpListener as StdTcpListener};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncWriteRent};
use monoio::net::{TcpListener, TcpStream};

use super::mac_check::Requester;
use super::multicast::{self, Reply};
use super::multipart::plan_multipart;
use super::range::{self, Selection, Validators};
use super::write::write_answer;
use super::{boot_script, install, mime, Config};
use crate::blob::BlobSlice;
use crate::boot::Use;
use crate::busy::Busy;
use crate::events::{BootEvent, Detail, Outcome, Protocol};
use crate::path::{self, PathError};
use crate::per_source::SourceGuard;
use crate::runtime::Core;
use crate::stats::{GaugeGuard, Stats};
use crate::sys::Piece;
use crate::wire::date::http_date;
use crate::wire::http::{self as wire, BodyFraming, Method, ParseError, RequestHead, Version};
use crate::wire::http_response::{render_response, ContentRange, ResponseHead, Status};

/// Boundary of multipart/byteranges bodies. Fixed: a client needs nothing else, and it is long
/// and odd enough not to occur in a boot file by accident.
const BOUNDARY: &str = "fleetboot-3f8a9c1e7b2d4605-byteranges";

/// Runs the accept loop until the data plane drains.
pub(crate) async fn serve(
    core: Rc<Core>,
    listener: StdTcpListener,
    config: Config,
) -> io::Result<()> {
    let listener = TcpListener::from_std(listener)?;
    let config = Rc::new(config);
    loop {
        let accepted = monoio::select! {
            r = listener.accept() => r,
            _ = core.drain.started() => return Ok(()),
        };
        match accepted {
            Ok((stream, peer)) => {
                let Some(slot) = GaugeGuard::try_acquire(
                    &core.stats,
                    |s| &s.http_connections,
                    config.max_connections,
                ) else {
                    // Over the cap: closing at once tells the client to retry elsewhere/later.
                    Stats::bump(&core.stats.http_busy);
                    drop(stream);
                    continue;
                };
                let Some(source) = core.shared.http_per_ip.try_acquire(peer.ip()) else {
                    Stats::bump(&core.stats.http_per_ip_refused);
                    drop(stream);
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let slots = (slot, source);
                monoio::spawn(connection(
                    core.clone(),
                    config.clone(),
                    stream,
                    peer,
                    slots,
                ));
            }
            Err(e) => {
                // EMFILE and friends: back off briefly instead of spinning.
                tracing::warn!(error = %e, "http accept");
                monoio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// One answered request, ready to write.
struct Answer {
    pieces: Vec<Piece>,
    keep_alive: bool,
    /// The request's body was left unread: close gently (see [`lingering_close`]).
    unread_body: bool,
    body_bytes: u64,
    object: String,
    outcome: Outcome,
    detail: Detail,
}

/// What a request head leads to: an answer, or first its body.
enum Step {
    Answer(Answer),
    /// An install callback or a multicast report: read `len` body bytes, then
    /// [`finish_callback`].
    ReadBody(Callback),
}

/// A `POST` (install callback, multicast report) whose body is still to be read.
struct Callback {
    /// The normalised path.
    key: String,
    len: usize,
    version: Version,
    keep_alive: bool,
}

async fn connection(
    core: Rc<Core>,
    config: Rc<Config>,
    mut stream: TcpStream,
    peer: SocketAddr,
    _slots: (GaugeGuard, SourceGuard),
) {
    let limits = wire::Limits {
        max_request_line: config.max_request_line,
        max_head: config.max_head,
        max_headers: 64,
    };
    let mut buf: Vec<u8> = Vec::new();
    let mut scratch = Scratch::default();
    // The address this client reached us at (one of several on a multi-homed server).
    let local = stream.local_addr().ok();
    let mut head_started: Option<Instant> = None;
    loop {
        let parsed = wire::parse_request(&buf, &limits);
        match parsed {
            Ok((head, consumed)) => {
                let started = head_started.take().unwrap_or_else(Instant::now);
                let _inflight =
                    GaugeGuard::try_acquire(&core.stats, |s| &s.http_inflight, usize::MAX);
                let _busy = Busy::start();
                let requester = Requester {
                    peer: peer.ip(),
                    check: config.boot_mac_check,
                };
                let step = answer(&core, &head, &requester, local, &mut scratch);
                buf.drain(..consumed);
                let mut quiet = false;
                let answer = match step {
                    Step::Answer(answer) => answer,
                    Step::ReadBody(callback) => {
                        // Reports come every few hundred milliseconds from every receiver:
                        // session status, not boot history.
                        quiet = multicast::is_path(&callback.key);
                        // The body is part of the request: the head's time limit covers it.
                        let deadline = started + config.head_timeout;
                        let Some(filled) =
                            Box::pin(fill(&mut stream, buf, callback.len, deadline)).await
                        else {
                            Stats::bump(&core.stats.http_timeouts);
                            return;
                        };
                        buf = filled;
                        let len = callback.len;
                        let answer = finish_callback(&core, callback, peer, &buf[..len]);
                        buf.drain(..len);
                        answer
                    }
                };
                Stats::bump(&core.stats.http_requests);
                let keep_alive = answer.keep_alive && !core.drain.is_draining();
                // Boxed, like every other await of a request: the connection's own future then
                // holds only what an idle keep-alive connection needs.
                let written = Box::pin(write_answer(
                    &mut stream,
                    answer.pieces,
                    &config,
                    &core.stats,
                ))
                .await;
                let outcome = match (&written, answer.outcome) {
                    (Ok(_), outcome) => outcome,
                    (Err(_), _) => Outcome::Failed("client went away"),
                };
                let sent = written.as_ref().map_or(0, |_| answer.body_bytes);
                core.stats.bytes_sent.fetch_add(sent, Ordering::Relaxed);
                if !quiet {
                    core.events.emit(BootEvent {
                        protocol: Protocol::Http,
                        client: peer,
                        object: answer.object,
                        bytes: sent,
                        duration: started.elapsed(),
                        outcome,
                        detail: answer.detail,
                    });
                }
                if written.is_err() {
                    return;
                }
                if answer.unread_body {
                    Box::pin(lingering_close(&mut stream, buf)).await;
                    return;
                }
                if !keep_alive {
                    return;
                }
                continue;
            }
            Err(ParseError::Incomplete) => {}
            Err(e) => {
                let (status, why) = match e {
                    ParseError::RequestLineTooLong => {
                        (Status::UriTooLong414, "request line too long\n")
                    }
                    ParseError::HeadersTooLarge => {
                        (Status::HeadersTooLarge431, "request head too large\n")
                    }
                    ParseError::VersionNotSupported => {
                        (Status::VersionNotSupported505, "HTTP/1.x only\n")
                    }
                    ParseError::BadRequest(_) | ParseError::Incomplete => {
                        (Status::BadRequest400, "bad request\n")
                    }
                };
                let pieces = error_response(status, Version::Http11, false, why);
                if Box::pin(write_answer(&mut stream, pieces, &config, &core.stats))
                    .await
                    .is_ok()
                {
                    Box::pin(lingering_close(&mut stream, buf)).await;
                }
                return;
            }
        }
        // Need more bytes: the idle timeout between requests, the head timeout within one.
        let deadline = match head_started {
            Some(t) => t + config.head_timeout,
            None if buf.is_empty() => Instant::now() + config.idle_timeout,
            None => {
                let now = Instant::now();
                head_started = Some(now);
                now + config.head_timeout
            }
        };
        if head_started.is_none() && buf.is_empty() {
            // Between requests a connection holds no buffer: it waits for readiness first, so
            // 10,000 idle keep-alive connections do not pin 10,000 read buffers.
            buf = Vec::new();
            let wait = deadline.saturating_duration_since(Instant::now());
            match monoio::time::timeout(wait, stream.readable(false)).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return,
                Err(_elapsed) => {
                    Stats::bump(&core.stats.http_timeouts);
                    return;
                }
            }
        }
        if buf.capacity() - buf.len() < 1024 {
            buf.reserve(4096.max(buf.len()));
        }
        let wait = deadline.saturating_duration_since(Instant::now());
        // Read into the spare capacity, after what is buffered (a plain Vec would be
        // overwritten from its start).
        let filled = buf.len();
        let spare = buf.capacity();
        match monoio::time::timeout(wait, stream.read(buf.slice_mut(filled..spare))).await {
            Ok((Ok(0), _)) | Ok((Err(_), _)) => return,
            Ok((Ok(_), back)) => {
                buf = back.into_inner();
                if head_started.is_none() && !buf.is_empty() {
                    head_started = Some(Instant::now());
                }
            }
            Err(_elapsed) => {
                Stats::bump(&core.stats.http_timeouts);
                return;
            }
        }
    }
}

/// Buffers reused across the requests of one connection.
#[derive(Default)]
struct Scratch {
    decoded: Vec<u8>,
    key: String,
}

fn answer(
    core: &Core,
    head: &RequestHead<'_>,
    requester: &Requester,
    local: Option<SocketAddr>,
    scratch: &mut Scratch,
) -> Step {
    let version = head.version;
    let keep_alive = match version {
        Version::Http11 => !head.connection_close,
        Version::Http10 => head.connection_keep_alive && !head.connection_close,
    };
    let refuse = |status, why: &'static str, keep_alive, outcome, object: String| {
        Step::Answer(Answer {
            pieces: error_response(status, version, keep_alive, why),
            keep_alive,
            unread_body: false,
            body_bytes: 0,
            object,
            outcome,
            detail: Detail::Transfer,
        })
    };
    // Reported names never carry an install token (see `install`).
    let raw_target = || install::reported_target(head.target);
    let post = head.method == Method::Post;
    if post
        && normalize(head, scratch).is_ok()
        && (install::is_install_path(&scratch.key) || multicast::is_report(&scratch.key))
    {
        return callback(head, keep_alive, scratch.key.clone());
    }
    if head.has_body {
        // The body is not read: the connection cannot be reused.
        let why = "request bodies are not accepted\n";
        let mut step = refuse(
            Status::BadRequest400,
            why,
            false,
            Outcome::Refused("body"),
            raw_target(),
        );
        if let Step::Answer(a) = &mut step {
            a.unread_body = true;
        }
        return step;
    }
    if !matches!(head.method, Method::Get | Method::Head) {
        let mut out = Vec::with_capacity(160);
        let body = b"only GET and HEAD\n";
        render_response(
            &ResponseHead {
                status: Status::MethodNotAllowed405,
                version,
                content_type: Some("text/plain; charset=utf-8"),
                content_length: body.len() as u64,
                content_range: None,
                etag: None,
                last_modified: None,
                accept_ranges: false,
                keep_alive,
                allow: Some("GET, HEAD"),
                extra: &[],
            },
            &mut out,
        );
        out.extend_from_slice(body);
        return Step::Answer(Answer {
            pieces: vec![Piece::Owned(out)],
            keep_alive,
            unread_body: false,
            body_bytes: 0,
            object: raw_target(),
            outcome: Outcome::Refused("method"),
            detail: Detail::Transfer,
        });
    }
    match normalize(head, scratch) {
        Ok(()) => {}
        Err(PathError::Empty) => {
            return refuse(
                Status::NotFound404,
                "not found\n",
                keep_alive,
                Outcome::NotFound,
                raw_target(),
            )
        }
        Err(PathError::Escape | PathError::Malformed) => {
            let outcome = Outcome::Refused("bad path");
            return refuse(
                Status::BadRequest400,
                "bad path\n",
                keep_alive,
                outcome,
                raw_target(),
            );
        }
    }
    if scratch.key == boot_script::PATH {
        let query = head
            .target
            .splitn(2, |b| *b == b'?')
            .nth(1)
            .unwrap_or_default();
        let usage = match head.method {
            Method::Head => Use::Peek,
            _ => Use::Consume,
        };
        let (script, seen) = boot_script::respond(
            core.catalog.borrow_mut().current().boot(),
            query,
            head.host,
            local,
            requester,
            usage,
        );
        if matches!(&seen, Detail::BootScript(b) if b.refused.is_some()) {
            Stats::bump(&core.stats.boot_mac_refused);
        }
        let body = script.into_bytes();
        let object = boot_script::PATH.to_owned();
        let text = "text/plain; charset=utf-8";
        return Step::Answer(generated_answer(head, keep_alive, body, text, object, seen));
    }
    if install::is_install_path(&scratch.key) {
        let object = install::reported(&scratch.key);
        let fetched = install::fetch(
            core.catalog.borrow_mut().current().boot().installs(),
            &scratch.key,
            head.host,
            local,
        );
        // An unknown token gets the 404 of an unknown name: nothing tells them apart.
        let Some(f) = fetched else {
            let outcome = Outcome::NotFound;
            return refuse(
                Status::NotFound404,
                "not found\n",
                keep_alive,
                outcome,
                object,
            );
        };
        let body = f.body.into_bytes();
        let mut answer = generated_answer(head, keep_alive, body, f.content_type, object, f.detail);
        if head.method == Method::Head {
            answer.outcome = Outcome::NoBody;
        }
        return Step::Answer(answer);
    }
    let object = scratch.key.clone();
    if multicast::is_path(&object) {
        return Step::Answer(multicast_answer(
            head,
            keep_alive,
            multicast::get(&core.shared.multicast, &object),
            object,
        ));
    }
    let found = core.catalog.borrow_mut().current().http(&object).cloned();
    let Some(slice) = found else {
        return refuse(
            Status::NotFound404,
            "not found\n",
            keep_alive,
            Outcome::NotFound,
            object,
        );
    };
    if !slice.blob().still_intact() {
        let why = "file is being replaced, retry\n";
        let outcome = Outcome::Failed("file truncated");
        return refuse(
            Status::ServiceUnavailable503,
            why,
            keep_alive,
            outcome,
            object,
        );
    }
    let mut answer = serve_slice(head, &slice, &object, keep_alive);
    answer.object = object;
    Step::Answer(answer)
}

/// Percent-decodes and normalises the request's path into `scratch.key`.
fn normalize(head: &RequestHead<'_>, scratch: &mut Scratch) -> Result<(), PathError> {
    let path = head.target.split(|b| *b == b'?').next().unwrap_or_default();
    path::percent_decode_into(path, &mut scratch.decoded)
        .and_then(|()| path::normalize_into(&scratch.decoded, &mut scratch.key))
}

/// A `POST` under `t/` or a multicast report: its body framed by a bounded `Content-Length`
/// is read, whatever the token or session, so a wrong token costs the same as a right one;
/// anything else is refused and the connection closed (its body is not read).
fn callback(head: &RequestHead<'_>, keep_alive: bool, key: String) -> Step {
    let most = if multicast::is_path(&key) {
        multicast::MAX_REPORT_BYTES as u64
    } else {
        install::MAX_BODY
    };
    let refuse = |status, why: &str, outcome: &'static str| {
        Step::Answer(Answer {
            pieces: error_response(status, head.version, false, why),
            keep_alive: false,
            unread_body: true,
            body_bytes: 0,
            object: install::reported(&key),
            outcome: Outcome::Refused(outcome),
            detail: Detail::Transfer,
        })
    };
    let len = match head.body() {
        BodyFraming::None => 0,
        BodyFraming::Length(n) if n <= most => usize::try_from(n).unwrap_or(0),
        BodyFraming::Length(_) => {
            return refuse(
                Status::PayloadTooLarge413,
                "body too large\n",
                "body too large",
            )
        }
        // RFC 9112 §6.3: a server may ask for a length instead of decoding a transfer coding.
        BodyFraming::Coded => {
            return refuse(
                Status::LengthRequired411,
                "send Content-Length\n",
                "no length",
            )
        }
    };
    Step::ReadBody(Callback {
        key,
        len,
        version: head.version,
        keep_alive,
    })
}

/// The answer to an install callback whose body has been read (204 for a known token and
/// callback name, else the ordinary 404), or to a multicast report (see [`multicast`]).
fn finish_callback(core: &Core, callback: Callback, peer: SocketAddr, body: &[u8]) -> Answer {
    let Callback {
        key,
        version,
        keep_alive,
        ..
    } = callback;
    if multicast::is_path(&key) {
        let reply = multicast::report(&core.shared.multicast, &key, peer.ip(), body);
        return multicast_answer_parts(version, keep_alive, false, reply, key);
    }
    let object = install::reported(&key);
    let detail = install::callback(
        core.catalog.borrow_mut().current().boot().installs(),
        &key,
        body,
    );
    let Some(detail) = detail else {
        return Answer {
            pieces: error_response(Status::NotFound404, version, keep_alive, "not found\n"),
            keep_alive,
            unread_body: false,
            body_bytes: 0,
            object,
            outcome: Outcome::NotFound,
            detail: Detail::Transfer,
        };
    };
    let mut out = Vec::with_capacity(96);
    render_response(
        &ResponseHead {
            status: Status::NoContent204,
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
        },
        &mut out,
    );
    Answer {
        pieces: vec![Piece::Owned(out)],
        keep_alive,
        unread_body: false,
        body_bytes: 0,
        object,
        outcome: Outcome::Complete,
        detail,
    }
}

/// Reads until `buf` holds at least `want` bytes, by `deadline`; `None` when the client
/// closed, failed or was too slow (the connection is then over).
async fn fill(
    stream: &mut TcpStream,
    mut buf: Vec<u8>,
    want: usize,
    deadline: Instant,
) -> Option<Vec<u8>> {
    while buf.len() < want {
        if buf.capacity() < want {
            buf.reserve(want - buf.len());
        }
        let wait = deadline.saturating_duration_since(Instant::now());
        let filled = buf.len();
        let spare = buf.capacity();
        match monoio::time::timeout(wait, stream.read(buf.slice_mut(filled..spare))).await {
            Ok((Ok(n), back)) if n > 0 => buf = back.into_inner(),
            _ => return None,
        }
    }
    Some(buf)
}

/// The answer to a multicast `GET` or `HEAD` (see [`multicast`]).
fn multicast_answer(
    head: &RequestHead<'_>,
    keep_alive: bool,
    reply: Reply,
    object: String,
) -> Answer {
    if let Reply::Data(slice) = &reply {
        let mut answer = serve_slice(head, slice, &object, keep_alive);
        answer.object = object;
        return answer;
    }
    let is_head = head.method == Method::Head;
    multicast_answer_parts(head.version, keep_alive, is_head, reply, object)
}

/// A multicast JSON answer or refusal.
fn multicast_answer_parts(
    version: Version,
    keep_alive: bool,
    is_head: bool,
    reply: Reply,
    object: String,
) -> Answer {
    let (status, body, content_type) = match reply {
        Reply::Json(json) => (Status::Ok200, json, "application/json"),
        Reply::Refuse(status, why) => (status, why.into_bytes(), "text/plain; charset=utf-8"),
        Reply::Data(_) => (Status::InternalError500, Vec::new(), "text/plain"),
    };
    let outcome = match status {
        Status::Ok200 if is_head => Outcome::NoBody,
        Status::Ok200 => Outcome::Complete,
        Status::NotFound404 => Outcome::NotFound,
        Status::ServiceUnavailable503 => Outcome::Refused("session preparing"),
        _ => Outcome::Refused("bad report"),
    };
    // 503 says when to come back: a session is announced within seconds.
    let retry: &[(&str, &str)] = if status == Status::ServiceUnavailable503 {
        &[("Cache-Control", "no-store"), ("Retry-After", "1")]
    } else {
        &[("Cache-Control", "no-store")]
    };
    let mut out = Vec::with_capacity(256 + body.len());
    render_response(
        &ResponseHead {
            status,
            version,
            content_type: Some(content_type),
            content_length: body.len() as u64,
            content_range: None,
            etag: None,
            last_modified: None,
            accept_ranges: false,
            keep_alive,
            allow: None,
            extra: retry,
        },
        &mut out,
    );
    let body_bytes = if is_head {
        0
    } else {
        out.extend_from_slice(&body);
        body.len() as u64
    };
    Answer {
        pieces: vec![Piece::Owned(out)],
        keep_alive,
        unread_body: false,
        body_bytes,
        object,
        outcome,
        detail: Detail::Transfer,
    }
}

/// A generated object (iPXE script, install file): never cached, by the client or on the way
/// (it changes with assignments, and an install file may hold secrets); HEAD supported.
fn generated_answer(
    head: &RequestHead<'_>,
    keep_alive: bool,
    body: Vec<u8>,
    content_type: &str,
    object: String,
    detail: Detail,
) -> Answer {
    let mut out = Vec::with_capacity(256 + body.len());
    render_response(
        &ResponseHead {
            status: Status::Ok200,
            version: head.version,
            content_type: Some(content_type),
            content_length: body.len() as u64,
            content_range: None,
            etag: None,
            last_modified: None,
            accept_ranges: false,
            keep_alive,
            allow: None,
            extra: &[("Cache-Control", "no-store")],
        },
        &mut out,
    );
    let body_bytes = if head.method == Method::Head {
        0
    } else {
        out.extend_from_slice(&body);
        body.len() as u64
    };
    Answer {
        pieces: vec![Piece::Owned(out)],
        keep_alive,
        unread_body: false,
        body_bytes,
        object,
        outcome: Outcome::Complete,
        detail,
    }
}

/// Builds the response for a found object: 200, 206 (single or multipart), 304 or 416.
fn serve_slice(head: &RequestHead<'_>, slice: &BlobSlice, key: &str, keep_alive: bool) -> Answer {
    let len = slice.len() as u64;
    let blob = slice.blob();
    let validators = Validators {
        etag: blob.etag(),
        last_modified: blob.modified(),
    };
    let mut date = [0u8; 29];
    let last_modified = http_date(blob.modified(), &mut date);
    let content_type = mime::content_type(key);
    let is_head = head.method == Method::Head;
    let mut response = ResponseHead {
        status: Status::Ok200,
        version: head.version,
        content_type: Some(content_type),
        content_length: len,
        content_range: None,
        etag: Some(blob.etag()),
        last_modified: Some(last_modified),
        accept_ranges: true,
        keep_alive,
        allow: None,
        extra: &[],
    };
    let mut body: Vec<Piece> = Vec::new();
    let mut body_bytes = 0;
    let mut outcome = Outcome::Complete;
    let multipart_type;
    match range::select(head, len, &validators) {
        Selection::Full => {
            body.push(Piece::Blob(slice.clone()));
            body_bytes = len;
        }
        Selection::NotModified => {
            response.status = Status::NotModified304;
            response.content_length = 0;
            response.content_type = None;
            outcome = Outcome::NoBody;
        }
        Selection::Single {
            start,
            end_exclusive,
        } => {
            response.status = Status::PartialContent206;
            response.content_length = end_exclusive - start;
            response.content_range = Some(ContentRange::Bytes {
                first: start,
                last: end_exclusive - 1,
                complete: len,
            });
            if let Some(part) = slice.sub(start, end_exclusive - start) {
                body.push(Piece::Blob(part));
            }
            body_bytes = end_exclusive - start;
        }
        Selection::Multi(ranges) => {
            let plan = plan_multipart(&ranges, len, content_type, BOUNDARY);
            response.status = Status::PartialContent206;
            response.content_length = plan.content_length;
            multipart_type = format!("multipart/byteranges; boundary={BOUNDARY}");
            response.content_type = Some(&multipart_type);
            for (part_head, start, end) in plan.parts {
                body.push(Piece::Owned(part_head));
                if let Some(part) = slice.sub(start, end - start) {
                    body.push(Piece::Blob(part));
                }
                body_bytes += end - start;
            }
            body.push(Piece::Owned(plan.trailer));
        }
        Selection::Unsatisfiable => {
            response.status = Status::RangeNotSatisfiable416;
            response.content_length = 0;
            response.content_type = None;
            response.content_range = Some(ContentRange::Unsatisfied { complete: len });
            outcome = Outcome::Refused("range not satisfiable");
        }
    }
    let mut out = Vec::with_capacity(320);
    render_response(&response, &mut out);
    let mut pieces = vec![Piece::Owned(out)];
    if is_head {
        body_bytes = 0;
        outcome = Outcome::NoBody;
    } else {
        pieces.extend(body);
    }
    Answer {
        pieces,
        keep_alive,
        unread_body: false,
        body_bytes,
        object: String::new(),
        outcome,
        detail: Detail::Transfer,
    }
}

fn error_response(status: Status, version: Version, keep_alive: bool, why: &str) -> Vec<Piece> {
    let mut out = Vec::with_capacity(200);
    render_response(
        &ResponseHead {
            status,
            version,
            content_type: Some("text/plain; charset=utf-8"),
            content_length: why.len() as u64,
            content_range: None,
            etag: None,
            last_modified: None,
            accept_ranges: false,
            keep_alive,
            allow: None,
            extra: &[],
        },
        &mut out,
    );
    out.extend_from_slice(why.as_bytes());
    vec![Piece::Owned(out)]
}

/// Closing with unread request bytes in the socket makes the kernel send a reset, which can
/// destroy the error response before the client reads it (RFC 9112 §9.6). So: stop writing,
/// then read and discard for a short, bounded while before closing.
async fn lingering_close(stream: &mut TcpStream, mut buf: Vec<u8>) {
    const LINGER: Duration = Duration::from_secs(1);
    const MAX_DISCARD: usize = 1 << 20;
    let _ = stream.shutdown().await;
    let deadline = Instant::now() + LINGER;
    let mut discarded = 0;
    buf.clear();
    buf.reserve(16 << 10);
    while discarded < MAX_DISCARD {
        let wait = deadline.saturating_duration_since(Instant::now());
        match monoio::time::timeout(wait, stream.read(buf)).await {
            Ok((Ok(n), back)) if n > 0 => {
                discarded += n;
                buf = back;
                buf.clear();
            }
            _ => return,
        }
    }
}
