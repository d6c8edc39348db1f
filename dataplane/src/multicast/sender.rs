//! A session's sender: one plain thread per session, not a task on the cores. A session is
//! a paced stream of datagrams for seconds to minutes, not requests to serve; it sleeps
//! between bursts, encodes RaptorQ repair symbols (milliseconds of CPU per chunk) and must
//! not hold up a core's HTTP or TFTP clients while it does.
//!
//! Source symbols leave straight from the file's mapping (the kernel copies them; user space
//! never reads the mapping), as GSO batches where the kernel can segment them, else
//! `sendmmsg`. Repair symbols are made from the chunk read with `pread`.

use std::io;
use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use multicast::fec::ChunkEncoder;
use multicast::wire::HEADER_LEN;
use multicast::{Header, Kind};

use super::bucket::Bucket;
use super::machine::Step;
use super::prepare::{self, HashCache};
use super::session::Session;
use crate::blob::{Blob, BlobSlice};
use crate::sys;

/// Encoders kept: a repair job longer than a burst reuses its chunk's encoder, and so does a
/// chunk that needs repairs round after round. Each holds about two chunks of memory.
const ENCODERS: usize = 8;
/// Pause when the socket buffer is full.
const BACKOFF: Duration = Duration::from_micros(500);

/// Runs the session to its end on the calling thread.
pub(crate) fn run(session: Arc<Session>, socket: UdpSocket, cache: &HashCache) {
    let hashes = match cache.hashes(&session.blob, &session.geometry, &session.cancelled) {
        Ok(Some(h)) => h,
        Ok(None) => return,
        Err(e) => return session.fail(format!("reading {}: {e}", session.path.display())),
    };
    let tail = match prepare::padded_tail(&session.blob, &session.geometry) {
        Ok(t) => t,
        Err(e) => return session.fail(format!("reading {}: {e}", session.path.display())),
    };
    session.announce(&hashes, session.params.report_interval);
    tracing::info!(
        session = %format_args!("{:08x}", session.id),
        name = %session.name,
        group = %session.destination.group,
        size = session.geometry.size,
        "multicast session announced"
    );
    let mut sender = Sender::new(session.clone(), socket, tail);
    if let Err(e) = sender.run() {
        session.fail(format!("sending to {}: {e}", session.destination.group));
    }
}

struct Sender {
    session: Arc<Session>,
    socket: UdpSocket,
    tail: Option<Arc<Blob>>,
    file: BlobSlice,
    /// The next datagram's sequence number, within the machine's current step.
    sequence: u32,
    bucket: Bucket,
    rate: u64,
    /// Cleared at the first send the kernel cannot segment.
    gso: bool,
    encoders: Vec<(u32, ChunkEncoder)>,
    /// IP and UDP headers: what the link carries beside each payload.
    overhead: usize,
}

impl Sender {
    fn new(session: Arc<Session>, socket: UdpSocket, tail: Option<Arc<Blob>>) -> Sender {
        let rate = session.params.rate.max_bps;
        let segment = HEADER_LEN + usize::from(session.geometry.symbol_size);
        let overhead = if session.destination.group.is_ipv4() {
            28
        } else {
            48
        };
        // Two bursts deep: a burst may leave while the next is being built.
        let depth = 2 * (segment + overhead) * session.params.burst as usize;
        Sender {
            file: session.data(),
            session,
            socket,
            tail,
            sequence: 0,
            bucket: Bucket::new(rate, depth, Instant::now()),
            rate,
            gso: true,
            encoders: Vec::with_capacity(ENCODERS),
            overhead,
        }
    }

    fn run(&mut self) -> io::Result<()> {
        loop {
            let now = Instant::now();
            let Some((first, step, rate)) = self
                .session
                .with_machine(|m| (m.sequence(), m.next(now), m.rate_bps()))
            else {
                return Ok(());
            };
            // The machine numbers every step's datagrams (its repair rounds count on it).
            self.sequence = first;
            if rate != self.rate {
                self.rate = rate;
                self.bucket.set_rate(rate, now);
            }
            match step {
                Step::Source {
                    chunk,
                    first,
                    count,
                } => self.source(chunk, first, count)?,
                Step::Repair {
                    chunk,
                    first,
                    count,
                } => self.repair(chunk, first, count)?,
                Step::Idle => self.control(Kind::Idle)?,
                Step::End => self.control(Kind::End)?,
                Step::Wait(at) => self.session.sleep_until(at),
                Step::Over => return Ok(()),
            }
        }
    }

    fn header(&mut self, kind: Kind, chunk: u32, esi: u32) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        Header {
            kind,
            session: self.session.id,
            sequence: self.sequence,
            chunk,
            esi,
        }
        .encode(&mut out);
        self.sequence = self.sequence.wrapping_add(1);
        out
    }

    /// Source symbols `first..first + count` of `chunk`, from the mapping; the file's last
    /// symbol, if short, from its padded copy.
    fn source(&mut self, chunk: u32, first: u32, count: u32) -> io::Result<()> {
        let g = self.session.geometry;
        let symbol = usize::from(g.symbol_size);
        let mut headers = Vec::with_capacity(count as usize);
        let mut ranges = Vec::with_capacity(count as usize);
        let mut short = None;
        for esi in first..first + count {
            let range = g.symbol_range(chunk, esi);
            let len = (range.end - range.start) as usize;
            if len < symbol {
                short = Some(esi);
                break;
            }
            headers.push(self.header(Kind::Symbol, chunk, esi));
            ranges.push((range.start, len));
        }
        let file = self.file.clone();
        self.send(&headers, &file, &ranges)?;
        if let (Some(esi), Some(tail)) = (short, self.tail.clone()) {
            let header = [self.header(Kind::Symbol, chunk, esi)];
            self.send(&header, &BlobSlice::whole(tail), &[(0, symbol)])?;
        }
        Ok(())
    }

    /// Fresh repair symbols `first..first + count` of `chunk`.
    fn repair(&mut self, chunk: u32, first: u32, count: u32) -> io::Result<()> {
        let symbols = self.encoder(chunk)?.repair(first, count);
        let symbol = usize::from(self.session.geometry.symbol_size);
        let mut bytes = Vec::with_capacity(symbols.len() * symbol);
        let mut headers = Vec::with_capacity(symbols.len());
        let mut ranges = Vec::with_capacity(symbols.len());
        for (esi, data) in symbols {
            ranges.push((bytes.len() as u64, symbol));
            bytes.extend_from_slice(&data);
            bytes.resize(ranges.len() * symbol, 0);
            headers.push(self.header(Kind::Symbol, chunk, esi));
        }
        self.send(
            &headers,
            &BlobSlice::whole(Blob::from_vec(bytes, 0)),
            &ranges,
        )
    }

    fn encoder(&mut self, chunk: u32) -> io::Result<&ChunkEncoder> {
        if let Some(i) = self.encoders.iter().position(|(c, _)| *c == chunk) {
            return Ok(&self.encoders[i].1);
        }
        let g = self.session.geometry;
        let range = g.chunk_range(chunk);
        let slice = self
            .file
            .sub(range.start, range.end - range.start)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "chunk outside file"))?;
        let mut data = Vec::with_capacity(slice.len());
        slice.read_in_chunks(&mut vec![0u8; 1 << 16], |b| data.extend_from_slice(b))?;
        if self.encoders.len() == ENCODERS {
            self.encoders.remove(0);
        }
        self.encoders.push((chunk, ChunkEncoder::new(&g, &data)));
        Ok(&self.encoders[self.encoders.len() - 1].1)
    }

    /// An `Idle` or `End` datagram: a header alone.
    fn control(&mut self, kind: Kind) -> io::Result<()> {
        let header = self.header(kind, 0, 0);
        self.pace(1, HEADER_LEN);
        loop {
            match self.socket.send(&header) {
                Ok(_) => break,
                Err(e) if retry(&e) => std::thread::sleep(BACKOFF),
                Err(e) => return Err(e),
            }
        }
        self.session.count(1, HEADER_LEN as u64);
        Ok(())
    }

    /// Waits until the bucket lets `n` datagrams of `payload` bytes leave.
    fn pace(&mut self, n: usize, payload: usize) {
        let bytes = n * (payload + self.overhead);
        while let Some(at) = self.bucket.take(bytes, Instant::now()) {
            std::thread::sleep(at.saturating_duration_since(Instant::now()));
        }
    }

    /// Sends datagrams `headers[i]` + `ranges[i]` of `body`, paced, in GSO batches.
    fn send(
        &mut self,
        headers: &[[u8; HEADER_LEN]],
        body: &BlobSlice,
        ranges: &[(u64, usize)],
    ) -> io::Result<()> {
        let segment = HEADER_LEN + usize::from(self.session.geometry.symbol_size);
        let fd = self.socket.as_raw_fd();
        let mut done = 0;
        while done < headers.len() {
            let batch = (headers.len() - done).min(sys::segments_per_send(segment));
            let end = done + batch;
            self.pace(batch, segment);
            let sent = loop {
                let result = if self.gso {
                    sys::send_segmented(fd, &headers[done..end], body, &ranges[done..end], segment)
                } else {
                    sys::send_datagrams(fd, &headers[done..end], body, &ranges[done..end])
                };
                match result {
                    Ok(n) => break n,
                    // No GSO on this device, or not at this size: sendmmsg from now on.
                    Err(e)
                        if self.gso
                            && matches!(e.raw_os_error(), Some(libc::EIO | libc::EINVAL)) =>
                    {
                        self.gso = false;
                    }
                    Err(e) if retry(&e) => {
                        if self.session.cancelled.load(Ordering::Acquire) {
                            return Ok(());
                        }
                        std::thread::sleep(BACKOFF);
                    }
                    Err(e) => return Err(e),
                }
            };
            self.session.count(sent as u64, (sent * segment) as u64);
            done += sent;
        }
        Ok(())
    }
}

/// A full socket buffer or queue: worth another try shortly.
fn retry(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock || e.raw_os_error() == Some(libc::ENOBUFS)
}
