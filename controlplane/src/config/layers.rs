//! The settings as the TOML file spells them, and the layers merged into them by figment:
//! defaults ([`Layers::default`]) < the TOML file < the `FLEETBOOT_*` environment and the
//! flags (clap reads both, the flag winning, and [`crate::cli::ServeArgs`] serializes to this
//! same shape). Values are checked and converted afterwards, in the parent module.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Format, Serialized, Toml};
use figment::value::{Dict, Value};
use figment::Figment;
use serde::{Deserialize, Serialize};

use super::ConfigError;

/// Read when `--config` is not given and the file exists in the working directory.
const DEFAULT_CONFIG: &str = "fleetboot.toml";

/// Every setting, with its default. Unknown keys are an error, so a typo never silently does
/// nothing. `Option` fields are the settings whose default is "none".
#[derive(Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct Layers {
    pub(super) data_dir: PathBuf,
    pub(super) tftp_listen: SocketAddr,
    pub(super) http_listen: SocketAddr,
    pub(super) admin_listen: SocketAddr,
    /// None: every available core.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) cores: Option<usize>,
    pub(super) driver: String,
    pub(super) scan_interval_ms: u64,
    pub(super) drain_grace_ms: u64,
    pub(super) kernel_args: String,
    /// Read by `images netboot`, not by `serve`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) ca_file: Option<PathBuf>,
    pub(super) tftp: TftpTable,
    pub(super) http: HttpTable,
    pub(super) dhcp: DhcpTable,
    pub(super) menu: MenuTable,
    pub(super) clients: ClientsTable,
    pub(super) admin: AdminTable,
    pub(super) wol: WolTable,
    pub(super) multicast: MulticastTable,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct TftpTable {
    pub(super) max_transfers: usize,
    pub(super) max_per_ip: usize,
    pub(super) max_blksize: u16,
    pub(super) max_windowsize: u16,
    pub(super) timeout_ms: u64,
    pub(super) max_timeout_ms: u64,
    pub(super) retries: u8,
    pub(super) first_retries: u8,
    pub(super) netascii_budget_mib: u64,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct HttpTable {
    pub(super) idle_timeout_ms: u64,
    pub(super) head_timeout_ms: u64,
    pub(super) write_timeout_ms: u64,
    pub(super) max_connections: usize,
    pub(super) max_per_ip: usize,
    pub(super) min_rate: u64,
    pub(super) rate_window_ms: u64,
    pub(super) boot_mac_check: String,
    pub(super) zero_copy: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct DhcpTable {
    pub(super) mode: String,
    /// Comma-separated interface names; empty: every interface.
    pub(super) interface: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) server_addr: Option<Ipv4Addr>,
    pub(super) port: u16,
    pub(super) pxe_port: u16,
    pub(super) uefi_pxe: String,
    pub(super) uefi_bootfile: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct MenuTable {
    pub(super) title: String,
    pub(super) timeout_secs: u64,
    /// An image id, or "local".
    pub(super) default: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct ClientsTable {
    pub(super) max_records: usize,
    pub(super) max_unknown_per_host: usize,
    pub(super) max_unknown_per_segment: usize,
    pub(super) unknown_expiry_secs: u64,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct AdminTable {
    pub(super) max_connections: usize,
    pub(super) request_timeout_ms: u64,
    pub(super) upload_max_bytes: u64,
    pub(super) session_ttl_secs: u64,
    pub(super) login_max_failures: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) metrics_listen: Option<SocketAddr>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct WolTable {
    pub(super) port: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) broadcast: Option<Ipv4Addr>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct MulticastTable {
    pub(super) group: String,
    pub(super) port: u16,
    pub(super) ttl: u32,
    pub(super) rate_mbit: u32,
    pub(super) min_rate_mbit: u32,
    /// Empty: the interface holding the server's boot address.
    pub(super) interface: String,
    pub(super) slow: String,
}

impl Default for Layers {
    fn default() -> Self {
        Layers {
            data_dir: PathBuf::from("./data"),
            tftp_listen: ([0, 0, 0, 0], 69).into(),
            http_listen: ([0, 0, 0, 0], 8080).into(),
            admin_listen: ([0, 0, 0, 0], 8081).into(),
            cores: None,
            driver: "auto".into(),
            scan_interval_ms: 2_000,
            drain_grace_ms: 10_000,
            kernel_args: String::new(),
            ca_file: None,
            tftp: TftpTable::default(),
            http: HttpTable::default(),
            dhcp: DhcpTable::default(),
            menu: MenuTable::default(),
            clients: ClientsTable::default(),
            admin: AdminTable::default(),
            wol: WolTable::default(),
            multicast: MulticastTable::default(),
        }
    }
}

/// The data plane's own defaults, in the file's units.
impl Default for TftpTable {
    fn default() -> Self {
        let d = dataplane::tftp::Config::default();
        TftpTable {
            max_transfers: d.max_transfers,
            max_per_ip: d.max_per_ip,
            max_blksize: d.max_blksize,
            max_windowsize: d.max_windowsize,
            timeout_ms: millis(d.default_timeout),
            max_timeout_ms: millis(d.max_timeout),
            retries: d.max_retries,
            first_retries: d.first_retries,
            netascii_budget_mib: d.netascii_budget >> 20,
        }
    }
}

/// The data plane's own defaults, in the file's units.
impl Default for HttpTable {
    fn default() -> Self {
        let d = dataplane::http::Config::default();
        HttpTable {
            idle_timeout_ms: millis(d.idle_timeout),
            head_timeout_ms: millis(d.head_timeout),
            write_timeout_ms: millis(d.write_timeout),
            max_connections: d.max_connections,
            max_per_ip: d.max_per_ip,
            min_rate: d.min_rate,
            rate_window_ms: millis(d.rate_window),
            boot_mac_check: "strict".into(),
            zero_copy: d.zero_copy.to_string(),
        }
    }
}

impl Default for DhcpTable {
    fn default() -> Self {
        DhcpTable {
            mode: "proxy".into(),
            interface: String::new(),
            server_addr: None,
            port: 67,
            pxe_port: 4011,
            uefi_pxe: "in-offer".into(),
            uefi_bootfile: "ipxe.efi".into(),
        }
    }
}

impl Default for MenuTable {
    fn default() -> Self {
        MenuTable {
            title: "fleetboot".into(),
            timeout_secs: 10,
            default: "local".into(),
        }
    }
}

/// The client table's own defaults, in the file's units.
impl Default for ClientsTable {
    fn default() -> Self {
        let d = crate::clients::table::Limits::default();
        ClientsTable {
            max_records: d.max_records,
            max_unknown_per_host: d.max_unknown_per_host,
            max_unknown_per_segment: d.max_unknown_per_segment,
            unknown_expiry_secs: d.unknown_expiry.as_secs(),
        }
    }
}

impl Default for AdminTable {
    fn default() -> Self {
        AdminTable {
            max_connections: 256,
            request_timeout_ms: 30_000,
            upload_max_bytes: 20 << 30,
            session_ttl_secs: 12 * 3600,
            login_max_failures: 5,
            metrics_listen: None,
        }
    }
}

impl Default for WolTable {
    fn default() -> Self {
        WolTable {
            port: 9,
            broadcast: None,
        }
    }
}

/// Multicast sessions' defaults:
/// - group 239.255.70.66: in 239.255.0.0/16, the IPv4 organisation-local scope (RFC 2365),
///   which routers at the site's edge do not pass, and outside the well-known ranges other
///   software uses (SSDP's 239.255.255.250 among them);
/// - port 7000: unprivileged, below the ephemeral ports, so no outgoing connection holds it;
/// - TTL 1: the datagrams stay on the boot network's link, where the machines are;
/// - 900 Mbit/s at most: a gigabit boot network, with room left for DHCP, TFTP and HTTP; the
///   floor of 100 Mbit/s keeps one struggling receiver from stretching a session tenfold;
/// - slow receivers: `wait` (everyone gets the image over multicast; `unicast` sends the
///   stragglers to HTTP instead).
impl Default for MulticastTable {
    fn default() -> Self {
        MulticastTable {
            group: "239.255.70.66".into(),
            port: 7000,
            ttl: 1,
            rate_mbit: 900,
            min_rate_mbit: 100,
            interface: String::new(),
            slow: "wait".into(),
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Merges the defaults, the TOML file (`explicit`, else `fleetboot.toml` in the working
/// directory if it exists, else none) and `flags`, which must serialize to the shape of
/// [`Layers`] (or a part of it).
pub(super) fn merge(
    explicit: Option<&Path>,
    flags: &impl Serialize,
) -> Result<Layers, ConfigError> {
    let path = match explicit {
        Some(p) => Some(p.to_path_buf()),
        None if Path::new(DEFAULT_CONFIG).is_file() => Some(PathBuf::from(DEFAULT_CONFIG)),
        None => None,
    };
    let mut figment = Figment::from(Serialized::defaults(Layers::default()));
    if let Some(path) = &path {
        // Read here rather than by figment so that a missing file is its own error.
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read(path.clone(), e))?;
        figment = figment.merge(Toml::string(&text));
    }
    let flags = Value::serialize(flags).map_err(|e| ConfigError::Internal(e.to_string()))?;
    figment
        .merge(Serialized::defaults(given(flags)))
        .extract()
        .map_err(|e| match path {
            Some(path) => ConfigError::Parse(path, Box::new(e)),
            // The flags and the defaults are typed: only the file can hold a bad value.
            None => ConfigError::Internal(e.to_string()),
        })
}

/// The flags that were given: an unset flag serializes as "none", which would hide the
/// layers below it, so it is dropped here, in every table.
fn given(flags: Value) -> Dict {
    let Value::Dict(_, dict) = flags else {
        return Dict::new();
    };
    dict.into_iter()
        .filter_map(|(key, value)| match value {
            Value::Empty(..) => None,
            Value::Dict(..) => Some((key, Value::from(given(value)))),
            other => Some((key, other)),
        })
        .collect()
}
