//! The one thread that changes state: rescans the data dir, records what boot events teach
//! about clients, answers `clients` commands, and republishes the catalog when images or
//! assignments change. Owning the store, the publisher and the client table on one thread
//! means no locks, and redb sees one writer.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::Receiver;
use dataplane::{BootEvent, Mac};

use crate::boot::{self, MenuSettings, Site};
use crate::clients::once::OnceTokens;
use crate::clients::table::{ClientTable, Counters};
use crate::clients::{self, Client};
use crate::config::Settings;
use crate::control::{Request, Response};
use crate::images::layout_file::LayoutFile;
use crate::images::{self, Image};
use crate::publish::Publisher;
use crate::scan;
use crate::store::{Store, StoreError};
use crate::users::{self, UserError};

/// Messages from other threads.
pub enum Message {
    /// A `clients` command and where to send its answer.
    Command(Request, crossbeam_channel::Sender<Response>),
    /// Stop.
    Stop,
}

/// The coordinator's state.
pub struct Coordinator {
    settings: Settings,
    store: Store,
    publisher: Publisher,
    site: Site,
    menu: MenuSettings,
    images: Vec<Image>,
    layouts: LayoutFile,
    clients: ClientTable,
    /// Clients whose records are not saved yet, records to delete, and when they will be
    /// saved.
    unsaved: BTreeSet<Mac>,
    removed: BTreeSet<Mac>,
    save_at: Option<Instant>,
    /// Next-boot-once assignments the data plane may be serving.
    once: OnceTokens,
    /// The wait before the next try, after a failed save.
    retry: Option<Duration>,
    /// A write failed: redb refuses every later one until the database is reopened.
    reopen: bool,
}

/// Events taken from the channel at once, at most.
const EVENT_BATCH: usize = 4096;

/// Pause after a batch of events, so that a storm arrives in batches.
const EVENT_COALESCE: Duration = Duration::from_millis(5);

/// How long sightings (last seen, address, inventory) wait in memory before they are saved.
/// A rack booting sends thousands of events a second; one durable commit each would cost
/// more than answering them. Assignments and used once-assignments are saved at once.
const SAVE_DELAY: Duration = Duration::from_secs(1);

/// How often pending once-assignments are checked for use when nothing else wakes this
/// thread: the window in which a crash would forget a use (and serve the image again).
const ONCE_POLL: Duration = Duration::from_millis(200);

/// Waits between tries of a failed save: doubling from the first to the last.
const SAVE_RETRY: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(60));

impl Coordinator {
    /// Loads clients from the store, scans, publishes the first catalog.
    ///
    /// # Errors
    /// The stored clients cannot be read: starting without them would boot assigned machines
    /// into the menu.
    pub fn new(
        settings: Settings,
        store: Store,
        publisher: Publisher,
        site: Site,
        menu: MenuSettings,
        counters: Arc<Counters>,
    ) -> Result<Coordinator, StoreError> {
        let clients = ClientTable::new(store.clients()?, settings.clients.clone(), counters);
        let mut c = Coordinator {
            settings,
            store,
            publisher,
            site,
            menu,
            images: Vec::new(),
            layouts: LayoutFile::default(),
            clients,
            unsaved: BTreeSet::new(),
            removed: BTreeSet::new(),
            save_at: None,
            once: OnceTokens::default(),
            retry: None,
            reopen: false,
        };
        c.expire();
        c.rescan();
        Ok(c)
    }

    /// Runs until [`Message::Stop`] or until both channels close; returns the store so the
    /// caller decides when the database closes.
    pub fn run(mut self, events: Receiver<BootEvent>, messages: Receiver<Message>) -> Store {
        let mut next_scan = Instant::now() + self.settings.scan_interval;
        // Often enough that a record outlives its expiry by a quarter at most.
        let sweep_every = (self.settings.clients.unknown_expiry / 4)
            .clamp(Duration::from_secs(1), Duration::from_secs(3600));
        let mut next_sweep = Instant::now() + sweep_every;
        loop {
            // Timed work first, every turn: under a steady stream of events the channels are
            // never idle, and waiting for a quiet moment would put saves off indefinitely.
            self.record_used_once();
            let now = Instant::now();
            if next_sweep <= now {
                self.expire();
                next_sweep = now + sweep_every;
            }
            if self.save_at.is_some_and(|t| t <= now) {
                self.save();
            }
            if next_scan <= now {
                self.rescan();
                next_scan = Instant::now() + self.settings.scan_interval;
            }
            let mut wake = self
                .save_at
                .map_or(next_scan, |t| t.min(next_scan))
                .min(next_sweep);
            if !self.once.is_empty() {
                wake = wake.min(Instant::now() + ONCE_POLL);
            }
            let wait = wake.saturating_duration_since(Instant::now());
            crossbeam_channel::select! {
                recv(events) -> e => match e {
                    Ok(first) => {
                        let mut batch = vec![first];
                        batch.extend(events.try_iter().take(EVENT_BATCH - 1));
                        self.on_events(&batch);
                        // Let the next events queue up instead of waking this thread one by
                        // one: a parked receiver costs every sending core a wake-up per event.
                        std::thread::sleep(EVENT_COALESCE);
                    }
                    Err(_) => return self.finish(),
                },
                recv(messages) -> m => match m {
                    Ok(Message::Command(request, reply)) => {
                        let _ = reply.send(self.on_request(request));
                    }
                    Ok(Message::Stop) | Err(_) => return self.finish(),
                },
                default(wait) => {}
            }
        }
    }

    /// Saves what is still in memory and hands the store back.
    fn finish(mut self) -> Store {
        self.record_used_once();
        self.save();
        self.store
    }

    /// Clears the next-boot-once assignments the data plane has served, and saves them at
    /// once (retried like any save). The policy being served needs no republish: it already
    /// skips a used token.
    fn record_used_once(&mut self) {
        let used = self.once.take_used();
        if used.is_empty() {
            return;
        }
        let now = unix_now();
        for (mac, image) in used {
            if self.clients.get(&mac).is_none() {
                continue;
            }
            tracing::info!(%mac, %image, "next-boot-once assignment used");
            // An assignment edited since is left alone. `last_boot` stays the events' word:
            // they may already report a later boot.
            let cleared = self.clients.edit(mac, now, |client| {
                let pending = client.next_boot.as_ref() == Some(&image);
                if pending {
                    client.next_boot = None;
                }
                pending
            });
            if cleared {
                self.unsaved.insert(mac);
            }
        }
        self.save();
    }

    /// Writes the records changed and deleted since the last save. A failed save keeps them
    /// for the next try.
    fn save(&mut self) {
        self.save_at = None;
        if self.unsaved.is_empty() && self.removed.is_empty() {
            return;
        }
        self.reopen_if_failed();
        let changed = self.unsaved.iter().filter_map(|m| self.clients.get(m));
        match self.store.save_clients(changed, &self.removed) {
            Ok(()) => {
                if self.retry.take().is_some() {
                    tracing::info!(
                        clients = self.unsaved.len(),
                        "client records saved after all"
                    );
                }
                self.unsaved.clear();
                self.removed.clear();
            }
            Err(e) => {
                let wait = self
                    .retry
                    .map_or(SAVE_RETRY.0, |w| (w * 2).min(SAVE_RETRY.1));
                self.retry = Some(wait);
                self.save_at = Some(Instant::now() + wait);
                tracing::error!(
                    error = %e,
                    clients = self.unsaved.len() + self.removed.len(),
                    retry_in = ?wait,
                    "client records not saved yet"
                );
                self.reopen = true;
            }
        }
    }

    /// Reopens the database before the next write after a failed one: right before it, as the
    /// reopen writes too (redb repairs what the failed commit left).
    fn reopen_if_failed(&mut self) {
        if !self.reopen {
            return;
        }
        match self.store.reopen() {
            Ok(()) => self.reopen = false,
            Err(e) => tracing::error!(error = %e, "cannot reopen the database"),
        }
    }

    /// Drops unknown clients not seen for the expiry time.
    fn expire(&mut self) {
        let gone = self.clients.expire(unix_now());
        if gone.is_empty() {
            return;
        }
        tracing::info!(clients = gone.len(), "unknown clients expired");
        for mac in gone {
            self.unsaved.remove(&mac);
            self.removed.insert(mac);
        }
        self.save_at
            .get_or_insert_with(|| Instant::now() + SAVE_DELAY);
    }

    fn rescan(&mut self) {
        let found = scan::scan(&self.settings.data_dir);
        let redetect = self.layouts.reload(&self.settings.data_dir);
        if !redetect && !self.publisher.is_stale(&found) {
            return;
        }
        let known = self.store.images().unwrap_or_else(|e| {
            tracing::error!(error = %e, "cannot read stored images; re-indexing");
            Vec::new()
        });
        self.images = images::refresh(&found, &known, self.layouts.table(), redetect);
        let policy = self.policy();
        self.publisher.set_boot(policy);
        self.publisher.publish(&found, &self.images);
        let records: Vec<_> = found.iter().map(|f| f.record.clone()).collect();
        self.reopen_if_failed();
        let recorded = self.store.sync_files(&records).and_then(|changed| {
            self.store.sync_images(&self.images)?;
            Ok(changed)
        });
        match recorded {
            Ok(changed) => tracing::info!(
                files = found.len(),
                images = self.images.len(),
                changed,
                "catalog published"
            ),
            Err(e) => {
                tracing::error!(error = %e, "catalog published but not recorded");
                self.reopen = true;
            }
        }
    }

    fn policy(&mut self) -> dataplane::BootPolicy {
        // A use the data plane made since the last check is recorded first; the served
        // policy's tokens then move to the new one, unchanged, for assignments still pending.
        self.record_used_once();
        let mut last = std::mem::take(&mut self.once);
        let once = &mut self.once;
        boot::policy(
            &self.images,
            self.clients.all(),
            &self.site,
            &self.menu,
            |mac, image| once.carry(&mut last, mac, image),
        )
    }

    fn republish_policy(&mut self) {
        let policy = self.policy();
        self.publisher.set_boot(policy);
        self.publisher.republish();
    }

    fn on_events(&mut self, batch: &[BootEvent]) {
        let now = unix_now();
        for event in batch {
            crate::serve::log_event(event);
            let Some(mac) = clients::mac_of(event).or_else(|| self.mac_by_address(event)) else {
                continue;
            };
            if self.clients.sight(mac, event, now) {
                self.unsaved.insert(mac);
            }
        }
        self.record_used_once();
        if !self.unsaved.is_empty() && self.save_at.is_none() {
            self.save_at = Some(Instant::now() + SAVE_DELAY);
        }
    }

    /// For transfers, which carry only an address: a known client's last address, else the
    /// kernel's ARP table (which only knows machines on our own links).
    fn mac_by_address(&self, event: &BootEvent) -> Option<Mac> {
        let ip = event.client.ip();
        self.clients
            .at(ip)
            .or_else(|| dataplane::neighbour::lookup(ip))
    }

    fn on_request(&mut self, request: Request) -> Response {
        // Answers and edits start from the recorded state of once-assignments.
        self.record_used_once();
        match request {
            Request::List => Response::Clients(self.clients.all().cloned().collect()),
            Request::Assign { mac, image, once } => {
                let mac: Mac = match mac.parse() {
                    Ok(m) => m,
                    Err(e) => return Response::Error(e),
                };
                if !self.images.iter().any(|i| i.id == image) {
                    return Response::Error(format!(
                        "no image {image:?} (see `fleetboot images list`)"
                    ));
                }
                self.change(mac, |c| {
                    if once {
                        c.next_boot = Some(image);
                    } else {
                        c.assigned = Some(image);
                    }
                })
            }
            Request::Unassign { mac } => match mac.parse() {
                Ok(mac) => self.change(mac, |c| {
                    c.assigned = None;
                    c.next_boot = None;
                }),
                Err(e) => Response::Error(e),
            },
            Request::User(request) => {
                self.reopen_if_failed();
                match users::apply(&self.store, request) {
                    Ok(list) => Response::Users(list),
                    Err(e) => {
                        // redb refuses every transaction after an I/O error until reopened.
                        self.reopen = matches!(e, UserError::Store(_));
                        Response::Error(e.to_string())
                    }
                }
            }
        }
    }

    /// An operator's change: saved before it is answered, or undone.
    fn change(&mut self, mac: Mac, edit: impl FnOnce(&mut Client)) -> Response {
        self.reopen_if_failed();
        let previous = self.clients.get(&mac).cloned();
        let saved = self.clients.edit(mac, unix_now(), |c| {
            edit(c);
            c.clone()
        });
        if let Err(e) = self.store.save_clients([&saved], &BTreeSet::new()) {
            self.clients.restore(mac, previous);
            self.reopen = true;
            return Response::Error(e.to_string());
        }
        self.republish_policy();
        Response::Client(Box::new(saved))
    }
}

/// Seconds since the epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs()
}

#[cfg(test)]
#[path = "coordinator_tests.rs"]
mod tests;
