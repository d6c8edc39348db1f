//! Thread-per-core: one pinned thread per core, each running its own monoio runtime with its
//! own SO_REUSEPORT sockets (proxyDHCP: one socket per port that every core reads), so the
//! kernel spreads clients across cores and no core waits on
//! another. Also the drain on shutdown: stop taking work, let transfers finish, bounded.

use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

use crate::catalog::{CatalogHandle, CatalogReader};
use crate::dhcp::reply::Port;
use crate::events::EventSink;
use crate::multicast::Sessions;
use crate::per_source::PerSource;
use crate::stats::Stats;
use crate::tftp::netascii::NetasciiCache;
use crate::{dhcp, http, tftp};

/// Which kernel interface drives I/O.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Driver {
    /// io_uring when the kernel allows it, epoll otherwise.
    #[default]
    Auto,
    /// io_uring only; fail to start without it.
    IoUring,
    /// epoll (monoio's legacy driver).
    Epoll,
}

impl std::str::FromStr for Driver {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Driver::Auto),
            "io-uring" | "io_uring" | "iouring" => Ok(Driver::IoUring),
            "epoll" | "legacy" => Ok(Driver::Epoll),
            other => Err(format!("unknown driver {other:?} (auto, io-uring, epoll)")),
        }
    }
}

/// Everything the data plane needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    /// TFTP listen address; `None` disables TFTP.
    pub tftp_listen: Option<SocketAddr>,
    /// HTTP listen address; `None` disables HTTP.
    pub http_listen: Option<SocketAddr>,
    /// Cores to run on (threads). Default: all available.
    pub cores: usize,
    /// I/O driver. Default: auto.
    pub driver: Driver,
    /// TFTP settings.
    pub tftp: tftp::Config,
    /// HTTP settings.
    pub http: http::Config,
    /// proxyDHCP; `None` disables it.
    pub dhcp: Option<dhcp::Config>,
}

/// What one core's tasks share: core-local, so plain `Rc`/`RefCell`.
pub(crate) struct Core {
    pub(crate) catalog: std::cell::RefCell<CatalogReader>,
    pub(crate) events: EventSink,
    pub(crate) stats: Arc<Stats>,
    pub(crate) drain: Arc<Drain>,
    pub(crate) shared: Shared,
}

/// Budgets and caches shared by every core.
#[derive(Clone)]
pub(crate) struct Shared {
    pub(crate) tftp_per_ip: Arc<PerSource>,
    pub(crate) http_per_ip: Arc<PerSource>,
    pub(crate) netascii: Arc<NetasciiCache>,
    pub(crate) multicast: Sessions,
}

impl Shared {
    fn new(config: &Config) -> Shared {
        Shared {
            tftp_per_ip: PerSource::new(config.tftp.max_per_ip),
            http_per_ip: PerSource::new(config.http.max_per_ip),
            netascii: NetasciiCache::new(config.tftp.max_netascii, config.tftp.netascii_budget),
            multicast: Sessions::default(),
        }
    }
}

/// Shutdown state shared by all cores.
#[derive(Default)]
pub(crate) struct Drain {
    draining: AtomicBool,
}

impl Drain {
    pub(crate) fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    /// Resolves once a drain starts. Polls a flag: listeners only, cheap at 20 Hz.
    pub(crate) async fn started(&self) {
        while !self.is_draining() {
            monoio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A running data plane.
pub struct DataPlane {
    threads: Vec<JoinHandle<()>>,
    drain: Arc<Drain>,
    stats: Arc<Stats>,
    tftp_addr: Option<SocketAddr>,
    http_addr: Option<SocketAddr>,
    dhcp_addrs: Option<(SocketAddr, SocketAddr)>,
    driver: &'static str,
    multicast: Sessions,
}

struct CoreSockets {
    tftp: Option<std::net::UdpSocket>,
    http: Option<std::net::TcpListener>,
    /// Ports 67 and 4011.
    dhcp: Option<(std::net::UdpSocket, std::net::UdpSocket)>,
}

impl DataPlane {
    /// Binds every socket (so address errors surface here, synchronously), then starts one
    /// thread per core.
    ///
    /// # Errors
    /// Binding failures, or io_uring unavailable with [`Driver::IoUring`].
    pub fn start(
        mut config: Config,
        catalog: CatalogHandle,
        events: EventSink,
    ) -> io::Result<DataPlane> {
        let cores = config.cores.max(1);
        let driver = resolve_driver(config.driver)?;
        match crate::sys::raise_fd_limit() {
            Ok(n) => tracing::debug!(open_files = n, "descriptor limit"),
            Err(e) => tracing::warn!(error = %e, "cannot raise the descriptor limit"),
        }
        let mut per_core = Vec::with_capacity(cores);
        let mut tftp_addr = config.tftp_listen;
        let mut http_addr = config.http_listen;
        // One proxyDHCP socket per port, shared by every core (see dhcp::server).
        let dhcp = config
            .dhcp
            .as_ref()
            .map(|d| -> io::Result<_> {
                Ok((
                    dhcp::server::bind(d.dhcp_listen)?,
                    dhcp::server::bind(d.pxe_listen)?,
                ))
            })
            .transpose()?;
        let dhcp_addrs = match &dhcp {
            Some((d, p)) => Some((d.local_addr()?, p.local_addr()?)),
            None => None,
        };
        for _ in 0..cores {
            // The first bind settles an ephemeral port (port 0); the others join that port.
            let tftp = tftp_addr.map(bind_udp).transpose()?;
            if let Some(s) = &tftp {
                tftp_addr = Some(s.local_addr()?);
            }
            let http = http_addr
                .map(|a| bind_tcp(a, config.http.backlog))
                .transpose()?;
            if let Some(s) = &http {
                http_addr = Some(s.local_addr()?);
            }
            let dhcp = dhcp
                .as_ref()
                .map(|(d, p)| -> io::Result<_> { Ok((d.try_clone()?, p.try_clone()?)) })
                .transpose()?;
            per_core.push(CoreSockets { tftp, http, dhcp });
        }
        // proxyDHCP points iPXE at our own HTTP port unless told otherwise.
        if let (Some(dhcp), Some(http)) = (config.dhcp.as_mut(), http_addr) {
            if dhcp.policy.http_port == 0 {
                dhcp.policy.http_port = http.port();
            }
        }
        let drain = Arc::new(Drain::default());
        let stats = Arc::new(Stats::default());
        let shared = Shared::new(&config);
        let multicast = shared.multicast.clone();
        let available = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut threads = Vec::with_capacity(cores);
        for (index, sockets) in per_core.into_iter().enumerate() {
            let core = CoreInit {
                reader_source: catalog.clone(),
                events: events.clone(),
                stats: stats.clone(),
                drain: drain.clone(),
                shared: shared.clone(),
                config: config.clone(),
            };
            let thread = std::thread::Builder::new()
                .name(format!("fleetboot-core-{index}"))
                .spawn(move || {
                    if let Err(e) = crate::sys::pin_to_cpu(index % available) {
                        tracing::debug!(core = index, error = %e, "could not pin thread");
                    }
                    if let Err(e) = run_core(driver, core, sockets) {
                        tracing::error!(core = index, error = %e, "data-plane core stopped");
                    }
                })?;
            threads.push(thread);
        }
        Ok(DataPlane {
            threads,
            drain,
            stats,
            tftp_addr,
            http_addr,
            dhcp_addrs,
            multicast,
            driver: match driver {
                Driver::Epoll => "epoll",
                _ => "io_uring",
            },
        })
    }

    /// The bound TFTP address (port resolved), if enabled.
    pub fn tftp_addr(&self) -> Option<SocketAddr> {
        self.tftp_addr
    }

    /// The bound HTTP address (port resolved), if enabled.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr
    }

    /// The bound proxyDHCP addresses (ports 67 and 4011, resolved), if enabled.
    pub fn dhcp_addrs(&self) -> Option<(SocketAddr, SocketAddr)> {
        self.dhcp_addrs
    }

    /// The driver in use: "io_uring" or "epoll".
    pub fn driver(&self) -> &'static str {
        self.driver
    }

    /// Counters.
    pub fn stats(&self) -> &Arc<Stats> {
        &self.stats
    }

    /// The multicast sessions this data plane serves (`/multicast/…` on its HTTP port).
    pub fn multicast(&self) -> &Sessions {
        &self.multicast
    }

    /// Stops taking new work; transfers in flight get up to `grace` to finish; then every core
    /// thread is joined.
    pub fn shutdown(self, grace: Duration) {
        self.drain.draining.store(true, Ordering::Release);
        // Sessions end first: their receivers hear `End` and turn to `/data` while it lasts.
        self.multicast.shutdown(grace.min(Duration::from_secs(1)));
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline && self.busy() {
            std::thread::sleep(Duration::from_millis(20));
        }
        let stats = self.stats.clone();
        // Cores exit their loops once draining and idle, or at the grace deadline (they watch
        // the same flag and their own clock).
        for t in self.threads {
            let _ = t.join();
        }
        tracing::info!(
            unfinished_tftp = stats.tftp_active.load(Ordering::Relaxed),
            open_http = stats.http_connections.load(Ordering::Relaxed),
            "data plane stopped"
        );
    }

    fn busy(&self) -> bool {
        self.stats.tftp_active.load(Ordering::Acquire) > 0
            || self.stats.http_inflight.load(Ordering::Acquire) > 0
    }
}

struct CoreInit {
    reader_source: CatalogHandle,
    events: EventSink,
    stats: Arc<Stats>,
    drain: Arc<Drain>,
    shared: Shared,
    config: Config,
}

fn resolve_driver(wanted: Driver) -> io::Result<Driver> {
    match wanted {
        Driver::Epoll => Ok(Driver::Epoll),
        Driver::IoUring | Driver::Auto => {
            let works = monoio::utils::detect_uring();
            match (works, wanted) {
                (true, _) => Ok(Driver::IoUring),
                (false, Driver::IoUring) => Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "io_uring is not available on this kernel (use --driver epoll or auto)",
                )),
                (false, _) => Ok(Driver::Epoll),
            }
        }
    }
}

fn run_core(driver: Driver, init: CoreInit, sockets: CoreSockets) -> io::Result<()> {
    match driver {
        Driver::Epoll => monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build()?
            .block_on(core_main(init, sockets)),
        _ => monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
            .with_entries(1024)
            .enable_timer()
            .build()?
            .block_on(core_main(init, sockets)),
    }
}

async fn core_main(init: CoreInit, sockets: CoreSockets) -> io::Result<()> {
    let grace = init.config.tftp.drain_grace;
    let core = Rc::new(Core {
        catalog: std::cell::RefCell::new(init.reader_source.reader()),
        events: init.events,
        stats: init.stats,
        drain: init.drain,
        shared: init.shared,
    });
    let tftp = sockets.tftp.map(|s| {
        monoio::spawn(tftp::server::serve(
            core.clone(),
            s,
            init.config.tftp.clone(),
        ))
    });
    let http = sockets.http.map(|s| {
        monoio::spawn(http::server::serve(
            core.clone(),
            s,
            init.config.http.clone(),
        ))
    });
    let dhcp = match (sockets.dhcp, init.config.dhcp) {
        (Some((d, p)), Some(config)) => {
            let policy = Rc::new(config.policy);
            let interfaces = Rc::new(dhcp::Interfaces::new(config.interfaces));
            let listener = |port| dhcp::server::Listener {
                port,
                policy: policy.clone(),
                interfaces: interfaces.clone(),
            };
            Some((
                monoio::spawn(dhcp::server::serve(core.clone(), d, listener(Port::Dhcp))),
                monoio::spawn(dhcp::server::serve(
                    core.clone(),
                    p,
                    listener(Port::BootServer),
                )),
            ))
        }
        _ => None,
    };
    if let Some((d, p)) = dhcp {
        d.await?;
        p.await?;
    }
    if let Some(t) = tftp {
        t.await?;
    }
    if let Some(h) = http {
        h.await?;
    }
    // Listeners are closed; give in-flight work on this core its grace period.
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline
        && (core.stats.tftp_active.load(Ordering::Acquire) > 0
            || core.stats.http_inflight.load(Ordering::Acquire) > 0)
    {
        monoio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

fn bind_udp(addr: SocketAddr) -> io::Result<std::net::UdpSocket> {
    udp_socket(addr, |_| Ok(()))
}

/// A nonblocking SO_REUSEPORT UDP socket with a deep receive queue, set up by `configure`
/// before it is bound.
pub(crate) fn udp_socket(
    addr: SocketAddr,
    configure: impl FnOnce(&Socket) -> io::Result<()>,
) -> io::Result<std::net::UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    // A burst of requests from a rack powering on must not overflow the queue.
    let _ = socket.set_recv_buffer_size(4 << 20);
    configure(&socket)?;
    socket
        .bind(&addr.into())
        .map_err(|e| io::Error::new(e.kind(), format!("bind UDP {addr}: {e}")))?;
    Ok(socket.into())
}

fn bind_tcp(addr: SocketAddr, backlog: i32) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket
        .bind(&addr.into())
        .map_err(|e| io::Error::new(e.kind(), format!("bind TCP {addr}: {e}")))?;
    socket.listen(backlog)?;
    Ok(socket.into())
}
