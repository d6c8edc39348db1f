//! Before a session is announced: the SHA-256 of the whole file and the XXH3 of every chunk
//! (the manifest's), and the file's last symbol zero-padded (every datagram of a session has the
//! same size). Runs on the session's own thread, never the caller's: hashing a 4 GiB image
//! takes seconds. A file's hashes are kept ([`HashCache`]): its next session starts at once.
//!
//! The file's bytes are read with `pread` through the blob, never through its mapping (the
//! rule of [`crate::sys`]): a file truncated underneath is an error here, not a SIGBUS.

use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use multicast::{hex, ChunkHasher, Geometry};
use sha2::{Digest, Sha256};

use crate::blob::{Blob, BlobSlice};

/// What preparation found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hashes {
    /// The whole file, lowercase hex.
    pub(crate) sha256: String,
    /// Every chunk's XXH3-128, lowercase hex.
    pub(crate) chunks: Vec<String>,
}

/// Hashes `blob` cut by `geometry`, in one pass: the whole file's SHA-256 and each chunk's
/// XXH3 side by side; `Ok(None)` if `cancelled` was set meanwhile.
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
    let done = each_chunk(blob, geometry, cancelled, |slice, buf| {
        let mut part = ChunkHasher::new();
        slice.read_in_chunks(buf, |bytes| {
            whole.update(bytes);
            part.update(bytes);
        })?;
        chunks.push(hex::encode(&part.finish()));
        Ok(())
    })?;
    Ok(done.then(|| Hashes {
        sha256: format!("{:x}", whole.finalize()),
        chunks,
    }))
}

/// Calls `visit` with every chunk of `blob` in order and a read buffer; `Ok(false)` if
/// `cancelled` was set meanwhile.
fn each_chunk(
    blob: &Arc<Blob>,
    geometry: &Geometry,
    cancelled: &AtomicBool,
    mut visit: impl FnMut(&BlobSlice, &mut [u8]) -> io::Result<()>,
) -> io::Result<bool> {
    let mut buf = vec![0u8; 1 << 20];
    for chunk in 0..geometry.chunks() {
        if cancelled.load(Ordering::Relaxed) {
            return Ok(false);
        }
        let range = geometry.chunk_range(chunk);
        let slice = BlobSlice::new(blob.clone(), range.start, range.end - range.start)
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "file shrank"))?;
        visit(&slice, &mut buf)?;
    }
    Ok(true)
}

/// Hashes of files already prepared, by file version (inode, size, mtime: the blob's ETag)
/// and geometry: a manifest's hashes are a property of the file, so a second session of the
/// same image — the next deploy, the next rack — is announced at once, not after seconds of
/// hashing. Bounded; the oldest entry goes first.
#[derive(Debug, Default)]
pub(crate) struct HashCache {
    entries: Mutex<VecDeque<(String, Arc<Hashes>)>>,
}

/// Files whose hashes are kept.
const CACHED_FILES: usize = 32;

impl HashCache {
    /// The hashes of `blob` cut by `geometry`, from the cache or made now (see [`hash`]).
    ///
    /// # Errors
    /// Reading failed.
    pub(crate) fn hashes(
        &self,
        blob: &Arc<Blob>,
        geometry: &Geometry,
        cancelled: &AtomicBool,
    ) -> io::Result<Option<Arc<Hashes>>> {
        let key = format!(
            "{} {} {} {}",
            blob.etag(),
            geometry.size,
            geometry.symbol_size,
            geometry.chunk_symbols
        );
        if let Some((_, h)) = self.lock().iter().find(|(k, _)| *k == key) {
            return Ok(Some(h.clone()));
        }
        let Some(hashes) = hash(blob, geometry, cancelled)?.map(Arc::new) else {
            return Ok(None);
        };
        let mut entries = self.lock();
        if entries.len() >= CACHED_FILES {
            entries.pop_front();
        }
        entries.push_back((key, hashes.clone()));
        Ok(Some(hashes))
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<(String, Arc<Hashes>)>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
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
    use multicast::chunk_hash;

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
        assert_eq!(hashes.sha256, format!("{:x}", Sha256::digest(&data)));
        let hex = |b: &[u8]| hex::encode(&chunk_hash(b));
        assert_eq!(hashes.chunks.len(), 4);
        assert_eq!(hashes.chunks[0], hex(&data[..320]));
        assert_eq!(hashes.chunks[3], hex(&data[960..]));
        assert_eq!(hash(&blob, &g, &AtomicBool::new(true)).unwrap(), None);
    }

    #[test]
    fn the_cache_hashes_a_file_version_once() {
        let dir = std::env::temp_dir().join(format!("fleetboot-hashes-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("image");
        std::fs::write(&path, vec![7u8; 1000]).unwrap();
        let g = Geometry {
            size: 1000,
            symbol_size: 16,
            chunk_symbols: 20,
        };
        let cache = HashCache::default();
        let no = AtomicBool::new(false);
        let blob = Blob::map_file(&path).unwrap();
        let first = cache.hashes(&blob, &g, &no).unwrap().unwrap();
        let again = cache
            .hashes(&Blob::map_file(&path).unwrap(), &g, &no)
            .unwrap()
            .unwrap();
        assert!(
            Arc::ptr_eq(&first, &again),
            "the same version: from the cache"
        );
        // Another geometry of the same file is another entry.
        let other = Geometry {
            chunk_symbols: 10,
            ..g
        };
        let cut = cache.hashes(&blob, &other, &no).unwrap().unwrap();
        assert_eq!(cut.chunks.len(), 7);
        // A rewritten file (new inode) is hashed again.
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, vec![8u8; 1000]).unwrap();
        let new = cache
            .hashes(&Blob::map_file(&path).unwrap(), &g, &no)
            .unwrap()
            .unwrap();
        assert_ne!(new.sha256, first.sha256);
        std::fs::remove_dir_all(&dir).unwrap();
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
