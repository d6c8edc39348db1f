//! The command line. Every `serve` flag can also come from `FLEETBOOT_<NAME>` in the
//! environment or from the TOML file (see [`crate::config`]).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use serde::Serialize;

use crate::users::Role;

pub mod clients;
pub mod deploy;
pub mod multicast;
pub mod remote;
pub mod users;

/// fleetboot: network-boot fleets of machines from ISO images.
#[derive(Debug, Parser)]
#[command(name = "fleetboot", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the boot server: TFTP, boot HTTP and the admin API, in one process.
    Serve(Box<ServeArgs>),
    /// Inspect the ISO images (works beside a running server).
    #[command(subcommand)]
    Images(ImagesCommand),
    /// Machines seen and their assignments (talks to a running server, else the database).
    #[command(subcommand)]
    Clients(ClientsCommand),
    /// Users of the admin API and their roles (talks to a running server, else the database).
    #[command(subcommand)]
    User(UserCommand),
    /// API tokens for automation (talks to a running server, else the database).
    #[command(subcommand)]
    Token(TokenCommand),
    /// Multicast sessions: one file to many machines at once (talks to a running server).
    #[command(subcommand)]
    Multicast(MulticastCommand),
    /// Disk images to many machines at once over multicast (needs a running server to
    /// create one).
    #[command(subcommand)]
    Deploy(DeployCommand),
}

/// `fleetboot deploy …`
#[derive(Debug, Subcommand)]
pub enum DeployCommand {
    /// Write IMAGE (relative to the data dir, e.g. disks/base.img) to the disk of every
    /// machine named; each boots the deploy agent, receives the image over multicast, then
    /// boots its disk.
    Create {
        /// The raw image, relative to the data dir.
        image: String,
        /// The machines, by MAC, comma-separated.
        #[arg(
            long,
            value_delimiter = ',',
            required_unless_present = "group",
            conflicts_with = "group"
        )]
        clients: Vec<String>,
        /// Or every member of this client group.
        #[arg(long)]
        group: Option<String>,
        /// Target disk [default: /dev/sda].
        #[arg(long)]
        disk: Option<String>,
        /// Multicast rate in Mbit/s [default: the server's multicast setting].
        #[arg(long)]
        rate: Option<u32>,
        /// Receivers to wait for before sending [default: every machine].
        #[arg(long)]
        min_receivers: Option<u32>,
        /// Longest wait for them, in seconds [default: 60].
        #[arg(long)]
        max_wait: Option<u64>,
        /// Seconds after which a machine not done counts as failed [default: 3600].
        #[arg(long)]
        timeout: Option<u64>,
        /// Print the deploy as JSON.
        #[arg(long)]
        json: bool,
        /// Data directory [default: ./data].
        #[arg(long, env = "FLEETBOOT_DATA_DIR", default_value = "./data")]
        data_dir: PathBuf,
    },
    /// List the deploys.
    List {
        /// Print a JSON array instead of a table.
        #[arg(long)]
        json: bool,
        /// Data directory [default: ./data].
        #[arg(long, env = "FLEETBOOT_DATA_DIR", default_value = "./data")]
        data_dir: PathBuf,
    },
    /// One deploy: its machines and its session's progress.
    Show {
        /// Deploy id.
        id: u64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Data directory [default: ./data].
        #[arg(long, env = "FLEETBOOT_DATA_DIR", default_value = "./data")]
        data_dir: PathBuf,
    },
    /// Cancel a running deploy: machines not done boot what they booted before.
    Cancel {
        /// Deploy id.
        id: u64,
        /// Data directory [default: ./data].
        #[arg(long, env = "FLEETBOOT_DATA_DIR", default_value = "./data")]
        data_dir: PathBuf,
    },
}

/// `fleetboot multicast …`
#[derive(Debug, Subcommand)]
pub enum MulticastCommand {
    /// Send FILE (inside the data dir) to a multicast group; prints the manifest's URL for
    /// receivers (`fleetboot-receive URL --output PATH`).
    Send {
        /// The file: a path inside the data dir, or relative to it.
        file: String,
        /// Multicast group, IPv4 or IPv6 [default: multicast.group].
        #[arg(long)]
        group: Option<String>,
        /// UDP port [default: multicast.port].
        #[arg(long)]
        port: Option<u16>,
        /// Rate ceiling in Mbit/s [default: multicast.rate_mbit].
        #[arg(long)]
        rate: Option<u32>,
        /// TTL or hop limit [default: multicast.ttl].
        #[arg(long)]
        ttl: Option<u32>,
        /// Interface to send from [default: multicast.interface, else the one holding the
        /// server's boot address].
        #[arg(long)]
        interface: Option<String>,
        /// Receivers to wait for before sending [default: 1].
        #[arg(long)]
        min_receivers: Option<u32>,
        /// Longest wait for them, in seconds [default: 60].
        #[arg(long)]
        max_wait: Option<u64>,
        /// Slow receivers: wait, or unicast (they fetch by HTTP) [default: multicast.slow].
        #[arg(long)]
        slow: Option<String>,
        /// Follow the session until it is over; fail unless it finished.
        #[arg(long)]
        wait: bool,
        /// Data directory [default: ./data].
        #[arg(long, env = "FLEETBOOT_DATA_DIR", default_value = "./data")]
        data_dir: PathBuf,
    },
    /// List the sessions.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Data directory [default: ./data].
        #[arg(long, env = "FLEETBOOT_DATA_DIR", default_value = "./data")]
        data_dir: PathBuf,
    },
    /// Show a session and its receivers.
    Show {
        /// Session id (hex).
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Data directory [default: ./data].
        #[arg(long, env = "FLEETBOOT_DATA_DIR", default_value = "./data")]
        data_dir: PathBuf,
    },
    /// Cancel a session: receivers turn to HTTP for what they miss.
    Cancel {
        /// Session id (hex).
        id: String,
        /// Data directory [default: ./data].
        #[arg(long, env = "FLEETBOOT_DATA_DIR", default_value = "./data")]
        data_dir: PathBuf,
    },
}

/// `fleetboot token …`
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create an API token; its secret is printed once.
    Create {
        /// Name: 1 to 64 characters of A-Z a-z 0-9 . _ -
        #[arg(long)]
        name: String,
        /// admin or viewer (read-only) [default: viewer].
        #[arg(long, default_value = "viewer")]
        role: Role,
        /// Data directory [default: ./data].
        #[arg(long, env = "FLEETBOOT_DATA_DIR", default_value = "./data")]
        data_dir: PathBuf,
    },
    /// List the API tokens (never their secrets).
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Data directory [default: ./data].
        #[arg(long, env = "FLEETBOOT_DATA_DIR", default_value = "./data")]
        data_dir: PathBuf,
    },
    /// Revoke an API token.
    Del {
        /// The token's id (see `token list`).
        id: String,
        /// Data directory [default: ./data].
        #[arg(long, env = "FLEETBOOT_DATA_DIR", default_value = "./data")]
        data_dir: PathBuf,
    },
}

/// `fleetboot user …`. A password is read from standard input (one line) when it is not a
/// terminal, else prompted for without echo.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user.
    Add {
        /// User name: 1 to 64 characters of A-Z a-z 0-9 . _ -
        name: String,
        /// admin or viewer (read-only) [default: viewer].
        #[arg(long, default_value = "viewer")]
        role: Role,
        /// Generate the password and print it instead of reading one.
        #[arg(long)]
        generate: bool,
        /// Data directory [default: ./data].
        #[arg(long, env = "FLEETBOOT_DATA_DIR", default_value = "./data")]
        data_dir: PathBuf,
    },
    /// Set a user's password (this also replaces an admin password from before argon2id).
    Passwd {
        /// User name.
        name: String,
        /// Generate the password and print it instead of reading one.
        #[arg(long)]
        generate: bool,
        /// Data directory [default: ./data].
        #[arg(long, env = "FLEETBOOT_DATA_DIR", default_value = "./data")]
        data_dir: PathBuf,
    },
    /// Delete a user (never the last admin).
    Del {
        /// User name.
        name: String,
        /// Data directory [default: ./data].
        #[arg(long, env = "FLEETBOOT_DATA_DIR", default_value = "./data")]
        data_dir: PathBuf,
    },
    /// List the users and their roles.
    List {
        /// Print a JSON array instead of a table.
        #[arg(long)]
        json: bool,
        /// Data directory [default: ./data].
        #[arg(long, env = "FLEETBOOT_DATA_DIR", default_value = "./data")]
        data_dir: PathBuf,
    },
}

/// `fleetboot clients …`
#[derive(Debug, Subcommand)]
pub enum ClientsCommand {
    /// List every client seen, with inventory and assignment.
    List {
        /// Print a JSON array instead of a table.
        #[arg(long)]
        json: bool,
        /// Data directory [default: ./data].
        #[arg(long, env = "FLEETBOOT_DATA_DIR", default_value = "./data")]
        data_dir: PathBuf,
    },
    /// Boot IMAGE_ID on the machine with MAC instead of showing the menu.
    Assign {
        /// MAC address, e.g. 52:54:00:12:34:56.
        mac: String,
        /// Image id (see `images list`).
        image_id: String,
        /// For the next boot only; then the menu again.
        #[arg(long)]
        once: bool,
        /// Print the client record as JSON.
        #[arg(long)]
        json: bool,
        /// Data directory [default: ./data].
        #[arg(long, env = "FLEETBOOT_DATA_DIR", default_value = "./data")]
        data_dir: PathBuf,
    },
    /// Remove MAC's assignment: it gets the menu again.
    Unassign {
        /// MAC address.
        mac: String,
        /// Print the client record as JSON.
        #[arg(long)]
        json: bool,
        /// Data directory [default: ./data].
        #[arg(long, env = "FLEETBOOT_DATA_DIR", default_value = "./data")]
        data_dir: PathBuf,
    },
}

/// `fleetboot images …`
#[derive(Debug, Subcommand)]
pub enum ImagesCommand {
    /// List every image with its boot recipe.
    List {
        /// Print a JSON array instead of a table.
        #[arg(long)]
        json: bool,
        /// Data directory [default: ./data].
        #[arg(long, env = "FLEETBOOT_DATA_DIR", default_value = "./data")]
        data_dir: PathBuf,
    },
    /// Fetch the netboot tree of a needs-netboot image into data/files/netboot/ID/; the
    /// server then boots the image from it.
    Netboot {
        /// The image id (see `images list`).
        id: String,
        /// The tarball's URL (http:// or https://) [default: the recipe's netboot_url].
        #[arg(long)]
        url: Option<String>,
        /// The tarball's expected SHA-256, in hex.
        #[arg(long)]
        sha256: Option<String>,
        /// PEM file of CAs trusted for https besides Mozilla's roots (a site's own mirror).
        #[arg(long, env = "FLEETBOOT_CA_FILE")]
        ca_file: Option<PathBuf>,
        /// TOML config file, for `ca_file` [default: fleetboot.toml if present].
        #[arg(long, env = "FLEETBOOT_CONFIG")]
        config: Option<PathBuf>,
        /// Data directory [default: ./data].
        #[arg(long, env = "FLEETBOOT_DATA_DIR", default_value = "./data")]
        data_dir: PathBuf,
    },
    /// Show one image: recipe, El Torito entries, why the layout matched.
    Show {
        /// The image id (see `images list`).
        id: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Data directory [default: ./data].
        #[arg(long, env = "FLEETBOOT_DATA_DIR", default_value = "./data")]
        data_dir: PathBuf,
    },
}

/// `fleetboot serve` options, grouped like the TOML file's tables: each group serializes to
/// its table, so the flags are merged over the file by the same field names (see
/// [`crate::config`]). An unset option falls back to the file, then to the default.
#[derive(Debug, Args, Serialize)]
pub struct ServeArgs {
    /// TOML config file [default: fleetboot.toml if present].
    #[arg(long, env = "FLEETBOOT_CONFIG")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Data directory [default: ./data].
    #[arg(long, env = "FLEETBOOT_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// TFTP listen address [default: 0.0.0.0:69].
    #[arg(long, env = "FLEETBOOT_TFTP_LISTEN")]
    pub tftp_listen: Option<SocketAddr>,
    /// Boot HTTP listen address [default: 0.0.0.0:8080].
    #[arg(long, env = "FLEETBOOT_HTTP_LISTEN")]
    pub http_listen: Option<SocketAddr>,
    /// Admin API listen address [default: 0.0.0.0:8081].
    #[arg(long, env = "FLEETBOOT_ADMIN_LISTEN")]
    pub admin_listen: Option<SocketAddr>,
    /// Data-plane cores (threads) [default: all].
    #[arg(long, env = "FLEETBOOT_CORES")]
    pub cores: Option<usize>,
    /// I/O driver: auto, io-uring or epoll [default: auto].
    #[arg(long, env = "FLEETBOOT_DRIVER")]
    pub driver: Option<String>,
    /// How often the data dir is checked for changes, in ms [default: 2000].
    #[arg(long, env = "FLEETBOOT_SCAN_INTERVAL_MS")]
    pub scan_interval_ms: Option<u64>,
    /// Grace period for in-flight transfers on shutdown, in ms [default: 10000].
    #[arg(long, env = "FLEETBOOT_DRAIN_GRACE_MS")]
    pub drain_grace_ms: Option<u64>,
    /// PEM file of CAs trusted for https downloads and netboot fetches besides Mozilla's
    /// roots (a site's own mirror).
    #[arg(long, env = "FLEETBOOT_CA_FILE")]
    pub ca_file: Option<PathBuf>,
    /// Appended to every kernel command line, e.g. "console=ttyS0,115200".
    #[arg(long, env = "FLEETBOOT_KERNEL_ARGS", allow_hyphen_values = true)]
    pub kernel_args: Option<String>,
    /// TOML table `[tftp]`.
    #[command(flatten)]
    pub tftp: TftpArgs,
    /// TOML table `[http]`.
    #[command(flatten)]
    pub http: HttpArgs,
    /// TOML table `[dhcp]`.
    #[command(flatten)]
    pub dhcp: DhcpArgs,
    /// TOML table `[menu]`.
    #[command(flatten)]
    pub menu: MenuArgs,
    /// TOML table `[admin]`.
    #[command(flatten)]
    pub admin: AdminArgs,
    /// TOML table `[wol]`.
    #[command(flatten)]
    pub wol: WolArgs,
}

/// `serve` flags of the TOML table `[tftp]`.
#[derive(Debug, Args, Serialize)]
#[command(next_help_heading = "TFTP")]
pub struct TftpArgs {
    /// Most concurrent TFTP transfers [default: 20000].
    #[arg(long = "tftp-max-transfers", env = "FLEETBOOT_TFTP_MAX_TRANSFERS")]
    pub max_transfers: Option<usize>,
    /// Most concurrent TFTP transfers from one client address [default: 64].
    #[arg(
        id = "tftp_max_per_ip",
        value_name = "N",
        long = "tftp-max-per-ip",
        env = "FLEETBOOT_TFTP_MAX_PER_IP"
    )]
    pub max_per_ip: Option<usize>,
    /// Longest retransmission timeout a TFTP client's timeout option may set, in ms
    /// [default: 5000].
    #[arg(long = "tftp-max-timeout-ms", env = "FLEETBOOT_TFTP_MAX_TIMEOUT_MS")]
    pub max_timeout_ms: Option<u64>,
    /// TFTP retransmissions before a transfer never acknowledged is abandoned [default: 2].
    #[arg(long = "tftp-first-retries", env = "FLEETBOOT_TFTP_FIRST_RETRIES")]
    pub first_retries: Option<u8>,
    /// Memory all TFTP netascii conversions may take together, in MiB [default: 64].
    #[arg(
        long = "tftp-netascii-budget-mib",
        env = "FLEETBOOT_TFTP_NETASCII_BUDGET_MIB"
    )]
    pub netascii_budget_mib: Option<u64>,
}

/// `serve` flags of the TOML table `[http]`.
#[derive(Debug, Args, Serialize)]
#[command(next_help_heading = "Boot HTTP")]
pub struct HttpArgs {
    /// HTTP keep-alive idle timeout, in ms [default: 10000].
    #[arg(long = "http-idle-timeout-ms", env = "FLEETBOOT_HTTP_IDLE_TIMEOUT_MS")]
    pub idle_timeout_ms: Option<u64>,
    /// Time allowed to send a complete request head, in ms [default: 5000].
    #[arg(long = "http-head-timeout-ms", env = "FLEETBOOT_HTTP_HEAD_TIMEOUT_MS")]
    pub head_timeout_ms: Option<u64>,
    /// Most concurrent HTTP connections from one client address [default: 64].
    #[arg(
        id = "http_max_per_ip",
        value_name = "N",
        long = "http-max-per-ip",
        env = "FLEETBOOT_HTTP_MAX_PER_IP"
    )]
    pub max_per_ip: Option<usize>,
    /// Least an HTTP client must read while a response is written, in bytes per second
    /// over each rate window; 0 turns it off [default: 4096].
    #[arg(long = "http-min-rate", env = "FLEETBOOT_HTTP_MIN_RATE")]
    pub min_rate: Option<u64>,
    /// Window over which the HTTP minimum rate is measured, in ms [default: 10000].
    #[arg(long = "http-rate-window-ms", env = "FLEETBOOT_HTTP_RATE_WINDOW_MS")]
    pub rate_window_ms: Option<u64>,
    /// Whether `/boot.ipxe?mac=` must match the neighbour entry of the requesting address:
    /// strict, or off for routed networks where the server never sees client MACs
    /// [default: strict].
    #[arg(long = "boot-mac-check", env = "FLEETBOOT_BOOT_MAC_CHECK")]
    pub boot_mac_check: Option<String>,
    /// How HTTP file bodies reach the socket: auto (sendfile from 64 KiB up, gathered writes
    /// below), on (sendfile always) or off (gathered writes from the mapping) [default: auto].
    #[arg(long = "zero-copy", env = "FLEETBOOT_ZERO_COPY")]
    pub zero_copy: Option<String>,
}

/// `serve` flags of the TOML table `[dhcp]`.
#[derive(Debug, Args, Serialize)]
#[command(next_help_heading = "proxyDHCP")]
pub struct DhcpArgs {
    /// proxyDHCP: proxy or off [default: proxy].
    #[arg(long = "dhcp-mode", env = "FLEETBOOT_DHCP_MODE")]
    pub mode: Option<String>,
    /// Answer proxyDHCP on these interfaces only, comma-separated [default: every
    /// interface; each request is answered on the interface it arrived on].
    #[arg(long = "dhcp-interface", env = "FLEETBOOT_DHCP_INTERFACE")]
    pub interface: Option<String>,
    /// The address named to clients as next-server and in boot URLs, when it must be fixed
    /// (NAT) [default: the address each request arrived at].
    #[arg(long = "server-addr", env = "FLEETBOOT_SERVER_ADDR")]
    pub server_addr: Option<Ipv4Addr>,
    /// proxyDHCP port [default: 67].
    #[arg(
        id = "dhcp_port",
        value_name = "PORT",
        long = "dhcp-port",
        env = "FLEETBOOT_DHCP_PORT"
    )]
    pub port: Option<u16>,
    /// PXE boot server port [default: 4011].
    #[arg(long = "pxe-port", env = "FLEETBOOT_PXE_PORT")]
    pub pxe_port: Option<u16>,
    /// How UEFI PXE firmware gets its bootfile: in-offer or boot-server (port 4011)
    /// [default: in-offer].
    #[arg(long = "uefi-pxe", env = "FLEETBOOT_UEFI_PXE")]
    pub uefi_pxe: Option<String>,
    /// iPXE build for x86-64 UEFI: ipxe.efi (own drivers) or snponly.efi (firmware's network
    /// driver) [default: ipxe.efi].
    #[arg(long = "uefi-bootfile", env = "FLEETBOOT_UEFI_BOOTFILE")]
    pub uefi_bootfile: Option<String>,
}

/// `serve` flags of the TOML table `[menu]`.
#[derive(Debug, Args, Serialize)]
#[command(next_help_heading = "Boot menu")]
pub struct MenuArgs {
    /// Menu title [default: fleetboot].
    #[arg(long = "menu-title", env = "FLEETBOOT_MENU_TITLE")]
    pub title: Option<String>,
    /// Seconds before the menu boots its default; 0 waits forever [default: 10].
    #[arg(long = "menu-timeout", env = "FLEETBOOT_MENU_TIMEOUT")]
    pub timeout_secs: Option<u64>,
    /// Image id the menu boots on timeout, or "local" [default: local].
    #[arg(long = "menu-default", env = "FLEETBOOT_MENU_DEFAULT")]
    pub default: Option<String>,
}

/// `serve` flags of the TOML table `[admin]`.
#[derive(Debug, Args, Serialize)]
#[command(next_help_heading = "Admin API")]
pub struct AdminArgs {
    /// Most concurrent connections to the admin API [default: 256].
    #[arg(
        long = "admin-max-connections",
        env = "FLEETBOOT_ADMIN_MAX_CONNECTIONS"
    )]
    pub max_connections: Option<usize>,
    /// Time allowed for one admin API request, uploads excepted, in ms [default: 30000].
    #[arg(
        long = "admin-request-timeout-ms",
        env = "FLEETBOOT_ADMIN_REQUEST_TIMEOUT_MS"
    )]
    pub request_timeout_ms: Option<u64>,
    /// Largest image upload, in bytes [default: 21474836480 (20 GiB)].
    #[arg(long = "upload-max-bytes", env = "FLEETBOOT_UPLOAD_MAX_BYTES")]
    pub upload_max_bytes: Option<u64>,
    /// Lifetime of a login session, in seconds [default: 43200 (12 hours)].
    #[arg(long = "session-ttl-secs", env = "FLEETBOOT_SESSION_TTL_SECS")]
    pub session_ttl_secs: Option<u64>,
    /// Failed logins allowed per source address per minute [default: 5].
    #[arg(long = "login-max-failures", env = "FLEETBOOT_LOGIN_MAX_FAILURES")]
    pub login_max_failures: Option<u32>,
    /// Serve /metrics without authentication on this address instead [default: none;
    /// /metrics is on the admin listener, behind authentication].
    #[arg(long = "metrics-listen", env = "FLEETBOOT_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
}

/// `serve` flags of the TOML table `[wol]`.
#[derive(Debug, Args, Serialize)]
#[command(next_help_heading = "Wake-on-LAN")]
pub struct WolArgs {
    /// UDP port of Wake-on-LAN packets [default: 9].
    #[arg(
        id = "wol_port",
        value_name = "PORT",
        long = "wol-port",
        env = "FLEETBOOT_WOL_PORT"
    )]
    pub port: Option<u16>,
    /// Send Wake-on-LAN packets to this address [default: the directed broadcast of the
    /// interface whose subnet holds the client's last address, else 255.255.255.255 on every
    /// interface].
    #[arg(long = "wol-broadcast", env = "FLEETBOOT_WOL_BROADCAST")]
    pub broadcast: Option<Ipv4Addr>,
}
