//! Downloads as jobs: `POST /images/download` starts one and answers its id at once; the
//! download runs on a plain thread (blocking I/O, off the async runtime), at most
//! [`MAX_RUNNING`] at a time, the rest queued. Every change of state and, while running, at
//! most four progress updates a second go to [`Jobs::subscribe`]rs (SSE, metrics). Jobs live
//! in memory only: after a restart the list is empty and [`super::cleanup_incoming`] removes
//! what an interrupted download left.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use super::download::{Download, Retry, Stop};
use super::names::IsoPath;
use super::temp::{check_free, TempFile};
use super::{parse_sha256, TransferError};
use crate::coordinator::unix_now;
use crate::netboot::fetch::{agent, check_url};
use crate::netboot::Trust;

/// Downloads running at once.
pub const MAX_RUNNING: usize = 4;
/// Downloads waiting for a slot, at most; more are refused as busy.
const MAX_QUEUED: usize = 64;
/// Finished jobs kept for `GET /jobs`.
const KEEP_FINISHED: usize = 100;
/// Least time between two progress updates of one job.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);
/// Updates a slow subscriber may fall behind before it loses some (it is told it lagged).
const EVENT_BUFFER: usize = 1024;

/// How downloads are made.
#[derive(Debug, Clone)]
pub struct DownloadOptions {
    /// The CAs https URLs may use. Default: Mozilla's roots only.
    pub trust: Trust,
    /// Largest download in bytes; use the upload cap. Default: 20 GiB.
    pub max_bytes: u64,
    /// Failures in a row without progress before a download fails. Default: 5.
    pub retry_attempts: u32,
    /// Pause after the first failure, doubled after each further one. Default: 1 s.
    pub retry_delay: Duration,
}

impl Default for DownloadOptions {
    fn default() -> DownloadOptions {
        DownloadOptions {
            trust: Trust::default(),
            max_bytes: 20 << 30,
            retry_attempts: 5,
            retry_delay: Duration::from_secs(1),
        }
    }
}

/// `POST /images/download`'s body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DownloadRequest {
    /// An `http://` or `https://` URL.
    pub url: String,
    /// The expected SHA-256 (64 hex digits); the download fails when it differs.
    #[serde(default)]
    pub sha256: Option<String>,
    /// Where to put it, relative to `data/isos/` (`a/b/x.iso`); default: the URL's file name.
    #[serde(default)]
    pub path: Option<String>,
}

/// A job's id, unique while the server runs.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(transparent)]
pub struct JobId(pub u64);

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for JobId {
    type Err = TransferError;

    fn from_str(s: &str) -> Result<JobId, TransferError> {
        s.parse()
            .map(JobId)
            .map_err(|_| TransferError::BadInput(format!("job id {s:?}: not a number")))
    }
}

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Waiting for a free slot.
    Queued,
    /// Downloading.
    Running,
    /// In place under its path.
    Done,
    /// Stopped by an error (see `error`); nothing was kept.
    Failed,
    /// Stopped by a cancel; nothing was kept.
    Cancelled,
}

impl JobState {
    /// Whether the job has ended.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            JobState::Done | JobState::Failed | JobState::Cancelled
        )
    }
}

/// A job as `GET /jobs` shows it, and as every update sent to subscribers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct JobStatus {
    /// Its id.
    pub id: JobId,
    /// Always `"download"` for now.
    #[schema(value_type = String)]
    pub kind: &'static str,
    /// The URL asked for.
    pub url: String,
    /// Where the file goes, relative to `data/isos/`.
    pub path: String,
    /// Where the job is.
    pub state: JobState,
    /// Bytes received so far (the last update's count while running).
    pub bytes_done: u64,
    /// The file's size once the server has said it.
    pub bytes_total: Option<u64>,
    /// The SHA-256 expected (while running) or found (once done).
    pub sha256: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
    /// When it was asked for (seconds since the epoch).
    pub started: u64,
    /// When it ended.
    pub finished: Option<u64>,
}

/// The download jobs of one server. Cheap to clone; every clone sees the same jobs.
#[derive(Clone)]
pub struct Jobs {
    inner: Arc<Inner>,
}

impl fmt::Debug for Jobs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let table = self.inner.lock();
        f.debug_struct("Jobs")
            .field("jobs", &table.jobs.len())
            .field("queued", &table.queue.len())
            .field("running", &table.running)
            .finish()
    }
}

struct Inner {
    data_dir: PathBuf,
    options: DownloadOptions,
    agent: ureq::Agent,
    events: broadcast::Sender<JobStatus>,
    table: Mutex<Table>,
}

#[derive(Default)]
struct Table {
    last_id: u64,
    jobs: BTreeMap<JobId, Job>,
    queue: VecDeque<JobId>,
    running: usize,
}

struct Job {
    status: JobStatus,
    dest: IsoPath,
    expected: Option<String>,
    cancel: Arc<AtomicBool>,
}

impl Jobs {
    /// No jobs yet; downloads go below `data_dir/isos/`.
    pub fn new(data_dir: &Path, options: DownloadOptions) -> Jobs {
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        Jobs {
            inner: Arc::new(Inner {
                data_dir: data_dir.to_path_buf(),
                agent: agent(&options.trust, None),
                options,
                events,
                table: Mutex::new(Table::default()),
            }),
        }
    }

    /// Every job update from now on: state changes, and progress at most 4 times a second per
    /// running job.
    pub fn subscribe(&self) -> broadcast::Receiver<JobStatus> {
        self.inner.events.subscribe()
    }

    /// Checks `req` and queues its download; it starts at once when fewer than
    /// [`MAX_RUNNING`] run.
    ///
    /// # Errors
    /// [`TransferError::BadInput`] for a bad URL, checksum or path (or a URL without a usable
    /// `.iso` file name and no path), [`TransferError::Exists`] when the path is taken or
    /// another job is downloading to it, [`TransferError::Busy`] when too many wait already,
    /// [`TransferError::Internal`] when no thread can be started.
    pub fn start_download(&self, req: DownloadRequest) -> Result<JobId, TransferError> {
        check_url(&req.url).map_err(|e| TransferError::BadInput(e.to_string()))?;
        let expected = req.sha256.as_deref().map(parse_sha256).transpose()?;
        let dest = match &req.path {
            Some(path) => IsoPath::parse(path)?,
            None => IsoPath::from_url(&req.url)?,
        };
        check_free(&self.inner.data_dir, &dest)?;
        let mut table = self.inner.lock();
        let busy = table
            .jobs
            .values()
            .any(|j| j.dest == dest && !j.status.state.is_finished());
        if busy {
            return Err(TransferError::Exists(dest.to_string()));
        }
        if table.queue.len() >= MAX_QUEUED {
            return Err(TransferError::Busy(table.queue.len()));
        }
        table.last_id += 1;
        let id = JobId(table.last_id);
        let status = JobStatus {
            id,
            kind: "download",
            url: req.url,
            path: dest.to_string(),
            state: JobState::Queued,
            bytes_done: 0,
            bytes_total: None,
            sha256: expected.clone(),
            error: None,
            started: unix_now(),
            finished: None,
        };
        self.inner.publish(&status);
        table.jobs.insert(
            id,
            Job {
                status,
                dest,
                expected,
                cancel: Arc::new(AtomicBool::new(false)),
            },
        );
        table.queue.push_back(id);
        if table.running < MAX_RUNNING {
            let inner = self.inner.clone();
            std::thread::Builder::new()
                .name("download".into())
                .spawn(move || inner.work())
                .map_err(|e| {
                    table.queue.retain(|q| *q != id);
                    table.jobs.remove(&id);
                    TransferError::Internal(format!("starting a download thread: {e}"))
                })?;
            table.running += 1;
        }
        Ok(id)
    }

    /// Every job kept: running, queued, and the last 100 finished, oldest first.
    pub fn list(&self) -> Vec<JobStatus> {
        let table = self.inner.lock();
        table.jobs.values().map(|j| j.status.clone()).collect()
    }

    /// One job.
    pub fn get(&self, id: JobId) -> Option<JobStatus> {
        self.inner.lock().jobs.get(&id).map(|j| j.status.clone())
    }

    /// Cancels a queued or running job (its temp file is removed as soon as its thread
    /// notices, within one read timeout); a finished job is left as it is. Returns the job.
    ///
    /// # Errors
    /// [`TransferError::NotFound`] when there is no such job.
    pub fn cancel(&self, id: JobId) -> Result<JobStatus, TransferError> {
        let mut table = self.inner.lock();
        table.queue.retain(|q| *q != id);
        let job = table
            .jobs
            .get_mut(&id)
            .ok_or_else(|| TransferError::NotFound(id.to_string()))?;
        if !job.status.state.is_finished() {
            job.cancel.store(true, Ordering::Relaxed);
            job.status.state = JobState::Cancelled;
            job.status.finished = Some(unix_now());
            self.inner.publish(&job.status);
        }
        let status = job.status.clone();
        table.prune();
        Ok(status)
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, Table> {
        // A panic while holding the lock leaves the table consistent enough to go on.
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn publish(&self, status: &JobStatus) {
        // No subscriber is fine: nobody is listening.
        let _ = self.events.send(status.clone());
    }

    /// A download thread: runs queued jobs until none is left.
    fn work(&self) {
        loop {
            let next = {
                let mut table = self.lock();
                let next = table.queue.pop_front();
                if next.is_none() {
                    table.running -= 1;
                }
                next
            };
            match next {
                Some(id) => self.run(id),
                None => return,
            }
        }
    }

    /// Runs job `id` to its end.
    fn run(&self, id: JobId) {
        let (url, dest, expected, cancel) = {
            let mut table = self.lock();
            let Some(job) = table.jobs.get_mut(&id) else {
                return;
            };
            if job.status.state != JobState::Queued {
                return;
            }
            job.status.state = JobState::Running;
            self.publish(&job.status);
            let url = job.status.url.clone();
            (
                url,
                job.dest.clone(),
                job.expected.clone(),
                job.cancel.clone(),
            )
        };
        let download = Download {
            agent: &self.agent,
            url: &url,
            max_bytes: self.options.max_bytes,
            retry: Retry {
                attempts: self.options.retry_attempts,
                delay: self.options.retry_delay,
            },
            cancelled: &cancel,
        };
        let mut last: Option<Instant> = None;
        let mut progress = |done: u64, total: Option<u64>| {
            if last.is_none_or(|t| t.elapsed() >= PROGRESS_EVERY) {
                last = Some(Instant::now());
                self.update(id, |s| {
                    s.bytes_done = done;
                    s.bytes_total = total;
                });
            }
        };
        let outcome = TempFile::create(&self.data_dir, "download")
            .map_err(|e| Stop::Failed(format!("creating the temp file: {e}")))
            .and_then(|mut temp| {
                let actual = download.run(&mut temp, &mut progress)?;
                let size = temp.file().metadata().map(|m| m.len()).unwrap_or(0);
                Ok((temp, actual, size))
            });
        let ending = match outcome {
            Err(Stop::Cancelled) => return,
            Err(Stop::Failed(why)) => Err(why),
            Ok((_, actual, _)) if expected.as_ref().is_some_and(|e| *e != actual) => Err(format!(
                "SHA-256 mismatch: expected {}, got {actual}",
                expected.unwrap_or_default()
            )),
            Ok((temp, actual, size)) => self
                .place(id, temp, &dest, &cancel)
                .map(|()| (actual, size)),
        };
        self.update(id, |s| {
            s.finished = Some(unix_now());
            match ending {
                Ok((actual, size)) => {
                    s.state = JobState::Done;
                    s.sha256 = Some(actual);
                    s.bytes_done = size;
                    s.bytes_total = Some(size);
                }
                Err(why) => {
                    tracing::warn!(url = s.url, "download failed: {why}");
                    s.state = JobState::Failed;
                    s.error = Some(why);
                }
            }
        });
        self.lock().prune();
    }

    /// Moves a finished download into place unless it was cancelled meanwhile.
    fn place(
        &self,
        id: JobId,
        mut temp: TempFile,
        dest: &IsoPath,
        cancel: &AtomicBool,
    ) -> Result<(), String> {
        // The long flush happens outside the lock; persist's own is then quick.
        temp.file()
            .sync_all()
            .map_err(|e| format!("flushing the temp file: {e}"))?;
        // Checked and placed under the lock, so a cancel answered as done cannot happen.
        let table = self.lock();
        if cancel.load(Ordering::Relaxed) || !table.jobs.contains_key(&id) {
            return Err("cancelled".into());
        }
        temp.persist(dest).map_err(|e| e.to_string())
    }

    /// Changes job `id` (unless a cancel ended it already) and publishes it.
    fn update(&self, id: JobId, change: impl FnOnce(&mut JobStatus)) {
        let mut table = self.lock();
        if let Some(job) = table.jobs.get_mut(&id) {
            if job.status.state == JobState::Running {
                change(&mut job.status);
                self.publish(&job.status);
            }
        }
    }
}

impl Table {
    /// Forgets the oldest finished jobs beyond [`KEEP_FINISHED`].
    fn prune(&mut self) {
        let finished: Vec<JobId> = self
            .jobs
            .values()
            .filter(|j| j.status.state.is_finished())
            .map(|j| j.status.id)
            .collect();
        for id in finished
            .iter()
            .take(finished.len().saturating_sub(KEEP_FINISHED))
        {
            self.jobs.remove(id);
        }
    }
}
