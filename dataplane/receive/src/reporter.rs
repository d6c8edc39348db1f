//! Reports to the sender on a thread of their own, so a slow HTTP answer never stalls the
//! receiving loop (whose socket buffer would overflow meanwhile).

use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use multicast::{Report, ReportAnswer};

use crate::server::Server;

/// What the two threads share.
#[derive(Default)]
struct Shared {
    /// The report to send next (the latest the receiving loop made).
    report: Option<Report>,
    /// The sender's latest answer.
    answer: Option<ReportAnswer>,
    /// Why the latest report failed, cleared by an answer.
    error: Option<String>,
}

/// The reporting thread.
pub(crate) struct Reporter {
    shared: Arc<Mutex<Shared>>,
    stop: Sender<()>,
    thread: JoinHandle<()>,
}

impl Reporter {
    /// Posts `first`, then the latest report every `interval`, until stopped.
    pub(crate) fn start(server: Arc<Server>, first: Report, interval: Duration) -> Reporter {
        let shared = Arc::new(Mutex::new(Shared {
            report: Some(first),
            ..Shared::default()
        }));
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::spawn({
            let shared = Arc::clone(&shared);
            move || loop {
                let report = lock(&shared).report.clone();
                if let Some(report) = report {
                    let result = server.report(&report);
                    let mut shared = lock(&shared);
                    match result {
                        Ok(answer) => {
                            shared.answer = Some(answer);
                            shared.error = None;
                        }
                        Err(e) => shared.error = Some(e),
                    }
                }
                if stopped.recv_timeout(interval) != Err(RecvTimeoutError::Timeout) {
                    return;
                }
            }
        });
        Reporter {
            shared,
            stop,
            thread,
        }
    }

    /// Replaces the report to send next.
    pub(crate) fn set(&self, report: Report) {
        lock(&self.shared).report = Some(report);
    }

    /// The sender's latest answer, and why the latest report failed if it did.
    pub(crate) fn answer(&self) -> (Option<ReportAnswer>, Option<String>) {
        let shared = lock(&self.shared);
        (shared.answer.clone(), shared.error.clone())
    }

    /// Stops the thread (after the report in flight, if any).
    pub(crate) fn stop(self) {
        drop(self.stop);
        let _ = self.thread.join();
    }
}

/// The data stays consistent whatever a panicking holder did: each field is written whole.
fn lock(shared: &Mutex<Shared>) -> std::sync::MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}
