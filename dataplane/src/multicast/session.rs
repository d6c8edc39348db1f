//! One session as the data plane shares it: the file, the state machine behind a mutex, the
//! condition variable its sender thread sleeps on, and counters. Reports (HTTP, any core) and
//! the sender thread meet here; a report every few hundred milliseconds per receiver and a
//! lock per burst on the sender's side keep the mutex cold — it is not on a serving hot path.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use multicast::{Encoding, Geometry, Manifest, Report, SessionState};

use super::machine::{Machine, Params};
use super::prepare::Hashes;
use super::socket::Destination;
use super::status::{Phase, ReceiverStatus, SessionStatus};
use crate::blob::{Blob, BlobSlice};

/// Counters of every session, kept after a session is removed (for metrics).
#[derive(Debug, Default)]
pub(crate) struct Totals {
    pub(crate) bytes: AtomicU64,
    pub(crate) datagrams: AtomicU64,
}

/// A session (see the module docs).
pub(crate) struct Session {
    pub(crate) id: u32,
    pub(crate) name: String,
    pub(crate) path: PathBuf,
    pub(crate) destination: Destination,
    pub(crate) geometry: Geometry,
    pub(crate) params: Params,
    pub(crate) blob: Arc<Blob>,
    created: Instant,
    /// Set by a cancel before the machine exists (while hashing).
    pub(crate) cancelled: AtomicBool,
    inner: Mutex<Inner>,
    wake: Condvar,
    bytes: AtomicU64,
    datagrams: AtomicU64,
    totals: Arc<Totals>,
}

#[derive(Default)]
struct Inner {
    /// From the announcement on.
    machine: Option<Machine>,
    manifest: Option<Arc<Manifest>>,
    error: Option<String>,
}

/// Why a report was not taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Not announced yet: retry shortly.
    NotYet,
    /// Bad JSON, or a report that contradicts the session.
    Bad(String),
}

impl Session {
    pub(crate) fn new(
        id: u32,
        name: String,
        path: PathBuf,
        destination: Destination,
        params: Params,
        blob: Arc<Blob>,
        totals: Arc<Totals>,
    ) -> Session {
        Session {
            id,
            name,
            path,
            destination,
            geometry: Geometry::for_size(blob.len()),
            params,
            blob,
            created: Instant::now(),
            cancelled: AtomicBool::new(false),
            inner: Mutex::new(Inner::default()),
            wake: Condvar::new(),
            bytes: AtomicU64::new(0),
            datagrams: AtomicU64::new(0),
            totals,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Publishes the manifest and starts the machine: receivers may come.
    pub(crate) fn announce(&self, hashes: &Hashes, report_interval: Duration) {
        let mut head = [0u8; 4];
        let read = self.blob.read_at(0, &mut head).unwrap_or(0);
        let manifest = Manifest {
            session: self.id,
            name: self.name.clone(),
            geometry: self.geometry,
            encoding: Encoding::sniff(&head[..read]),
            sha256: hashes.sha256.clone(),
            chunk_xxh3: hashes.chunks.clone(),
            group: self.destination.group.ip().to_string(),
            port: self.destination.group.port(),
            state: SessionState::Waiting,
            report_interval_ms: u32::try_from(report_interval.as_millis()).unwrap_or(u32::MAX),
        };
        let mut inner = self.lock();
        inner.manifest = Some(Arc::new(manifest));
        let mut machine = Machine::new(self.geometry, self.params, Instant::now());
        if self.cancelled.load(Ordering::Acquire) {
            machine.cancel(Instant::now());
        }
        inner.machine = Some(machine);
    }

    /// Runs `f` on the machine (`None` before the announcement).
    pub(crate) fn with_machine<R>(&self, f: impl FnOnce(&mut Machine) -> R) -> Option<R> {
        self.lock().machine.as_mut().map(f)
    }

    /// Sleeps until `at`, or until a report or a cancel wakes it.
    pub(crate) fn sleep_until(&self, at: Instant) {
        let wait = at.saturating_duration_since(Instant::now());
        if wait.is_zero() {
            return;
        }
        let guard = self.lock();
        let _ = self.wake.wait_timeout(guard, wait);
    }

    /// Stops the session; a session still hashing stops before its announcement.
    pub(crate) fn cancel(&self) {
        self.cancelled.store(true, Ordering::Release);
        if let Some(m) = self.lock().machine.as_mut() {
            m.cancel(Instant::now());
        }
        self.wake.notify_all();
    }

    /// The session failed: nothing more is sent.
    pub(crate) fn fail(&self, why: String) {
        tracing::warn!(session = %format_args!("{:08x}", self.id), error = %why, "multicast session failed");
        let mut inner = self.lock();
        inner.error = Some(why);
        if let Some(m) = inner.machine.as_mut() {
            m.cancel(Instant::now());
        }
    }

    /// Counts datagrams sent.
    pub(crate) fn count(&self, datagrams: u64, bytes: u64) {
        self.datagrams.fetch_add(datagrams, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.totals
            .datagrams
            .fetch_add(datagrams, Ordering::Relaxed);
        self.totals.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// The manifest as JSON with the current state; `None` before the announcement.
    pub(crate) fn manifest_json(&self) -> Option<Vec<u8>> {
        let inner = self.lock();
        let manifest = inner.manifest.clone()?;
        let state = match (&inner.error, &inner.machine) {
            (Some(_), _) => SessionState::Cancelled,
            (None, Some(m)) => m.state(),
            (None, None) => SessionState::Waiting,
        };
        drop(inner);
        let mut manifest = Manifest::clone(&manifest);
        manifest.state = state;
        serde_json::to_vec(&manifest).ok()
    }

    /// Takes a report body from `peer` and returns the answer as JSON.
    pub(crate) fn report(&self, peer: IpAddr, body: &[u8]) -> Result<Vec<u8>, Refusal> {
        let report: Report = serde_json::from_slice(body)
            .map_err(|e| Refusal::Bad(format!("report is not valid JSON: {e}")))?;
        let answer = self
            .with_machine(|m| m.report(Instant::now(), peer, &report))
            .ok_or(Refusal::NotYet)?
            .map_err(|e| Refusal::Bad(e.to_string()))?;
        // The sender may be waiting for exactly this report.
        self.wake.notify_all();
        serde_json::to_vec(&answer).map_err(|e| Refusal::Bad(e.to_string()))
    }

    /// The whole file, for `/data`.
    pub(crate) fn data(&self) -> BlobSlice {
        BlobSlice::whole(self.blob.clone())
    }

    /// Where the session is.
    pub(crate) fn phase(&self) -> Phase {
        phase_of(&self.lock(), self.cancelled.load(Ordering::Acquire))
    }

    /// A snapshot for the control plane.
    pub(crate) fn status(&self) -> SessionStatus {
        let now = Instant::now();
        let inner = self.lock();
        let phase = phase_of(&inner, self.cancelled.load(Ordering::Acquire));
        let (rate_bps, repair_rounds, receivers) = match &inner.machine {
            Some(m) => (
                m.rate_bps(),
                m.repair_rounds(),
                m.receivers()
                    .map(|(name, r)| ReceiverStatus {
                        name: name.clone(),
                        address: r.address,
                        chunks_done: r.chunks_done,
                        loss: r.loss,
                        verdict: r.verdict,
                        unicast: r.unicast,
                        last_report: now.saturating_duration_since(r.last_report),
                        message: r.message.clone(),
                    })
                    .collect(),
            ),
            None => (self.params.rate.max_bps, 0, Vec::new()),
        };
        SessionStatus {
            id: self.id,
            name: self.name.clone(),
            path: self.path.clone(),
            destination: self.destination,
            phase,
            error: inner.error.clone(),
            size: self.geometry.size,
            chunks: self.geometry.chunks(),
            rate_bps,
            min_receivers: self.params.min_receivers,
            max_wait: self.params.max_wait,
            slow: self.params.slow,
            bytes_sent: self.bytes.load(Ordering::Relaxed),
            datagrams_sent: self.datagrams.load(Ordering::Relaxed),
            repair_rounds,
            age: now.saturating_duration_since(self.created),
            receivers,
        }
    }
}

fn phase_of(inner: &Inner, cancelled: bool) -> Phase {
    if inner.error.is_some() {
        return Phase::Failed;
    }
    match inner.machine.as_ref().map(Machine::state) {
        None if cancelled => Phase::Cancelled,
        None => Phase::Preparing,
        Some(SessionState::Waiting) => Phase::Waiting,
        Some(SessionState::Sending) => Phase::Sending,
        Some(SessionState::Finished) => Phase::Finished,
        Some(SessionState::Cancelled) => Phase::Cancelled,
    }
}
