//! `fleetboot serve`: wires the planes together. Opens the store, loads bootloaders, publishes
//! the first catalog, starts the data plane and the admin service, rescans on an interval,
//! logs boot events, and drains on SIGINT/SIGTERM.

use std::sync::Arc;
use std::time::Duration;

use dataplane::{BootEvent, Catalog, CatalogHandle, DataPlane, EventSink, Outcome};

use crate::config::Settings;
use crate::publish::Publisher;
use crate::store::Store;
use crate::{api, bootloaders, images, scan};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Runs until a signal; returns once drained.
///
/// # Errors
/// Start-up failures: the database, a port that cannot be bound.
pub fn run(settings: Settings) -> Result<(), BoxError> {
    let store = Arc::new(Store::open(&settings.data_dir)?);
    for sub in scan::SERVED_ROOTS.iter().chain(&["bootloaders"]) {
        std::fs::create_dir_all(settings.data_dir.join(sub))?;
    }
    if let Some(password) = store.ensure_admin_password()? {
        // Shown once: only a salted hash is stored.
        println!(
            "admin user: admin  password: {password}  (shown once; stored hashed in {})",
            store.path().display()
        );
    }
    let loaded = bootloaders::load(&settings.data_dir);
    for line in bootloaders::describe(&loaded) {
        if line.contains("MISSING") {
            tracing::warn!("{line}");
        } else {
            tracing::info!("{line}");
        }
    }
    let handle = CatalogHandle::new(Catalog::default());
    let mut publisher = Publisher::new(handle.clone(), loaded);
    rescan(&settings, &store, &mut publisher);

    let (events, event_rx) = EventSink::bounded(65_536);
    let dataplane = DataPlane::start(
        dataplane::Config {
            tftp_listen: Some(settings.tftp_listen),
            http_listen: Some(settings.http_listen),
            cores: settings.cores,
            driver: settings.driver,
            tftp: settings.tftp.clone(),
            http: settings.http.clone(),
        },
        handle.clone(),
        events,
    )?;
    std::thread::Builder::new()
        .name("fleetboot-events".into())
        .spawn(move || {
            for event in event_rx {
                log_event(&event);
            }
        })?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("fleetboot-control")
        .enable_all()
        .build()?;
    let state = api::AppState {
        catalog: handle,
        stats: dataplane.stats().clone(),
        driver: dataplane.driver(),
    };
    let admin = runtime
        .block_on(tokio::net::TcpListener::bind(settings.admin_listen))
        .map_err(|e| format!("bind admin {}: {e}", settings.admin_listen))?;
    let admin_addr = admin.local_addr()?;
    tracing::info!(
        tftp = ?dataplane.tftp_addr(),
        http = ?dataplane.http_addr(),
        admin = %admin_addr,
        driver = dataplane.driver(),
        cores = settings.cores,
        data_dir = %settings.data_dir.display(),
        "fleetboot serving"
    );
    // Handlers before "ready": a SIGTERM right after start must drain, not kill.
    let signals = runtime.block_on(async { Signals::install() })?;
    let (stop_scan, stop_rx) = crossbeam_channel::bounded::<()>(1);
    let scanner = {
        let settings = settings.clone();
        let store = store.clone();
        std::thread::Builder::new()
            .name("fleetboot-scan".into())
            .spawn(move || {
                // Wakes every interval; a message (or a dropped sender) ends it.
                while let Err(crossbeam_channel::RecvTimeoutError::Timeout) =
                    stop_rx.recv_timeout(settings.scan_interval)
                {
                    rescan(&settings, &store, &mut publisher);
                }
            })?
    };
    // One machine-readable line on stdout: scripts and tests wait for it.
    println!(
        "fleetboot ready tftp={} http={} admin={admin_addr} driver={}",
        dataplane
            .tftp_addr()
            .map_or("off".into(), |a| a.to_string()),
        dataplane
            .http_addr()
            .map_or("off".into(), |a| a.to_string()),
        dataplane.driver()
    );
    runtime.block_on(async {
        axum::serve(admin, api::app(state))
            .with_graceful_shutdown(signals.wait())
            .await
    })?;
    tracing::info!(grace = ?settings.drain_grace, "shutting down: draining transfers");
    let _ = stop_scan.send(());
    dataplane.shutdown(settings.drain_grace);
    runtime.shutdown_timeout(Duration::from_millis(200));
    let _ = scanner.join();
    // The last handle: redb closes cleanly, so the next open needs no repair.
    drop(store);
    Ok(())
}

fn rescan(settings: &Settings, store: &Store, publisher: &mut Publisher) {
    let found = scan::scan(&settings.data_dir);
    if !publisher.is_stale(&found) {
        return;
    }
    let known = store.images().unwrap_or_else(|e| {
        tracing::error!(error = %e, "cannot read stored images; re-indexing");
        Vec::new()
    });
    let layouts = images::load_layouts(&settings.data_dir);
    let images = images::refresh(&found, &known, &layouts);
    publisher.publish(&found, &images);
    let records: Vec<_> = found.iter().map(|f| f.record.clone()).collect();
    let recorded = store.sync_files(&records).and_then(|changed| {
        store.sync_images(&images)?;
        Ok(changed)
    });
    match recorded {
        Ok(changed) => tracing::info!(
            files = found.len(),
            images = images.len(),
            changed,
            "catalog published"
        ),
        Err(e) => tracing::error!(error = %e, "catalog published but not recorded"),
    }
}

fn log_event(e: &BootEvent) {
    let proto = match e.protocol {
        dataplane::Protocol::Tftp => "tftp",
        dataplane::Protocol::Http => "http",
    };
    match &e.outcome {
        Outcome::Complete | Outcome::NoBody => {
            tracing::info!(proto, client = %e.client, object = %e.object, bytes = e.bytes, ms = e.duration.as_millis() as u64, "served")
        }
        Outcome::NotFound => {
            tracing::info!(proto, client = %e.client, object = %e.object, "not found")
        }
        Outcome::Refused(why) => {
            tracing::warn!(proto, client = %e.client, object = %e.object, why, "refused")
        }
        Outcome::Failed(why) => {
            tracing::warn!(proto, client = %e.client, object = %e.object, bytes = e.bytes, why, "transfer failed")
        }
    }
}

/// SIGINT and SIGTERM, registered with the kernel when installed.
struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> std::io::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    async fn wait(mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}
