//! A zstd image unpacked onto the output while it is still being received.
//!
//! The spool is what the rest of the receiver knows (chunks written at their offsets in any
//! order, a resume record, one SHA-256 over the bytes sent); a thread follows it in file
//! order ([`SpoolReader`]) and decodes onto the output, so the unpacking is done when the
//! last chunk is, and a spool in memory holds only what is ahead of it. ruzstd rather than
//! the zstd C library: the receiver stays pure Rust for its static musl build.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufWriter, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;

use multicast::{ChunkHash, Geometry};
use ruzstd::decoding::errors::{FrameDecoderError, ReadFrameHeaderError};
use ruzstd::decoding::StreamingDecoder;

use crate::output;
use crate::spool::{Fill, SpoolReader};

/// What an unpacking did.
pub(crate) struct Unpacked {
    /// Bytes written to the output.
    pub(crate) bytes: u64,
    /// The most the spool held at once, when it was released as unpacked.
    pub(crate) spool_peak: Option<u64>,
}

/// The thread unpacking a spool onto the output.
pub(crate) struct Unpacker {
    fill: Arc<Fill>,
    thread: Option<JoinHandle<Result<u64, String>>>,
    /// The spool, to see how much of it is held; `None` unless released as unpacked.
    released: Option<File>,
    spool_peak: u64,
    /// What the thread ended with, once joined.
    ended: Option<Result<u64, String>>,
}

impl Unpacker {
    /// Starts unpacking the zstd `spool` (a file cut as `geometry`, chunks hashing to
    /// `hashes`) onto `output` (a regular file, created or truncated, or a block device,
    /// written from its start) as [`Unpacker::advance`] says chunks are done; with
    /// `release`, chunks are punched out of the spool once unpacked.
    pub(crate) fn start(
        spool: &Path,
        output: &Path,
        geometry: Geometry,
        hashes: Vec<ChunkHash>,
        release: bool,
    ) -> Result<Unpacker, String> {
        // Writable when released: punching chunks out is a write.
        let source = OpenOptions::new()
            .read(true)
            .write(release)
            .open(spool)
            .map_err(|e| format!("cannot open {}: {e}", spool.display()))?;
        let block_device = output::is_block_device(output);
        let out = OpenOptions::new()
            .write(true)
            .create(!block_device)
            .truncate(!block_device)
            .open(output)
            .map_err(|e| format!("cannot open output {}: {e}", output.display()))?;
        let released = if release {
            Some(
                source
                    .try_clone()
                    .map_err(|e| format!("cannot reopen {}: {e}", spool.display()))?,
            )
        } else {
            None
        };
        let fill = Arc::new(Fill::default());
        let shown = output.display().to_string();
        let thread = {
            let fill = Arc::clone(&fill);
            std::thread::spawn(move || {
                let reader = SpoolReader::new(source, geometry, &hashes, &fill, release);
                let mut writer = BufWriter::with_capacity(4 << 20, &out);
                let written = unzstd(reader, &mut writer)
                    .map_err(|e| format!("cannot unpack onto {shown}: {e}"))?;
                writer
                    .flush()
                    .and_then(|()| out.sync_all())
                    .map_err(|e| format!("cannot write {shown}: {e}"))?;
                Ok(written)
            })
        };
        Ok(Unpacker {
            fill,
            thread: Some(thread),
            released,
            spool_peak: 0,
            ended: None,
        })
    }

    /// Whether chunks are punched out of the spool once unpacked.
    pub(crate) fn frees_spool(&self) -> bool {
        self.released.is_some()
    }

    /// Chunks `0..done` are written and verified in the spool.
    ///
    /// # Errors
    /// Why the unpacking stopped, if it did.
    pub(crate) fn advance(&mut self, done: u32) -> Result<(), String> {
        self.fill.publish(done);
        if let Some(spool) = &self.released {
            let held = spool.metadata().map_or(0, |m| m.blocks() * 512);
            self.spool_peak = self.spool_peak.max(held);
        }
        // It only ends before the last chunk on an error: say it now, not after the rest
        // of the image has been received for nothing.
        if self.thread.as_ref().is_some_and(JoinHandle::is_finished) {
            self.join();
        }
        match &self.ended {
            Some(Err(e)) => Err(e.clone()),
            _ => Ok(()),
        }
    }

    /// Waits for the unpacking of every chunk, which must all be done.
    ///
    /// # Errors
    /// Why the image could not be unpacked.
    pub(crate) fn finish(mut self) -> Result<Unpacked, String> {
        self.join();
        let bytes = self
            .ended
            .take()
            .unwrap_or_else(|| Err("the unpacking never ran".into()))?;
        Ok(Unpacked {
            bytes,
            spool_peak: self.released.is_some().then_some(self.spool_peak),
        })
    }

    fn join(&mut self) {
        if let Some(thread) = self.thread.take() {
            self.ended = Some(
                thread
                    .join()
                    .unwrap_or_else(|_| Err("the unpacking panicked".into())),
            );
        }
    }
}

impl Drop for Unpacker {
    /// A receiver that gives up stops the unpacking with it.
    fn drop(&mut self) {
        self.fill.stop();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Decodes every zstd frame of `source` into `out`, skipping skippable frames and checking
/// each frame's content checksum where it has one: the bytes written.
fn unzstd(mut source: impl BufRead, out: &mut impl Write) -> io::Result<u64> {
    let mut written = 0;
    let mut frames = 0u32;
    let mut buffer = vec![0u8; 1 << 20];
    while !source.fill_buf()?.is_empty() {
        match StreamingDecoder::new(&mut source) {
            Ok(mut frame) => {
                written += copy_frame(&mut frame, out, &mut buffer, frames)?;
                let decoder = &frame.decoder;
                if let (Some(stored), Some(computed)) = (
                    decoder.get_checksum_from_data(),
                    decoder.get_calculated_checksum(),
                ) {
                    if stored != computed {
                        return Err(invalid(format!("frame {frames} fails its checksum")));
                    }
                }
                frames += 1;
            }
            Err(FrameDecoderError::ReadFrameHeaderError(ReadFrameHeaderError::SkipFrame {
                length,
                ..
            })) => {
                let skipped = io::copy(&mut (&mut source).take(length.into()), &mut io::sink())?;
                if skipped != u64::from(length) {
                    return Err(invalid("a skippable frame is cut short".into()));
                }
            }
            Err(e) => return Err(invalid(format!("frame {frames}: {e}"))),
        }
    }
    if frames == 0 {
        return Err(invalid("no zstd frame".into()));
    }
    Ok(written)
}

/// Copies one frame's content; a read error is the frame's (bad data, or the spool cut
/// short), a write error the output's.
fn copy_frame(
    frame: &mut impl Read,
    out: &mut impl Write,
    buffer: &mut [u8],
    index: u32,
) -> io::Result<u64> {
    let mut copied = 0;
    loop {
        let n = frame
            .read(buffer)
            .map_err(|e| invalid(format!("frame {index}: {e}")))?;
        if n == 0 {
            return Ok(copied);
        }
        out.write_all(&buffer[..n])?;
        copied += n as u64;
    }
}

fn invalid(why: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `printf abc | zstd` (zstd 1.5, with its content checksum).
    const ABC: [u8; 16] = [
        0x28, 0xb5, 0x2f, 0xfd, 0x04, 0x58, 0x19, 0x00, 0x00, 0x61, 0x62, 0x63, 0x99, 0x09, 0x77,
        0xad,
    ];
    /// A skippable frame (RFC 8878 §3.1.2) of 3 bytes.
    const SKIPPABLE: [u8; 11] = [0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 1, 2, 3];

    fn unpack(bytes: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        unzstd(bytes, &mut out).map(|n| {
            assert_eq!(n, out.len() as u64);
            out
        })
    }

    #[test]
    fn frames_are_unpacked_in_order_and_skippable_ones_skipped() {
        assert_eq!(unpack(&ABC).unwrap(), b"abc");
        let two = [&ABC[..], &SKIPPABLE, &ABC].concat();
        assert_eq!(unpack(&two).unwrap(), b"abcabc");
    }

    #[test]
    fn damaged_or_foreign_input_is_refused() {
        let mut bad_checksum = ABC;
        bad_checksum[15] ^= 1;
        for bad in [
            &bad_checksum[..],
            &ABC[..10],
            b"not zstd",
            b"",
            &SKIPPABLE[..9],
        ] {
            let err = unpack(bad).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{bad:?}: {err}");
        }
    }
}
