//! TFTP read server: RFC 1350 with option extensions (RFC 2347 negotiation, 2348 blksize,
//! 2349 timeout/tsize, 7440 windowsize). The codec is in [`crate::wire::tftp`]; option
//! negotiation in [`options`]; one transfer's logic is the pure state machine in [`session`];
//! netascii conversions are shared under a memory budget by [`netascii`]; [`server`] owns the
//! sockets and timers.

use std::time::Duration;

pub mod netascii;
pub mod options;
pub mod server;
pub mod session;
mod spin;

/// TFTP settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Most transfers running at once (all cores). Default 20,000.
    pub max_transfers: usize,
    /// Most transfers running at once for one client address (all cores). Default 64.
    pub max_per_ip: usize,
    /// Largest blksize granted. Default 65464 (RFC 2348's maximum).
    pub max_blksize: u16,
    /// Largest windowsize granted. Default and most 64 ([`options::MAX_WINDOWSIZE`]).
    pub max_windowsize: u16,
    /// Retransmission timeout when the client asks for none. Default 1 s.
    pub default_timeout: Duration,
    /// Longest retransmission timeout a client's `timeout` option may set. Default 5 s.
    pub max_timeout: Duration,
    /// Consecutive timeouts before a transfer is abandoned. Default 5.
    pub max_retries: u8,
    /// Timeouts before a transfer whose client never acknowledged anything is abandoned.
    /// Default 2.
    pub first_retries: u8,
    /// Largest file converted for netascii mode (converted in memory). Default 16 MiB.
    pub max_netascii: u64,
    /// Memory all netascii conversions may take together (all cores). Default 64 MiB.
    pub netascii_budget: u64,
    /// How long in-flight transfers may run on after shutdown is asked. Default 10 s.
    pub drain_grace: Duration,
}

impl Config {
    /// What option negotiation and the transfer machine need of these settings.
    pub fn limits(&self) -> options::Limits {
        options::Limits {
            max_blksize: self.max_blksize,
            max_windowsize: self.max_windowsize,
            default_timeout: self.default_timeout,
            max_timeout: self.max_timeout,
            max_retries: self.max_retries,
            first_retries: self.first_retries,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_transfers: 20_000,
            max_per_ip: 64,
            max_blksize: 65464,
            max_windowsize: options::MAX_WINDOWSIZE,
            default_timeout: Duration::from_secs(1),
            max_timeout: Duration::from_secs(5),
            max_retries: 5,
            first_retries: 2,
            max_netascii: 16 << 20,
            netascii_budget: 64 << 20,
            drain_grace: Duration::from_secs(10),
        }
    }
}
