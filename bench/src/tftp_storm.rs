//! The TFTP storm's I/O: `clients` reads at once, each repeated `rounds` times, spread over a
//! few threads. A thread owns one epoll and one fresh UDP socket per read (firmware uses a new
//! port per transfer, and a server may take a second RRQ from the same port for a resend).
//! Timeouts are checked in a sweep every few milliseconds rather than per-socket timers: at
//! 10,000 reads a sweep costs far less than the packets themselves.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use crate::content::{Check, Verifier};
use crate::digest::Sha256Digest;
use crate::epoll::Epoll;
use crate::report::Latencies;
use crate::tftp_client::{Finished, Request, Step, Transfer};

/// How often retransmission deadlines are checked.
const SWEEP: Duration = Duration::from_millis(20);

/// What to run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The server's request port.
    pub server: SocketAddr,
    /// The read every client performs.
    pub request: Request,
    /// What every read must deliver.
    pub expected: Expected,
    /// Reads in flight at once.
    pub clients: usize,
    /// Reads each client performs one after the other.
    pub rounds: usize,
    /// Threads sharing the clients.
    pub threads: usize,
}

/// What every read must deliver.
#[derive(Debug, Clone)]
pub enum Expected {
    /// The bytes of a local copy, compared as they arrive.
    Copy(Vec<u8>),
    /// Bytes with this SHA-256.
    Digest(Sha256Digest),
}

impl Expected {
    fn verifier(&self) -> Verifier<'_> {
        match self {
            Expected::Copy(bytes) => Verifier::against(bytes),
            Expected::Digest(_) => Verifier::hashing(),
        }
    }

    fn met_by(&self, check: Check) -> bool {
        match (self, check) {
            (Expected::Copy(_), Check::AgainstCopy { equal }) => equal,
            (Expected::Digest(want), Check::Digest(got)) => *want == got,
            _ => false,
        }
    }
}

/// What happened.
#[derive(Debug, Default)]
pub struct Totals {
    /// Reads that delivered the expected bytes.
    pub ok: u64,
    /// Reads that failed or delivered wrong bytes.
    pub failed: u64,
    /// Verified payload bytes.
    pub bytes: u64,
    /// Durations of the verified reads.
    pub latencies: Latencies,
    /// The first failure's reason, for the report.
    pub first_error: Option<String>,
    /// Resends after silence, over the verified reads.
    pub timeouts: u64,
    /// Early ACKs for gaps, over the verified reads.
    pub gaps: u64,
    /// (blksize, windowsize) the server granted, seen on a verified read.
    pub negotiated: Option<(usize, u16)>,
}

impl Totals {
    fn merge(&mut self, other: Totals) {
        self.ok += other.ok;
        self.failed += other.failed;
        self.bytes += other.bytes;
        self.timeouts += other.timeouts;
        self.gaps += other.gaps;
        self.latencies.extend(other.latencies);
        self.first_error = self.first_error.take().or(other.first_error);
        self.negotiated = self.negotiated.or(other.negotiated);
    }

    fn record(&mut self, outcome: Result<Finished, String>, expected: &Expected) {
        match outcome {
            Ok(f) if expected.met_by(f.check) => {
                self.ok += 1;
                self.bytes += f.bytes;
                self.latencies.push(f.elapsed);
                self.timeouts += u64::from(f.timeouts);
                self.gaps += u64::from(f.gaps);
                self.negotiated.get_or_insert((f.blksize, f.windowsize));
            }
            Ok(f) => self.fail(format!("wrong bytes ({} received)", f.bytes)),
            Err(e) => self.fail(e),
        }
    }

    fn fail(&mut self, reason: String) {
        self.failed += 1;
        self.first_error.get_or_insert(reason);
    }
}

/// Runs the storm to completion.
///
/// # Errors
/// A thread could not create its epoll or a socket (descriptor limit).
pub fn run(plan: &Plan) -> io::Result<Totals> {
    let threads = plan.threads.clamp(1, plan.clients.max(1));
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let clients = plan.clients / threads + usize::from(t < plan.clients % threads);
                s.spawn(move || Worker::new(plan, clients)?.run())
            })
            .collect();
        let mut totals = Totals::default();
        for w in workers {
            totals.merge(w.join().expect("storm thread panicked")?);
        }
        Ok(totals)
    })
}

struct Client<'p> {
    socket: UdpSocket,
    transfer: Transfer<'p>,
    rounds_left: usize,
}

struct Worker<'p> {
    plan: &'p Plan,
    epoll: Epoll,
    clients: Vec<Option<Client<'p>>>,
    live: usize,
    totals: Totals,
}

impl<'p> Worker<'p> {
    fn new(plan: &'p Plan, clients: usize) -> io::Result<Worker<'p>> {
        let mut w = Worker {
            plan,
            epoll: Epoll::new()?,
            clients: (0..clients).map(|_| None).collect(),
            live: clients,
            totals: Totals::default(),
        };
        for i in 0..clients {
            w.start(i, plan.rounds.max(1) - 1)?;
        }
        Ok(w)
    }

    /// Starts client `i`'s next read on a fresh socket, with `rounds_left` reads after it.
    fn start(&mut self, i: usize, rounds_left: usize) -> io::Result<()> {
        self.clients[i] = None; // closing the old socket also drops its epoll registration
        let local: SocketAddr = match self.plan.server {
            SocketAddr::V4(_) => "0.0.0.0:0".parse().expect("literal"),
            SocketAddr::V6(_) => "[::]:0".parse().expect("literal"),
        };
        let socket = UdpSocket::bind(local)?;
        socket.set_nonblocking(true)?;
        self.epoll.add(socket.as_raw_fd(), i as u64)?;
        let transfer = Transfer::new(
            &self.plan.request,
            self.plan.expected.verifier(),
            Instant::now(),
        );
        // A full send buffer only delays the RRQ to the first resend.
        let _ = socket.send_to(transfer.outgoing(), self.plan.server);
        self.clients[i] = Some(Client {
            socket,
            transfer,
            rounds_left,
        });
        Ok(())
    }

    fn run(mut self) -> io::Result<Totals> {
        let mut buf = vec![0u8; 65536];
        let mut tokens = Vec::new();
        let mut next_sweep = Instant::now() + SWEEP;
        while self.live > 0 {
            self.epoll.wait(&mut tokens, SWEEP)?;
            let now = Instant::now();
            for &token in &tokens {
                self.drain(token as usize, &mut buf, now)?;
            }
            if now >= next_sweep {
                for i in 0..self.clients.len() {
                    if let Some(c) = self.clients[i].as_mut() {
                        let step = c.transfer.on_timeout(now);
                        self.apply(i, step)?;
                    }
                }
                next_sweep = now + SWEEP;
            }
        }
        Ok(self.totals)
    }

    /// Feeds every datagram waiting on client `i`'s socket to its transfer.
    fn drain(&mut self, i: usize, buf: &mut [u8], now: Instant) -> io::Result<()> {
        while let Some(c) = self.clients[i].as_mut() {
            let step = match c.socket.recv_from(buf) {
                Ok((n, from)) => c.transfer.on_datagram(from, &buf[..n], now),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => Step::Fail(format!("recv: {e}")),
            };
            if self.apply(i, step)? {
                return Ok(()); // the next round's socket has nothing yet
            }
        }
        Ok(())
    }

    /// Carries out a step; true when client `i`'s read ended.
    fn apply(&mut self, i: usize, step: Step) -> io::Result<bool> {
        let Some(c) = self.clients[i].as_ref() else {
            return Ok(false);
        };
        let outcome = match step {
            Step::Wait => return Ok(false),
            Step::Send => {
                let to = c.transfer.peer().unwrap_or(self.plan.server);
                // A full send buffer is a lost packet: the deadline resends it.
                let _ = c.socket.send_to(c.transfer.outgoing(), to);
                return Ok(false);
            }
            Step::SendAndFinish(f) => {
                let to = c.transfer.peer().unwrap_or(self.plan.server);
                let _ = c.socket.send_to(c.transfer.outgoing(), to);
                Ok(f)
            }
            Step::Fail(e) => Err(e),
        };
        let rounds_left = c.rounds_left;
        self.totals.record(outcome, &self.plan.expected);
        if rounds_left == 0 {
            self.clients[i] = None;
            self.live -= 1;
        } else {
            self.start(i, rounds_left - 1)?;
        }
        Ok(true)
    }
}
