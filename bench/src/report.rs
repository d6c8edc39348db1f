//! The summary every load generator prints: one line of `key=value` pairs, so a script can pick
//! fields without caring about their order, and a human can still read it.

use std::fmt::Write as _;
use std::time::Duration;

/// Bytes per MiB.
pub const MIB: f64 = 1024.0 * 1024.0;

/// Per-operation durations, summarised as percentiles.
#[derive(Debug, Default)]
pub struct Latencies(Vec<Duration>);

impl Latencies {
    /// Records one operation.
    pub fn push(&mut self, d: Duration) {
        self.0.push(d);
    }

    /// Merges another set (one per worker thread).
    pub fn extend(&mut self, other: Latencies) {
        self.0.extend(other.0);
    }

    /// The `p`-th percentile (0.0–1.0, nearest rank); zero when nothing was recorded.
    pub fn percentile(&mut self, p: f64) -> Duration {
        if self.0.is_empty() {
            return Duration::ZERO;
        }
        self.0.sort_unstable();
        let rank = ((p * self.0.len() as f64).ceil() as usize).clamp(1, self.0.len());
        self.0[rank - 1]
    }
}

/// A `key=value` line under construction.
#[derive(Debug, Default)]
pub struct Summary(String);

impl Summary {
    /// Starts a line with the generator's name.
    pub fn new(tool: &str) -> Summary {
        Summary(tool.to_owned())
    }

    /// Appends `key=value`.
    pub fn field(mut self, key: &str, value: impl std::fmt::Display) -> Summary {
        let _ = write!(self.0, " {key}={value}");
        self
    }

    /// Appends a rate per second with two decimals.
    pub fn rate(self, key: &str, amount: f64, elapsed: Duration) -> Summary {
        let per_s = amount / elapsed.as_secs_f64().max(1e-9);
        self.field(key, format!("{per_s:.2}"))
    }

    /// Appends a duration in milliseconds with two decimals.
    pub fn millis(self, key: &str, d: Duration) -> Summary {
        self.field(key, format!("{:.2}", d.as_secs_f64() * 1e3))
    }

    /// The line.
    pub fn line(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let mut l = Latencies::default();
        for ms in (1..=100).rev() {
            l.push(Duration::from_millis(ms));
        }
        assert_eq!(l.percentile(0.5), Duration::from_millis(50));
        assert_eq!(l.percentile(0.99), Duration::from_millis(99));
        assert_eq!(Latencies::default().percentile(0.5), Duration::ZERO);
    }

    #[test]
    fn summary_line() {
        let s = Summary::new("x")
            .field("ok", 3)
            .rate("per_s", 10.0, Duration::from_secs(4))
            .millis("p50_ms", Duration::from_micros(1500));
        assert_eq!(s.line(), "x ok=3 per_s=2.50 p50_ms=1.50");
    }
}
