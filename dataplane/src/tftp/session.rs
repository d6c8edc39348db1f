//! One TFTP read transfer as a pure state machine (RFC 1350, with RFC 2348 blksize, RFC 2349
//! timeout and RFC 7440 windowsize), run with the parameters [`super::options`] negotiated.
//!
//! No I/O and no clock: the caller passes `now` in, sends what [`Transfer::poll_transmit`]
//! asks for, feeds ACKs to [`Transfer::on_ack`] and calls [`Transfer::on_timeout`] at
//! [`Transfer::poll_at`]. Blocks are numbered from 1 as `u64`, so files of more than 65535
//! blocks work; only [`Transfer::wire_block`] folds them to 16 bits.
//!
//! Only timeouts retransmit. Duplicate ACKs are ignored, which avoids the Sorcerer's
//! Apprentice syndrome (RFC 1123 §4.2.3.1).

use std::time::{Duration, Instant};

use super::options::{Limits, Negotiated};

/// What the I/O loop should send now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transmit {
    /// The OACK built from [`Negotiated::oack`].
    Oack,
    /// DATA blocks `first .. first + count` (1-based indexes, see [`Transfer::block_range`]).
    Blocks {
        /// First block index.
        first: u64,
        /// Number of consecutive blocks (at least 1).
        count: u16,
    },
    /// Nothing: wait for an ACK or [`Transfer::poll_at`].
    Nothing,
}

/// Where a transfer stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Still running.
    Active,
    /// The final block was acknowledged.
    Complete,
    /// Abandoned.
    Failed(FailReason),
}

/// Why a transfer failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailReason {
    /// Too many timeouts in a row without progress.
    TimedOut,
    /// The client never acknowledged anything within the first-ACK retry budget.
    Unanswered,
    /// The client sent an ERROR packet.
    PeerError,
}

/// State of one read transfer. See the module docs for the protocol it follows.
#[derive(Debug, Clone)]
pub struct Transfer {
    file_len: u64,
    blksize: u64,
    windowsize: u16,
    timeout: Duration,
    max_retries: u8,
    first_retries: u8,
    /// The client acknowledged something at least once (the OACK or a block).
    answered: bool,
    total: u64,
    /// Still waiting for ACK 0 of the OACK.
    oack_pending: bool,
    /// Whether the OACK went out at least once (to count its resends).
    oack_sent: bool,
    /// Highest block the client acknowledged (0: none yet).
    acked: u64,
    /// Last block of the window in flight; `acked < b <= window_end` are outstanding.
    window_end: u64,
    /// Highest block ever sent, to count retransmitted blocks.
    max_sent: u64,
    /// The next `poll_transmit` sends a window (or the OACK).
    send_pending: bool,
    deadline: Option<Instant>,
    retries: u8,
    retransmissions: u32,
    status: Status,
}

impl Transfer {
    /// Starts a transfer of `file_len` bytes. The first `poll_transmit` returns the OACK
    /// when `negotiated.oack` is set, else the first window of DATA.
    pub fn new(file_len: u64, negotiated: &Negotiated, limits: &Limits, now: Instant) -> Self {
        // Why max(1): a zero would divide by zero or never send anything.
        let blksize = u64::from(negotiated.blksize.max(1));
        Transfer {
            file_len,
            blksize,
            windowsize: negotiated.windowsize.max(1),
            timeout: negotiated.timeout,
            max_retries: limits.max_retries,
            first_retries: limits.first_retries.min(limits.max_retries),
            answered: false,
            total: (file_len / blksize).saturating_add(1),
            oack_pending: negotiated.oack.is_some(),
            oack_sent: false,
            acked: 0,
            window_end: 0,
            max_sent: 0,
            send_pending: true,
            deadline: Some(after(now, negotiated.timeout)),
            retries: 0,
            retransmissions: 0,
            status: Status::Active,
        }
    }

    /// What to send now. Called by the loop after new() and after every on_ack/on_timeout;
    /// returns each window only once (Nothing if waiting).
    pub fn poll_transmit(&mut self, now: Instant) -> Transmit {
        if self.status != Status::Active || !self.send_pending {
            return Transmit::Nothing;
        }
        self.send_pending = false;
        self.deadline = Some(after(now, self.timeout));
        if self.oack_pending {
            if self.oack_sent {
                self.retransmissions = self.retransmissions.saturating_add(1);
            }
            self.oack_sent = true;
            return Transmit::Oack;
        }
        let first = self.acked + 1;
        let end = self
            .acked
            .saturating_add(u64::from(self.windowsize))
            .min(self.total);
        let resent = end.min(self.max_sent).saturating_sub(self.acked);
        self.retransmissions = self
            .retransmissions
            .saturating_add(u32::try_from(resent).unwrap_or(u32::MAX));
        self.window_end = end;
        self.max_sent = self.max_sent.max(end);
        // end - acked <= windowsize, so it fits in u16.
        let count = u16::try_from(end - self.acked).unwrap_or(u16::MAX);
        Transmit::Blocks { first, count }
    }

    /// Feeds an ACK from the client. Stale, duplicate and out-of-window ACKs are ignored.
    pub fn on_ack(&mut self, block: u16, _now: Instant) {
        if self.status != Status::Active {
            return;
        }
        if self.oack_pending {
            if block == 0 {
                self.oack_pending = false;
                self.progress();
            }
            return;
        }
        let Some(index) = self.resolve(block) else {
            return;
        };
        self.acked = index;
        if index == self.total {
            self.finish(Status::Complete);
        } else {
            // RFC 7440 §4: after a partial ACK the next window starts right after it.
            self.progress();
        }
    }

    /// Maps a 16-bit ACK to the outstanding block it names, if any. The window holds at
    /// most 65535 blocks, so at most one outstanding index has a given wire number.
    fn resolve(&self, block: u16) -> Option<u64> {
        let base = self.acked + 1;
        let offset = block.wrapping_sub(Self::wire_block(base));
        let index = base + u64::from(offset);
        (index <= self.window_end).then_some(index)
    }

    fn progress(&mut self) {
        self.answered = true;
        self.retries = 0;
        self.send_pending = true;
    }

    fn finish(&mut self, status: Status) {
        self.status = status;
        self.deadline = None;
        self.send_pending = false;
    }

    /// The client sent an ERROR: the transfer fails.
    pub fn on_peer_error(&mut self) {
        if self.status == Status::Active {
            self.finish(Status::Failed(FailReason::PeerError));
        }
    }

    /// Deadline at which on_timeout must be called (None when finished).
    pub fn poll_at(&self) -> Option<Instant> {
        self.deadline
    }

    /// The deadline passed without progress: resend (on the next `poll_transmit`) or give
    /// up after `max_retries` resends in a row (`first_retries` while the client has not
    /// acknowledged anything yet). Calls before the deadline are ignored.
    pub fn on_timeout(&mut self, now: Instant) {
        if self.status != Status::Active || self.deadline.is_some_and(|d| now < d) {
            return;
        }
        if !self.answered && self.retries >= self.first_retries {
            return self.finish(Status::Failed(FailReason::Unanswered));
        }
        if self.retries >= self.max_retries {
            return self.finish(Status::Failed(FailReason::TimedOut));
        }
        self.retries += 1;
        self.send_pending = true;
        // Why here too: a loop that checks poll_at before poll_transmit must not spin.
        self.deadline = Some(after(now, self.timeout));
    }

    /// Where the transfer stands.
    pub fn status(&self) -> Status {
        self.status
    }

    /// byte range of a 1-based block: (offset, len) — last block may be 0 bytes long when
    /// file_len % blksize == 0. Blocks outside `1..=total_blocks()` give `(0, 0)`.
    pub fn block_range(&self, block: u64) -> (u64, usize) {
        if block == 0 || block > self.total {
            return (0, 0);
        }
        let offset = (block - 1).saturating_mul(self.blksize);
        let len = self.file_len.saturating_sub(offset).min(self.blksize);
        // len <= blksize <= u16::MAX, so the conversion cannot fail.
        (offset, usize::try_from(len).unwrap_or(0))
    }

    /// Block number on the wire: rolls over 65535 -> 0 (as tftp-hpa, atftp, curl expect).
    pub fn wire_block(block: u64) -> u16 {
        (block & 0xFFFF) as u16
    }

    /// Number of DATA blocks: `file_len / blksize + 1` (the last one is short, maybe empty).
    pub fn total_blocks(&self) -> u64 {
        self.total
    }

    /// Payload bytes the client acknowledged.
    pub fn bytes_acked(&self) -> u64 {
        self.acked.saturating_mul(self.blksize).min(self.file_len)
    }

    /// Packets sent more than once: each resent DATA block and each resent OACK.
    pub fn retransmissions(&self) -> u32 {
        self.retransmissions
    }
}

/// `now + d`, saturating far in the future instead of panicking on overflow.
fn after(now: Instant, d: Duration) -> Instant {
    now.checked_add(d)
        .or_else(|| now.checked_add(Duration::from_secs(1 << 32)))
        .unwrap_or(now)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::wire::tftp::AckedOptions;

    pub(crate) fn plain(blksize: u16, windowsize: u16, oack: bool) -> Negotiated {
        let timeout = Duration::from_secs(1);
        let oack = oack.then(AckedOptions::default);
        Negotiated {
            blksize,
            windowsize,
            timeout,
            oack,
        }
    }

    fn win(first: u64, count: u16) -> Transmit {
        Transmit::Blocks { first, count }
    }

    fn start(len: u64, n: &Negotiated, max_retries: u8) -> (Transfer, Instant) {
        let now = Instant::now();
        let limits = Limits {
            max_retries,
            first_retries: max_retries,
            ..Limits::default()
        };
        (Transfer::new(len, n, &limits, now), now)
    }

    /// xorshift64: deterministic randomness without a crate.
    fn next(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    /// An RFC 7440 client knowing only wire block numbers. It ACKs after a full window or the
    /// short final block, once on a gap, and on every duplicate (as RFC 1350 clients do,
    /// which makes ACK storms). Returns the in-order bytes received.
    fn client(n: &Negotiated) -> impl FnMut(u16, usize) -> (Option<u16>, u64) {
        let (mut expected, mut since_ack, mut gap_acked, mut bytes) = (1u16, 0, false, 0u64);
        let (mut done, blksize, window) = (false, usize::from(n.blksize), n.windowsize);
        move |block, len| {
            let ahead = block.wrapping_sub(expected);
            let ack = if ahead >= 0x8000 {
                since_ack = 0;
                Some(expected.wrapping_sub(1))
            } else if done {
                None
            } else if ahead > 0 {
                since_ack = 0;
                let first = !gap_acked;
                gap_acked = true;
                first.then(|| expected.wrapping_sub(1))
            } else {
                expected = expected.wrapping_add(1);
                bytes += len as u64;
                since_ack += 1;
                done = len < blksize;
                let full = done || since_ack >= window;
                if full {
                    (since_ack, gap_acked) = (0, false);
                }
                full.then_some(block)
            };
            (ack, bytes)
        }
    }

    /// Drives a transfer with a fake clock over a channel losing `loss_pct` % of packets each
    /// way; returns the transfer and the bytes the client received in order.
    fn simulate(len: u64, n: &Negotiated, loss_pct: u64, seed: u64) -> (Transfer, u64) {
        let (mut t, mut now) = start(len, n, 50);
        let (mut client, mut rng, mut acks, mut bytes) = (client(n), seed, Vec::new(), 0);
        let lost = |rng: &mut u64| next(rng) % 100 < loss_pct;
        while t.status() == Status::Active {
            let sent = t.poll_transmit(now);
            match sent {
                Transmit::Oack if !lost(&mut rng) => acks.push(0),
                Transmit::Blocks { first, count } => {
                    for b in first..first + u64::from(count) {
                        if lost(&mut rng) {
                            continue;
                        }
                        let (ack, got) = client(Transfer::wire_block(b), t.block_range(b).1);
                        bytes = got;
                        acks.extend(ack.filter(|_| !lost(&mut rng)));
                    }
                }
                _ => {}
            }
            if sent == Transmit::Nothing && acks.is_empty() {
                now = t.poll_at().expect("active transfers have a deadline");
                t.on_timeout(now);
            }
            now += Duration::from_millis(1);
            acks.drain(..).for_each(|a| t.on_ack(a, now));
        }
        (t, bytes)
    }

    #[test]
    fn lossless_transfers() {
        for (len, blksize, window, oack) in [
            (1_000_000, 1468, 16, true),
            (1_000_000, 512, 1, false),
            (4096, 512, 4, true),
            (4095, 512, 64, false),
            (7, 8, 3, true),
        ] {
            let (t, bytes) = simulate(len, &plain(blksize, window, oack), 0, 1);
            assert_eq!(t.status(), Status::Complete, "{len} {blksize} {window}");
            assert_eq!((bytes, t.bytes_acked(), t.retransmissions()), (len, len, 0));
            assert_eq!(t.poll_at(), None);
        }
    }

    #[test]
    fn lossy_transfers_complete() {
        for (seed, window, oack) in [(7, 1, true), (11, 8, false), (13, 64, true)] {
            let (t, bytes) = simulate(300_000, &plain(512, window, oack), 10, seed);
            assert_eq!((t.status(), bytes), (Status::Complete, 300_000), "{seed}");
            assert!(t.retransmissions() > 0);
        }
    }

    #[test]
    fn rollover_past_65535_blocks() {
        let len = 40 << 20;
        for (window, loss) in [(1, 0), (8, 0), (32, 2)] {
            let (t, bytes) = simulate(len, &plain(512, window, loss == 0), loss, 5);
            assert_eq!(t.total_blocks(), 81_921);
            assert_eq!((t.status(), bytes), (Status::Complete, len));
        }
        assert_eq!(Transfer::wire_block(65_535), 65_535);
        assert_eq!(Transfer::wire_block(65_536), 0);
        assert_eq!(Transfer::wire_block(81_921), 16_385);
        let (mut t, now) = start(40 << 20, &plain(512, 4, false), 5);
        t.acked = 65_534;
        assert_eq!(t.poll_transmit(now), win(65_535, 4));
        t.on_ack(1, now); // wire 1 is block 65537
        assert_eq!((t.acked, t.poll_transmit(now)), (65_537, win(65_538, 4)));
    }

    #[test]
    fn duplicate_ack_storm_sends_nothing() {
        let (mut t, now) = start(10_000, &plain(512, 1, false), 5);
        assert_eq!(t.poll_transmit(now), win(1, 1));
        t.on_ack(1, now);
        assert_eq!(t.poll_transmit(now), win(2, 1));
        for block in [1, 0, 1, 3, 500, 65_535, 1] {
            for _ in 0..1000 {
                t.on_ack(block, now);
                assert_eq!(t.poll_transmit(now), Transmit::Nothing);
            }
        }
        assert_eq!((t.retransmissions(), t.bytes_acked()), (0, 512));
    }

    #[test]
    fn window_restarts_after_partial_ack() {
        let (mut t, now) = start(512 * 9 + 100, &plain(512, 4, false), 5);
        assert_eq!(t.total_blocks(), 10);
        assert_eq!(t.poll_transmit(now), win(1, 4));
        t.on_ack(2, now);
        assert_eq!(t.poll_transmit(now), win(3, 4));
        assert_eq!(t.retransmissions(), 2);
        t.on_ack(6, now);
        assert_eq!(t.poll_transmit(now), win(7, 4));
        assert_eq!(t.block_range(10), (4608, 100));
        t.on_ack(10, now);
        assert_eq!(
            (t.status(), t.bytes_acked()),
            (Status::Complete, 512 * 9 + 100)
        );
    }

    #[test]
    fn retries_exhaust_and_progress_resets() {
        let (mut t, start) = start(100_000, &plain(512, 4, true), 3);
        assert_eq!(t.poll_transmit(start), Transmit::Oack);
        let mut now = t.poll_at().unwrap();
        t.on_timeout(now - Duration::from_millis(1)); // early: ignored
        assert_eq!(t.poll_transmit(now), Transmit::Nothing);
        t.on_timeout(now);
        assert_eq!(t.poll_transmit(now), Transmit::Oack);
        t.on_ack(0, now); // progress: the retry count starts over
        assert_eq!(t.poll_transmit(now), win(1, 4));
        for _ in 0..3 {
            now = t.poll_at().unwrap();
            t.on_timeout(now);
            assert_eq!(
                (t.poll_transmit(now), t.status()),
                (win(1, 4), Status::Active)
            );
        }
        assert_eq!(t.retransmissions(), 1 + 3 * 4);
        now = t.poll_at().unwrap();
        t.on_timeout(now);
        assert_eq!(t.status(), Status::Failed(FailReason::TimedOut));
        assert_eq!(
            (t.poll_at(), t.poll_transmit(now)),
            (None, Transmit::Nothing)
        );
        t.on_ack(4, now);
        assert_eq!(t.status(), Status::Failed(FailReason::TimedOut));
    }

    #[test]
    fn an_unanswered_transfer_gives_up_after_the_first_ack_budget() {
        let limits = Limits {
            max_retries: 5,
            first_retries: 2,
            ..Limits::default()
        };
        for oack in [true, false] {
            let mut now = Instant::now();
            let mut t = Transfer::new(10_000, &plain(512, 4, oack), &limits, now);
            let mut sends = 0;
            while t.status() == Status::Active {
                if t.poll_transmit(now) != Transmit::Nothing {
                    sends += 1;
                }
                now = t.poll_at().unwrap();
                t.on_timeout(now);
            }
            assert_eq!(t.status(), Status::Failed(FailReason::Unanswered));
            assert_eq!(sends, 3, "the first send and two retransmissions");
        }
        // Once answered, the full budget applies.
        let now = Instant::now();
        let mut t = Transfer::new(10_000, &plain(512, 1, false), &limits, now);
        t.poll_transmit(now);
        t.on_ack(1, now);
        let mut timeouts = 0;
        while t.status() == Status::Active {
            t.poll_transmit(now);
            t.on_timeout(t.poll_at().unwrap());
            timeouts += 1;
        }
        assert_eq!(
            (t.status(), timeouts),
            (Status::Failed(FailReason::TimedOut), 6)
        );
    }

    #[test]
    fn peer_error_fails() {
        let (mut t, now) = start(10, &plain(512, 1, false), 5);
        t.on_peer_error();
        assert_eq!(t.status(), Status::Failed(FailReason::PeerError));
        assert_eq!(t.poll_transmit(now), Transmit::Nothing);
    }

    #[test]
    fn zero_length_and_exact_multiple() {
        let (mut t, now) = start(0, &plain(512, 8, true), 5);
        assert_eq!((t.total_blocks(), t.block_range(1)), (1, (0, 0)));
        assert_eq!(t.poll_transmit(now), Transmit::Oack);
        t.on_ack(1, now); // not ACK 0: ignored while the OACK is outstanding
        assert_eq!(t.poll_transmit(now), Transmit::Nothing);
        t.on_ack(0, now);
        assert_eq!(t.poll_transmit(now), win(1, 1));
        t.on_ack(1, now);
        assert_eq!((t.status(), t.bytes_acked()), (Status::Complete, 0));

        let (t, _) = start(1024, &plain(512, 8, false), 5);
        assert_eq!(t.total_blocks(), 3);
        assert_eq!(
            (t.block_range(2), t.block_range(3)),
            ((512, 512), (1024, 0))
        );
        assert_eq!((t.block_range(0), t.block_range(4)), ((0, 0), (0, 0)));
    }
}
