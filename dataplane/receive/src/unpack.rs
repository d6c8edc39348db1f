//! A zstd image, received and verified whole in a spool file, unpacked onto the output.
//!
//! The spool makes the received file what the rest of the receiver knows (chunks written at
//! their offsets in any order, a resume record, one SHA-256 over the bytes sent); zstd must
//! be read in order, so it is unpacked once all of it is in. ruzstd rather than the zstd C
//! library: the receiver stays pure Rust for its static musl build.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::Path;

use ruzstd::decoding::errors::{FrameDecoderError, ReadFrameHeaderError};
use ruzstd::decoding::StreamingDecoder;

use crate::output;

/// Unpacks the zstd file `spool` onto `output` (a regular file, created or truncated, or a
/// block device, written from its start): the bytes written.
///
/// # Errors
/// For people: what could not be read, decoded or written.
pub(crate) fn zstd_onto(spool: &Path, output: &Path) -> Result<u64, String> {
    let source = File::open(spool).map_err(|e| format!("cannot open {}: {e}", spool.display()))?;
    let block_device = output::is_block_device(output);
    let out = OpenOptions::new()
        .write(true)
        .create(!block_device)
        .truncate(!block_device)
        .open(output)
        .map_err(|e| format!("cannot open output {}: {e}", output.display()))?;
    let mut writer = BufWriter::with_capacity(4 << 20, &out);
    let written = unzstd(BufReader::with_capacity(1 << 20, source), &mut writer).map_err(|e| {
        format!(
            "cannot unpack {} onto {}: {e}",
            spool.display(),
            output.display()
        )
    })?;
    writer
        .flush()
        .and_then(|()| out.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", output.display()))?;
    Ok(written)
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
