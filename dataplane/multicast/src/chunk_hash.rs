//! The per-chunk check: XXH3-128 of each chunk's bytes, in the manifest beside the whole
//! file's SHA-256.
//!
//! The two hashes do different jobs. The whole file's SHA-256, checked by every receiver at
//! the end, is what makes a copy trustworthy. The chunks' hashes only say *which* chunk to
//! receive again when something went wrong on the way (a decode fed a damaged symbol, a
//! write the output lost, a crash before a resume). For that a 128-bit non-cryptographic
//! hash misses a random error with odds of 2⁻¹²⁸, and a forged chunk that matched it would
//! still fail the SHA-256. With SHA-256 for both, a receiver hashed every byte twice: at
//! 512 MiB to 8 receivers on one two-core lab machine that was a fifth of all its CPU.
//! XXH3 runs at memory speed.

use xxhash_rust::xxh3::{xxh3_128, Xxh3};

/// A chunk's hash.
pub type ChunkHash = [u8; 16];

/// The hash of a chunk's `bytes`.
pub fn chunk_hash(bytes: &[u8]) -> ChunkHash {
    xxh3_128(bytes).to_be_bytes()
}

/// A chunk's hash taken piece by piece, for a chunk read in pieces.
#[derive(Clone, Default)]
pub struct ChunkHasher(Xxh3);

impl ChunkHasher {
    /// Nothing hashed yet.
    pub fn new() -> ChunkHasher {
        ChunkHasher::default()
    }

    /// Takes the chunk's next `bytes`.
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// The hash of everything taken.
    pub fn finish(&self) -> ChunkHash {
        self.0.digest128().to_be_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hex;

    #[test]
    fn matches_the_reference_vectors() {
        // XXH3-128, seed 0, as `xxhsum -H2` prints them.
        assert_eq!(
            hex::encode(&chunk_hash(b"")),
            "99aa06d3014798d86001c324468d497f"
        );
        assert_eq!(
            hex::encode(&chunk_hash(b"abc")),
            "06b05ab6733a618578af5f94892f3950"
        );
    }

    #[test]
    fn pieces_hash_as_the_whole() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut pieces = ChunkHasher::new();
        for piece in data.chunks(4096 + 13) {
            pieces.update(piece);
        }
        assert_eq!(pieces.finish(), chunk_hash(&data));
        assert_ne!(chunk_hash(&data[1..]), chunk_hash(&data));
    }
}
