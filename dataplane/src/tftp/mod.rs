//! TFTP read server: RFC 1350 with option extensions (RFC 2347 negotiation, 2348 blksize,
//! 2349 timeout/tsize, 7440 windowsize). The codec is in [`crate::wire::tftp`]; option
//! negotiation in [`options`]; one transfer's logic is the pure state machine in [`session`];
//! [`server`] owns the sockets and timers.

use std::time::Duration;

pub mod options;
pub mod server;
pub mod session;

/// TFTP settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Most transfers running at once (all cores). Default 20,000.
    pub max_transfers: usize,
    /// Largest blksize granted. Default 65464 (RFC 2348's maximum).
    pub max_blksize: u16,
    /// Largest windowsize granted. Default 64.
    pub max_windowsize: u16,
    /// Retransmission timeout when the client asks for none. Default 1 s.
    pub default_timeout: Duration,
    /// Consecutive timeouts before a transfer is abandoned. Default 5.
    pub max_retries: u8,
    /// Largest file converted for netascii mode (converted in memory). Default 16 MiB.
    pub max_netascii: u64,
    /// How long in-flight transfers may run on after shutdown is asked. Default 10 s.
    pub drain_grace: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_transfers: 20_000,
            max_blksize: 65464,
            max_windowsize: 64,
            default_timeout: Duration::from_secs(1),
            max_retries: 5,
            max_netascii: 16 << 20,
            drain_grace: Duration::from_secs(10),
        }
    }
}
