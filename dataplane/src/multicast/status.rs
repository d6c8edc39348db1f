//! What the control plane sees of a session: a snapshot, taken under the session's lock and
//! handed out owned.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use multicast::Verdict;

use super::machine::SlowPolicy;
use super::socket::Destination;

/// Where a session is, as operators see it: the receivers' [`multicast::SessionState`] plus
/// what happens before the announcement and what can go wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Hashing the file; the manifest is not served yet.
    Preparing,
    /// Announced, waiting for receivers.
    Waiting,
    /// Sending.
    Sending,
    /// Every receiver done (or gone).
    Finished,
    /// Stopped by an operator.
    Cancelled,
    /// Stopped by an error (see [`SessionStatus::error`]).
    Failed,
}

impl Phase {
    /// Whether the session still sends or will.
    pub fn is_active(self) -> bool {
        matches!(self, Phase::Preparing | Phase::Waiting | Phase::Sending)
    }

    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Preparing => "preparing",
            Phase::Waiting => "waiting",
            Phase::Sending => "sending",
            Phase::Finished => "finished",
            Phase::Cancelled => "cancelled",
            Phase::Failed => "failed",
        }
    }
}

/// A session.
#[derive(Debug, Clone)]
pub struct SessionStatus {
    /// Id (in datagrams, and in hex in URLs).
    pub id: u32,
    /// Name in the manifest.
    pub name: String,
    /// The file sent.
    pub path: PathBuf,
    /// Group, port, interface, TTL.
    pub destination: Destination,
    /// Where it is.
    pub phase: Phase,
    /// Why it failed.
    pub error: Option<String>,
    /// File size, bytes.
    pub size: u64,
    /// Chunks of the file.
    pub chunks: u32,
    /// Sending rate now, bits per second.
    pub rate_bps: u64,
    /// Receivers waited for.
    pub min_receivers: u32,
    /// Longest wait for them.
    pub max_wait: Duration,
    /// Policy for slow receivers.
    pub slow: SlowPolicy,
    /// UDP payload bytes sent to the group.
    pub bytes_sent: u64,
    /// Datagrams sent to the group.
    pub datagrams_sent: u64,
    /// Repair rounds so far.
    pub repair_rounds: u32,
    /// Time since the session was started.
    pub age: Duration,
    /// Receivers, by name.
    pub receivers: Vec<ReceiverStatus>,
}

/// A receiver, as of its last report.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceiverStatus {
    /// Its name.
    pub name: String,
    /// Where its last report came from.
    pub address: IpAddr,
    /// Chunks written and verified.
    pub chunks_done: u32,
    /// Loss it reported last (0–1).
    pub loss: f32,
    /// Its own verdict.
    pub verdict: Verdict,
    /// Told to fetch by HTTP.
    pub unicast: bool,
    /// Time since its last report.
    pub last_report: Duration,
    /// What it said, if anything.
    pub message: Option<String>,
}
