//! One session's state machine, without I/O (smoltcp's style: reports go in through
//! [`Machine::report`], what to send comes out of [`Machine::next`], both given the time).
//!
//! ```text
//!  Waiting ──(min_receivers reported, or max_wait)──▶ first round: every chunk's source
//!     │ Idle ~1/s                                       symbols, in order, each chunk's
//!     │                                                 followed by proactive repair once
//!     │                                                 receivers report loss (rounds.rs)
//!     │                                                     │
//!     │            ┌──────────── Collect ◀──────────────────┘
//!     │            │  Idle ~1/s; waits for every listening receiver's report made after
//!     │            │  it read the round to its end (its `seen` sequence), or two report
//!     │            │  intervals, then plans a repair round
//!     │            ▼                                        ▲
//!     │         repair round (rounds.rs) ───────────────────┘
//!     ▼
//!  any time sending: nobody left listening (and enough done, or the first round over)
//!     ──▶ Ending: End ×3 ──▶ Over.  cancel() ──▶ Ending from anywhere.
//! ```

use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use multicast::{Geometry, Report, ReportAnswer, SessionState};

use super::rate::{Rate, RateBounds};
use super::receivers::{Receiver, Receivers, ReportError, RoundEnd};
use super::rounds::{Job, Rounds};

/// How often `Idle` datagrams tell waiting receivers the sender is alive.
const IDLE_EVERY: Duration = Duration::from_secs(1);
/// `End` datagrams sent at the end (datagrams get lost), this far apart.
const END_COUNT: u8 = 3;
const END_GAP: Duration = Duration::from_millis(100);
/// Reports made this soon after a round's last datagram may predate its arrival.
const SETTLE: Duration = Duration::from_millis(100);
/// A receiver still receiving is forgotten after this much silence (at least; see
/// [`Machine::new`]).
const FORGET_AFTER: Duration = Duration::from_secs(5);
/// Consecutive lossy reports after which the `unicast` policy drops a receiver.
const STRIKES: u8 = 3;
/// Repair rounds a receiver may need under the `unicast` policy before it is dropped.
const MAX_LAG_ROUNDS: u32 = 4;

/// What to do with receivers that hold the session back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SlowPolicy {
    /// Slow down to the slowest receiver (down to the rate's floor) and wait for everyone.
    #[default]
    Wait,
    /// Tell a receiver that keeps losing more than the others, or still misses data after
    /// several repair rounds, to fetch what it misses by HTTP (`ReportAnswer.unicast`).
    Unicast,
}

impl std::str::FromStr for SlowPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "wait" => Ok(SlowPolicy::Wait),
            "unicast" => Ok(SlowPolicy::Unicast),
            other => Err(format!(
                "unknown slow-receiver policy {other:?} (wait, unicast)"
            )),
        }
    }
}

impl std::fmt::Display for SlowPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SlowPolicy::Wait => "wait",
            SlowPolicy::Unicast => "unicast",
        })
    }
}

/// How a session behaves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Params {
    /// Receivers to wait for before the first symbol (0: start at once).
    pub min_receivers: u32,
    /// Longest wait for them.
    pub max_wait: Duration,
    /// What to do with slow receivers.
    pub slow: SlowPolicy,
    /// Rate bounds.
    pub rate: RateBounds,
    /// How often receivers report.
    pub report_interval: Duration,
    /// Most symbols in one step (one GSO batch).
    pub burst: u32,
}

/// What the sender does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Send source symbols `first..first + count` of `chunk`.
    Source {
        /// The chunk.
        chunk: u32,
        /// First ESI.
        first: u32,
        /// How many.
        count: u32,
    },
    /// Send repair symbols `first..first + count` (repair numbers) of `chunk`.
    Repair {
        /// The chunk.
        chunk: u32,
        /// First repair number.
        first: u32,
        /// How many.
        count: u32,
    },
    /// Send one `Idle` datagram.
    Idle,
    /// Send one `End` datagram.
    End,
    /// Nothing to send before this time (or a report).
    Wait(Instant),
    /// The session is over: nothing more will be sent.
    Over,
}

impl Step {
    /// Datagrams this step sends.
    fn datagrams(&self) -> u32 {
        match *self {
            Step::Source { count, .. } | Step::Repair { count, .. } => count,
            Step::Idle | Step::End => 1,
            Step::Wait(_) | Step::Over => 0,
        }
    }
}

#[derive(Debug)]
enum State {
    Waiting {
        until: Instant,
    },
    /// Round 1: `job` is the rest of the chunk being sent, `fec` the proactive repair to
    /// follow it, `next` the chunk after it.
    First {
        next: u32,
        job: Option<Job>,
        fec: Option<Job>,
    },
    Collect {
        end: RoundEnd,
        deadline: Instant,
    },
    Repair {
        jobs: VecDeque<Job>,
    },
    Ending {
        left: u8,
        at: Instant,
        outcome: SessionState,
    },
    Over(SessionState),
}

/// The state machine (see the module docs).
#[derive(Debug)]
pub struct Machine {
    geometry: Geometry,
    params: Params,
    state: State,
    receivers: Receivers,
    rate: Rate,
    rounds: Rounds,
    next_idle: Instant,
    /// The sequence the next datagram carries: the sender numbers the datagrams of the
    /// steps from 0, in order.
    sequence: u32,
    first_round_done: bool,
    repair_rounds: u32,
    forget_after: Duration,
}

impl Machine {
    /// A session of `geometry`, announced at `now`.
    pub fn new(geometry: Geometry, params: Params, now: Instant) -> Machine {
        Machine {
            geometry,
            params,
            state: State::Waiting {
                until: now + params.max_wait,
            },
            receivers: Receivers::default(),
            rate: Rate::new(params.rate, now, 2 * params.report_interval),
            rounds: Rounds::new(&geometry),
            next_idle: now,
            sequence: 0,
            first_round_done: false,
            repair_rounds: 0,
            forget_after: FORGET_AFTER.max(8 * params.report_interval),
        }
    }

    /// Where the session is, as receivers are told.
    pub fn state(&self) -> SessionState {
        match self.state {
            State::Waiting { .. } => SessionState::Waiting,
            State::First { .. } | State::Collect { .. } | State::Repair { .. } => {
                SessionState::Sending
            }
            State::Ending { outcome, .. } | State::Over(outcome) => outcome,
        }
    }

    /// The rate now, bits per second.
    pub fn rate_bps(&self) -> u64 {
        self.rate.bps()
    }

    /// Repair rounds planned so far.
    pub fn repair_rounds(&self) -> u32 {
        self.repair_rounds
    }

    /// The receivers, by name.
    pub(crate) fn receivers(&self) -> impl Iterator<Item = (&String, &Receiver)> {
        self.receivers.iter()
    }

    fn over(&self) -> bool {
        matches!(self.state, State::Ending { .. } | State::Over(_))
    }

    /// Takes a receiver's report (from `address`) and answers it.
    ///
    /// # Errors
    /// The report contradicts the session, or the receiver table is full.
    pub fn report(
        &mut self,
        now: Instant,
        address: IpAddr,
        report: &Report,
    ) -> Result<ReportAnswer, ReportError> {
        let over = self.over();
        let threshold = self.rate.loss_threshold();
        let name = report.receiver.as_str();
        let receiver = self
            .receivers
            .record(now, address, report, &self.geometry)?;
        if receiver.listening() && !over {
            receiver.strikes = if receiver.loss > threshold {
                receiver.strikes.saturating_add(1)
            } else {
                0
            };
            let (loss, strikes) = (receiver.loss, receiver.strikes);
            // Only the slow one among others doing fine is dropped; when everyone loses, the
            // network is the problem, and the rate backs off instead.
            let others_fine = self
                .receivers
                .listening()
                .any(|r| r.loss <= threshold / 2.0);
            if self.params.slow == SlowPolicy::Unicast && strikes >= STRIKES && others_fine {
                if let Some(r) = self.receivers.get_mut(name) {
                    r.unicast = true;
                    tracing::info!(receiver = name, "slow receiver told to fetch by HTTP");
                }
            } else {
                self.rate.observe(loss);
            }
        }
        let unicast = self
            .receivers
            .get(name)
            .is_some_and(|r| r.unicast || (over && !r.settled()));
        Ok(ReportAnswer {
            state: self.state(),
            rate_mbit: u32::try_from(self.rate.bps() / 1_000_000).unwrap_or(u32::MAX),
            unicast,
        })
    }

    /// Stops the session: `End` datagrams, then over.
    pub fn cancel(&mut self, now: Instant) {
        if !self.over() {
            self.end(now, SessionState::Cancelled);
        }
    }

    fn end(&mut self, now: Instant, outcome: SessionState) {
        self.state = State::Ending {
            left: END_COUNT,
            at: now,
            outcome,
        };
    }

    /// Nobody left to send to: no receiver listening, and either the first round is over
    /// or `min_receivers` (at least one) are done or failed.
    fn finished(&self) -> bool {
        self.receivers.listening().next().is_none()
            && (self.first_round_done
                || self.receivers.settled() >= self.params.min_receivers.max(1) as usize)
    }

    /// `Idle` if one is due, else a wait until `until` (or the next `Idle`).
    fn idle_or_wait(&mut self, now: Instant, until: Instant) -> Step {
        if now >= self.next_idle {
            self.next_idle = now + IDLE_EVERY;
            return Step::Idle;
        }
        Step::Wait(until.min(self.next_idle))
    }

    /// The sequence number the next datagram sent carries.
    pub fn sequence(&self) -> u32 {
        self.sequence
    }

    /// What to send now.
    pub fn next(&mut self, now: Instant) -> Step {
        let step = self.step(now);
        self.sequence = self.sequence.wrapping_add(step.datagrams());
        step
    }

    fn step(&mut self, now: Instant) -> Step {
        self.receivers.forget_silent(now, self.forget_after);
        self.rate.tick(now);
        let sending = matches!(
            self.state,
            State::First { .. } | State::Collect { .. } | State::Repair { .. }
        );
        if sending && self.finished() {
            self.end(now, SessionState::Finished);
        }
        let burst = self.params.burst;
        loop {
            match &mut self.state {
                State::Waiting { until } => {
                    let until = *until;
                    if self.receivers.len() >= self.params.min_receivers as usize || now >= until {
                        self.state = State::First {
                            next: 0,
                            job: None,
                            fec: None,
                        };
                        continue;
                    }
                    return self.idle_or_wait(now, until);
                }
                State::First { next, job, fec } => {
                    let current = match job.take().or_else(|| fec.take()) {
                        Some(j) => j,
                        None if *next < self.geometry.chunks() => {
                            let chunk = *next;
                            *next += 1;
                            let loss = self.receivers.worst_loss();
                            *fec = self.rounds.proactive(chunk, &self.geometry, loss);
                            Job::Source {
                                chunk,
                                next: 0,
                                end: u32::from(self.geometry.source_symbols(chunk)),
                            }
                        }
                        None => {
                            self.first_round_done = true;
                            self.collect(now);
                            continue;
                        }
                    };
                    let (send, rest) = current.split(burst);
                    *job = rest;
                    return step_of(send);
                }
                State::Collect { end, deadline } => {
                    let (end, deadline) = (*end, *deadline);
                    let since = end.at;
                    if self.finished() {
                        self.end(now, SessionState::Finished);
                        continue;
                    }
                    let fresh = self.receivers.listening().all(|r| r.reported_after(end));
                    if now < since || (!fresh && now < deadline) {
                        let until = if now < since { since } else { deadline };
                        return self.idle_or_wait(now, until);
                    }
                    let jobs = self.plan(end);
                    if jobs.is_empty() {
                        // Reported, yet nothing to send: receivers still decoding or writing.
                        self.collect(now);
                        return self.idle_or_wait(now, now + SETTLE);
                    }
                    self.state = State::Repair { jobs };
                }
                State::Repair { jobs } => {
                    let Some(current) = jobs.pop_front() else {
                        self.collect(now);
                        continue;
                    };
                    let (send, rest) = current.split(burst);
                    if let Some(rest) = rest {
                        jobs.push_front(rest);
                    }
                    return step_of(send);
                }
                State::Ending { left, at, outcome } => {
                    if *left == 0 {
                        self.state = State::Over(*outcome);
                        return Step::Over;
                    }
                    if now < *at {
                        return Step::Wait(*at);
                    }
                    *left -= 1;
                    *at = now + END_GAP;
                    return Step::End;
                }
                State::Over(_) => return Step::Over,
            }
        }
    }

    /// Waits for reports made after the round that ends now.
    fn collect(&mut self, now: Instant) {
        let since = now + SETTLE;
        // An `Idle` as the wait ends asks receivers missing data to report at once.
        self.next_idle = since;
        self.state = State::Collect {
            end: RoundEnd {
                at: since,
                sequence: self.sequence,
            },
            deadline: since + 2 * self.params.report_interval,
        };
    }

    /// The next repair round, from reports made after `end`.
    fn plan(&mut self, end: RoundEnd) -> VecDeque<Job> {
        let unicast = self.params.slow == SlowPolicy::Unicast;
        let mut worst = 0.0f32;
        for r in self.receivers.iter_mut() {
            if !r.listening() || !r.reported_after(end) || r.needs.is_empty() {
                continue;
            }
            r.repair_rounds += 1;
            if unicast && r.repair_rounds > MAX_LAG_ROUNDS {
                r.unicast = true;
                continue;
            }
            worst = worst.max(r.loss);
        }
        let needs = self.receivers.needs(self.geometry.chunks(), end);
        let jobs = self.rounds.plan(&needs, &self.geometry, worst);
        if !jobs.is_empty() {
            self.repair_rounds += 1;
        }
        jobs
    }
}

fn step_of(job: Job) -> Step {
    match job {
        Job::Source { chunk, next, end } => Step::Source {
            chunk,
            first: next,
            count: end - next,
        },
        Job::Repair {
            chunk,
            first,
            count,
        } => Step::Repair {
            chunk,
            first,
            count,
        },
    }
}

#[cfg(test)]
#[path = "machine_tests.rs"]
mod tests;
