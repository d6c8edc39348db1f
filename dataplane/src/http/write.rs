//! Writing one HTTP answer: file bodies by `sendfile` (see [`super::zero_copy`]), the rest in
//! gathered batches of head bytes and blob slices straight from the mapping, at the [`Pace`] a
//! reader must keep.

use std::io;
use std::os::fd::AsRawFd;
use std::pin::pin;
use std::time::Instant;

use monoio::io::AsyncWriteRent;
use monoio::net::TcpStream;

use super::pace::{Pace, Verdict};
use super::Config;
use crate::blob::BlobSlice;
use crate::stats::Stats;
use crate::sys::{self, GatherBuf, Piece};

/// Blob bytes handed to one gathered write.
const WRITE_CHUNK: u64 = 4 << 20;
/// File bytes asked of one `sendfile` call.
const SENDFILE_CHUNK: usize = 4 << 20;

/// Writes the pieces: file bodies [`Config::zero_copy`] picks by `sendfile` (the head before
/// them held back with `MSG_MORE`, so both leave in one segment), the rest in gathered batches
/// of at most [`WRITE_CHUNK`] blob bytes, at the [`Pace`] the settings ask of a reader: one that
/// stops reading, or reads slower than the minimum rate, is dropped (and counted).
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
            Piece::Blob(slice)
                if config.zero_copy.sends_file(slice.len()) && slice.blob().file().is_some() =>
            {
                hold_back(stream, &mut batch, &mut pace, stats).await?;
                batch_bytes = 0;
                send_file(stream, &slice, &mut pace, stats).await?;
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

/// Sends what is batched before a `sendfile` body: owned bytes only (a head, a part header)
/// go with `MSG_MORE`, to leave in the body's first segment; a batch holding file bytes too
/// is written as usual.
async fn hold_back(
    stream: &mut TcpStream,
    batch: &mut Vec<Piece>,
    pace: &mut Pace,
    stats: &Stats,
) -> io::Result<()> {
    if batch.iter().any(|p| matches!(p, Piece::Blob(_))) {
        return flush(stream, batch, pace, stats).await;
    }
    let fd = stream.as_raw_fd();
    for piece in batch.drain(..) {
        let Piece::Owned(bytes) = piece else { continue };
        send_nonblocking(stream, bytes.len() as u64, pace, stats, |done| {
            sys::send_more(fd, &bytes[done as usize..])
        })
        .await?;
    }
    Ok(())
}

/// Sends `slice` with `sendfile`, waiting through the ring whenever the send buffer is full.
async fn send_file(
    stream: &mut TcpStream,
    slice: &BlobSlice,
    pace: &mut Pace,
    stats: &Stats,
) -> io::Result<()> {
    let Some(file) = slice.blob().file() else {
        return Err(io::ErrorKind::Unsupported.into());
    };
    let fd = stream.as_raw_fd();
    sys::set_nonblocking(fd)?;
    // Corked, as nginx's `tcp_nopush`: each `sendfile` call ends where the send buffer was
    // full, mid-segment, and with TCP_NODELAY that tail would leave as a short segment the
    // client takes as one more piece.
    sys::set_cork(fd, true)?;
    let start = slice.offset();
    let sent = send_nonblocking(stream, slice.len() as u64, pace, stats, |done| {
        let want = usize::try_from(slice.len() as u64 - done).unwrap_or(usize::MAX);
        sys::sendfile(fd, file, start + done, want.min(SENDFILE_CHUNK))
    })
    .await;
    // Uncorked also after a failed send: a kept-alive connection's next answer must not wait.
    let uncorked = sys::set_cork(fd, false);
    sent.and(uncorked)
}

/// Calls `send(done)` (a non-blocking send of what follows the first `done` of `total`
/// bytes, returning how many it queued) until all are sent, waiting through the ring when the
/// socket is full. A send of nothing means the source ended early (a truncated file).
async fn send_nonblocking(
    stream: &TcpStream,
    total: u64,
    pace: &mut Pace,
    stats: &Stats,
    mut send: impl FnMut(u64) -> io::Result<usize>,
) -> io::Result<()> {
    let mut done = 0u64;
    while done < total {
        match send(done) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => {
                done += n as u64;
                pace.on_write(Instant::now());
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                writable(stream, pace, stats).await?
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Waits until the socket takes more, checking the reader's pace meanwhile.
async fn writable(stream: &TcpStream, pace: &mut Pace, stats: &Stats) -> io::Result<()> {
    let fd = stream.as_raw_fd();
    let mut ready = pin!(stream.writable(false));
    loop {
        monoio::select! {
            done = &mut ready => return done,
            _ = monoio::time::sleep_until(pace.deadline().into()) => {
                judge(pace, sys::bytes_acked(fd).ok(), stats)?;
            }
        }
    }
}

/// The pace's verdict at its deadline: an error (counted) for a reader to drop.
fn judge(pace: &mut Pace, acked: Option<u64>, stats: &Stats) -> io::Result<()> {
    match pace.check(Instant::now(), acked) {
        Verdict::Continue => Ok(()),
        Verdict::TooSlow => {
            Stats::bump(&stats.http_slow_readers);
            Err(io::Error::new(io::ErrorKind::TimedOut, "reader too slow"))
        }
        Verdict::Stalled => {
            Stats::bump(&stats.http_timeouts);
            Err(io::ErrorKind::TimedOut.into())
        }
    }
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
                    judge(pace, sys::bytes_acked(fd).ok(), stats)?;
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
