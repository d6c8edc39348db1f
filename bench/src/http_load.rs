//! HTTP load: keep-alive connections fetching random ranges of one file for a while, and idle
//! keep-alive connections held open and then checked. Every body is compared with the same
//! bytes read from a local copy of the file.

use std::fs::File;
use std::io;
use std::net::SocketAddr;
use std::os::unix::fs::FileExt;
use std::time::{Duration, Instant};

use crate::http_client::Connection;
use crate::rng::Rng;

/// The file under test.
#[derive(Debug)]
pub struct Target {
    /// The server.
    pub server: SocketAddr,
    /// URL path of the file.
    pub path: String,
    /// Local copy of the same bytes.
    pub local: File,
    /// Its length.
    pub size: u64,
}

/// Counts from a run.
#[derive(Debug, Default)]
pub struct Totals {
    /// Verified responses.
    pub ok: u64,
    /// Failed or wrong responses.
    pub failed: u64,
    /// Verified body bytes.
    pub bytes: u64,
    /// The first failure's reason.
    pub first_error: Option<String>,
}

impl Totals {
    fn merge(&mut self, other: Totals) {
        self.ok += other.ok;
        self.failed += other.failed;
        self.bytes += other.bytes;
        self.first_error = self.first_error.take().or(other.first_error);
    }

    fn record(&mut self, outcome: io::Result<u64>) {
        match outcome {
            Ok(n) => {
                self.ok += 1;
                self.bytes += n;
            }
            Err(e) => {
                self.failed += 1;
                self.first_error.get_or_insert(e.to_string());
            }
        }
    }
}

/// Scratch buffers for one verified fetch.
#[derive(Debug, Default)]
struct Buffers {
    body: Vec<u8>,
    expected: Vec<u8>,
}

impl Target {
    /// Fetches a random `len`-byte range on `conn` and checks it; returns the bytes verified.
    fn fetch_random(
        &self,
        conn: &mut Connection,
        len: u64,
        rng: &mut Rng,
        b: &mut Buffers,
    ) -> io::Result<u64> {
        let len = len.clamp(1, self.size);
        let offset = rng.below(self.size - len + 1);
        conn.get_range(&self.path, offset, len, &mut b.body)?;
        b.expected.resize(len as usize, 0);
        self.local.read_exact_at(&mut b.expected, offset)?;
        if b.body != b.expected {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("body of bytes {offset}+{len} differs from the local file"),
            ));
        }
        Ok(len)
    }
}

/// `connections` threads, each on its own keep-alive connection, fetching random `range`-byte
/// ranges until `duration` is over. A failed connection is counted and replaced.
pub fn run_ranges(target: &Target, connections: usize, range: u64, duration: Duration) -> Totals {
    let deadline = Instant::now() + duration;
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..connections)
            .map(|i| {
                s.spawn(move || {
                    let mut totals = Totals::default();
                    let mut rng = Rng::new(i as u64 + 1);
                    let mut bufs = Buffers::default();
                    let mut conn: Option<Connection> = None;
                    while Instant::now() < deadline {
                        let c = match conn.as_mut() {
                            Some(c) => c,
                            None => match Connection::open(target.server) {
                                Ok(c) => conn.insert(c),
                                Err(e) => {
                                    totals.record(Err(e));
                                    continue;
                                }
                            },
                        };
                        let outcome = target.fetch_random(c, range, &mut rng, &mut bufs);
                        if outcome.is_err() {
                            conn = None;
                        }
                        totals.record(outcome);
                    }
                    totals
                })
            })
            .collect();
        let mut totals = Totals::default();
        for w in workers {
            totals.merge(w.join().expect("range worker panicked"));
        }
        totals
    })
}

/// Opens `connections` keep-alive connections, each checked with one `probe`-byte range, holds
/// them idle for `hold`, then checks each again. Returns (opened and working at first, still
/// working after the hold).
pub fn run_idle(
    target: &Target,
    connections: usize,
    probe: u64,
    hold: Duration,
) -> (Totals, Totals) {
    let mut rng = Rng::new(1);
    let mut bufs = Buffers::default();
    let mut before = Totals::default();
    let mut open = Vec::with_capacity(connections);
    for _ in 0..connections {
        let outcome = Connection::open(target.server).and_then(|mut c| {
            let n = target.fetch_random(&mut c, probe, &mut rng, &mut bufs)?;
            open.push(c);
            Ok(n)
        });
        before.record(outcome);
    }
    std::thread::sleep(hold);
    let mut after = Totals::default();
    for mut c in open {
        after.record(target.fetch_random(&mut c, probe, &mut rng, &mut bufs));
    }
    (before, after)
}
