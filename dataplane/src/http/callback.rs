//! Requests with a body: install callbacks (`POST /t/…`) and multicast receivers' reports.
//! The head decides whether the body is read at all ([`callback`]); once it is,
//! [`finish_callback`] answers.

use std::net::SocketAddr;

use super::answer::{error_response, in_memory, multicast_answer_parts, Answer};
use super::server::Step;
use super::{install, multicast};
use crate::events::{Detail, Outcome};
use crate::runtime::Core;
use crate::wire::http::{BodyFraming, RequestHead, Version};
use crate::wire::http_response::{ResponseHead, Status};

/// A `POST` (install callback, multicast report) whose body is still to be read.
pub(super) struct Callback {
    /// The normalised path.
    pub(super) key: String,
    pub(super) len: usize,
    pub(super) version: Version,
    pub(super) keep_alive: bool,
}

/// A `POST` under `t/` or a multicast report: its body framed by a bounded `Content-Length`
/// is read, whatever the token or session, so a wrong token costs the same as a right one;
/// anything else is refused and the connection closed (its body is not read).
pub(super) fn callback(head: &RequestHead<'_>, keep_alive: bool, key: String) -> Step {
    let most = if multicast::is_path(&key) {
        multicast::MAX_REPORT_BYTES as u64
    } else {
        install::MAX_BODY
    };
    let refuse = |status, why: &str, outcome: &'static str| {
        Step::Answer(Answer {
            pieces: error_response(status, head.version, false, false, why),
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
pub(super) fn finish_callback(
    core: &Core,
    callback: Callback,
    peer: SocketAddr,
    body: &[u8],
) -> Answer {
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
        let pieces = error_response(
            Status::NotFound404,
            version,
            keep_alive,
            false,
            "not found\n",
        );
        let written = (pieces, 0);
        return Answer::read_whole(
            written,
            keep_alive,
            object,
            Outcome::NotFound,
            Detail::Transfer,
        );
    };
    let response = ResponseHead::new(Status::NoContent204, version, keep_alive);
    let written = in_memory(response, b"", false);
    Answer::read_whole(written, keep_alive, object, Outcome::Complete, detail)
}
