//! HTTP I/O: the per-core accept loop and one task per connection. A connection reads into one
//! reused buffer, answers every complete request head in it (pipelining) and writes each
//! response as a gathered write (`http::write`): head bytes plus body slices straight from
//! the blob.

use std::io;
use std::net::{SocketAddr, TcpListener as StdTcpListener};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncWriteRent};
use monoio::net::{TcpListener, TcpStream};

use super::answer::{error_response, generated_answer, in_memory, multicast_answer, serve_slice};
use super::answer::{Answer, TEXT};
use super::callback::{callback, finish_callback, Callback};
use super::mac_check::Requester;
use super::multicast;
use super::write::write_answer;
use super::{boot_script, install, Config};
use crate::boot::Use;
use crate::busy::Busy;
use crate::events::{BootEvent, Detail, Outcome, Protocol};
use crate::path::{self, PathError};
use crate::per_source::SourceGuard;
use crate::runtime::Core;
use crate::stats::{GaugeGuard, Stats};
use crate::wire::http::{self as wire, Method, ParseError, RequestHead, Version};
use crate::wire::http_response::{ResponseHead, Status};

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

/// What a request head leads to: an answer, or first its body.
pub(super) enum Step {
    Answer(Answer),
    /// An install callback or a multicast report: read `len` body bytes, then
    /// [`finish_callback`].
    ReadBody(Callback),
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
                let pieces = error_response(status, Version::Http11, false, false, why);
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
    let is_head = head.method == Method::Head;
    let refuse = |status, why: &'static str, keep_alive, outcome, object: String| {
        let pieces = error_response(status, version, keep_alive, is_head, why);
        let written = (pieces, 0);
        Step::Answer(Answer::read_whole(
            written,
            keep_alive,
            object,
            outcome,
            Detail::Transfer,
        ))
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
        let response = ResponseHead {
            content_type: Some(TEXT),
            allow: Some("GET, HEAD"),
            ..ResponseHead::new(Status::MethodNotAllowed405, version, keep_alive)
        };
        // The refusal's text is not counted as file bytes sent.
        let (pieces, _) = in_memory(response, b"only GET and HEAD\n", false);
        let (object, outcome) = (raw_target(), Outcome::Refused("method"));
        let written = (pieces, 0);
        return Step::Answer(Answer::read_whole(
            written,
            keep_alive,
            object,
            outcome,
            Detail::Transfer,
        ));
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
        return Step::Answer(generated_answer(head, keep_alive, body, TEXT, object, seen));
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
