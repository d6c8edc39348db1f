//! What a load client checks the bytes it received against. With a local copy of the file,
//! each piece is compared with the copy's bytes at its offset as it arrives: a memcmp costs a
//! small part of what SHA-256 does per byte, and hashing was what bounded the clients' core
//! in the storms (three quarters of `boot-storm`'s time), so the client, not the server, set the
//! result. Without a copy, the bytes are hashed, to compare with a given digest or across
//! clients.

use sha2::{Digest, Sha256};

use crate::digest::Sha256Digest;

/// What a client could tell about a file it received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// There was a local copy: were the bytes exactly the copy's?
    AgainstCopy { equal: bool },
    /// No local copy: the bytes' SHA-256.
    Digest(Sha256Digest),
}

/// Checks one download as its pieces arrive, in order.
#[derive(Debug, Clone)]
pub enum Verifier<'a> {
    /// Against a local copy.
    Compare {
        copy: &'a [u8],
        at: usize,
        equal: bool,
    },
    /// By SHA-256.
    Hash(Sha256),
}

impl<'a> Verifier<'a> {
    /// Compares with `copy`.
    pub fn against(copy: &'a [u8]) -> Self {
        Verifier::Compare {
            copy,
            at: 0,
            equal: true,
        }
    }

    /// Hashes.
    pub fn hashing() -> Self {
        Verifier::Hash(Sha256::new())
    }

    /// The next piece of the file.
    pub fn feed(&mut self, piece: &[u8]) {
        match self {
            Verifier::Compare { copy, at, equal } => {
                let end = *at + piece.len();
                *equal &= copy.get(*at..end) == Some(piece);
                *at = end;
            }
            Verifier::Hash(hasher) => hasher.update(piece),
        }
    }

    /// What the pieces so far add up to.
    pub fn check(&self) -> Check {
        match self {
            Verifier::Compare { copy, at, equal } => Check::AgainstCopy {
                equal: *equal && *at == copy.len(),
            },
            Verifier::Hash(hasher) => Check::Digest(hasher.clone().finalize().into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compare(copy: &[u8], pieces: &[&[u8]]) -> bool {
        let mut v = Verifier::against(copy);
        for piece in pieces {
            v.feed(piece);
        }
        v.check() == Check::AgainstCopy { equal: true }
    }

    #[test]
    fn comparison_wants_every_byte_in_place_and_nothing_more() {
        assert!(compare(b"kernel", &[b"ker", b"", b"nel"]));
        assert!(!compare(b"kernel", &[b"ker", b"nal"]));
        assert!(!compare(b"kernel", &[b"kern"]), "short");
        assert!(!compare(b"kernel", &[b"kernel", b"!"]), "long");
        assert!(!compare(b"kernel", &[b"nel", b"ker"]), "out of order");
        assert!(compare(b"", &[]));
    }

    #[test]
    fn hashing_gives_the_digest_of_all_pieces() {
        let mut v = Verifier::hashing();
        v.feed(b"a");
        v.feed(b"bc");
        assert_eq!(v.check(), Check::Digest(Sha256::digest(b"abc").into()));
    }
}
