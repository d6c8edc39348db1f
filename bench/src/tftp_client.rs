//! One TFTP read as a client state machine without I/O (the storm loop owns sockets and
//! clocks): RRQ with options; OACK answered with ACK 0; DATA checked in order; the last block of
//! each window acknowledged (RFC 7440); a gap or a stale block answered once with an ACK of the
//! last good block, so the server resumes there; the last packet resent on timeout, a bounded
//! number of times.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::content::{Check, Verifier};
use crate::tftp_packet::{self, Reply};

/// RFC 1350 block size, in effect when the server accepts no options.
const DEFAULT_BLKSIZE: usize = 512;

/// What to read and how patiently.
#[derive(Debug, Clone)]
pub struct Request {
    /// Remote file name.
    pub file: String,
    /// `blksize` option to ask for (RFC 2348).
    pub blksize: Option<u16>,
    /// `windowsize` option to ask for (RFC 7440).
    pub windowsize: Option<u16>,
    /// Silence after which the last packet is resent.
    pub timeout: Duration,
    /// Resends before the transfer is given up.
    pub retries: u32,
}

/// A completed read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    /// Payload bytes received.
    pub bytes: u64,
    /// What they were found to be.
    pub check: Check,
    /// From the first RRQ to the last block.
    pub elapsed: Duration,
    /// Block size in effect (the server may grant less than asked, or nothing).
    pub blksize: usize,
    /// Window size in effect.
    pub windowsize: u16,
    /// Resends after silence.
    pub timeouts: u32,
    /// Gaps or stale blocks answered with an early ACK.
    pub gaps: u32,
}

/// What the I/O loop does next.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Nothing to send.
    Wait,
    /// Send [`Transfer::outgoing`] to [`Transfer::peer`] (the server's request port while
    /// `peer` is `None`).
    Send,
    /// Send [`Transfer::outgoing`] (the final ACK), then the transfer is over.
    SendAndFinish(Finished),
    /// The transfer failed; nothing more to send.
    Fail(String),
}

/// One read in progress.
#[derive(Debug)]
pub struct Transfer<'a> {
    timeout: Duration,
    retries: u32,
    peer: Option<SocketAddr>,
    outgoing: Vec<u8>,
    blksize: usize,
    windowsize: u16,
    /// Next block expected, counted from 1 without wrapping.
    next: u64,
    in_window: u16,
    gap_acked: bool,
    verifier: Verifier<'a>,
    bytes: u64,
    started: Instant,
    deadline: Instant,
    retries_left: u32,
    timeouts: u32,
    gaps: u32,
}

impl<'a> Transfer<'a> {
    /// Starts a read whose bytes `verifier` checks: [`Transfer::outgoing`] is the RRQ, to
    /// send to the server now.
    pub fn new(request: &Request, verifier: Verifier<'a>, now: Instant) -> Transfer<'a> {
        let options: Vec<(&str, u32)> = [
            ("blksize", request.blksize),
            ("windowsize", request.windowsize),
        ]
        .into_iter()
        .filter_map(|(name, value)| Some((name, u32::from(value?))))
        .collect();
        Transfer {
            timeout: request.timeout,
            retries: request.retries,
            peer: None,
            outgoing: tftp_packet::rrq(&request.file, &options),
            blksize: DEFAULT_BLKSIZE,
            windowsize: 1,
            next: 1,
            in_window: 0,
            gap_acked: false,
            verifier,
            bytes: 0,
            started: now,
            deadline: now + request.timeout,
            retries_left: request.retries,
            timeouts: 0,
            gaps: 0,
        }
    }

    /// The packet to send when a step says so.
    pub fn outgoing(&self) -> &[u8] {
        &self.outgoing
    }

    /// The server's transfer port, once it has answered.
    pub fn peer(&self) -> Option<SocketAddr> {
        self.peer
    }

    /// When [`Transfer::on_timeout`] has work to do.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// A datagram arrived from `from`.
    pub fn on_datagram(&mut self, from: SocketAddr, datagram: &[u8], now: Instant) -> Step {
        if self.peer.is_some_and(|p| p != from) {
            return Step::Wait; // another port's stray: not our transfer
        }
        match tftp_packet::parse(datagram) {
            None => Step::Wait,
            Some(Reply::Error { code, message }) => Step::Fail(format!("ERROR {code} {message}")),
            Some(Reply::Oack {
                blksize,
                windowsize,
            }) => {
                if self.peer.is_none() {
                    self.peer = Some(from);
                    self.blksize = blksize.map_or(DEFAULT_BLKSIZE, usize::from);
                    self.windowsize = windowsize.unwrap_or(1).max(1);
                    self.progress(now);
                } else if self.next != 1 {
                    return Step::Wait;
                }
                // First OACK, or a resent one because our ACK 0 was lost.
                self.outgoing = tftp_packet::ack(0).to_vec();
                Step::Send
            }
            Some(Reply::Data { block, payload }) => {
                // DATA before any OACK: the server took none of our options.
                self.peer.get_or_insert(from);
                self.on_data(block, payload, now)
            }
        }
    }

    fn on_data(&mut self, block: u16, payload: &[u8], now: Instant) -> Step {
        if payload.len() > self.blksize {
            return Step::Fail(format!("block {block} larger than blksize"));
        }
        if block != self.next as u16 {
            if self.gap_acked {
                return Step::Wait;
            }
            self.gap_acked = true;
            self.gaps += 1;
            return self.ack_last_good();
        }
        self.verifier.feed(payload);
        self.bytes += payload.len() as u64;
        self.next += 1;
        self.in_window += 1;
        self.gap_acked = false;
        self.progress(now);
        if payload.len() < self.blksize {
            self.outgoing = tftp_packet::ack(block).to_vec();
            return Step::SendAndFinish(Finished {
                bytes: self.bytes,
                check: self.verifier.check(),
                elapsed: now - self.started,
                blksize: self.blksize,
                windowsize: self.windowsize,
                timeouts: self.timeouts,
                gaps: self.gaps,
            });
        }
        if self.in_window >= self.windowsize {
            return self.ack_last_good();
        }
        Step::Wait
    }

    /// The server's silence lasted past [`Transfer::deadline`] (the loop may call early; then
    /// nothing happens).
    pub fn on_timeout(&mut self, now: Instant) -> Step {
        if now < self.deadline {
            return Step::Wait;
        }
        if self.retries_left == 0 {
            return Step::Fail(format!("timed out at block {}", self.next));
        }
        self.retries_left -= 1;
        self.timeouts += 1;
        self.deadline = now + self.timeout;
        if self.peer.is_none() {
            return Step::Send; // the RRQ again
        }
        self.ack_last_good()
    }

    fn ack_last_good(&mut self) -> Step {
        self.in_window = 0;
        self.outgoing = tftp_packet::ack((self.next - 1) as u16).to_vec();
        Step::Send
    }

    fn progress(&mut self, now: Instant) {
        self.deadline = now + self.timeout;
        self.retries_left = self.retries;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    fn data(block: u16, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0, 3];
        p.extend_from_slice(&block.to_be_bytes());
        p.extend_from_slice(payload);
        p
    }

    fn request() -> Request {
        Request {
            file: "f".into(),
            blksize: Some(4),
            windowsize: Some(2),
            timeout: Duration::from_secs(1),
            retries: 1,
        }
    }

    #[test]
    fn windowed_read_with_a_lost_block() {
        let now = Instant::now();
        let server: SocketAddr = "127.0.0.1:4000".parse().unwrap();
        let mut t = Transfer::new(&request(), Verifier::hashing(), now);
        assert_eq!(
            t.outgoing(),
            b"\x00\x01f\x00octet\x00blksize\x004\x00windowsize\x002\x00"
        );
        let oack = b"\x00\x06blksize\x004\x00windowsize\x002\x00";
        assert_eq!(t.on_datagram(server, oack, now), Step::Send);
        assert_eq!(t.outgoing(), [0, 4, 0, 0]);
        assert_eq!(t.on_datagram(server, &data(1, b"abcd"), now), Step::Wait);
        assert_eq!(t.on_datagram(server, &data(2, b"efgh"), now), Step::Send);
        assert_eq!(t.outgoing(), [0, 4, 0, 2]);
        // Block 3 lost: 4 is answered once with ACK 2, the rest of the window is ignored.
        assert_eq!(t.on_datagram(server, &data(4, b"mnop"), now), Step::Send);
        assert_eq!(t.outgoing(), [0, 4, 0, 2]);
        assert_eq!(t.on_datagram(server, &data(5, b"q"), now), Step::Wait);
        // A stray from another port changes nothing.
        let stray: SocketAddr = "127.0.0.1:4001".parse().unwrap();
        assert_eq!(t.on_datagram(stray, &data(3, b"XXXX"), now), Step::Wait);
        assert_eq!(t.on_datagram(server, &data(3, b"ijkl"), now), Step::Wait);
        assert_eq!(t.on_datagram(server, &data(4, b"mnop"), now), Step::Send);
        let Step::SendAndFinish(done) = t.on_datagram(server, &data(5, b"q"), now) else {
            panic!("not finished");
        };
        assert_eq!(t.outgoing(), [0, 4, 0, 5]);
        assert_eq!(done.bytes, 17);
        assert_eq!(
            done.check,
            Check::Digest(Sha256::digest(b"abcdefghijklmnopq").into())
        );
    }

    #[test]
    fn resends_then_gives_up_and_reports_errors() {
        let now = Instant::now();
        let mut t = Transfer::new(&request(), Verifier::hashing(), now);
        assert_eq!(t.on_timeout(now), Step::Wait);
        let later = now + Duration::from_secs(1);
        assert_eq!(t.on_timeout(later), Step::Send);
        assert!(t.outgoing().starts_with(&[0, 1]));
        assert!(matches!(
            t.on_timeout(later + Duration::from_secs(1)),
            Step::Fail(_)
        ));
        let server: SocketAddr = "127.0.0.1:4000".parse().unwrap();
        let mut t = Transfer::new(&request(), Verifier::hashing(), now);
        assert_eq!(
            t.on_datagram(server, b"\x00\x05\x00\x01nope\x00", now),
            Step::Fail("ERROR 1 nope".into())
        );
    }

    #[test]
    fn server_without_options_sends_512_byte_blocks() {
        let now = Instant::now();
        let server: SocketAddr = "127.0.0.1:4000".parse().unwrap();
        let mut t = Transfer::new(&request(), Verifier::hashing(), now);
        assert_eq!(t.on_datagram(server, &data(1, &[7; 512]), now), Step::Send);
        assert_eq!(t.outgoing(), [0, 4, 0, 1]);
        assert!(matches!(
            t.on_datagram(server, &data(2, &[]), now),
            Step::SendAndFinish(Finished { bytes: 512, .. })
        ));
    }
}
