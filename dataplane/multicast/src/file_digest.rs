//! The whole file's SHA-256, taken while the file is rebuilt rather than by reading it all
//! back at the end.
//!
//! SHA-256 is sequential, so chunks are hashed in file order: a chunk completed in order is
//! hashed from the bytes still in memory; one completed ahead of the chunks before it waits in
//! the output and is read back once the gap closes (the assembly does that read). Without
//! loss nearly every chunk completes in order, so the receiver's end-of-file read-back (a copy
//! and a hash of every byte, while the session idles) becomes a hash in passing.

use sha2::{Digest, Sha256};

/// The SHA-256 of the file's first [`FileDigest::next`] chunks.
#[derive(Clone, Default)]
pub struct FileDigest {
    hash: Sha256,
    next: u32,
}

impl FileDigest {
    /// Nothing hashed yet.
    pub fn new() -> FileDigest {
        FileDigest::default()
    }

    /// The chunk the hash takes next.
    pub fn next(&self) -> u32 {
        self.next
    }

    /// Hashes `bytes` if they are chunk [`FileDigest::next`]; `false` (and nothing hashed)
    /// for any other chunk.
    pub fn take(&mut self, chunk: u32, bytes: &[u8]) -> bool {
        if chunk != self.next {
            return false;
        }
        self.hash.update(bytes);
        self.next += 1;
        true
    }

    /// The digest, once all `chunks` chunks are hashed.
    pub fn finish(&self, chunks: u32) -> Option<[u8; 32]> {
        (self.next == chunks).then(|| self.hash.clone().finalize().into())
    }

    /// Starts over: a chunk already hashed turned out damaged in the output.
    pub fn reset(&mut self) {
        *self = FileDigest::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_in_order_give_the_files_sha256() {
        let mut d = FileDigest::new();
        assert!(d.take(0, b"ab"));
        assert_eq!(d.finish(2), None);
        assert!(d.take(1, b"c"));
        // FIPS 180-2's own example: SHA-256("abc").
        let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        let got: String = d
            .finish(2)
            .unwrap()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(got, abc);
    }

    #[test]
    fn a_chunk_out_of_order_is_not_hashed() {
        let mut d = FileDigest::new();
        assert!(!d.take(1, b"c"));
        assert_eq!(d.next(), 0);
        assert!(d.take(0, b"ab"));
        d.reset();
        assert_eq!(d.next(), 0);
        assert_eq!(d.finish(0), Some(Sha256::digest(b"").into()));
    }
}
