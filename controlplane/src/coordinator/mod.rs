//! The coordinator: the one thread that owns the [`Service`] (and through it the store: redb
//! sees one writer, and the service needs no locks). It takes boot events from the data
//! plane, calls from the API, and results from the scan worker; runs the service's timed
//! work; and carries out the [`Effect`]s the service returns: publishing boot policies and
//! catalogs, starting scans, telling live listeners.

pub mod scanner;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, Sender};
use dataplane::BootEvent;

use crate::live::Hub;
use crate::metrics::Metrics;
use crate::publish::Publisher;
use crate::service::{Effect, Live, Service};
use crate::store::Store;
use scanner::{ScanRequest, Scanned, Scanner};

/// Work for the coordinator's thread.
pub type Call = Box<dyn FnOnce(&mut Service) + Send>;

/// Messages from other threads.
pub enum Message {
    /// Run a call on the service (an API request).
    Call(Call),
    /// Scan now, even if nothing changed; the sender (if any) hears when the result is
    /// recorded and published.
    Rescan(Option<tokio::sync::oneshot::Sender<()>>),
    /// The scan worker's result.
    Scanned(Scanned),
    /// Stop.
    Stop,
}

/// Events taken from the channel at once, at most.
const EVENT_BATCH: usize = 4096;

/// Pause after a batch of events, so that a storm arrives in batches.
const EVENT_COALESCE: Duration = Duration::from_millis(5);

/// The coordinator's state: the service and what carries out its effects.
pub struct Coordinator {
    service: Service,
    /// `None` when no data plane is served (the CLI's offline router).
    publisher: Option<Publisher>,
    hub: Option<Arc<Hub>>,
    metrics: Option<Arc<Metrics>>,
    scanner: Option<Scanner>,
    /// To the scan worker, once it runs.
    scan_tx: Option<Sender<ScanRequest>>,
    scan_every: Duration,
    next_scan: Instant,
    /// Scan requests sent, and waiters for each.
    requested: u64,
    waiters: Vec<(u64, tokio::sync::oneshot::Sender<()>)>,
}

impl Coordinator {
    /// A coordinator for a server: scans and publishes the first catalog before returning.
    pub fn serving(
        mut service: Service,
        mut publisher: Publisher,
        hub: Arc<Hub>,
        metrics: Arc<Metrics>,
        data_dir: std::path::PathBuf,
    ) -> Coordinator {
        service.expire();
        let mut scanner = Scanner::new(data_dir, service.found_images().to_vec());
        if let Some((found, images)) = scanner.scan(true) {
            record_scan(&mut service, &mut publisher, &found, images);
        }
        let scan_every = service.scan_interval();
        let mut c = Coordinator {
            service,
            publisher: Some(publisher),
            hub: Some(hub),
            metrics: Some(metrics),
            scanner: Some(scanner),
            scan_tx: None,
            scan_every,
            next_scan: Instant::now() + scan_every,
            requested: 0,
            waiters: Vec::new(),
        };
        c.carry_out();
        c
    }

    /// A coordinator for the CLI without a server: the service alone, nothing published.
    pub fn offline(service: Service) -> Coordinator {
        Coordinator {
            scan_every: service.scan_interval(),
            service,
            publisher: None,
            hub: None,
            metrics: None,
            scanner: None,
            scan_tx: None,
            next_scan: Instant::now(),
            requested: 0,
            waiters: Vec::new(),
        }
    }

    /// Runs until [`Message::Stop`] or until both channels close; returns the store so the
    /// caller decides when the database closes.
    pub fn run(
        mut self,
        events: Receiver<BootEvent>,
        messages: Receiver<Message>,
        to_self: Sender<Message>,
    ) -> Store {
        if let Some(scanner) = self.scanner.take() {
            let (scan_tx, scan_rx) = crossbeam_channel::unbounded::<ScanRequest>();
            match scanner.spawn(scan_rx, to_self) {
                Ok(_) => self.scan_tx = Some(scan_tx),
                Err(e) => {
                    tracing::error!(error = %e, "no scan thread: the data dir is not rescanned");
                }
            }
        }
        self.next_scan = Instant::now() + self.scan_every;
        let sweep_every = self.service.sweep_every();
        let mut next_sweep = Instant::now() + sweep_every;
        loop {
            // Timed work first, every turn: under a steady stream of events the channels are
            // never idle, and waiting for a quiet moment would put saves off indefinitely.
            let now = Instant::now();
            let due = self.service.tick(now);
            if next_sweep <= now {
                self.service.expire();
                self.service.expire_sessions();
                next_sweep = now + sweep_every;
            }
            if self.next_scan <= now {
                self.request_scan(false);
                self.next_scan = now + self.scan_every;
            }
            self.carry_out();
            let wake = due
                .map_or(self.next_scan, |t| t.min(self.next_scan))
                .min(next_sweep);
            let wait = wake.saturating_duration_since(Instant::now());
            crossbeam_channel::select! {
                recv(events) -> e => match e {
                    Ok(first) => {
                        let mut batch = vec![first];
                        batch.extend(events.try_iter().take(EVENT_BATCH - 1));
                        crate::logging::in_one_write(|| {
                            batch.iter().for_each(crate::serve::log_event);
                        });
                        if let Some(m) = &self.metrics {
                            batch.iter().for_each(|event| m.observe(event));
                        }
                        self.service.on_events(&batch);
                        // Let the next events queue up instead of waking this thread one by
                        // one: a parked receiver costs every sending core a wake-up per event.
                        std::thread::sleep(EVENT_COALESCE);
                    }
                    Err(_) => return self.service.finish(),
                },
                recv(messages) -> m => match m {
                    Ok(Message::Call(call)) => call(&mut self.service),
                    Ok(Message::Rescan(waiter)) => {
                        let generation = self.request_scan(true);
                        if let Some(w) = waiter {
                            self.waiters.push((generation, w));
                        }
                    }
                    Ok(Message::Scanned(scanned)) => self.on_scanned(scanned),
                    Ok(Message::Stop) | Err(_) => return self.service.finish(),
                },
                default(wait) => {}
            }
            self.carry_out();
        }
    }

    /// Asks the scan worker for a scan; returns the request's number. Without a worker
    /// (offline), nothing is scanned and waiters are told at once.
    fn request_scan(&mut self, force: bool) -> u64 {
        self.requested += 1;
        let generation = self.requested;
        let sent = self
            .scan_tx
            .as_ref()
            .is_some_and(|tx| tx.send(ScanRequest { generation, force }).is_ok());
        if !sent {
            self.on_scanned(Scanned {
                generation,
                found: None,
            });
        }
        generation
    }

    fn on_scanned(&mut self, scanned: Scanned) {
        if let (Some((found, images)), Some(publisher)) = (scanned.found, self.publisher.as_mut()) {
            record_scan(&mut self.service, publisher, &found, images);
        }
        self.carry_out();
        let (done, waiting) = std::mem::take(&mut self.waiters)
            .into_iter()
            .partition(|(g, _)| *g <= scanned.generation);
        self.waiters = waiting;
        for (_, w) in done {
            let _ = w.send(());
        }
    }

    /// Carries out what the service asked for.
    fn carry_out(&mut self) {
        let mut republish = false;
        for effect in self.service.take_effects() {
            match effect {
                Effect::Republish => republish = true,
                Effect::Rescan => {
                    self.request_scan(true);
                }
                Effect::ScanEvery(every) => {
                    self.scan_every = every;
                    self.next_scan = Instant::now() + every;
                }
                Effect::Live(live) => self.tell(&live),
            }
        }
        if republish {
            if let Some(publisher) = self.publisher.as_mut() {
                publisher.set_boot(self.service.policy());
                publisher.republish();
            }
        }
    }

    fn tell(&self, live: &Live) {
        let Some(hub) = &self.hub else { return };
        match live {
            Live::Boot(record) => hub.send("boot", record),
            Live::Client(mac) => hub.send("client", &serde_json::json!({ "mac": mac })),
            Live::Images => hub.send("images", &serde_json::json!({})),
            Live::Deploy { id, mac, state } => hub.send(
                "deploy",
                &serde_json::json!({ "id": id, "mac": mac, "state": state }),
            ),
        }
    }
}

/// Records a scan's images in the service and publishes the files and images found.
fn record_scan(
    service: &mut Service,
    publisher: &mut Publisher,
    found: &[crate::scan::Found],
    images: Vec<crate::images::Image>,
) {
    let records: Vec<_> = found.iter().map(|f| f.record.clone()).collect();
    let count = images.len();
    let recorded = service.set_images(&records, images);
    publisher.set_boot(service.policy());
    publisher.publish(found, service.found_images());
    match recorded {
        Ok(()) => tracing::info!(files = found.len(), images = count, "catalog published"),
        Err(e) => tracing::error!(error = %e, "catalog published but not recorded"),
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
mod tests;
