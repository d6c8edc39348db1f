//! Answers: what a request leads to, as the pieces to write. A rendered head first; then the
//! body, held in memory for generated objects, JSON and refusals, or as slices of the blob for
//! files (200, 206 single or multipart, 304, 416). HEAD gets the head alone, whatever the
//! status.

use super::mime;
use super::multicast::Reply;
use super::multipart::plan_multipart;
use super::range::{self, Selection, Validators};
use crate::blob::BlobSlice;
use crate::events::{Detail, Outcome};
use crate::sys::Piece;
use crate::wire::date::http_date;
use crate::wire::http::{Method, RequestHead, Version};
use crate::wire::http_response::{render_response, ContentRange, ResponseHead, Status};

/// Boundary of multipart/byteranges bodies. Fixed: a client needs nothing else, and it is long
/// and odd enough not to occur in a boot file by accident.
const BOUNDARY: &str = "fleetboot-3f8a9c1e7b2d4605-byteranges";

/// The type of plain-text bodies (refusals).
pub(super) const TEXT: &str = "text/plain; charset=utf-8";

/// One answered request, ready to write.
pub(super) struct Answer {
    pub(super) pieces: Vec<Piece>,
    pub(super) keep_alive: bool,
    /// The request's body was left unread: close gently (`lingering_close` in [`super::server`]).
    pub(super) unread_body: bool,
    pub(super) body_bytes: u64,
    pub(super) object: String,
    pub(super) outcome: Outcome,
    pub(super) detail: Detail,
}

impl Answer {
    /// An answer to a request read whole: `written` is the pieces and the body bytes they
    /// carry, as [`in_memory`] returns them.
    pub(super) fn read_whole(
        written: (Vec<Piece>, u64),
        keep_alive: bool,
        object: String,
        outcome: Outcome,
        detail: Detail,
    ) -> Answer {
        let (pieces, body_bytes) = written;
        Answer {
            pieces,
            keep_alive,
            unread_body: false,
            body_bytes,
            object,
            outcome,
            detail,
        }
    }
}

/// A plain-text refusal, `why` its body (left out for HEAD).
pub(super) fn error_response(
    status: Status,
    version: Version,
    keep_alive: bool,
    is_head: bool,
    why: &str,
) -> Vec<Piece> {
    let response = ResponseHead {
        content_type: Some(TEXT),
        ..ResponseHead::new(status, version, keep_alive)
    };
    in_memory(response, why.as_bytes(), is_head).0
}

/// A head and a body held in memory: the head says the body's length, and the body follows
/// unless the request was HEAD (RFC 9110 §9.3.2: no content after a HEAD's head, whatever the
/// status; on a kept-alive connection it would be read as the next answer). Returns the
/// pieces and the body bytes sent.
pub(super) fn in_memory(
    mut response: ResponseHead<'_>,
    body: &[u8],
    is_head: bool,
) -> (Vec<Piece>, u64) {
    response.content_length = body.len() as u64;
    let mut out = Vec::with_capacity(256 + body.len());
    render_response(&response, &mut out);
    let sent = if is_head {
        0
    } else {
        out.extend_from_slice(body);
        body.len() as u64
    };
    (vec![Piece::Owned(out)], sent)
}

/// The answer to a multicast `GET` or `HEAD` (see [`super::multicast`]).
pub(super) fn multicast_answer(
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
pub(super) fn multicast_answer_parts(
    version: Version,
    keep_alive: bool,
    is_head: bool,
    reply: Reply,
    object: String,
) -> Answer {
    let (status, body, content_type) = match reply {
        Reply::Json(json) => (Status::Ok200, json, "application/json"),
        Reply::Refuse(status, why) => (status, why.into_bytes(), TEXT),
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
    let extra: &[(&str, &str)] = if status == Status::ServiceUnavailable503 {
        &[("Cache-Control", "no-store"), ("Retry-After", "1")]
    } else {
        &[("Cache-Control", "no-store")]
    };
    let response = ResponseHead {
        content_type: Some(content_type),
        extra,
        ..ResponseHead::new(status, version, keep_alive)
    };
    let written = in_memory(response, &body, is_head);
    Answer::read_whole(written, keep_alive, object, outcome, Detail::Transfer)
}

/// A generated object (iPXE script, install file): never cached, by the client or on the way
/// (it changes with assignments, and an install file may hold secrets); HEAD supported.
pub(super) fn generated_answer(
    head: &RequestHead<'_>,
    keep_alive: bool,
    body: Vec<u8>,
    content_type: &str,
    object: String,
    detail: Detail,
) -> Answer {
    let response = ResponseHead {
        content_type: Some(content_type),
        extra: &[("Cache-Control", "no-store")],
        ..ResponseHead::new(Status::Ok200, head.version, keep_alive)
    };
    let written = in_memory(response, &body, head.method == Method::Head);
    Answer::read_whole(written, keep_alive, object, Outcome::Complete, detail)
}

/// Builds the response for a found object: 200, 206 (single or multipart), 304 or 416.
pub(super) fn serve_slice(
    head: &RequestHead<'_>,
    slice: &BlobSlice,
    key: &str,
    keep_alive: bool,
) -> Answer {
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
    let written = (pieces, body_bytes);
    Answer::read_whole(
        written,
        keep_alive,
        String::new(),
        outcome,
        Detail::Transfer,
    )
}
