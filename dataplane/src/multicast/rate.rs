//! The session's sending rate, adapted to its slowest listening receiver within operator
//! bounds: additive increase, multiplicative decrease, once per adjustment period, from the
//! worst loss reported during it.
//!
//! Loss is a congestion signal only above a threshold: a receiver on a lossy link (a flaky
//! cable, a random 2 % drop) loses as much at any rate, and slowing the whole session down
//! for it would buy nothing; the repair rounds serve it. A sender over the path's capacity
//! sees loss jump well past the threshold, and backs off.

use std::time::{Duration, Instant};

/// Rate bounds and reaction, in bits per second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateBounds {
    /// The rate sent at first, and never exceeded.
    pub max_bps: u64,
    /// The floor under back-offs.
    pub min_bps: u64,
    /// Loss (0–1) above which a report means "too fast". Default 5 %.
    pub loss_threshold: f32,
}

impl RateBounds {
    /// Bounds of `max_mbit` and `min_mbit` Mbit/s with the default threshold; the floor is
    /// lowered to the ceiling if above it, and both are at least 1 Mbit/s.
    pub fn mbit(max_mbit: u32, min_mbit: u32) -> RateBounds {
        let max_bps = u64::from(max_mbit.max(1)) * 1_000_000;
        RateBounds {
            max_bps,
            min_bps: (u64::from(min_mbit.max(1)) * 1_000_000).min(max_bps),
            loss_threshold: 0.05,
        }
    }
}

/// The adaptive rate.
#[derive(Debug, Clone)]
pub(crate) struct Rate {
    bounds: RateBounds,
    current: u64,
    /// Worst loss reported since the last adjustment; `None`: no news.
    worst: Option<f32>,
    next_adjust: Instant,
    period: Duration,
}

impl Rate {
    /// Starts at the ceiling; adjusts at most once per `period` (a couple of report
    /// intervals, so every receiver has had its say).
    pub(crate) fn new(bounds: RateBounds, now: Instant, period: Duration) -> Rate {
        Rate {
            bounds,
            current: bounds.max_bps,
            worst: None,
            next_adjust: now + period,
            period,
        }
    }

    /// Bits per second now.
    pub(crate) fn bps(&self) -> u64 {
        self.current
    }

    /// The threshold above which loss counts against the rate.
    pub(crate) fn loss_threshold(&self) -> f32 {
        self.bounds.loss_threshold
    }

    /// A listening receiver reported `loss`.
    pub(crate) fn observe(&mut self, loss: f32) {
        self.worst = Some(self.worst.map_or(loss, |w| w.max(loss)));
    }

    /// Adjusts once the period is over: down by a quarter on loss above the threshold, up by a
    /// sixteenth of the ceiling when the worst loss is under half of it, unchanged between
    /// (or without news).
    pub(crate) fn tick(&mut self, now: Instant) {
        if now < self.next_adjust {
            return;
        }
        self.next_adjust = now + self.period;
        let Some(worst) = self.worst.take() else {
            return;
        };
        let threshold = self.bounds.loss_threshold;
        if worst > threshold {
            self.current = (self.current / 4 * 3).max(self.bounds.min_bps);
        } else if worst <= threshold / 2.0 {
            self.current = (self.current + self.bounds.max_bps / 16).min(self.bounds.max_bps);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PERIOD: Duration = Duration::from_millis(500);

    #[test]
    fn backs_off_on_loss_down_to_the_floor_and_creeps_back_up() {
        let t = Instant::now();
        let mut rate = Rate::new(RateBounds::mbit(1000, 300), t, PERIOD);
        assert_eq!(rate.bps(), 1_000_000_000);
        let mut now = t;
        let mut seen = Vec::new();
        for _ in 0..6 {
            now += PERIOD;
            rate.observe(0.01);
            rate.observe(0.2);
            rate.tick(now);
            seen.push(rate.bps() / 1_000_000);
        }
        assert_eq!(seen, [750, 562, 421, 316, 300, 300]);
        // Clean reports: up by 1/16 of the ceiling per period, never above it.
        for _ in 0..20 {
            now += PERIOD;
            rate.observe(0.0);
            rate.tick(now);
        }
        assert_eq!(rate.bps(), 1_000_000_000);
    }

    #[test]
    fn loss_below_the_threshold_or_no_news_keeps_the_rate() {
        let t = Instant::now();
        let mut rate = Rate::new(RateBounds::mbit(1000, 10), t, PERIOD);
        rate.observe(0.2);
        rate.tick(t + PERIOD);
        let after_back_off = rate.bps();
        // A random 3 % loss: between half the threshold and the threshold, no change.
        rate.observe(0.03);
        rate.tick(t + 2 * PERIOD);
        assert_eq!(rate.bps(), after_back_off);
        // No report in a period: no change either.
        rate.tick(t + 3 * PERIOD);
        assert_eq!(rate.bps(), after_back_off);
        // Within a period, nothing moves, whatever is reported.
        rate.observe(0.9);
        rate.tick(t + 3 * PERIOD + PERIOD / 2);
        assert_eq!(rate.bps(), after_back_off);
    }

    #[test]
    fn bounds_are_sane() {
        let b = RateBounds::mbit(100, 500);
        assert_eq!((b.max_bps, b.min_bps), (100_000_000, 100_000_000));
        let b = RateBounds::mbit(0, 0);
        assert_eq!((b.max_bps, b.min_bps), (1_000_000, 1_000_000));
    }
}
