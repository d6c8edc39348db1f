//! HTTP/1.1 boot server (RFC 9110, 9112): GET and HEAD of catalog objects with ranges,
//! validators, keep-alive and pipelining; generated objects (`/boot.ipxe` in [`boot_script`],
//! install files and callbacks in [`install`], multicast sessions in [`multicast`]). The head codecs are [`crate::wire::http`] (requests)
//! and [`crate::wire::http_response`], HTTP-dates [`crate::wire::date`]; range and
//! conditional logic in [`range`], multipart/byteranges layout in [`multipart`], the pace a
//! reader must keep in [`pace`]; [`server`] owns connections, buffers and timeouts, routes
//! each request to its answer (`answer`: heads and bodies; `callback`: requests with a
//! body), and writes answers through `write`.

use std::time::Duration;

mod answer;
pub mod boot_script;
mod callback;
pub mod install;
pub mod mac_check;
pub mod mime;
pub mod multicast;
pub mod multipart;
pub mod pace;
pub mod range;
pub mod server;
mod write;
pub mod zero_copy;

pub use zero_copy::ZeroCopy;

/// HTTP settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Keep-alive idle time before a connection is closed. Default 10 s: iPXE asks for the
    /// next file at once, so an idle boot client is a finished one.
    pub idle_timeout: Duration,
    /// Time allowed from a request's first byte to its complete head. Default 5 s.
    pub head_timeout: Duration,
    /// Time a response may go without a write completing or a byte acknowledged (a stalled
    /// reader). Default 15 s.
    pub write_timeout: Duration,
    /// Least a client must read, in bytes per second over each [`Config::rate_window`], while
    /// a response is being written; 0 turns the check off. Default 4096.
    pub min_rate: u64,
    /// Window over which [`Config::min_rate`] is measured. Default 10 s.
    pub rate_window: Duration,
    /// Longest request line. Default 8 KiB.
    pub max_request_line: usize,
    /// Largest request head. Default 16 KiB.
    pub max_head: usize,
    /// Most connections open at once (all cores). Default 50,000.
    pub max_connections: usize,
    /// Most connections open at once from one client address (all cores). Default 64.
    pub max_per_ip: usize,
    /// Listen backlog. Default 4096.
    pub backlog: i32,
    /// Whether `/boot.ipxe?mac=` must match the peer's neighbour entry. Default strict.
    pub boot_mac_check: mac_check::MacCheck,
    /// How file bytes reach the socket. Default auto.
    pub zero_copy: ZeroCopy,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            idle_timeout: Duration::from_secs(10),
            head_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(15),
            min_rate: 4096,
            rate_window: Duration::from_secs(10),
            max_request_line: 8 << 10,
            max_head: 16 << 10,
            max_connections: 50_000,
            max_per_ip: 64,
            backlog: 4096,
            zero_copy: ZeroCopy::default(),
            boot_mac_check: mac_check::MacCheck::Strict,
        }
    }
}
