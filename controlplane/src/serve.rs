//! `fleetboot serve`: wires the planes together. Opens the store, loads bootloaders, starts the
//! data plane (proxyDHCP, TFTP, HTTP), hands the store to the [`Service`] on the
//! [`Coordinator`]'s thread (scans, clients, publishing), serves the admin API on TCP and on
//! the control socket, and drains on SIGINT/SIGTERM.

use std::sync::Arc;
use std::time::Duration;

use dataplane::{BootEvent, Catalog, CatalogHandle, DataPlane, EventSink, Outcome};

use crate::api::{self, listener, Backend};
use crate::boot::Site;
use crate::clients;
use crate::config::Settings;
use crate::control;
use crate::coordinator::{Coordinator, Message};
use crate::live::Hub;
use crate::metrics::Metrics;
use crate::netboot::Trust;
use crate::publish::Publisher;
use crate::service::access::Grants;
use crate::service::multicast::{self, Multicast};
use crate::service::Service;
use crate::store::Store;
use crate::transfer::{self, DownloadOptions, JobState, Jobs};
use crate::users::{self, FIRST_ADMIN};
use crate::{bootloaders, netaddr, scan};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Runs until a signal; returns once drained.
///
/// # Errors
/// Start-up failures: the database, a port that cannot be bound.
pub fn run(settings: Settings) -> Result<(), BoxError> {
    let store = Store::open(&settings.data_dir)?;
    for sub in scan::SERVED_ROOTS.iter().chain(&["bootloaders"]) {
        std::fs::create_dir_all(settings.data_dir.join(sub))?;
    }
    // Uploads and downloads cut short by a crash or kill: nothing half-written is kept.
    let stale = transfer::cleanup_incoming(&settings.data_dir);
    if stale > 0 {
        tracing::info!(
            files = stale,
            "removed partial uploads and downloads left by the last run"
        );
    }
    if let Some(password) = users::ensure_first_admin(&store)? {
        // To the terminal only (stdout: logs go to stderr), and only now: the store keeps an
        // argon2id hash. Scripts read this exact form.
        println!(
            "admin user: {FIRST_ADMIN}  password: {password}  (shown once; stored hashed in {})",
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
    let boot = &settings.boot;
    let server = netaddr::fixed_server_addr(boot.server_addr, settings.http_listen.ip());
    let bootfiles = bootfiles(&loaded, &boot.uefi_bootfile);
    let handle = CatalogHandle::new(Catalog::default());
    // What the dashboard shows of the bootloaders (they move into the publisher).
    let served = api::server::ServerInfo::default().with_bootloaders(&loaded);
    let publisher = Publisher::new(handle.clone(), loaded);

    let (events, event_rx) = EventSink::bounded(65_536);
    let events_dropped = events.drops();
    let dataplane = DataPlane::start(
        dataplane::Config {
            tftp_listen: Some(settings.tftp_listen),
            http_listen: Some(settings.http_listen),
            cores: settings.cores,
            driver: settings.driver,
            tftp: settings.tftp.clone(),
            http: settings.http.clone(),
            dhcp: boot.dhcp.then(|| dataplane::dhcp::Config {
                dhcp_listen: (std::net::Ipv4Addr::UNSPECIFIED, boot.dhcp_port).into(),
                pxe_listen: (std::net::Ipv4Addr::UNSPECIFIED, boot.pxe_port).into(),
                interfaces: boot.interfaces.clone(),
                policy: dataplane::dhcp::Policy {
                    server,
                    http_port: 0,
                    bootfiles,
                    uefi: boot.uefi,
                },
            }),
        },
        handle.clone(),
        events,
    )?;
    let http_port = dataplane.http_addr().map_or(0, |a| a.port());
    let multicast = Multicast::new(
        dataplane.multicast().clone(),
        settings.multicast.clone(),
        settings.data_dir.clone(),
        http_port,
        server,
        boot.interfaces.clone(),
    );
    let site = Site {
        base: match server {
            Some(fixed) => format!("http://{fixed}:{http_port}"),
            None => format!("http://{}", dataplane::boot::SERVER_TOKEN),
        },
        kernel_args: boot.kernel_args.clone(),
        has_wimboot: publisher.has_bootloader("wimboot"),
        has_memdisk: publisher.has_bootloader("memdisk"),
    };
    // Scans and publishes the first catalog before "ready".
    let client_counters = Arc::new(clients::table::Counters::default());
    let grants = Arc::new(Grants::default());
    let hub = Hub::new();
    let metrics = Arc::new(Metrics::new().with_multicast(multicast.sessions().clone()));
    let mut service = Service::new(
        &settings,
        store,
        site,
        client_counters.clone(),
        grants.clone(),
    )?
    .with_multicast(multicast.clone());
    service.expire_sessions();
    service.end_interrupted_deploys();
    let coordinator = Coordinator::serving(
        service,
        publisher,
        hub.clone(),
        metrics.clone(),
        settings.data_dir.clone(),
    );
    let (messages, message_rx) = crossbeam_channel::bounded::<Message>(1024);
    let to_self = messages.clone();
    let coordinating = std::thread::Builder::new()
        .name("fleetboot-coordinator".into())
        .spawn(move || coordinator.run(event_rx, message_rx, to_self))?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("fleetboot-control")
        .enable_all()
        .build()?;
    let admin_settings = &settings.admin;
    let jobs = Jobs::new(
        &settings.data_dir,
        DownloadOptions {
            trust: match &settings.ca_file {
                Some(ca) => Trust::with_ca_file(ca)?,
                None => Trust::default(),
            },
            max_bytes: admin_settings.upload_max_bytes,
            ..DownloadOptions::default()
        },
    );
    let backend = Backend::new(messages.clone());
    runtime.spawn(follow_multicast(multicast.clone(), hub.clone()));
    runtime.spawn(follow_jobs(
        jobs.clone(),
        backend.clone(),
        hub.clone(),
        metrics.clone(),
    ));
    let admin = runtime
        .block_on(async { tokio::net::TcpListener::bind(settings.admin_listen).await })
        .map_err(|e| format!("bind admin {}: {e}", settings.admin_listen))?;
    let admin_addr = admin.local_addr()?;
    let metrics_listener = match admin_settings.metrics_listen {
        Some(addr) => Some(
            runtime
                .block_on(async { tokio::net::TcpListener::bind(addr).await })
                .map_err(|e| format!("bind metrics {addr}: {e}"))?,
        ),
        None => None,
    };
    let control = {
        let _enter = runtime.enter();
        let std_listener = control::bind(&settings.data_dir)
            .map_err(|e| format!("control socket in {}: {e}", settings.data_dir.display()))?;
        std_listener.set_nonblocking(true)?;
        tokio::net::UnixListener::from_std(std_listener)?
    };
    let dhcp_addrs = dataplane.dhcp_addrs();
    let server_info = api::server::ServerInfo {
        version: env!("CARGO_PKG_VERSION").into(),
        driver: dataplane.driver().into(),
        cores: settings.cores,
        data_dir: settings.data_dir.display().to_string(),
        listeners: api::server::Listeners {
            tftp: dataplane.tftp_addr().map(|a| a.to_string()),
            http: dataplane.http_addr().map(|a| a.to_string()),
            admin: Some(admin_addr.to_string()),
            dhcp: dhcp_addrs.map(|(d, _)| d.to_string()),
            pxe: dhcp_addrs.map(|(_, p)| p.to_string()),
            metrics: metrics_listener
                .as_ref()
                .and_then(|l| l.local_addr().ok())
                .map(|a| a.to_string()),
        },
        server_addr: server.map(|a| a.to_string()),
        ..served
    };
    let state = api::AppState {
        backend,
        grants,
        hub,
        logins: Arc::new(api::auth::LoginLimiter::new(
            admin_settings.login_max_failures as usize,
        )),
        session_ttl: admin_settings.session_ttl,
        data_dir: settings.data_dir.clone(),
        ca_file: settings.ca_file.clone(),
        catalog: handle,
        stats: dataplane.stats().clone(),
        events_dropped,
        driver: dataplane.driver(),
        clients: client_counters,
        admin_refused: Arc::default(),
        jobs: jobs.clone(),
        upload_max: admin_settings.upload_max_bytes,
        metrics: metrics.clone(),
        wol: settings.wol,
        server: Arc::new(server_info),
        multicast: Some(multicast),
    };
    tracing::info!(
        tftp = ?dataplane.tftp_addr(),
        http = ?dataplane.http_addr(),
        dhcp = ?dhcp_addrs,
        server = %server.map_or_else(|| "the address each request arrived at".into(), |a| a.to_string()),
        admin = %admin_addr,
        driver = dataplane.driver(),
        cores = settings.cores,
        data_dir = %settings.data_dir.display(),
        "fleetboot serving"
    );
    // Handlers before "ready": a SIGTERM right after start must drain, not kill.
    let signals = runtime.block_on(async { Signals::install() })?;
    let off = || "off".to_owned();
    // One machine-readable line on stdout: scripts and tests wait for it.
    println!(
        "fleetboot ready tftp={} http={} admin={admin_addr} driver={} dhcp={} pxe={}",
        dataplane.tftp_addr().map_or_else(off, |a| a.to_string()),
        dataplane.http_addr().map_or_else(off, |a| a.to_string()),
        dataplane.driver(),
        dhcp_addrs.map_or_else(off, |(d, _)| d.to_string()),
        dhcp_addrs.map_or_else(off, |(_, p)| p.to_string()),
    );
    let limits = listener::Limits {
        connections: admin_settings.max_connections,
        head_timeout: admin_settings.request_timeout,
    };
    let refused = state.admin_refused.clone();
    runtime.block_on(async {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        let grace = Duration::from_secs(2);
        let tcp = tokio::spawn(listener::serve(
            admin,
            api::app(state.clone(), false),
            limits,
            refused.clone(),
            stopped(stop_rx.clone()),
            grace,
        ));
        let metrics = metrics_listener.map(|l| {
            tokio::spawn(listener::serve(
                l,
                api::metrics_app(state.clone()),
                limits,
                refused.clone(),
                stopped(stop_rx.clone()),
                grace,
            ))
        });
        let socket = tokio::spawn(listener::serve(
            control,
            api::app(state, true),
            limits,
            refused,
            stopped(stop_rx),
            grace,
        ));
        signals.wait().await;
        let _ = stop_tx.send(true);
        let _ = tcp.await;
        let _ = socket.await;
        if let Some(m) = metrics {
            let _ = m.await;
        }
    });
    tracing::info!(grace = ?settings.drain_grace, "shutting down: draining transfers");
    dataplane.shutdown(settings.drain_grace);
    let _ = messages.send(Message::Stop);
    let _ = std::fs::remove_file(control::socket_path(&settings.data_dir));
    runtime.shutdown_timeout(Duration::from_millis(200));
    // The coordinator hands the store back; dropping it here closes redb cleanly.
    if let Ok(store) = coordinating.join() {
        drop(store);
    }
    Ok(())
}

/// Tells live listeners and the metrics about each job update, and scans once a download
/// is in place, so its image appears.
async fn follow_jobs(jobs: Jobs, backend: Backend, hub: Arc<Hub>, metrics: Arc<Metrics>) {
    let mut updates = jobs.subscribe();
    loop {
        let status = match updates.recv().await {
            Ok(s) => s,
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        };
        let id = status.id.to_string();
        if status.state.is_finished() {
            metrics.remove_job(&id);
        } else {
            metrics.set_job(&id, status.bytes_done, status.bytes_total.unwrap_or(0));
        }
        if status.state == JobState::Done {
            if let Err(e) = backend.rescan().await {
                tracing::warn!(error = %e, "scan after a download failed");
            }
        }
        hub.send("job", &status);
    }
}

/// Tells live listeners (`multicast` events) when a session starts, changes state or has
/// another receiver done. Sessions live in the data plane, which emits no events for them
/// (their receivers' reports are no boot events): their status is read twice a second.
async fn follow_multicast(multicast: Multicast, hub: Arc<Hub>) {
    let mut heard = multicast::Heard::new();
    let mut every = tokio::time::interval(Duration::from_millis(500));
    loop {
        every.tick().await;
        for view in multicast::news(&mut heard, multicast.list()) {
            hub.send("multicast", &view);
        }
    }
}

/// proxyDHCP's bootfiles from what is loaded (arm64 builds live in `arm64/`).
fn bootfiles(loaded: &[bootloaders::Bootloader], uefi_x64: &str) -> dataplane::dhcp::Bootfiles {
    let has = |n: &str| loaded.iter().any(|b| b.name == n);
    let pick = |n: &str| has(n).then(|| n.to_owned());
    if !has(uefi_x64) {
        tracing::warn!(
            bootfile = uefi_x64,
            "the UEFI bootfile is not among the bootloaders; UEFI clients will fail to fetch it"
        );
    }
    dataplane::dhcp::Bootfiles {
        bios: "undionly.kpxe".into(),
        uefi_x64: uefi_x64.to_owned(),
        uefi_ia32: pick("i386/ipxe.efi"),
        uefi_arm64: pick("arm64/ipxe.efi"),
    }
}

/// One log line per boot event.
pub(crate) fn log_event(e: &BootEvent) {
    let proto = match e.protocol {
        dataplane::Protocol::Tftp => "tftp",
        dataplane::Protocol::Http => "http",
        dataplane::Protocol::Dhcp => "dhcp",
    };
    if let dataplane::Detail::Dhcp(d) = &e.detail {
        match &e.outcome {
            Outcome::Complete => {
                tracing::info!(proto, client = %e.client, mac = %d.mac, arch = %d.firmware, ipxe = d.ipxe, port = d.port, xid = d.xid, offered = %e.object, "answered")
            }
            Outcome::Refused(why) => {
                tracing::warn!(proto, mac = %d.mac, arch = %d.firmware, why, "not answered")
            }
            _ => tracing::warn!(proto, mac = %d.mac, outcome = ?e.outcome, "answer failed"),
        }
        return;
    }
    if let dataplane::Detail::BootScript(b) = &e.detail {
        if let Some(r) = &b.refused {
            let seen = r.seen.map_or_else(|| "none".to_owned(), |m| m.to_string());
            tracing::warn!(proto, client = %e.client, claimed = %r.claimed, neighbour = %seen,
                "boot.ipxe: MAC does not match the neighbour table; served the menu (see --boot-mac-check)");
        }
    }
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
