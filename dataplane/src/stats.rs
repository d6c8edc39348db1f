//! Counters the data plane keeps for metrics and tests. Bumped once per transfer or per bad
//! packet, never per data packet, so the shared cache lines stay cold.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

/// Shared by all cores.
#[derive(Default, Debug)]
pub struct Stats {
    /// Datagrams on a TFTP port that did not parse, or made no sense there.
    pub tftp_malformed: AtomicU64,
    /// TFTP transfers started.
    pub tftp_transfers: AtomicU64,
    /// TFTP transfers refused because the concurrency cap was reached.
    pub tftp_busy: AtomicU64,
    /// RRQs repeated by a peer whose transfer is already running (answered by that transfer).
    pub tftp_duplicate_requests: AtomicU64,
    /// TFTP transfers refused because their address already ran its per-address cap.
    pub tftp_per_ip_refused: AtomicU64,
    /// TFTP transfers abandoned because the client never acknowledged anything.
    pub tftp_unanswered: AtomicU64,
    /// TFTP transfers ended at once by an ICMP port unreachable (the client's port is closed).
    pub tftp_unreachable: AtomicU64,
    /// netascii requests refused because the conversion memory budget was spent.
    pub tftp_netascii_refused: AtomicU64,
    /// TFTP transfers running now.
    pub tftp_active: AtomicUsize,
    /// HTTP requests answered.
    pub http_requests: AtomicU64,
    /// HTTP connections open now.
    pub http_connections: AtomicUsize,
    /// HTTP responses being written now (what a drain waits for; idle keep-alive connections
    /// are simply closed).
    pub http_inflight: AtomicUsize,
    /// HTTP connections closed for a timeout (idle, slow head, stalled reader).
    pub http_timeouts: AtomicU64,
    /// HTTP connections closed at accept because the global connection cap was reached.
    pub http_busy: AtomicU64,
    /// HTTP connections closed at accept because their address already held its cap.
    pub http_per_ip_refused: AtomicU64,
    /// HTTP connections cut because the client read slower than the minimum rate.
    pub http_slow_readers: AtomicU64,
    /// `/boot.ipxe` requests whose MAC the neighbour table did not confirm (served the menu).
    pub boot_mac_refused: AtomicU64,
    /// proxyDHCP replies sent.
    pub dhcp_answered: AtomicU64,
    /// Well-formed DHCP messages not for us (no PXE class, other server's REQUEST, …).
    pub dhcp_ignored: AtomicU64,
    /// Datagrams on a DHCP port that did not parse.
    pub dhcp_malformed: AtomicU64,
    /// Payload bytes sent, both protocols.
    pub bytes_sent: AtomicU64,
}

impl Stats {
    /// Adds one to a counter.
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Reads a counter.
    pub fn read(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// Holds one unit of a gauge of [`Stats`] while alive; owns its `Arc` so tasks can carry it.
pub struct GaugeGuard {
    stats: Arc<Stats>,
    gauge: fn(&Stats) -> &AtomicUsize,
}

impl GaugeGuard {
    /// Increments the gauge unless it is already at `cap`; `None` means the cap was reached.
    pub fn try_acquire(
        stats: &Arc<Stats>,
        gauge: fn(&Stats) -> &AtomicUsize,
        cap: usize,
    ) -> Option<GaugeGuard> {
        gauge(stats)
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < cap).then_some(n + 1)
            })
            .ok()
            .map(|_| GaugeGuard {
                stats: stats.clone(),
                gauge,
            })
    }
}

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        (self.gauge)(&self.stats).fetch_sub(1, Ordering::AcqRel);
    }
}
