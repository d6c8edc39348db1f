//! `/multicast/<session hex>…`: a session's manifest (`GET`, `HEAD`), its receivers' reports
//! (`POST …/report`, body bounded by [`MAX_REPORT_BYTES`]) and its file for unicast repair
//! (`GET`, `HEAD …/data`, with ranges). Routing and answers only; the server reads the body
//! and renders the response.
//!
//! An unknown session is the ordinary 404; a session still hashing its file answers 503 (with
//! `Retry-After`) so a receiver started at once retries instead of giving up.

use std::net::IpAddr;

pub use multicast::manifest::MAX_REPORT_BYTES;

use crate::blob::BlobSlice;
use crate::multicast::{Refusal, Sessions};
use crate::wire::http_response::Status;

/// The first segment of every multicast path.
pub const SEGMENT: &str = "multicast";

/// What a path under `multicast/` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Manifest(u32),
    Report(u32),
    Data(u32),
}

/// Whether a normalised key is a multicast path (`multicast` or under `multicast/`).
pub fn is_path(key: &str) -> bool {
    key.strip_prefix(SEGMENT)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

fn route(key: &str) -> Option<Route> {
    let rest = key.strip_prefix(SEGMENT)?.strip_prefix('/')?;
    let (id, what) = match rest.split_once('/') {
        Some((id, what)) => (id, Some(what)),
        None => (rest, None),
    };
    // Hex digits only: `from_str_radix` would also take a sign.
    if id.is_empty() || id.len() > 8 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let id = u32::from_str_radix(id, 16).ok()?;
    match what {
        None => Some(Route::Manifest(id)),
        Some("report") => Some(Route::Report(id)),
        Some("data") => Some(Route::Data(id)),
        Some(_) => None,
    }
}

/// What to answer.
pub(crate) enum Reply {
    /// 200 with this JSON (never cached: it changes as the session goes).
    Json(Vec<u8>),
    /// The file, with ranges and validators like any served file.
    Data(BlobSlice),
    /// An error status with a plain-text reason.
    Refuse(Status, String),
}

fn not_found() -> Reply {
    Reply::Refuse(Status::NotFound404, "not found\n".into())
}

fn preparing() -> Reply {
    Reply::Refuse(
        Status::ServiceUnavailable503,
        "session is being prepared, retry shortly\n".into(),
    )
}

/// A `GET` or `HEAD` of the normalised `key`.
pub(crate) fn get(sessions: &Sessions, key: &str) -> Reply {
    let (id, data) = match route(key) {
        Some(Route::Manifest(id)) => (id, false),
        Some(Route::Data(id)) => (id, true),
        _ => return not_found(),
    };
    let Some(session) = sessions.find(id) else {
        return not_found();
    };
    if data {
        Reply::Data(session.data())
    } else {
        session.manifest_json().map_or_else(preparing, Reply::Json)
    }
}

/// Whether a `POST` to the normalised `key` is a report (its body is then read).
pub(crate) fn is_report(key: &str) -> bool {
    matches!(route(key), Some(Route::Report(_)))
}

/// A report's body (already bounded) from `peer`, to the normalised `key`.
pub(crate) fn report(sessions: &Sessions, key: &str, peer: IpAddr, body: &[u8]) -> Reply {
    let Some(Route::Report(id)) = route(key) else {
        return not_found();
    };
    let Some(session) = sessions.find(id) else {
        return not_found();
    };
    match session.report(peer, body) {
        Ok(json) => Reply::Json(json),
        Err(Refusal::NotYet) => preparing(),
        Err(Refusal::Bad(why)) => Reply::Refuse(Status::BadRequest400, format!("{why}\n")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_take_hex_ids_only() {
        assert_eq!(
            route("multicast/0a1b2c3d"),
            Some(Route::Manifest(0x0a1b_2c3d))
        );
        assert_eq!(route("multicast/ff/report"), Some(Route::Report(0xff)));
        assert_eq!(route("multicast/FF/data"), Some(Route::Data(0xff)));
        for no in [
            "multicast",
            "multicast/",
            "multicast/+1",
            "multicast/123456789",
            "multicast/xyz",
            "multicast/1/other",
            "multicast/1/report/x",
            "multicastx/1",
        ] {
            assert_eq!(route(no), None, "{no}");
        }
        assert!(is_path("multicast") && is_path("multicast/1"));
        assert!(!is_path("multicasts/1") && !is_path("isos/multicast"));
    }

    #[test]
    fn unknown_sessions_are_not_found() {
        let sessions = Sessions::default();
        let status = |r: Reply| match r {
            Reply::Refuse(s, _) => s,
            _ => panic!("not a refusal"),
        };
        assert_eq!(status(get(&sessions, "multicast/1")), Status::NotFound404);
        assert_eq!(
            status(get(&sessions, "multicast/1/data")),
            Status::NotFound404
        );
        let peer = IpAddr::from([127, 0, 0, 1]);
        let r = report(&sessions, "multicast/1/report", peer, b"{}");
        assert_eq!(status(r), Status::NotFound404);
    }
}
