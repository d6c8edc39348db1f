//! HTTP/1.1 boot server (RFC 9110, 9112): GET and HEAD of catalog objects with ranges,
//! validators, keep-alive and pipelining. The head codecs are [`crate::wire::http`] (requests)
//! and [`crate::wire::http_response`], HTTP-dates [`crate::wire::date`]; range and
//! conditional logic in [`range`], multipart/byteranges layout in [`multipart`]; [`server`]
//! owns connections, buffers and timeouts.

use std::time::Duration;

pub mod boot_script;
pub mod mac_check;
pub mod mime;
pub mod multipart;
pub mod range;
pub mod server;

/// HTTP settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Keep-alive idle time before a connection is closed. Default 60 s.
    pub idle_timeout: Duration,
    /// Time allowed from a request's first byte to its complete head. Default 10 s.
    pub head_timeout: Duration,
    /// Time a single write may make no progress (a stalled reader). Default 60 s.
    pub write_timeout: Duration,
    /// Longest request line. Default 8 KiB.
    pub max_request_line: usize,
    /// Largest request head. Default 16 KiB.
    pub max_head: usize,
    /// Most connections open at once (all cores). Default 50,000.
    pub max_connections: usize,
    /// Listen backlog. Default 4096.
    pub backlog: i32,
    /// Whether `/boot.ipxe?mac=` must match the peer's neighbour entry. Default strict.
    pub boot_mac_check: mac_check::MacCheck,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            idle_timeout: Duration::from_secs(60),
            head_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(60),
            max_request_line: 8 << 10,
            max_head: 16 << 10,
            max_connections: 50_000,
            backlog: 4096,
            boot_mac_check: mac_check::MacCheck::Strict,
        }
    }
}
