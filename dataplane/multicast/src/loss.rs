//! A receiver's loss estimate, from gaps in the sender's datagram `sequence`.
//!
//! The sequence wraps; a datagram behind the highest seen (reordered, or a duplicate) counts
//! as received without moving the window, and one that jumps more than half the sequence
//! space ahead is taken as old rather than as two billion losses.

/// Counts datagrams received against datagrams sent since the last [`LossMeter::take`].
#[derive(Clone, Debug, Default)]
pub struct LossMeter {
    /// Highest sequence seen; `None` before the first datagram.
    highest: Option<u32>,
    /// Sequence numbers the window spans (the sender's datagrams since the window opened).
    expected: u64,
    /// Datagrams received in the window.
    received: u64,
}

impl LossMeter {
    /// A meter that has seen nothing.
    pub fn new() -> LossMeter {
        LossMeter::default()
    }

    /// Counts one datagram of the session.
    pub fn record(&mut self, sequence: u32) {
        self.received += 1;
        match self.highest {
            None => {
                self.highest = Some(sequence);
                self.expected += 1;
            }
            Some(highest) => {
                let ahead = sequence.wrapping_sub(highest);
                if ahead != 0 && ahead < 1 << 31 {
                    self.highest = Some(sequence);
                    self.expected += u64::from(ahead);
                }
            }
        }
    }

    /// The highest sequence seen so far, across windows.
    pub fn highest(&self) -> Option<u32> {
        self.highest
    }

    /// The fraction lost (0.0–1.0) since the previous call, and a fresh window.
    pub fn take(&mut self) -> f32 {
        let lost = self.expected.saturating_sub(self.received);
        let loss = if self.expected == 0 {
            0.0
        } else {
            lost as f32 / self.expected as f32
        };
        self.expected = 0;
        self.received = 0;
        loss.clamp(0.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_are_losses() {
        let mut m = LossMeter::new();
        for s in (100..200).filter(|s| s % 10 != 0) {
            m.record(s);
        }
        // 101..=199: 99 sent, 9 of them (110, 120, …, 190) lost.
        assert!((m.take() - 9.0 / 99.0).abs() < 1e-6);
        assert_eq!(m.take(), 0.0, "an empty window lost nothing");
        m.record(202);
        m.record(203);
        assert!((m.take() - 2.0 / 4.0).abs() < 1e-6, "200 and 201 lost");
    }

    #[test]
    fn wrapping_reordering_and_duplicates_are_not_losses() {
        let mut m = LossMeter::new();
        for s in [u32::MAX - 1, u32::MAX, 1, 0, 2, 2, 3] {
            m.record(s);
        }
        assert_eq!(m.take(), 0.0);
        m.record(3u32.wrapping_sub(1 << 31));
        assert_eq!(m.take(), 0.0, "a datagram from long ago");
    }
}
