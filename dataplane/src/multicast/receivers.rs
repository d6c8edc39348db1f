//! The receivers of one session as their reports describe them: who is there, what each still
//! misses, how much each loses. Pure bookkeeping: no clock of its own, no I/O.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use multicast::{Geometry, Need, Report, Verdict};

/// Most receivers one session tracks: a name is the receiver's choice, so a peer inventing
/// names must not grow the table without bound. Far above a rack or a room of machines.
pub const MAX_RECEIVERS: usize = 4096;
/// Longest `message` kept from a report, in bytes.
const MAX_MESSAGE: usize = 256;

/// One receiver, as of its last report.
#[derive(Debug, Clone)]
pub(crate) struct Receiver {
    pub(crate) address: IpAddr,
    pub(crate) chunks_done: u32,
    pub(crate) needs: Vec<Need>,
    pub(crate) loss: f32,
    pub(crate) verdict: Verdict,
    pub(crate) message: Option<String>,
    /// Told to fetch by HTTP instead of waiting for the group.
    pub(crate) unicast: bool,
    pub(crate) last_report: Instant,
    /// The highest datagram sequence it had read when it reported (`None`: it does not say).
    pub(crate) seen: Option<u32>,
    /// Consecutive reports with more loss than the session tolerates.
    pub(crate) strikes: u8,
    /// Repair rounds this receiver still had needs in.
    pub(crate) repair_rounds: u32,
}

impl Receiver {
    /// Done or failed: nothing more to send it.
    pub(crate) fn settled(&self) -> bool {
        matches!(self.verdict, Verdict::Done | Verdict::Failed)
    }

    /// Still waiting for the group: its needs and its loss shape what is sent and how fast.
    pub(crate) fn listening(&self) -> bool {
        !self.settled() && !self.unicast
    }

    /// Its last report was made after `end` and after it read the datagrams sent before it:
    /// a receiver working through a backlog still lists what sits unread in its socket.
    pub(crate) fn reported_after(&self, end: RoundEnd) -> bool {
        self.last_report >= end.at
            && self
                .seen
                .is_none_or(|seen| seen.wrapping_sub(end.sequence) < 1 << 31)
    }
}

/// The end of a round, as a report must postdate it to count for the next one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RoundEnd {
    /// Reports made sooner may predate the round's last datagrams' arrival.
    pub(crate) at: Instant,
    /// The sequence of the first datagram after the round (wrapping).
    pub(crate) sequence: u32,
}

/// Why a report was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportError {
    /// The report contradicts the session (`Report::validate`'s reason).
    Invalid(String),
    /// [`MAX_RECEIVERS`] receivers are already known.
    Full,
}

impl std::fmt::Display for ReportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReportError::Invalid(why) => write!(f, "invalid report: {why}"),
            ReportError::Full => write!(f, "too many receivers in this session"),
        }
    }
}

impl std::error::Error for ReportError {}

/// The table, by receiver name.
#[derive(Debug, Default)]
pub(crate) struct Receivers {
    by_name: BTreeMap<String, Receiver>,
}

impl Receivers {
    /// Records `report` from `address`, after checking it against `geometry`: needs are
    /// clipped to each chunk's source symbols, so no report can ask for more than a chunk.
    pub(crate) fn record(
        &mut self,
        now: Instant,
        address: IpAddr,
        report: &Report,
        geometry: &Geometry,
    ) -> Result<&mut Receiver, ReportError> {
        let chunks = geometry.chunks();
        report.validate(chunks).map_err(ReportError::Invalid)?;
        if report.chunks_done > chunks {
            return Err(ReportError::Invalid(format!(
                "chunks_done {} above the session's {chunks} chunks",
                report.chunks_done
            )));
        }
        if !self.by_name.contains_key(&report.receiver) && self.by_name.len() >= MAX_RECEIVERS {
            return Err(ReportError::Full);
        }
        let needs = report
            .needs
            .iter()
            .filter(|n| n.symbols > 0)
            .map(|n| Need {
                symbols: n.symbols.min(geometry.chunk_symbols),
                ..*n
            })
            .collect();
        let message = report.message.as_ref().map(|m| {
            let mut end = m.len().min(MAX_MESSAGE);
            while !m.is_char_boundary(end) {
                end -= 1;
            }
            m[..end].to_owned()
        });
        let receiver = self
            .by_name
            .entry(report.receiver.clone())
            .or_insert_with(|| Receiver {
                address,
                chunks_done: 0,
                needs: Vec::new(),
                loss: 0.0,
                verdict: Verdict::Receiving,
                message: None,
                unicast: false,
                last_report: now,
                seen: None,
                strikes: 0,
                repair_rounds: 0,
            });
        receiver.address = address;
        receiver.chunks_done = report.chunks_done;
        receiver.needs = needs;
        receiver.loss = report.loss;
        receiver.verdict = report.verdict;
        if report.verdict == Verdict::Fetching {
            receiver.unicast = true;
        }
        receiver.message = message;
        receiver.last_report = now;
        receiver.seen = report.seen;
        Ok(receiver)
    }

    /// Forgets receivers still receiving that have not reported for `silence`: a machine that
    /// crashed or was unplugged must not hold the session open. Settled receivers are kept:
    /// they count towards `min_receivers` and show in the status.
    pub(crate) fn forget_silent(&mut self, now: Instant, silence: Duration) {
        self.by_name
            .retain(|_, r| r.settled() || now.saturating_duration_since(r.last_report) < silence);
    }

    /// The receiver called `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&Receiver> {
        self.by_name.get(name)
    }

    /// The receiver called `name`, mutable.
    pub(crate) fn get_mut(&mut self, name: &str) -> Option<&mut Receiver> {
        self.by_name.get_mut(name)
    }

    /// Every receiver, by name.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&String, &Receiver)> {
        self.by_name.iter()
    }

    /// Every receiver, mutable.
    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = &mut Receiver> {
        self.by_name.values_mut()
    }

    /// Receivers known.
    pub(crate) fn len(&self) -> usize {
        self.by_name.len()
    }

    /// Receivers done or failed.
    pub(crate) fn settled(&self) -> usize {
        self.by_name.values().filter(|r| r.settled()).count()
    }

    /// Receivers still waiting for the group.
    pub(crate) fn listening(&self) -> impl Iterator<Item = &Receiver> {
        self.by_name.values().filter(|r| r.listening())
    }

    /// The worst loss (0–1) the listening receivers reported last.
    pub(crate) fn worst_loss(&self) -> f32 {
        self.listening().map(|r| r.loss).fold(0.0, f32::max)
    }

    /// Per chunk, the most symbols any listening receiver that reported after `end` still
    /// misses (older reports predate what was sent since, and would ask for it again).
    pub(crate) fn needs(&self, chunks: u32, end: RoundEnd) -> Vec<u16> {
        let mut most = vec![0u16; chunks as usize];
        for r in self.listening().filter(|r| r.reported_after(end)) {
            for n in &r.needs {
                for slot in &mut most[n.first as usize..=n.last as usize] {
                    *slot = (*slot).max(n.symbols);
                }
            }
        }
        most
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geometry() -> Geometry {
        Geometry {
            size: 10 * 64 * 8 - 3,
            symbol_size: 8,
            chunk_symbols: 64,
        }
    }

    fn report(name: &str, needs: &[(u32, u32, u16)]) -> Report {
        Report {
            receiver: name.into(),
            chunks_done: 0,
            needs: needs
                .iter()
                .map(|&(first, last, symbols)| Need {
                    first,
                    last,
                    symbols,
                })
                .collect(),
            loss: 0.0,
            seen: None,
            verdict: Verdict::Receiving,
            message: None,
        }
    }

    const HOST: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 7));

    #[test]
    fn needs_take_the_neediest_receiver_per_chunk_and_are_clipped_to_a_chunk() {
        let g = geometry();
        let t = Instant::now();
        let mut table = Receivers::default();
        table
            .record(t, HOST, &report("a", &[(0, 3, 5)]), &g)
            .unwrap();
        table
            .record(t, HOST, &report("b", &[(2, 2, 9), (9, 9, 60000)]), &g)
            .unwrap();
        let end = RoundEnd { at: t, sequence: 0 };
        let needs = table.needs(g.chunks(), end);
        assert_eq!(needs, [5, 5, 9, 5, 0, 0, 0, 0, 0, 64]);
        // Reports older than the round are not counted.
        let later = RoundEnd {
            at: t + Duration::from_millis(1),
            ..end
        };
        assert_eq!(table.needs(g.chunks(), later), [0; 10]);
    }

    #[test]
    fn a_report_counts_once_its_receiver_read_past_the_round_wrapping_included() {
        let g = geometry();
        let t = Instant::now();
        let mut table = Receivers::default();
        let seen = |seen| Report {
            seen: Some(seen),
            ..report("a", &[(1, 1, 3)])
        };
        let end = RoundEnd {
            at: t,
            sequence: u32::MAX - 1,
        };
        for (read, counts) in [
            (u32::MAX - 2, false),
            (u32::MAX - 1, true),
            (5, true),
            (1 << 31, false),
        ] {
            table.record(t, HOST, &seen(read), &g).unwrap();
            assert_eq!(table.needs(g.chunks(), end)[1] == 3, counts, "{read}");
        }
        // A receiver that does not say what it read is judged by the time alone.
        table
            .record(t, HOST, &report("a", &[(1, 1, 3)]), &g)
            .unwrap();
        assert_eq!(table.needs(g.chunks(), end)[1], 3);
    }

    #[test]
    fn hostile_reports_are_refused_whole() {
        let g = geometry();
        let t = Instant::now();
        let mut table = Receivers::default();
        let bad = [
            report("", &[]),
            report(&"x".repeat(129), &[]),
            report("a", &[(3, 2, 1)]),
            report("a", &[(0, 10, 1)]),
            Report {
                loss: f32::NAN,
                ..report("a", &[])
            },
            Report {
                chunks_done: 11,
                ..report("a", &[])
            },
        ];
        for r in bad {
            assert!(
                matches!(table.record(t, HOST, &r, &g), Err(ReportError::Invalid(_))),
                "{r:?}"
            );
        }
        assert_eq!(table.len(), 0);
        let long = Report {
            message: Some("é".repeat(200)),
            ..report("a", &[])
        };
        let kept = table.record(t, HOST, &long, &g).unwrap();
        assert!(kept.message.as_ref().unwrap().len() <= MAX_MESSAGE);
    }

    #[test]
    fn a_receiver_fetching_over_http_is_no_longer_waited_for() {
        let g = geometry();
        let t = Instant::now();
        let mut table = Receivers::default();
        table
            .record(t, HOST, &report("deaf", &[(0, 9, 64)]), &g)
            .unwrap();
        assert_eq!(table.listening().count(), 1);
        let fetching = Report {
            verdict: Verdict::Fetching,
            ..report("deaf", &[])
        };
        table.record(t, HOST, &fetching, &g).unwrap();
        assert_eq!(table.listening().count(), 0);
        assert!(table.get("deaf").unwrap().unicast);
        assert_eq!(table.settled(), 0, "not done yet");
        let done = Report {
            verdict: Verdict::Done,
            ..report("deaf", &[])
        };
        table.record(t, HOST, &done, &g).unwrap();
        assert_eq!(table.settled(), 1);
    }

    #[test]
    fn the_table_is_bounded_and_silent_receivers_are_forgotten() {
        let g = geometry();
        let t = Instant::now();
        let mut table = Receivers::default();
        for i in 0..MAX_RECEIVERS {
            table
                .record(t, HOST, &report(&i.to_string(), &[]), &g)
                .unwrap();
        }
        let one_more = table.record(t, HOST, &report("late", &[]), &g);
        assert_eq!(one_more.err(), Some(ReportError::Full));
        // A known receiver still reports.
        assert!(table.record(t, HOST, &report("7", &[]), &g).is_ok());
        let done = Report {
            verdict: Verdict::Done,
            ..report("0", &[])
        };
        table.record(t, HOST, &done, &g).unwrap();
        let later = t + Duration::from_secs(1);
        table.record(later, HOST, &report("1", &[]), &g).unwrap();
        table.forget_silent(later + Duration::from_millis(500), Duration::from_secs(1));
        let left: Vec<&String> = table.iter().map(|(n, _)| n).collect();
        assert_eq!(left, ["0", "1"]);
        assert_eq!(table.settled(), 1);
    }
}
