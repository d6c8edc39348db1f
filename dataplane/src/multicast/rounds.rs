//! Repair rounds: what to send for the needs receivers reported after a round. Per chunk, the
//! neediest receiver decides: missing half the chunk or more, its source symbols go again
//! (cheap: straight from the mapping, no encoding); else that many *fresh* repair symbols
//! plus a margin for the loss still to come. Fresh, because a repair symbol sent twice is
//! useless to everyone who got it the first time: each chunk keeps a counter of the repair
//! symbols it has sent, and the next ones start after it.
//!
//! Repair also rides along with the first round: once a listening receiver reports loss,
//! every chunk's source symbols are followed by enough fresh repair symbols to cover that loss
//! with room to spare ([`Rounds::proactive`]), so a receiver on a randomly lossy link decodes
//! as the round goes instead of waiting for rounds after it, and the others ignore the extra
//! symbols of chunks they already hold.

use std::collections::VecDeque;

use multicast::Geometry;

/// Repair symbols added to every chunk's need whatever the loss: RaptorQ decodes from `k`
/// symbols with probability ≈ 99 %, from `k + 2` with ≈ 99.99 %.
const MARGIN: u32 = 2;

/// Loss above which proactive repair stops growing: beyond it the rate backs off or the
/// receiver is dropped to HTTP, and repair rounds cover the rest.
const MAX_PROACTIVE_LOSS: f32 = 0.25;
/// Loss under which no proactive repair is sent (a dropped datagram now and then).
const MIN_PROACTIVE_LOSS: f32 = 0.001;

/// One piece of work of a round, sent in bursts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Job {
    /// Source symbols `esis` of `chunk`.
    Source {
        /// The chunk.
        chunk: u32,
        /// Next source symbol to send.
        next: u32,
        /// One past the last.
        end: u32,
    },
    /// Repair symbols `first..first + count` of `chunk` (repair numbers, not ESIs).
    Repair {
        /// The chunk.
        chunk: u32,
        /// Next repair number to send.
        first: u32,
        /// How many are left.
        count: u32,
    },
}

/// The per-chunk repair counters of a session.
#[derive(Debug, Clone)]
pub(crate) struct Rounds {
    next_repair: Vec<u32>,
}

impl Rounds {
    /// Counters at zero for every chunk of `geometry`.
    pub(crate) fn new(geometry: &Geometry) -> Rounds {
        Rounds {
            next_repair: vec![0; geometry.chunks() as usize],
        }
    }

    /// The jobs of one repair round for `needs` (per chunk, the neediest receiver's missing
    /// symbols), in chunk order, with `loss` (0–1) the worst loss the listening receivers
    /// report: repair symbols are lost too, so the margin grows with it.
    pub(crate) fn plan(&mut self, needs: &[u16], geometry: &Geometry, loss: f32) -> VecDeque<Job> {
        let loss = loss.clamp(0.0, 0.5);
        let mut jobs = VecDeque::new();
        for (chunk, (&need, next)) in needs.iter().zip(&mut self.next_repair).enumerate() {
            if need == 0 {
                continue;
            }
            let chunk = chunk as u32;
            let k = u32::from(geometry.source_symbols(chunk));
            let need = u32::from(need).min(k);
            if 2 * need >= k {
                jobs.push_back(Job::Source {
                    chunk,
                    next: 0,
                    end: k,
                });
                continue;
            }
            let count = need + MARGIN + (need as f32 * loss).ceil() as u32;
            jobs.push_back(Job::Repair {
                chunk,
                first: *next,
                count,
            });
            *next = next.saturating_add(count);
        }
        jobs
    }

    /// Fresh repair symbols to send right after `chunk`'s source symbols in the first round,
    /// for a worst reported `loss` (0–1): the expected loss plus three standard deviations
    /// (a Poisson count's) plus [`MARGIN`], so a receiver losing `loss` at random decodes the
    /// chunk from one pass with probability ≈ 99.9 %. `None` without loss worth covering.
    pub(crate) fn proactive(&mut self, chunk: u32, geometry: &Geometry, loss: f32) -> Option<Job> {
        if loss.is_nan() || loss < MIN_PROACTIVE_LOSS {
            return None;
        }
        let k = f32::from(geometry.source_symbols(chunk));
        let expected = k * loss.min(MAX_PROACTIVE_LOSS);
        let count = (expected + 3.0 * expected.sqrt()).ceil() as u32 + MARGIN;
        let next = self.next_repair.get_mut(chunk as usize)?;
        let job = Job::Repair {
            chunk,
            first: *next,
            count,
        };
        *next = next.saturating_add(count);
        Some(job)
    }
}

impl Job {
    /// Takes up to `burst` symbols off the front of this job: what to send now, and what is
    /// left of the job (`None` when this was the last of it).
    pub(crate) fn split(self, burst: u32) -> (Job, Option<Job>) {
        let burst = burst.max(1);
        match self {
            Job::Source { chunk, next, end } => {
                let stop = end.min(next.saturating_add(burst));
                let now = Job::Source {
                    chunk,
                    next,
                    end: stop,
                };
                let rest = (stop < end).then_some(Job::Source {
                    chunk,
                    next: stop,
                    end,
                });
                (now, rest)
            }
            Job::Repair {
                chunk,
                first,
                count,
            } => {
                let take = count.min(burst);
                let now = Job::Repair {
                    chunk,
                    first,
                    count: take,
                };
                let rest = (take < count).then_some(Job::Repair {
                    chunk,
                    first: first + take,
                    count: count - take,
                });
                (now, rest)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geometry() -> Geometry {
        // Four chunks of 100 symbols and a last one of 10.
        Geometry {
            size: 4 * 100 * 8 + 10 * 8 - 5,
            symbol_size: 8,
            chunk_symbols: 100,
        }
    }

    #[test]
    fn half_a_chunk_or_more_resends_its_source_else_fresh_repairs_with_a_margin() {
        let g = geometry();
        let mut rounds = Rounds::new(&g);
        let jobs = rounds.plan(&[0, 50, 49, 3, 5], &g, 0.0);
        assert_eq!(
            Vec::from(jobs),
            [
                Job::Source {
                    chunk: 1,
                    next: 0,
                    end: 100
                },
                Job::Repair {
                    chunk: 2,
                    first: 0,
                    count: 51
                },
                Job::Repair {
                    chunk: 3,
                    first: 0,
                    count: 5
                },
                // 5 of the last chunk's 10 symbols is half: its source again.
                Job::Source {
                    chunk: 4,
                    next: 0,
                    end: 10
                },
            ]
        );
    }

    #[test]
    fn repairs_never_repeat_and_the_margin_grows_with_loss() {
        let g = geometry();
        let mut rounds = Rounds::new(&g);
        let first = rounds.plan(&[10, 0, 0, 0, 0], &g, 0.0);
        let second = rounds.plan(&[10, 0, 0, 0, 0], &g, 0.1);
        assert_eq!(
            first[0],
            Job::Repair {
                chunk: 0,
                first: 0,
                count: 12
            }
        );
        assert_eq!(
            second[0],
            Job::Repair {
                chunk: 0,
                first: 12,
                count: 13
            }
        );
        // A source resend does not move the counter.
        rounds.plan(&[80, 0, 0, 0, 0], &g, 0.0);
        let third = rounds.plan(&[1, 0, 0, 0, 0], &g, 0.0);
        assert_eq!(
            third[0],
            Job::Repair {
                chunk: 0,
                first: 25,
                count: 3
            }
        );
    }

    #[test]
    fn proactive_repair_covers_the_loss_with_room_and_shares_the_counter() {
        let g = geometry();
        let mut rounds = Rounds::new(&g);
        assert_eq!(rounds.proactive(0, &g, 0.0), None);
        assert_eq!(rounds.proactive(0, &g, f32::NAN), None);
        // 2 % of 100: 2 expected, + 3 × √2 → 7 (ceil of 6.24), + 2.
        assert_eq!(
            rounds.proactive(0, &g, 0.02),
            Some(Job::Repair {
                chunk: 0,
                first: 0,
                count: 9
            })
        );
        // A later round starts after them; loss is capped.
        assert_eq!(
            rounds.plan(&[1, 0, 0, 0, 0], &g, 0.0)[0],
            Job::Repair {
                chunk: 0,
                first: 9,
                count: 3
            }
        );
        let capped = rounds.proactive(1, &g, 0.9);
        assert_eq!(
            capped,
            rounds.proactive(2, &g, 0.25).map(|j| match j {
                Job::Repair { count, .. } => Job::Repair {
                    chunk: 1,
                    first: 0,
                    count
                },
                other => other,
            })
        );
        assert_eq!(rounds.proactive(99, &g, 0.1), None);
    }

    #[test]
    fn jobs_split_into_bursts() {
        let job = Job::Source {
            chunk: 7,
            next: 0,
            end: 100,
        };
        let (now, rest) = job.split(64);
        assert_eq!(
            now,
            Job::Source {
                chunk: 7,
                next: 0,
                end: 64
            }
        );
        let (now, rest) = rest.unwrap().split(64);
        assert_eq!(
            now,
            Job::Source {
                chunk: 7,
                next: 64,
                end: 100
            }
        );
        assert_eq!(rest, None);
        let (now, rest) = Job::Repair {
            chunk: 1,
            first: 10,
            count: 70,
        }
        .split(64);
        assert_eq!(
            (now, rest),
            (
                Job::Repair {
                    chunk: 1,
                    first: 10,
                    count: 64
                },
                Some(Job::Repair {
                    chunk: 1,
                    first: 74,
                    count: 6
                })
            )
        );
    }
}
