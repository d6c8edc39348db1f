//! The JSON both ends exchange over HTTP, next to the datagrams:
//! - `GET /multicast/<session>` → [`Manifest`]: what is sent, where, how it is cut;
//! - `POST /multicast/<session>/report` with a [`Report`] → [`ReportAnswer`];
//! - `GET /multicast/<session>/data` with `Range:` → the file's bytes (unicast repair).

use serde::{Deserialize, Serialize};

use crate::encoding::Encoding;
use crate::geometry::Geometry;

/// Longest report body a sender reads; a report lists runs of chunks, not chunks.
pub const MAX_REPORT_BYTES: usize = 64 * 1024;
/// Most [`Need`] runs in one report; a receiver with more merges neighbouring runs.
pub const MAX_NEEDS: usize = 1024;

/// A session as receivers see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Session id, also in every datagram's header; the URL names it in hex.
    pub session: u32,
    /// File name, for people.
    pub name: String,
    /// How the file is cut.
    #[serde(flatten)]
    pub geometry: Geometry,
    /// How the file is stored; the hashes and sizes are of the file as sent.
    #[serde(default, skip_serializing_if = "Encoding::is_raw")]
    pub encoding: Encoding,
    /// SHA-256 of the whole file, lowercase hex.
    pub sha256: String,
    /// XXH3-128 of every chunk, lowercase hex, in order: which chunk to receive again,
    /// not what to trust ([`crate::chunk_hash`](mod@crate::chunk_hash) says why).
    pub chunk_xxh3: Vec<String>,
    /// Multicast group (IPv4 or IPv6 address) and UDP port.
    pub group: String,
    /// UDP port of the group.
    pub port: u16,
    /// Where the session is.
    pub state: SessionState,
    /// How often the sender wants reports, in milliseconds.
    pub report_interval_ms: u32,
}

/// Where a session is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionState {
    /// Waiting for `min_receivers` (or `max_wait`) before the first symbol.
    Waiting,
    /// Sending.
    Sending,
    /// Done: nothing more goes to the group; `/data` still serves the file.
    Finished,
    /// Stopped by an operator; `/data` still serves the file.
    Cancelled,
}

/// A run of chunks `first..=last` each still missing `symbols` symbols (at most; a receiver
/// rounds up when it merges runs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Need {
    /// First chunk of the run.
    pub first: u32,
    /// Last chunk of the run (inclusive).
    pub last: u32,
    /// Symbols still missing in each chunk of the run.
    pub symbols: u16,
}

/// A receiver's periodic report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Stable name of the receiver for the whole session (a MAC, or host and output path):
    /// a restarted receiver keeps its name.
    pub receiver: String,
    /// Chunks written and verified.
    pub chunks_done: u32,
    /// What it still misses; empty when done.
    pub needs: Vec<Need>,
    /// Fraction of the sender's datagrams lost since the previous report (0.0–1.0), from
    /// gaps in `sequence`.
    pub loss: f32,
    /// Where the receiver is.
    pub verdict: Verdict,
    /// The highest datagram `sequence` it had read when it made the report: the sender
    /// judges by it whether the report comes after the end of a round or from a receiver
    /// still working through a backlog of it (whose needs the round may already cover).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seen: Option<u32>,
    /// Why it failed, or what it is doing, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A receiver's own state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Still receiving.
    Receiving,
    /// Every chunk written and the whole file's SHA-256 checked.
    Done,
    /// Gave up (`message` says why).
    Failed,
    /// Stopped waiting for the group (it does not reach the receiver, or the sender said
    /// so) and fetches what it misses over HTTP: nothing more to send it.
    Fetching,
}

/// The sender's answer to a report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReportAnswer {
    /// Where the session is.
    pub state: SessionState,
    /// The sender's current rate in Mbit/s.
    pub rate_mbit: u32,
    /// `true` when this receiver should stop waiting for the group and fetch what it misses
    /// from `/data` (it fell behind and the session's policy drops slow receivers, or the
    /// session is over).
    pub unicast: bool,
}

impl Report {
    /// Checks what a peer sent before it is used.
    pub fn validate(&self, chunks: u32) -> Result<(), String> {
        if self.receiver.is_empty() || self.receiver.len() > 128 {
            return Err("receiver name must be 1 to 128 bytes".into());
        }
        if self.needs.len() > MAX_NEEDS {
            return Err(format!("more than {MAX_NEEDS} needs"));
        }
        if !(0.0..=1.0).contains(&self.loss) {
            return Err("loss must be within 0..=1".into());
        }
        for n in &self.needs {
            if n.first > n.last || n.last >= chunks {
                return Err(format!("need {}..={} outside 0..{chunks}", n.first, n.last));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(needs: Vec<Need>) -> Report {
        Report {
            receiver: "52:54:00:00:00:01".into(),
            chunks_done: 3,
            needs,
            loss: 0.02,
            seen: Some(7),
            verdict: Verdict::Receiving,
            message: None,
        }
    }

    #[test]
    fn reports_round_trip_as_json() {
        let r = report(vec![Need {
            first: 4,
            last: 9,
            symbols: 12,
        }]);
        let json = serde_json::to_string(&r).unwrap();
        assert!(json.contains(r#""verdict":"receiving""#), "{json}");
        assert_eq!(serde_json::from_str::<Report>(&json).unwrap(), r);
        // A receiver that does not say what it read (an older one) is still understood.
        let older = json.replace(r#","seen":7"#, "");
        assert_ne!(older, json);
        let parsed = serde_json::from_str::<Report>(&older).unwrap();
        assert_eq!(parsed, Report { seen: None, ..r });
    }

    #[test]
    fn needs_outside_the_file_are_refused() {
        assert!(report(vec![Need {
            first: 4,
            last: 9,
            symbols: 1
        }])
        .validate(10)
        .is_ok());
        assert!(report(vec![Need {
            first: 4,
            last: 10,
            symbols: 1
        }])
        .validate(10)
        .is_err());
        assert!(report(vec![Need {
            first: 5,
            last: 4,
            symbols: 1
        }])
        .validate(10)
        .is_err());
    }

    #[test]
    fn manifests_flatten_the_geometry() {
        let m = Manifest {
            session: 1,
            name: "disk.img".into(),
            geometry: Geometry::for_size(5),
            encoding: Encoding::Raw,
            sha256: String::new(),
            chunk_xxh3: vec![],
            group: "239.255.70.66".into(),
            port: 7000,
            state: SessionState::Waiting,
            report_interval_ms: 500,
        };
        let json = serde_json::to_value(&m).unwrap();
        assert_eq!(json["symbol_size"], 1344);
        assert!(json.get("encoding").is_none(), "raw is left out: {json}");
        assert_eq!(serde_json::from_value::<Manifest>(json).unwrap(), m);
        let zstd = Manifest {
            encoding: Encoding::Zstd,
            ..m
        };
        let json = serde_json::to_value(&zstd).unwrap();
        assert_eq!(json["encoding"], "zstd");
        assert_eq!(serde_json::from_value::<Manifest>(json).unwrap(), zstd);
    }
}
