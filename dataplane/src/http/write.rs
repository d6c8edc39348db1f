//! Writing one HTTP answer: gathered batches of head bytes and blob slices straight from the
//! mapping, at the [`Pace`] a reader must keep.

use std::io;
use std::os::fd::AsRawFd;
use std::pin::pin;
use std::time::Instant;

use monoio::io::AsyncWriteRent;
use monoio::net::TcpStream;

use super::pace::{Pace, Verdict};
use super::Config;
use crate::stats::Stats;
use crate::sys::{self, GatherBuf, Piece};

/// Blob bytes handed to one gathered write.
const WRITE_CHUNK: u64 = 4 << 20;

/// Writes the pieces in gathered batches of at most [`WRITE_CHUNK`] blob bytes, at the
/// [`Pace`] the settings ask of a reader: one that stops reading, or reads slower than the
/// minimum rate, is dropped (and counted).
pub(super) async fn write_answer(
    stream: &mut TcpStream,
    pieces: Vec<Piece>,
    config: &Config,
    stats: &Stats,
) -> io::Result<()> {
    let acked = sys::bytes_acked(stream.as_raw_fd()).ok();
    // Why acknowledged bytes and not completed writes: with megabytes of socket buffers, a
    // write to a slow reader completes only once a third of them drained.
    let mut pace = Pace::new(
        config.min_rate,
        config.rate_window,
        config.write_timeout,
        Instant::now(),
        acked,
    );
    let mut batch: Vec<Piece> = Vec::with_capacity(4);
    let mut batch_bytes = 0u64;
    for piece in pieces {
        match piece {
            Piece::Owned(bytes) => {
                batch_bytes += bytes.len() as u64;
                batch.push(Piece::Owned(bytes));
            }
            Piece::Blob(slice) => {
                let mut offset = 0u64;
                let len = slice.len() as u64;
                while offset < len {
                    let take = (WRITE_CHUNK - batch_bytes.min(WRITE_CHUNK - 1)).min(len - offset);
                    if let Some(part) = slice.sub(offset, take) {
                        batch.push(Piece::Blob(part));
                    }
                    batch_bytes += take;
                    offset += take;
                    if batch_bytes >= WRITE_CHUNK {
                        flush(stream, &mut batch, &mut pace, stats).await?;
                        batch_bytes = 0;
                    }
                }
            }
        }
    }
    if !batch.is_empty() {
        flush(stream, &mut batch, &mut pace, stats).await?;
    }
    Ok(())
}

/// Writes one batch. The write stays posted across pace checks (a write abandoned would take
/// its buffer with it); it is cancelled only when the reader is dropped.
async fn flush(
    stream: &mut TcpStream,
    batch: &mut Vec<Piece>,
    pace: &mut Pace,
    stats: &Stats,
) -> io::Result<()> {
    let fd = stream.as_raw_fd();
    let mut gather = GatherBuf::new(std::mem::take(batch));
    while !gather.is_empty() {
        pace.on_write(Instant::now());
        let mut write = pin!(stream.writev(gather));
        let (result, back) = loop {
            monoio::select! {
                done = &mut write => break done,
                _ = monoio::time::sleep_until(pace.deadline().into()) => {
                    let acked = sys::bytes_acked(fd).ok();
                    match pace.check(Instant::now(), acked) {
                        Verdict::Continue => {}
                        Verdict::TooSlow => {
                            Stats::bump(&stats.http_slow_readers);
                            return Err(io::Error::new(io::ErrorKind::TimedOut, "reader too slow"));
                        }
                        Verdict::Stalled => {
                            Stats::bump(&stats.http_timeouts);
                            return Err(io::ErrorKind::TimedOut.into());
                        }
                    }
                }
            }
        };
        gather = back;
        match result {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => gather.advance(n),
            Err(e) => return Err(e),
        }
    }
    gather.release_pages();
    Ok(())
}
