//! `GET /api/v1/events` as a real client reads it: `curl -N` holds the stream open and a
//! thread parses its Server-Sent Events into a channel the test waits on, with deadlines.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::Server;

/// One event.
#[derive(Debug, Clone)]
pub struct SseEvent {
    /// `id:`.
    pub id: Option<u64>,
    /// `event:` (`message` when absent).
    pub kind: String,
    /// `data:` as JSON (`Null` when not JSON).
    pub data: Value,
}

/// An open event stream; curl is killed on drop.
pub struct Events {
    child: Child,
    rx: Receiver<SseEvent>,
    /// Every event received so far, in order.
    pub seen: Vec<SseEvent>,
}

impl Server {
    /// Opens the event stream with `token`, resuming after `last_id` if given. Returns once
    /// the response head arrived, so the subscription is in place: later events reach it.
    pub fn events(&self, token: &str, last_id: Option<u64>) -> Events {
        let url = format!("http://{}/api/v1/events", self.admin);
        // Where the server runs: its admin port may be in a namespace of its own.
        let mut cmd = self.command("curl");
        cmd.args(["-sSNi", "--max-time", "120", "-H"])
            .arg(format!("authorization: Bearer {token}"));
        if let Some(id) = last_id {
            cmd.arg("-H").arg(format!("last-event-id: {id}"));
        }
        let mut child = cmd
            .arg(&url)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn curl");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = channel();
        let (head_tx, head_rx) = channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines().map_while(Result::ok);
            let mut status = String::new();
            for line in lines.by_ref() {
                if status.is_empty() {
                    status = line.clone();
                }
                if line.trim_end().is_empty() {
                    break;
                }
            }
            let _ = head_tx.send(status);
            let (mut id, mut kind, mut data) = (None, String::new(), String::new());
            for line in lines {
                let line = line.trim_end_matches('\r');
                if line.is_empty() {
                    if !data.is_empty() || !kind.is_empty() {
                        let event = SseEvent {
                            id: id.take(),
                            kind: if kind.is_empty() {
                                "message".into()
                            } else {
                                std::mem::take(&mut kind)
                            },
                            data: serde_json::from_str(&data).unwrap_or(Value::Null),
                        };
                        data.clear();
                        if tx.send(event).is_err() {
                            return;
                        }
                    }
                } else if let Some(v) = line.strip_prefix("id:") {
                    id = v.trim().parse().ok();
                } else if let Some(v) = line.strip_prefix("event:") {
                    kind = v.trim().to_owned();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.strip_prefix(' ').unwrap_or(v));
                }
            }
        });
        let status = head_rx
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("no answer from {url}"));
        assert!(status.contains(" 200"), "{url}: {status}");
        Events {
            child,
            rx,
            seen: Vec::new(),
        }
    }
}

impl Events {
    /// Waits up to `limit` for an event `pick` accepts (events before it are kept in
    /// `seen`); panics with what came when none does.
    pub fn wait_for(
        &mut self,
        what: &str,
        limit: Duration,
        pick: impl Fn(&SseEvent) -> bool,
    ) -> SseEvent {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(e) => {
                    self.seen.push(e.clone());
                    if pick(&e) {
                        return e;
                    }
                }
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                    panic!("no {what} event within {limit:?}; got {:#?}", self.seen)
                }
            }
        }
    }

    /// Every event that arrives within `quiet` of the last one (at most `limit` in all).
    pub fn drain(&mut self, quiet: Duration, limit: Duration) -> Vec<SseEvent> {
        let deadline = Instant::now() + limit;
        let mut got = Vec::new();
        while Instant::now() < deadline {
            match self.rx.recv_timeout(quiet) {
                Ok(e) => {
                    self.seen.push(e.clone());
                    got.push(e);
                }
                Err(_) => break,
            }
        }
        got
    }
}

impl Drop for Events {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
