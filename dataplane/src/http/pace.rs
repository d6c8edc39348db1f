//! The pace a response must keep: the client must acknowledge at least `min_rate` bytes per
//! second, measured over each window of `window`, and no single write may wait longer than the
//! stall timeout. A pure machine: the connection samples the bytes the peer acknowledged and
//! passes them in with the time.

use std::time::{Duration, Instant};

/// What the connection should do after a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Keep writing.
    Continue,
    /// The client read less than the minimum rate over the last window.
    TooSlow,
    /// Nothing was written nor acknowledged for the stall timeout.
    Stalled,
}

/// Pace of one response.
#[derive(Debug, Clone)]
pub struct Pace {
    min_rate: u64,
    window: Duration,
    stall: Duration,
    window_start: Instant,
    /// Acknowledged bytes when the window started (`None`: unknown).
    acked_at_window: Option<u64>,
    /// Acknowledged bytes at the last sample.
    acked_last: Option<u64>,
    /// Last time a write completed or the acknowledged count grew.
    progress_at: Instant,
}

impl Pace {
    /// Starts measuring at `now`, when the peer had acknowledged `acked` bytes (`None`: the
    /// kernel cannot tell). A `min_rate` of 0 checks stalls only.
    pub fn new(
        min_rate: u64,
        window: Duration,
        stall: Duration,
        now: Instant,
        acked: Option<u64>,
    ) -> Pace {
        Pace {
            min_rate,
            window: window.max(Duration::from_millis(1)),
            stall,
            window_start: now,
            acked_at_window: acked,
            acked_last: acked,
            progress_at: now,
        }
    }

    /// A write completed at `now`: progress.
    pub fn on_write(&mut self, now: Instant) {
        self.progress_at = now;
    }

    /// When [`Pace::check`] must be called next.
    pub fn deadline(&self) -> Instant {
        let stall = self.progress_at + self.stall;
        if self.min_rate == 0 {
            return stall;
        }
        stall.min(self.window_start + self.window)
    }

    /// The deadline came: `acked` is the peer's acknowledged byte count now (`None`: unknown,
    /// so the window passes). Judges stalls, and closes a window that has run its length.
    pub fn check(&mut self, now: Instant, acked: Option<u64>) -> Verdict {
        if let Some(a) = acked {
            if self.acked_last.is_none_or(|last| a > last) {
                self.progress_at = now;
            }
            self.acked_last = Some(a);
        }
        if now >= self.progress_at + self.stall {
            return Verdict::Stalled;
        }
        let elapsed = now.saturating_duration_since(self.window_start);
        if self.min_rate == 0 || elapsed < self.window {
            return Verdict::Continue;
        }
        if let (Some(a), Some(base)) = (acked, self.acked_at_window) {
            let read = u128::from(a.saturating_sub(base));
            let owed = u128::from(self.min_rate) * elapsed.as_millis() / 1000;
            if read < owed {
                return Verdict::TooSlow;
            }
        }
        self.window_start = now;
        self.acked_at_window = acked;
        Verdict::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn a_reader_below_the_floor_is_cut_at_the_window_end() {
        let t0 = Instant::now();
        let mut p = Pace::new(1000, 10 * S, 60 * S, t0, Some(5_000));
        assert_eq!(p.deadline(), t0 + 10 * S);
        assert_eq!(
            p.check(t0 + 5 * S, Some(5_100)),
            Verdict::Continue,
            "window not over"
        );
        // 10 s at 1000 B/s owe 10,000 bytes; 9,999 were read.
        assert_eq!(p.check(t0 + 10 * S, Some(14_999)), Verdict::TooSlow);
    }

    #[test]
    fn each_window_is_judged_on_its_own() {
        let t0 = Instant::now();
        let mut p = Pace::new(1000, 10 * S, 60 * S, t0, Some(0));
        // A fast first window does not pay for a slow second one.
        assert_eq!(p.check(t0 + 10 * S, Some(4_000_000)), Verdict::Continue);
        assert_eq!(p.deadline(), t0 + 20 * S);
        assert_eq!(p.check(t0 + 20 * S, Some(4_000_500)), Verdict::TooSlow);
        let mut q = Pace::new(1000, 10 * S, 60 * S, t0, Some(0));
        assert_eq!(q.check(t0 + 10 * S, Some(10_000)), Verdict::Continue);
        assert_eq!(q.check(t0 + 20 * S, Some(20_000)), Verdict::Continue);
        // Unknown progress lets a window pass; the next one is judged from what is known.
        assert_eq!(q.check(t0 + 30 * S, None), Verdict::Continue);
        assert_eq!(q.check(t0 + 40 * S, Some(29_999)), Verdict::Continue);
        assert_eq!(q.check(t0 + 50 * S, Some(30_000)), Verdict::TooSlow);
    }

    #[test]
    fn a_stall_is_time_without_a_write_or_an_acknowledged_byte() {
        let t0 = Instant::now();
        let mut p = Pace::new(0, 10 * S, 15 * S, t0, Some(0));
        assert_eq!(p.deadline(), t0 + 15 * S);
        assert_eq!(p.check(t0 + 12 * S, Some(0)), Verdict::Continue);
        p.on_write(t0 + 12 * S);
        assert_eq!(p.deadline(), t0 + 27 * S);
        // The client read a little: progress, though no write completed.
        assert_eq!(p.check(t0 + 27 * S, Some(10)), Verdict::Continue);
        assert_eq!(p.deadline(), t0 + 42 * S);
        assert_eq!(p.check(t0 + 42 * S, Some(10)), Verdict::Stalled);
    }
}
