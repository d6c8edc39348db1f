//! The command line. Every `serve` flag can also come from `FLEETBOOT_<NAME>` in the
//! environment or from the TOML file (see [`crate::config`]).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::users::Role;

pub mod clients;
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
    /// Fetch the netboot tree of a needs-netboot image into data/files/netboot/<id>/; the
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

/// `fleetboot serve` options. Unset options fall back to the config file, then defaults.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// TOML config file [default: fleetboot.toml if present].
    #[arg(long, env = "FLEETBOOT_CONFIG")]
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
    /// Most concurrent TFTP transfers [default: 20000].
    #[arg(long, env = "FLEETBOOT_TFTP_MAX_TRANSFERS")]
    pub tftp_max_transfers: Option<usize>,
    /// Most concurrent TFTP transfers from one client address [default: 64].
    #[arg(long, env = "FLEETBOOT_TFTP_MAX_PER_IP")]
    pub tftp_max_per_ip: Option<usize>,
    /// Longest retransmission timeout a TFTP client's timeout option may set, in ms
    /// [default: 5000].
    #[arg(long, env = "FLEETBOOT_TFTP_MAX_TIMEOUT_MS")]
    pub tftp_max_timeout_ms: Option<u64>,
    /// TFTP retransmissions before a transfer never acknowledged is abandoned [default: 2].
    #[arg(long, env = "FLEETBOOT_TFTP_FIRST_RETRIES")]
    pub tftp_first_retries: Option<u8>,
    /// Memory all TFTP netascii conversions may take together, in MiB [default: 64].
    #[arg(long, env = "FLEETBOOT_TFTP_NETASCII_BUDGET_MIB")]
    pub tftp_netascii_budget_mib: Option<u64>,
    /// HTTP keep-alive idle timeout, in ms [default: 10000].
    #[arg(long, env = "FLEETBOOT_HTTP_IDLE_TIMEOUT_MS")]
    pub http_idle_timeout_ms: Option<u64>,
    /// Time allowed to send a complete request head, in ms [default: 5000].
    #[arg(long, env = "FLEETBOOT_HTTP_HEAD_TIMEOUT_MS")]
    pub http_head_timeout_ms: Option<u64>,
    /// Most concurrent HTTP connections from one client address [default: 64].
    #[arg(long, env = "FLEETBOOT_HTTP_MAX_PER_IP")]
    pub http_max_per_ip: Option<usize>,
    /// Least an HTTP client must read while a response is written, in bytes per second
    /// over each rate window; 0 turns it off [default: 4096].
    #[arg(long, env = "FLEETBOOT_HTTP_MIN_RATE")]
    pub http_min_rate: Option<u64>,
    /// Window over which the HTTP minimum rate is measured, in ms [default: 10000].
    #[arg(long, env = "FLEETBOOT_HTTP_RATE_WINDOW_MS")]
    pub http_rate_window_ms: Option<u64>,
    /// proxyDHCP: proxy or off [default: proxy].
    #[arg(long, env = "FLEETBOOT_DHCP_MODE")]
    pub dhcp_mode: Option<String>,
    /// Answer proxyDHCP on these interfaces only, comma-separated [default: every
    /// interface; each request is answered on the interface it arrived on].
    #[arg(long, env = "FLEETBOOT_DHCP_INTERFACE")]
    pub dhcp_interface: Option<String>,
    /// The address named to clients as next-server and in boot URLs, when it must be fixed
    /// (NAT) [default: the address each request arrived at].
    #[arg(long, env = "FLEETBOOT_SERVER_ADDR")]
    pub server_addr: Option<Ipv4Addr>,
    /// proxyDHCP port [default: 67].
    #[arg(long, env = "FLEETBOOT_DHCP_PORT")]
    pub dhcp_port: Option<u16>,
    /// PXE boot server port [default: 4011].
    #[arg(long, env = "FLEETBOOT_PXE_PORT")]
    pub pxe_port: Option<u16>,
    /// How UEFI PXE firmware gets its bootfile: in-offer or boot-server (port 4011)
    /// [default: in-offer].
    #[arg(long, env = "FLEETBOOT_UEFI_PXE")]
    pub uefi_pxe: Option<String>,
    /// iPXE build for x86-64 UEFI: ipxe.efi (own drivers) or snponly.efi (firmware's network
    /// driver) [default: ipxe.efi].
    #[arg(long, env = "FLEETBOOT_UEFI_BOOTFILE")]
    pub uefi_bootfile: Option<String>,
    /// Menu title [default: fleetboot].
    #[arg(long, env = "FLEETBOOT_MENU_TITLE")]
    pub menu_title: Option<String>,
    /// Seconds before the menu boots its default; 0 waits forever [default: 10].
    #[arg(long, env = "FLEETBOOT_MENU_TIMEOUT")]
    pub menu_timeout: Option<u64>,
    /// Image id the menu boots on timeout, or "local" [default: local].
    #[arg(long, env = "FLEETBOOT_MENU_DEFAULT")]
    pub menu_default: Option<String>,
    /// Whether `/boot.ipxe?mac=` must match the neighbour entry of the requesting address:
    /// strict, or off for routed networks where the server never sees client MACs
    /// [default: strict].
    #[arg(long, env = "FLEETBOOT_BOOT_MAC_CHECK")]
    pub boot_mac_check: Option<String>,
    /// Appended to every kernel command line, e.g. "console=ttyS0,115200".
    #[arg(long, env = "FLEETBOOT_KERNEL_ARGS", allow_hyphen_values = true)]
    pub kernel_args: Option<String>,
}
