//! `GET /api/v1/events`: Server-Sent Events — `boot` (every boot event as recorded),
//! `client` and `images` (something changed: fetch it again), `job` (progress). Ids increase;
//! a client reconnecting with `Last-Event-ID` first gets what it missed, if still kept.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream, StreamExt};
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::wrappers::BroadcastStream;

use super::error::ErrorBody;
use super::AppState;
use crate::live::LiveEvent;

fn sse(e: &LiveEvent) -> Event {
    Event::default()
        .id(e.id.to_string())
        .event(e.kind)
        .data(&e.data)
}

/// The live event stream (`text/event-stream`).
#[utoipa::path(get, path = "/api/v1/events", tag = "events",
    params(("Last-Event-ID" = Option<String>, Header, description = "Resume after this event id")),
    responses((status = 200, description = "Server-Sent Events: boot, client, images, job, lagged", content_type = "text/event-stream", body = String),
              (status = 401, description = "Not logged in", body = ErrorBody)))]
pub async fn stream(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let last = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok());
    let (replay, rx) = state.hub.subscribe(last);
    // A comment first: hyper sends the response head only with the first body bytes, so
    // without it a client would wait for the first event (or keep-alive, 15 s) to know it is
    // subscribed.
    let opened = stream::once(async { Ok(Event::default().comment("subscribed")) });
    let replay = stream::iter(replay.into_iter().map(|e| Ok(sse(&e))));
    let live = BroadcastStream::new(rx).map(|item| {
        Ok(match item {
            Ok(e) => sse(&e),
            // Too slow to keep up: say how much was lost rather than pretend.
            Err(BroadcastStreamRecvError::Lagged(n)) => Event::default()
                .event("lagged")
                .data(format!("{{\"missed\":{n}}}")),
        })
    });
    Sse::new(opened.chain(replay).chain(live))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
