//! The progress line on stderr, about once a second.

use std::time::{Duration, Instant};

const EVERY: Duration = Duration::from_secs(1);

/// Bytes received since the last line, and when that was.
pub(crate) struct Progress {
    since: Instant,
    bytes: u64,
}

impl Progress {
    pub(crate) fn new(now: Instant) -> Progress {
        Progress {
            since: now,
            bytes: 0,
        }
    }

    /// Counts payload bytes received.
    pub(crate) fn add(&mut self, bytes: u64) {
        self.bytes += bytes;
    }

    /// The line to print, once a second at most.
    pub(crate) fn line(
        &mut self,
        now: Instant,
        done: u32,
        chunks: u32,
        loss: f32,
    ) -> Option<String> {
        let elapsed = now.saturating_duration_since(self.since);
        if elapsed < EVERY {
            return None;
        }
        let line = format!(
            "fleetboot-receive: {:3}% {done}/{chunks} chunks {:.1} Mbit/s loss {:.1}%",
            percent(done, chunks),
            mbit_per_s(self.bytes, elapsed),
            loss * 100.0
        );
        self.since = now;
        self.bytes = 0;
        Some(line)
    }
}

/// Whole percent done; an empty file is done.
fn percent(done: u32, chunks: u32) -> u64 {
    if chunks == 0 {
        100
    } else {
        u64::from(done) * 100 / u64::from(chunks)
    }
}

pub(crate) fn mbit_per_s(bytes: u64, elapsed: Duration) -> f64 {
    bytes as f64 * 8.0 / elapsed.as_secs_f64().max(1e-3) / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_a_second() {
        let start = Instant::now();
        let mut p = Progress::new(start);
        p.add(125_000_000);
        assert_eq!(p.line(start + Duration::from_millis(999), 1, 4, 0.0), None);
        assert_eq!(
            p.line(start + Duration::from_secs(2), 1, 4, 0.02)
                .as_deref(),
            Some("fleetboot-receive:  25% 1/4 chunks 500.0 Mbit/s loss 2.0%")
        );
        assert_eq!(percent(0, 0), 100);
    }
}
