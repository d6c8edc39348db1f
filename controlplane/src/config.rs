//! Settings for `fleetboot serve`, layered: command-line flag > `FLEETBOOT_*` environment >
//! TOML file (`--config`, or `fleetboot.toml` in the working directory if present) > default.
//! Flags and environment are merged by clap (`#[arg(env)]`); the file and the defaults here.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::cli::ServeArgs;

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

/// The TOML file. Unknown keys are an error, so a typo never silently does nothing.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    data_dir: Option<PathBuf>,
    tftp_listen: Option<SocketAddr>,
    http_listen: Option<SocketAddr>,
    admin_listen: Option<SocketAddr>,
    cores: Option<usize>,
    driver: Option<String>,
    scan_interval_ms: Option<u64>,
    drain_grace_ms: Option<u64>,
    #[serde(default)]
    tftp: TftpFile,
    #[serde(default)]
    http: HttpFile,
    #[serde(default)]
    dhcp: DhcpFile,
    #[serde(default)]
    menu: MenuFile,
    #[serde(default)]
    clients: ClientsFile,
    kernel_args: Option<String>,
    /// Read by `images netboot`, not by `serve`.
    ca_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientsFile {
    max_records: Option<usize>,
    max_unknown_per_host: Option<usize>,
    max_unknown_per_segment: Option<usize>,
    unknown_expiry_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DhcpFile {
    mode: Option<String>,
    interface: Option<String>,
    server_addr: Option<Ipv4Addr>,
    port: Option<u16>,
    pxe_port: Option<u16>,
    uefi_pxe: Option<String>,
    uefi_bootfile: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct MenuFile {
    title: Option<String>,
    timeout_secs: Option<u64>,
    default: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TftpFile {
    max_transfers: Option<usize>,
    max_per_ip: Option<usize>,
    max_blksize: Option<u16>,
    max_windowsize: Option<u16>,
    timeout_ms: Option<u64>,
    max_timeout_ms: Option<u64>,
    retries: Option<u8>,
    first_retries: Option<u8>,
    netascii_budget_mib: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpFile {
    idle_timeout_ms: Option<u64>,
    head_timeout_ms: Option<u64>,
    write_timeout_ms: Option<u64>,
    max_connections: Option<usize>,
    max_per_ip: Option<usize>,
    min_rate: Option<u64>,
    rate_window_ms: Option<u64>,
    boot_mac_check: Option<String>,
}

/// Why the settings could not be resolved.
#[derive(Debug)]
pub enum ConfigError {
    /// The config file could not be read.
    Read(PathBuf, std::io::Error),
    /// The config file is not valid TOML for these settings.
    Parse(PathBuf, toml::de::Error),
    /// A value is out of range.
    Invalid(String),
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigError::Read(p, e) => write!(f, "cannot read config {}: {e}", p.display()),
            ConfigError::Parse(p, e) => write!(f, "invalid config {}: {e}", p.display()),
            ConfigError::Invalid(why) => write!(f, "invalid setting: {why}"),
        }
    }
}

impl std::error::Error for ConfigError {}

const DEFAULT_CONFIG: &str = "fleetboot.toml";

impl Settings {
    /// Resolves the layers for `serve`.
    ///
    /// # Errors
    /// An unreadable or invalid config file, or an invalid value.
    pub fn resolve(args: &ServeArgs) -> Result<Settings, ConfigError> {
        let file = load_file(args.config.as_deref())?;
        let driver = match args.driver.clone().or(file.driver) {
            Some(d) => d.parse().map_err(ConfigError::Invalid)?,
            None => dataplane::Driver::Auto,
        };
        let cores = args
            .cores
            .or(file.cores)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        if cores == 0 || cores > 1024 {
            return Err(ConfigError::Invalid(format!(
                "cores must be 1..=1024, got {cores}"
            )));
        }
        let drain_grace = Duration::from_millis(
            args.drain_grace_ms
                .or(file.drain_grace_ms)
                .unwrap_or(10_000),
        );
        let tftp = tftp_settings(args, file.tftp, drain_grace)?;
        let http = http_settings(args, file.http)?;
        let boot = boot_settings(args, file.dhcp, file.menu, file.kernel_args)?;
        let clients = client_limits(file.clients)?;
        Ok(Settings {
            data_dir: args
                .data_dir
                .clone()
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from("./data")),
            tftp_listen: args
                .tftp_listen
                .or(file.tftp_listen)
                .unwrap_or(([0, 0, 0, 0], 69).into()),
            http_listen: args
                .http_listen
                .or(file.http_listen)
                .unwrap_or(([0, 0, 0, 0], 8080).into()),
            admin_listen: args
                .admin_listen
                .or(file.admin_listen)
                .unwrap_or(([0, 0, 0, 0], 8081).into()),
            cores,
            driver,
            scan_interval: Duration::from_millis(
                args.scan_interval_ms
                    .or(file.scan_interval_ms)
                    .unwrap_or(2_000)
                    .max(100),
            ),
            drain_grace,
            tftp,
            http,
            boot,
            clients,
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
    match flag {
        Some(path) => Ok(Some(path)),
        None => Ok(load_file(config)?.ca_file),
    }
}

fn tftp_settings(
    args: &ServeArgs,
    t: TftpFile,
    drain_grace: Duration,
) -> Result<dataplane::tftp::Config, ConfigError> {
    let mut tftp = dataplane::tftp::Config::default();
    tftp.max_transfers = args
        .tftp_max_transfers
        .or(t.max_transfers)
        .unwrap_or(tftp.max_transfers);
    tftp.max_per_ip = per_ip(
        "tftp.max_per_ip",
        args.tftp_max_per_ip.or(t.max_per_ip),
        tftp.max_per_ip,
    )?;
    tftp.max_blksize = t.max_blksize.unwrap_or(tftp.max_blksize).clamp(512, 65464);
    let most = dataplane::tftp::options::MAX_WINDOWSIZE;
    tftp.max_windowsize = t.max_windowsize.unwrap_or(tftp.max_windowsize);
    if !(1..=most).contains(&tftp.max_windowsize) {
        return Err(ConfigError::Invalid(format!(
            "tftp.max_windowsize must be 1..={most}, got {}",
            tftp.max_windowsize
        )));
    }
    if let Some(ms) = t.timeout_ms {
        tftp.default_timeout = Duration::from_millis(ms.max(10));
    }
    if let Some(ms) = args.tftp_max_timeout_ms.or(t.max_timeout_ms) {
        tftp.max_timeout = Duration::from_millis(ms.max(10));
    }
    tftp.max_retries = t.retries.unwrap_or(tftp.max_retries).max(1);
    tftp.first_retries = args
        .tftp_first_retries
        .or(t.first_retries)
        .unwrap_or(tftp.first_retries);
    if let Some(mib) = args.tftp_netascii_budget_mib.or(t.netascii_budget_mib) {
        tftp.netascii_budget = mib.saturating_mul(1 << 20);
    }
    tftp.drain_grace = drain_grace;
    Ok(tftp)
}

fn http_settings(args: &ServeArgs, h: HttpFile) -> Result<dataplane::http::Config, ConfigError> {
    let mut http = dataplane::http::Config::default();
    if let Some(ms) = args.http_idle_timeout_ms.or(h.idle_timeout_ms) {
        http.idle_timeout = Duration::from_millis(ms.max(10));
    }
    if let Some(ms) = args.http_head_timeout_ms.or(h.head_timeout_ms) {
        http.head_timeout = Duration::from_millis(ms.max(10));
    }
    if let Some(ms) = h.write_timeout_ms {
        http.write_timeout = Duration::from_millis(ms.max(10));
    }
    http.max_connections = h.max_connections.unwrap_or(http.max_connections);
    if let Some(check) = args.boot_mac_check.clone().or(h.boot_mac_check) {
        http.boot_mac_check = check.parse().map_err(ConfigError::Invalid)?;
    }
    http.max_per_ip = per_ip(
        "http.max_per_ip",
        args.http_max_per_ip.or(h.max_per_ip),
        http.max_per_ip,
    )?;
    http.min_rate = args.http_min_rate.or(h.min_rate).unwrap_or(http.min_rate);
    if let Some(ms) = args.http_rate_window_ms.or(h.rate_window_ms) {
        http.rate_window = Duration::from_millis(ms.max(100));
    }
    Ok(http)
}

/// A per-address cap: at least 1 (0 would refuse every client).
fn per_ip(name: &str, set: Option<usize>, default: usize) -> Result<usize, ConfigError> {
    match set.unwrap_or(default) {
        0 => Err(ConfigError::Invalid(format!("{name} must be at least 1"))),
        n => Ok(n),
    }
}

fn boot_settings(
    args: &ServeArgs,
    d: DhcpFile,
    m: MenuFile,
    kernel_args: Option<String>,
) -> Result<BootSettings, ConfigError> {
    let dhcp = match args.dhcp_mode.clone().or(d.mode).as_deref() {
        None | Some("proxy") => true,
        Some("off") => false,
        Some(other) => {
            return Err(ConfigError::Invalid(format!(
                "dhcp mode {other:?} (proxy, off)"
            )))
        }
    };
    let uefi = match args.uefi_pxe.clone().or(d.uefi_pxe).as_deref() {
        None | Some("in-offer") => dataplane::dhcp::UefiStrategy::InOffer,
        Some("boot-server") => dataplane::dhcp::UefiStrategy::BootServer,
        Some(other) => {
            return Err(ConfigError::Invalid(format!(
                "uefi pxe strategy {other:?} (in-offer, boot-server)"
            )))
        }
    };
    Ok(BootSettings {
        dhcp,
        interfaces: args
            .dhcp_interface
            .clone()
            .or(d.interface)
            .map(|list| {
                list.split(',')
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default(),
        server_addr: args.server_addr.or(d.server_addr),
        dhcp_port: args.dhcp_port.or(d.port).unwrap_or(67),
        pxe_port: args.pxe_port.or(d.pxe_port).unwrap_or(4011),
        uefi,
        uefi_bootfile: args
            .uefi_bootfile
            .clone()
            .or(d.uefi_bootfile)
            .unwrap_or_else(|| "ipxe.efi".into()),
        menu_title: args
            .menu_title
            .clone()
            .or(m.title)
            .unwrap_or_else(|| "fleetboot".into()),
        menu_timeout: Duration::from_secs(args.menu_timeout.or(m.timeout_secs).unwrap_or(10)),
        menu_default: args
            .menu_default
            .clone()
            .or(m.default)
            .filter(|d| d != "local"),
        kernel_args: args.kernel_args.clone().or(kernel_args).unwrap_or_default(),
    })
}

fn client_limits(c: ClientsFile) -> Result<crate::clients::table::Limits, ConfigError> {
    let d = crate::clients::table::Limits::default();
    let limits = crate::clients::table::Limits {
        max_records: c.max_records.unwrap_or(d.max_records),
        max_unknown_per_host: c.max_unknown_per_host.unwrap_or(d.max_unknown_per_host),
        max_unknown_per_segment: c
            .max_unknown_per_segment
            .unwrap_or(d.max_unknown_per_segment),
        unknown_expiry: c
            .unknown_expiry_secs
            .map_or(d.unknown_expiry, Duration::from_secs),
    };
    if limits.max_records == 0 || limits.unknown_expiry.is_zero() {
        return Err(ConfigError::Invalid(
            "clients.max_records and clients.unknown_expiry_secs must be at least 1".into(),
        ));
    }
    Ok(limits)
}

fn load_file(explicit: Option<&Path>) -> Result<FileConfig, ConfigError> {
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None if Path::new(DEFAULT_CONFIG).is_file() => PathBuf::from(DEFAULT_CONFIG),
        None => return Ok(FileConfig::default()),
    };
    let text = std::fs::read_to_string(&path).map_err(|e| ConfigError::Read(path.clone(), e))?;
    toml::from_str(&text).map_err(|e| ConfigError::Parse(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn settings(argv: &[&str], toml_text: Option<&str>) -> Result<Settings, ConfigError> {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("fleetboot-config-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut full = vec!["fleetboot", "serve"];
        let file = dir.join("f.toml");
        let file_arg = file.to_string_lossy().into_owned();
        if let Some(text) = toml_text {
            std::fs::write(&file, text).unwrap();
            full.extend(["--config", &file_arg]);
        }
        full.extend(argv);
        let cli = crate::cli::Cli::parse_from(full);
        let resolved = match cli.command {
            crate::cli::Command::Serve(args) => Settings::resolve(&args),
            other => panic!("not serve: {other:?}"),
        };
        std::fs::remove_dir_all(&dir).unwrap();
        resolved
    }

    #[test]
    fn flag_beats_file_beats_default() {
        let s = settings(
            &["--tftp-listen", "127.0.0.1:6969"],
            Some("tftp_listen = \"127.0.0.1:7000\"\nhttp_listen = \"127.0.0.1:8000\"\n"),
        )
        .unwrap();
        assert_eq!(s.tftp_listen, "127.0.0.1:6969".parse().unwrap());
        assert_eq!(s.http_listen, "127.0.0.1:8000".parse().unwrap());
        assert_eq!(s.admin_listen, "0.0.0.0:8081".parse().unwrap());
        assert_eq!(s.data_dir, PathBuf::from("./data"));
    }

    #[test]
    fn windowsize_over_the_documented_cap_is_refused_with_a_clear_error() {
        let e = settings(&[], Some("[tftp]\nmax_windowsize = 1000\n")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid setting: tftp.max_windowsize must be 1..=64, got 1000"
        );
        assert!(settings(&[], Some("[tftp]\nmax_windowsize = 0\n")).is_err());
        let s = settings(&[], Some("[tftp]\nmax_windowsize = 64\n")).unwrap();
        assert_eq!(s.tftp.max_windowsize, 64);
    }

    #[test]
    fn client_limits_from_the_file() {
        let s = settings(&[], None).unwrap();
        assert_eq!(s.clients, crate::clients::table::Limits::default());
        let s = settings(
            &[],
            Some(
                "[clients]\nmax_records = 10\nmax_unknown_per_host = 2\nunknown_expiry_secs = 60\n",
            ),
        )
        .unwrap();
        assert_eq!(
            (s.clients.max_records, s.clients.max_unknown_per_host),
            (10, 2)
        );
        assert_eq!(s.clients.max_unknown_per_segment, 4096);
        assert_eq!(s.clients.unknown_expiry, Duration::from_secs(60));
        assert!(settings(&[], Some("[clients]\nmax_records = 0\n")).is_err());
        assert!(settings(&[], Some("[clients]\nunknown_expiry_secs = 0\n")).is_err());
    }

    #[test]
    fn ca_file_flag_beats_file_beats_none() {
        let dir = std::env::temp_dir().join(format!("fleetboot-config-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("f.toml");
        std::fs::write(&file, "ca_file = \"/site/ca.pem\"\n").unwrap();
        let flag = Some(PathBuf::from("/flag.pem"));
        assert_eq!(ca_file(flag.clone(), Some(&file)).unwrap(), flag);
        assert_eq!(
            ca_file(None, Some(&file)).unwrap(),
            Some(PathBuf::from("/site/ca.pem"))
        );
        std::fs::write(&file, "").unwrap();
        assert_eq!(ca_file(None, Some(&file)).unwrap(), None);
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(settings(&[], Some("ca_file = \"/site/ca.pem\"\n")).is_ok());
    }

    #[test]
    fn typos_in_the_file_are_errors() {
        let e = settings(&[], Some("tftp_listn = \"127.0.0.1:7000\"\n")).unwrap_err();
        assert!(e.to_string().contains("tftp_listn"), "{e}");
        assert!(settings(&["--cores", "0"], None).is_err());
        assert!(settings(&["--tftp-max-per-ip", "0"], None).is_err());
        assert!(settings(&["--driver", "kqueue"], None).is_err());
    }

    #[test]
    fn boot_mac_check_is_strict_unless_turned_off() {
        use dataplane::MacCheck;
        let check = |argv: &[&str], file| settings(argv, file).unwrap().http.boot_mac_check;
        assert_eq!(check(&[], None), MacCheck::Strict);
        let off = Some("[http]\nboot_mac_check = \"off\"\n");
        assert_eq!(check(&[], off), MacCheck::Off);
        assert_eq!(
            check(&["--boot-mac-check", "strict"], off),
            MacCheck::Strict
        );
        assert!(settings(&["--boot-mac-check", "loose"], None).is_err());
    }
}
