//! Live events for `GET /api/v1/events` (Server-Sent Events): boot events as they happen,
//! client and image changes, job progress, multicast sessions. Each gets an increasing id; the last
//! [`WINDOW`] are kept so a client reconnecting with `Last-Event-ID` misses nothing that
//! recent.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio::sync::broadcast;

/// Events kept for resuming.
pub const WINDOW: usize = 4096;

/// One event.
#[derive(Debug, Clone)]
pub struct LiveEvent {
    /// Increasing from 1, per server run.
    pub id: u64,
    /// The SSE event name: `boot`, `client`, `images`, `job`, `multicast`.
    pub kind: &'static str,
    /// JSON.
    pub data: String,
}

/// Where events are sent and subscribed to.
pub struct Hub {
    recent: Mutex<(u64, VecDeque<Arc<LiveEvent>>)>,
    tx: broadcast::Sender<Arc<LiveEvent>>,
}

impl Hub {
    /// A hub with nothing sent yet.
    pub fn new() -> Arc<Hub> {
        let (tx, _) = broadcast::channel(WINDOW);
        Arc::new(Hub {
            recent: Mutex::new((0, VecDeque::with_capacity(WINDOW))),
            tx,
        })
    }

    /// Sends `data` as a `kind` event to every listener. Never blocks: a listener too slow
    /// to keep up loses events (and is told so).
    pub fn send(&self, kind: &'static str, data: &impl Serialize) {
        let Ok(data) = serde_json::to_string(data) else {
            return;
        };
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        recent.0 += 1;
        let event = Arc::new(LiveEvent {
            id: recent.0,
            kind,
            data,
        });
        if recent.1.len() == WINDOW {
            recent.1.pop_front();
        }
        recent.1.push_back(event.clone());
        // Sent under the lock, so a subscriber sees every event once: replayed or live.
        let _ = self.tx.send(event);
    }

    /// The kept events after `last_id` (none without one), and a receiver of the next ones.
    pub fn subscribe(
        &self,
        last_id: Option<u64>,
    ) -> (Vec<Arc<LiveEvent>>, broadcast::Receiver<Arc<LiveEvent>>) {
        let recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        let replay = match last_id {
            Some(last) => recent.1.iter().filter(|e| e.id > last).cloned().collect(),
            None => Vec::new(),
        };
        (replay, self.tx.subscribe())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reconnect_with_last_event_id_gets_what_it_missed_then_live_events() {
        let hub = Hub::new();
        for n in 0..5 {
            hub.send("boot", &n);
        }
        let (replay, mut rx) = hub.subscribe(Some(3));
        let ids: Vec<u64> = replay.iter().map(|e| e.id).collect();
        assert_eq!(ids, [4, 5]);
        hub.send("job", &"x");
        let next = rx.try_recv().unwrap();
        assert_eq!(
            (next.id, next.kind, next.data.as_str()),
            (6, "job", "\"x\"")
        );
    }

    #[test]
    fn only_the_window_is_kept() {
        let hub = Hub::new();
        for n in 0..WINDOW + 10 {
            hub.send("boot", &n);
        }
        let (replay, _) = hub.subscribe(Some(0));
        assert_eq!(replay.len(), WINDOW);
        assert_eq!(replay[0].id, 11);
    }
}
