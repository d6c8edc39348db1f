//! When and how the service writes what boot events teach: sightings and history wait up to
//! [`SAVE_DELAY`] in memory (a rack booting sends thousands of events a second; one durable
//! commit each would cost more than answering them), a failed write is retried with a
//! doubling wait and never forgotten, and the database is reopened after an I/O error.
//! Operators' changes do not wait: they are saved before they are answered.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use dataplane::Mac;

use super::Service;
use crate::history;

/// How long sightings and history wait in memory before they are saved.
pub(crate) const SAVE_DELAY: Duration = Duration::from_secs(1);

/// Waits between tries of a failed save: doubling from the first to the last.
const SAVE_RETRY: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(60));

/// What is waiting to be saved, and when.
#[derive(Debug, Default)]
pub(super) struct Saving {
    /// Clients whose records are not saved yet, and records to delete.
    pub(super) unsaved: BTreeSet<Mac>,
    pub(super) removed: BTreeSet<Mac>,
    /// Deploys changed by boot events, not saved yet.
    pub(super) deploys: BTreeSet<u64>,
    save_at: Option<Instant>,
    /// The wait before the next try, after a failed save.
    pub(super) retry: Option<Duration>,
    /// A write failed: redb refuses every later one until the database is reopened.
    reopen: bool,
}

impl Saving {
    /// Whether a save is due at `now`.
    pub(super) fn due(&self, now: Instant) -> bool {
        self.save_at.is_some_and(|t| t <= now)
    }

    /// When the next save is due.
    pub(super) fn next(&self) -> Option<Instant> {
        self.save_at
    }

    /// A save within [`SAVE_DELAY`], unless one is already planned.
    pub(super) fn soon(&mut self) {
        self.save_at
            .get_or_insert_with(|| Instant::now() + SAVE_DELAY);
    }

    /// A write failed: reopen before the next one.
    pub(super) fn failed(&mut self) {
        self.reopen = true;
    }
}

impl Service {
    /// Writes the records changed and deleted since the last save, and the history waiting.
    /// A failed save keeps them for the next try.
    pub(super) fn save(&mut self) {
        let s = &mut self.saving;
        s.save_at = None;
        if s.unsaved.is_empty()
            && s.removed.is_empty()
            && s.deploys.is_empty()
            && self.history.is_empty()
        {
            return;
        }
        self.reopen_if_failed();
        let s = &self.saving;
        let changed = s.unsaved.iter().filter_map(|m| self.clients.get(m));
        let saved = self
            .store
            .save_clients(changed, &s.removed)
            .and_then(|()| self.store.append_history(&self.history, history::KEEP))
            .and_then(|()| {
                s.deploys
                    .iter()
                    .filter_map(|id| self.deploys.get(id))
                    .try_for_each(|d| self.store.save_deploy(d))
            });
        match saved {
            Ok(()) => {
                let s = &mut self.saving;
                if s.retry.take().is_some() {
                    tracing::info!(clients = s.unsaved.len(), "client records saved after all");
                }
                s.unsaved.clear();
                s.removed.clear();
                s.deploys.clear();
                self.history.clear();
            }
            Err(e) => {
                let s = &mut self.saving;
                let wait = s.retry.map_or(SAVE_RETRY.0, |w| (w * 2).min(SAVE_RETRY.1));
                s.retry = Some(wait);
                s.save_at = Some(Instant::now() + wait);
                s.reopen = true;
                tracing::error!(
                    error = %e,
                    clients = s.unsaved.len() + s.removed.len(),
                    deploys = s.deploys.len(),
                    history = self.history.len(),
                    retry_in = ?wait,
                    "client records not saved yet"
                );
            }
        }
    }

    /// Reopens the database before the next write after a failed one: right before it, as the
    /// reopen writes too (redb repairs what the failed commit left).
    pub(super) fn reopen_if_failed(&mut self) {
        if !self.saving.reopen {
            return;
        }
        match self.store.reopen() {
            Ok(()) => self.saving.reopen = false,
            Err(e) => tracing::error!(error = %e, "cannot reopen the database"),
        }
    }
}
