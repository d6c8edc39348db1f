//! [`Sessions`]: the sessions of one data plane, shared by the control plane (start, status,
//! cancel) and the HTTP cores (manifest, reports, data).

use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use multicast::wire::HEADER_LEN;

use super::machine::{Params, SlowPolicy};
use super::prepare::HashCache;
use super::rate::RateBounds;
use super::sender;
use super::session::{Session, Totals};
use super::socket::{self, Destination};
use super::status::SessionStatus;
use crate::blob::Blob;
use crate::sys;

/// Sessions kept at once, running or over; the oldest one over makes room for a new one.
pub const MAX_SESSIONS: usize = 64;
/// How often receivers report: often enough that a repair round starts within a fraction of
/// a second of the previous one, rarely enough that hundreds of receivers are no load.
pub const REPORT_INTERVAL: Duration = Duration::from_millis(250);

/// What to send, where and how.
#[derive(Debug, Clone)]
pub struct SessionSpec {
    /// The file (a regular file; mapped read-only).
    pub path: PathBuf,
    /// Its name in the manifest, for people.
    pub name: String,
    /// Group, port, interface, TTL.
    pub destination: Destination,
    /// Rate bounds.
    pub rate: RateBounds,
    /// Receivers to wait for before the first symbol (0: start at once).
    pub min_receivers: u32,
    /// Longest wait for them.
    pub max_wait: Duration,
    /// What to do with slow receivers.
    pub slow: SlowPolicy,
}

/// Why a session could not start.
#[derive(Debug)]
pub enum StartError {
    /// The file cannot be opened or mapped.
    File(io::Error),
    /// The socket cannot be set up as asked (group, interface, TTL).
    Socket(io::Error),
    /// [`MAX_SESSIONS`] sessions are running.
    Busy,
    /// The session thread could not be started.
    Thread(io::Error),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::File(e) => write!(f, "cannot open the file: {e}"),
            StartError::Socket(e) => write!(f, "cannot send to the group: {e}"),
            StartError::Busy => write!(f, "{MAX_SESSIONS} multicast sessions are running"),
            StartError::Thread(e) => write!(f, "cannot start the session: {e}"),
        }
    }
}

impl std::error::Error for StartError {}

/// The sessions (cheap to clone: one shared registry).
#[derive(Clone, Default)]
pub struct Sessions {
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    sessions: Mutex<BTreeMap<u32, Entry>>,
    totals: Arc<Totals>,
    hashes: Arc<HashCache>,
}

struct Entry {
    session: Arc<Session>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions")
            .field("count", &self.lock().len())
            .finish()
    }
}

impl Sessions {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<u32, Entry>> {
        self.shared
            .sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Maps the file, opens the socket (so a bad file, group or interface is an error here),
    /// and starts the session's thread, which hashes the file and then announces the session.
    /// Returns its id at once: the manifest is served once [`Phase::Preparing`] is over.
    ///
    /// [`Phase::Preparing`]: super::Phase::Preparing
    ///
    /// # Errors
    /// See [`StartError`].
    pub fn start(&self, spec: SessionSpec) -> Result<u32, StartError> {
        let blob = Blob::map_file(&spec.path).map_err(StartError::File)?;
        let socket = socket::open(&spec.destination).map_err(StartError::Socket)?;
        let segment = HEADER_LEN + usize::from(multicast::geometry::DEFAULT_SYMBOL_SIZE);
        let params = Params {
            min_receivers: spec.min_receivers,
            max_wait: spec.max_wait,
            slow: spec.slow,
            rate: spec.rate,
            report_interval: REPORT_INTERVAL,
            burst: sys::segments_per_send(segment) as u32,
        };
        let mut sessions = self.lock();
        if sessions.len() >= MAX_SESSIONS {
            let oldest_over = sessions
                .iter()
                .find(|(_, e)| !e.session.phase().is_active())
                .map(|(id, _)| *id);
            let id = oldest_over.ok_or(StartError::Busy)?;
            if let Some(mut e) = sessions.remove(&id) {
                join(&mut e);
            }
        }
        let id = loop {
            let id = random_id();
            if id != 0 && !sessions.contains_key(&id) {
                break id;
            }
        };
        let session = Arc::new(Session::new(
            id,
            spec.name,
            spec.path,
            spec.destination,
            params,
            blob,
            self.shared.totals.clone(),
        ));
        let running = session.clone();
        let hashes = self.shared.hashes.clone();
        let thread = std::thread::Builder::new()
            .name(format!("mcast-{id:08x}"))
            .spawn(move || sender::run(running, socket, &hashes))
            .map_err(StartError::Thread)?;
        sessions.insert(
            id,
            Entry {
                session,
                thread: Some(thread),
            },
        );
        Ok(id)
    }

    /// Every session, oldest id first.
    pub fn list(&self) -> Vec<SessionStatus> {
        let sessions: Vec<Arc<Session>> = self.lock().values().map(|e| e.session.clone()).collect();
        sessions.iter().map(|s| s.status()).collect()
    }

    /// One session.
    pub fn get(&self, id: u32) -> Option<SessionStatus> {
        self.find(id).map(|s| s.status())
    }

    /// Cancels a session (a session over stays as it was); `false` for an unknown id.
    pub fn cancel(&self, id: u32) -> bool {
        let Some(session) = self.find(id) else {
            return false;
        };
        session.cancel();
        true
    }

    /// Cancels and forgets a session: its manifest and data are no longer served. `false`
    /// for an unknown id.
    pub fn remove(&self, id: u32) -> bool {
        let Some(mut entry) = self.lock().remove(&id) else {
            return false;
        };
        entry.session.cancel();
        join(&mut entry);
        true
    }

    /// Sessions preparing, waiting or sending.
    pub fn active(&self) -> usize {
        let sessions: Vec<Arc<Session>> = self.lock().values().map(|e| e.session.clone()).collect();
        sessions.iter().filter(|s| s.phase().is_active()).count()
    }

    /// Payload bytes and datagrams sent by every session since start.
    pub fn totals(&self) -> (u64, u64) {
        let t = &self.shared.totals;
        (
            t.bytes.load(Ordering::Relaxed),
            t.datagrams.load(Ordering::Relaxed),
        )
    }

    /// Cancels every session and waits up to `grace` for their threads (they send their
    /// `End` datagrams).
    pub fn shutdown(&self, grace: Duration) {
        let mut entries: Vec<Entry> = std::mem::take(&mut *self.lock()).into_values().collect();
        for e in &entries {
            e.session.cancel();
        }
        let deadline = Instant::now() + grace;
        for e in &mut entries {
            while e.thread.as_ref().is_some_and(|t| !t.is_finished()) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if e.thread.as_ref().is_some_and(JoinHandle::is_finished) {
                join(e);
            }
        }
    }

    /// The session `id`, for the HTTP server.
    pub(crate) fn find(&self, id: u32) -> Option<Arc<Session>> {
        self.lock().get(&id).map(|e| e.session.clone())
    }
}

fn join(entry: &mut Entry) {
    if let Some(t) = entry.thread.take() {
        let _ = t.join();
    }
}

/// A session id nobody can predict from the last one: ids outlive a restart in receivers'
/// state, and a receiver must not take a new session's datagrams for an old one's.
fn random_id() -> u32 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish() as u32
}
