//! Reports to the sender on a thread of their own, so a slow HTTP answer never stalls the
//! receiving loop (whose socket buffer would overflow meanwhile).

use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use multicast::{Report, ReportAnswer};

use crate::server::Server;

/// What the two threads share.
#[derive(Default)]
struct Shared {
    /// The sender's latest answer, until the receiving loop takes it.
    answer: Option<ReportAnswer>,
    /// Why the latest report failed, cleared by an answer.
    error: Option<String>,
}

/// The reporting thread.
pub(crate) struct Reporter {
    shared: Arc<Mutex<Shared>>,
    reports: Sender<Report>,
    thread: JoinHandle<()>,
}

impl Reporter {
    /// Posts `first`, then each report [`Reporter::send`] is given, as soon as the one before
    /// it is answered: a report is posted when it is made, never one made a while ago (the
    /// sender plans repair from what a report says is missing *now*). Reports made while one
    /// is in flight replace each other: only the newest is posted.
    pub(crate) fn start(server: Arc<Server>, first: Report) -> Reporter {
        let shared = Arc::new(Mutex::new(Shared::default()));
        let (reports, made) = mpsc::channel::<Report>();
        let _ = reports.send(first);
        let thread = std::thread::spawn({
            let shared = Arc::clone(&shared);
            move || {
                while let Ok(mut report) = made.recv() {
                    while let Ok(newer) = made.try_recv() {
                        report = newer;
                    }
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
            }
        });
        Reporter {
            shared,
            reports,
            thread,
        }
    }

    /// Posts `report` (after the one in flight, if any).
    pub(crate) fn send(&self, report: Report) {
        let _ = self.reports.send(report);
    }

    /// The sender's answer since the last call, if any, and why the latest report failed if
    /// it did. Taken, not peeked: an old "waiting" answer must not keep a receiver whose
    /// server died from timing out.
    pub(crate) fn answer(&self) -> (Option<ReportAnswer>, Option<String>) {
        let mut shared = lock(&self.shared);
        (shared.answer.take(), shared.error.clone())
    }

    /// Stops the thread (after the report in flight, if any).
    pub(crate) fn stop(self) {
        drop(self.reports);
        let _ = self.thread.join();
    }
}

/// The data stays consistent whatever a panicking holder did: each field is written whole.
fn lock(shared: &Mutex<Shared>) -> std::sync::MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}
