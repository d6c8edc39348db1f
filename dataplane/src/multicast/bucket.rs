//! Token-bucket pacing: the sender may put `rate` bits per second on the wire, in bursts no
//! larger than the bucket. Pure: the caller sleeps until the time it is given.

use std::time::{Duration, Instant};

/// The bucket.
#[derive(Debug, Clone)]
pub(crate) struct Bucket {
    /// Bytes per second.
    rate: f64,
    /// Most bytes that may leave at once.
    depth: f64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    /// A full bucket of `depth` bytes filling at `bps` bits per second.
    pub(crate) fn new(bps: u64, depth: usize, now: Instant) -> Bucket {
        Bucket {
            rate: bps as f64 / 8.0,
            depth: depth as f64,
            tokens: depth as f64,
            last: now,
        }
    }

    /// Changes the fill rate from now on.
    pub(crate) fn set_rate(&mut self, bps: u64, now: Instant) {
        self.refill(now);
        self.rate = (bps as f64 / 8.0).max(1.0);
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.depth);
        self.last = now;
    }

    /// Takes `bytes` and returns `None` when they may leave now; else takes nothing and
    /// returns when they may. A burst larger than the bucket waits for a full bucket and then
    /// goes, leaving the bucket in debt, so the average rate holds.
    pub(crate) fn take(&mut self, bytes: usize, now: Instant) -> Option<Instant> {
        self.refill(now);
        let want = (bytes as f64).min(self.depth);
        if self.tokens >= want {
            self.tokens -= bytes as f64;
            return None;
        }
        let wait = (want - self.tokens) / self.rate;
        Some(now + Duration::from_secs_f64(wait))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_the_rate_over_many_bursts() {
        let t = Instant::now();
        // 8 Mbit/s = 1 MB/s, bursts of 10 kB, bucket of two bursts.
        let mut bucket = Bucket::new(8_000_000, 20_000, t);
        let mut now = t;
        let mut sent = 0usize;
        while sent < 1_000_000 {
            match bucket.take(10_000, now) {
                None => sent += 10_000,
                Some(at) => {
                    assert!(at > now);
                    now = at;
                }
            }
        }
        // 1 MB at 1 MB/s, less the full bucket at the start.
        let took = now.duration_since(t).as_secs_f64();
        assert!((0.97..=0.99).contains(&took), "{took}");
    }

    #[test]
    fn a_new_rate_applies_from_now_and_oversized_bursts_still_go() {
        let t = Instant::now();
        let mut bucket = Bucket::new(8_000, 100, t);
        assert_eq!(bucket.take(100, t), None);
        bucket.set_rate(80_000, t);
        // 10 kB/s: 100 bytes in 10 ms.
        let at = bucket.take(100, t).unwrap();
        assert_eq!(at.duration_since(t), Duration::from_millis(10));
        // Larger than the bucket: goes once the bucket is full, in debt after.
        let later = t + Duration::from_millis(10);
        assert_eq!(bucket.take(1000, later), None);
        let next = bucket.take(100, later).unwrap();
        assert_eq!(next.duration_since(later), Duration::from_millis(100));
    }
}
