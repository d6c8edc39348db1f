//! Settings for `fleetboot serve`, layered: command-line flag > `FLEETBOOT_*` environment >
//! TOML file (`--config`, or `fleetboot.toml` in the working directory if present) > default.
//! figment merges the layers into one serde struct (`layers`); this module checks the
//! values and converts them into the typed [`Settings`] the server runs on.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cli::ServeArgs;

mod layers;

use layers::Layers;

/// The resolved settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Data directory: ISOs, user files, bootloader overrides, the database.
    pub data_dir: PathBuf,
    /// TFTP address.
    pub tftp_listen: SocketAddr,
    /// Boot HTTP address.
    pub http_listen: SocketAddr,
    /// Admin API address.
    pub admin_listen: SocketAddr,
    /// Data-plane cores.
    pub cores: usize,
    /// I/O driver.
    pub driver: dataplane::Driver,
    /// How often the data dir is checked for changed files.
    pub scan_interval: Duration,
    /// Grace period for in-flight transfers on shutdown.
    pub drain_grace: Duration,
    /// TFTP tuning.
    pub tftp: dataplane::tftp::Config,
    /// HTTP tuning.
    pub http: dataplane::http::Config,
    /// proxyDHCP and boot menu.
    pub boot: BootSettings,
    /// Budgets of the client table.
    pub clients: crate::clients::table::Limits,
    /// The admin API's limits.
    pub admin: AdminSettings,
    /// Wake-on-LAN.
    pub wol: WolSettings,
    /// Extra CAs for https downloads and netboot fetches.
    pub ca_file: Option<PathBuf>,
    /// Multicast sessions' defaults.
    pub multicast: MulticastSettings,
}

/// Multicast sessions' defaults (TOML table `[multicast]`; the reasons for each default are
/// beside `MulticastTable`'s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MulticastSettings {
    /// Group (239.255.70.66).
    pub group: IpAddr,
    /// UDP port (7000).
    pub port: u16,
    /// TTL or hop limit (1).
    pub ttl: u32,
    /// Rate ceiling, Mbit/s (900).
    pub rate_mbit: u32,
    /// Rate floor, Mbit/s (100).
    pub min_rate_mbit: u32,
    /// Interface the datagrams leave by; `None` (the default): the one holding the server's
    /// boot address.
    pub interface: Option<String>,
    /// Policy for slow receivers (wait).
    pub slow: dataplane::multicast::SlowPolicy,
}

/// proxyDHCP and boot script settings.
#[derive(Debug, Clone)]
pub struct BootSettings {
    /// proxyDHCP on (`true`, mode `proxy`) or off.
    pub dhcp: bool,
    /// Interfaces proxyDHCP answers on; empty: every interface.
    pub interfaces: Vec<String>,
    /// The address clients reach us on, when fixed; unset: the address each request arrived
    /// at.
    pub server_addr: Option<Ipv4Addr>,
    /// proxyDHCP port (67).
    pub dhcp_port: u16,
    /// PXE boot server port (4011).
    pub pxe_port: u16,
    /// UEFI PXE strategy.
    pub uefi: dataplane::dhcp::UefiStrategy,
    /// The x86-64 UEFI bootloader offered.
    pub uefi_bootfile: String,
    /// Menu title.
    pub menu_title: String,
    /// Menu timeout; zero waits.
    pub menu_timeout: Duration,
    /// Menu default image id (`None`: local disk).
    pub menu_default: Option<String>,
    /// Appended to every kernel command line.
    pub kernel_args: String,
}

/// The admin API's limits (TOML table `[admin]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminSettings {
    /// Most concurrent connections (256).
    pub max_connections: usize,
    /// Time allowed for one request, uploads excepted (30 s).
    pub request_timeout: Duration,
    /// Largest upload, in bytes (20 GiB).
    pub upload_max_bytes: u64,
    /// Lifetime of a login session (12 hours).
    pub session_ttl: Duration,
    /// Failed logins allowed per source address per minute (5).
    pub login_max_failures: u32,
    /// Where `/metrics` is served without authentication; `None` (the default): on the admin
    /// listener, behind authentication.
    pub metrics_listen: Option<SocketAddr>,
}

/// Wake-on-LAN (TOML table `[wol]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WolSettings {
    /// UDP destination port (9, "discard").
    pub port: u16,
    /// Fixed destination; `None` (the default): the directed broadcast of the interface whose
    /// subnet holds the client's last address, else 255.255.255.255 on every interface.
    pub broadcast: Option<Ipv4Addr>,
}

/// Why the settings could not be resolved.
#[derive(Debug)]
pub enum ConfigError {
    /// The config file could not be read.
    Read(PathBuf, std::io::Error),
    /// The config file is not valid TOML for these settings.
    Parse(PathBuf, Box<figment::Error>),
    /// A value is out of range.
    Invalid(String),
    /// The layers could not be merged: a bug, not a bad setting.
    Internal(String),
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigError::Read(p, e) => write!(f, "cannot read config {}: {e}", p.display()),
            ConfigError::Parse(p, errors) => {
                write!(f, "invalid config {}: ", p.display())?;
                // figment's own Display names its "TOML source string", not the file.
                for (n, e) in (**errors).clone().into_iter().enumerate() {
                    let sep = if n == 0 { "" } else { "; " };
                    match e.path.join(".") {
                        key if key.is_empty() => write!(f, "{sep}{}", e.kind)?,
                        key => write!(f, "{sep}{} (key {key})", e.kind)?,
                    }
                }
                Ok(())
            }
            ConfigError::Invalid(why) => write!(f, "invalid setting: {why}"),
            ConfigError::Internal(why) => write!(f, "cannot merge the settings: {why}"),
        }
    }
}

impl std::error::Error for ConfigError {}

impl Settings {
    /// Resolves the layers for `serve`.
    ///
    /// # Errors
    /// An unreadable or invalid config file, or an invalid value.
    pub fn resolve(args: &ServeArgs) -> Result<Settings, ConfigError> {
        Settings::check(layers::merge(args.config.as_deref(), args)?)
    }

    /// Checks the merged values and converts them to their types: the one place where the
    /// rules live.
    fn check(l: Layers) -> Result<Settings, ConfigError> {
        let cores = l
            .cores
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        if cores == 0 || cores > 1024 {
            return Err(ConfigError::Invalid(format!(
                "cores must be 1..=1024, got {cores}"
            )));
        }
        let drain_grace = Duration::from_millis(l.drain_grace_ms);
        Ok(Settings {
            ca_file: l.ca_file,
            data_dir: l.data_dir,
            tftp_listen: l.tftp_listen,
            http_listen: l.http_listen,
            admin_listen: l.admin_listen,
            cores,
            driver: l.driver.parse().map_err(ConfigError::Invalid)?,
            scan_interval: Duration::from_millis(l.scan_interval_ms.max(100)),
            drain_grace,
            tftp: tftp_settings(l.tftp, drain_grace)?,
            http: http_settings(l.http)?,
            boot: boot_settings(l.dhcp, l.menu, l.kernel_args)?,
            clients: client_limits(l.clients)?,
            admin: admin_settings(l.admin)?,
            wol: wol_settings(l.wol)?,
            multicast: multicast_settings(l.multicast)?,
        })
    }
}

/// `images netboot`'s extra CA file for https: `flag` (`--ca-file` or `FLEETBOOT_CA_FILE`),
/// else `ca_file` in the TOML file, else none (Mozilla's roots only).
///
/// # Errors
/// An unreadable or invalid config file.
pub fn ca_file(
    flag: Option<PathBuf>,
    config: Option<&Path>,
) -> Result<Option<PathBuf>, ConfigError> {
    #[derive(serde::Serialize)]
    struct Flags {
        ca_file: Option<PathBuf>,
    }
    Ok(layers::merge(config, &Flags { ca_file: flag })?.ca_file)
}

fn tftp_settings(
    t: layers::TftpTable,
    drain_grace: Duration,
) -> Result<dataplane::tftp::Config, ConfigError> {
    let most = dataplane::tftp::options::MAX_WINDOWSIZE;
    if !(1..=most).contains(&t.max_windowsize) {
        return Err(ConfigError::Invalid(format!(
            "tftp.max_windowsize must be 1..={most}, got {}",
            t.max_windowsize
        )));
    }
    Ok(dataplane::tftp::Config {
        max_transfers: t.max_transfers,
        max_per_ip: at_least_one("tftp.max_per_ip", t.max_per_ip)?,
        max_blksize: t.max_blksize.clamp(512, 65464),
        max_windowsize: t.max_windowsize,
        default_timeout: Duration::from_millis(t.timeout_ms.max(10)),
        max_timeout: Duration::from_millis(t.max_timeout_ms.max(10)),
        max_retries: t.retries.max(1),
        first_retries: t.first_retries,
        netascii_budget: t.netascii_budget_mib.saturating_mul(1 << 20),
        drain_grace,
        ..dataplane::tftp::Config::default()
    })
}

fn http_settings(h: layers::HttpTable) -> Result<dataplane::http::Config, ConfigError> {
    Ok(dataplane::http::Config {
        idle_timeout: Duration::from_millis(h.idle_timeout_ms.max(10)),
        head_timeout: Duration::from_millis(h.head_timeout_ms.max(10)),
        write_timeout: Duration::from_millis(h.write_timeout_ms.max(10)),
        max_connections: h.max_connections,
        boot_mac_check: h.boot_mac_check.parse().map_err(ConfigError::Invalid)?,
        zero_copy: h.zero_copy.parse().map_err(ConfigError::Invalid)?,
        max_per_ip: at_least_one("http.max_per_ip", h.max_per_ip)?,
        min_rate: h.min_rate,
        rate_window: Duration::from_millis(h.rate_window_ms.max(100)),
        ..dataplane::http::Config::default()
    })
}

/// A cap or budget of 0 would refuse everything: refused.
fn at_least_one<T: PartialEq + Default>(name: &str, n: T) -> Result<T, ConfigError> {
    if n == T::default() {
        return Err(ConfigError::Invalid(format!("{name} must be at least 1")));
    }
    Ok(n)
}

fn boot_settings(
    d: layers::DhcpTable,
    m: layers::MenuTable,
    kernel_args: String,
) -> Result<BootSettings, ConfigError> {
    let dhcp = match d.mode.as_str() {
        "proxy" => true,
        "off" => false,
        other => {
            return Err(ConfigError::Invalid(format!(
                "dhcp mode {other:?} (proxy, off)"
            )))
        }
    };
    let uefi = match d.uefi_pxe.as_str() {
        "in-offer" => dataplane::dhcp::UefiStrategy::InOffer,
        "boot-server" => dataplane::dhcp::UefiStrategy::BootServer,
        other => {
            return Err(ConfigError::Invalid(format!(
                "uefi pxe strategy {other:?} (in-offer, boot-server)"
            )))
        }
    };
    Ok(BootSettings {
        dhcp,
        interfaces: d
            .interface
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(String::from)
            .collect(),
        server_addr: d.server_addr,
        dhcp_port: d.port,
        pxe_port: d.pxe_port,
        uefi,
        uefi_bootfile: d.uefi_bootfile,
        menu_title: m.title,
        menu_timeout: Duration::from_secs(m.timeout_secs),
        menu_default: Some(m.default).filter(|d| d != "local"),
        kernel_args,
    })
}

fn client_limits(c: layers::ClientsTable) -> Result<crate::clients::table::Limits, ConfigError> {
    if c.max_records == 0 || c.unknown_expiry_secs == 0 {
        return Err(ConfigError::Invalid(
            "clients.max_records and clients.unknown_expiry_secs must be at least 1".into(),
        ));
    }
    Ok(crate::clients::table::Limits {
        max_records: c.max_records,
        max_unknown_per_host: c.max_unknown_per_host,
        max_unknown_per_segment: c.max_unknown_per_segment,
        unknown_expiry: Duration::from_secs(c.unknown_expiry_secs),
    })
}

fn admin_settings(a: layers::AdminTable) -> Result<AdminSettings, ConfigError> {
    Ok(AdminSettings {
        max_connections: at_least_one("admin.max_connections", a.max_connections)?,
        request_timeout: Duration::from_millis(at_least_one(
            "admin.request_timeout_ms",
            a.request_timeout_ms,
        )?),
        upload_max_bytes: at_least_one("admin.upload_max_bytes", a.upload_max_bytes)?,
        session_ttl: Duration::from_secs(at_least_one(
            "admin.session_ttl_secs",
            a.session_ttl_secs,
        )?),
        login_max_failures: at_least_one("admin.login_max_failures", a.login_max_failures)?,
        metrics_listen: a.metrics_listen,
    })
}

fn wol_settings(w: layers::WolTable) -> Result<WolSettings, ConfigError> {
    Ok(WolSettings {
        port: at_least_one("wol.port", w.port)?,
        broadcast: w.broadcast,
    })
}

fn multicast_settings(m: layers::MulticastTable) -> Result<MulticastSettings, ConfigError> {
    let group: IpAddr = m.group.parse().map_err(|_| {
        ConfigError::Invalid(format!("multicast.group {:?} is not an address", m.group))
    })?;
    if !group.is_multicast() {
        return Err(ConfigError::Invalid(format!(
            "multicast.group {group} is not a multicast group"
        )));
    }
    if !(1..=255).contains(&m.ttl) {
        return Err(ConfigError::Invalid(format!(
            "multicast.ttl must be 1..=255, got {}",
            m.ttl
        )));
    }
    if m.min_rate_mbit > m.rate_mbit {
        return Err(ConfigError::Invalid(format!(
            "multicast.min_rate_mbit {} is above multicast.rate_mbit {}",
            m.min_rate_mbit, m.rate_mbit
        )));
    }
    Ok(MulticastSettings {
        group,
        port: at_least_one("multicast.port", m.port)?,
        ttl: m.ttl,
        rate_mbit: at_least_one("multicast.rate_mbit", m.rate_mbit)?,
        min_rate_mbit: at_least_one("multicast.min_rate_mbit", m.min_rate_mbit)?,
        interface: Some(m.interface).filter(|i| !i.is_empty()),
        slow: m.slow.parse().map_err(ConfigError::Invalid)?,
    })
}

#[cfg(test)]
mod tests;
