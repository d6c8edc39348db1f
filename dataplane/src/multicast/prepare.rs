//! Before a session is announced: the SHA-256 of the whole file and of every chunk (the
//! manifest's), and the file's last symbol zero-padded (every datagram of a session has the
//! same size). Runs on the session's own thread, never the caller's: hashing a 4 GiB image
//! takes seconds.
//!
//! The file's bytes are read with `pread` through the blob, never through its mapping (the
//! rule of [`crate::sys`]): a file truncated underneath is an error here, not a SIGBUS.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use multicast::Geometry;
use sha2::{Digest, Sha256};

use crate::blob::{Blob, BlobSlice};

/// What preparation found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hashes {
    /// The whole file, lowercase hex.
    pub(crate) sha256: String,
    /// Every chunk, lowercase hex.
    pub(crate) chunks: Vec<String>,
}

/// Hashes `blob` cut by `geometry`; `Ok(None)` if `cancelled` was set meanwhile.
///
/// # Errors
/// Reading failed (the file shrank or vanished).
pub(crate) fn hash(
    blob: &Arc<Blob>,
    geometry: &Geometry,
    cancelled: &AtomicBool,
) -> io::Result<Option<Hashes>> {
    let mut whole = Sha256::new();
    let mut chunks = Vec::with_capacity(geometry.chunks() as usize);
    let mut buf = vec![0u8; 1 << 20];
    for chunk in 0..geometry.chunks() {
        if cancelled.load(Ordering::Relaxed) {
            return Ok(None);
        }
        let range = geometry.chunk_range(chunk);
        let slice = BlobSlice::new(blob.clone(), range.start, range.end - range.start)
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "file shrank"))?;
        let mut part = Sha256::new();
        slice.read_in_chunks(&mut buf, |bytes| {
            part.update(bytes);
            whole.update(bytes);
        })?;
        chunks.push(format!("{:x}", part.finalize()));
    }
    Ok(Some(Hashes {
        sha256: format!("{:x}", whole.finalize()),
        chunks,
    }))
}

/// The file's last symbol padded to a whole symbol, when the file does not end on a symbol
/// boundary; `None` when it does (or is empty).
///
/// # Errors
/// Reading failed.
pub(crate) fn padded_tail(blob: &Arc<Blob>, geometry: &Geometry) -> io::Result<Option<Arc<Blob>>> {
    let symbol = u64::from(geometry.symbol_size);
    let short = geometry.size % symbol;
    if short == 0 {
        return Ok(None);
    }
    let mut tail = vec![0u8; usize::from(geometry.symbol_size)];
    let slice = BlobSlice::new(blob.clone(), geometry.size - short, short)
        .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "file shrank"))?;
    let mut at = 0;
    slice.read_in_chunks(&mut [0u8; 4096], |bytes| {
        tail[at..at + bytes.len()].copy_from_slice(bytes);
        at += bytes.len();
    })?;
    Ok(Some(Blob::from_vec(tail, 0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_every_chunk_and_the_whole_file() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
        let blob = Blob::from_vec(data.clone(), 0);
        let g = Geometry {
            size: 1000,
            symbol_size: 16,
            chunk_symbols: 20,
        };
        let hashes = hash(&blob, &g, &AtomicBool::new(false)).unwrap().unwrap();
        let hex = |b: &[u8]| format!("{:x}", Sha256::digest(b));
        assert_eq!(hashes.sha256, hex(&data));
        assert_eq!(hashes.chunks.len(), 4);
        assert_eq!(hashes.chunks[0], hex(&data[..320]));
        assert_eq!(hashes.chunks[3], hex(&data[960..]));
        assert_eq!(hash(&blob, &g, &AtomicBool::new(true)).unwrap(), None);
    }

    #[test]
    fn the_last_symbol_is_padded_with_zeros() {
        let blob = Blob::from_vec((1..=20).collect(), 0);
        let g = Geometry {
            size: 20,
            symbol_size: 8,
            chunk_symbols: 2,
        };
        let tail = padded_tail(&blob, &g).unwrap().unwrap();
        let mut got = [0u8; 8];
        tail.read_at(0, &mut got).unwrap();
        assert_eq!(got, [17, 18, 19, 20, 0, 0, 0, 0]);
        let even = Geometry { size: 16, ..g };
        assert!(padded_tail(&blob, &even).unwrap().is_none());
    }
}
