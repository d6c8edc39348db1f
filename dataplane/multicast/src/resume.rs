//! A receiver's resume record: which chunks of which file are already written and verified,
//! so a restarted receiver asks only for the rest.
//!
//! ```text
//! "FBRESUME" | version u8 | session u32 | sha256 [32] | chunks u32 | done bitmap
//! ```
//! Integers big-endian; the bitmap as [`Bitmap::to_bytes`] (≈ 800 bytes for a 4 GiB image).
//! A record names its session and the file's SHA-256: a record left by another session, or
//! by the same session id sending another file, is refused rather than trusted.

use crate::bitmap::Bitmap;

const MAGIC: &[u8; 8] = b"FBRESUME";
const VERSION: u8 = 1;
const HEAD_LEN: usize = MAGIC.len() + 1 + 4 + 32 + 4;

/// What a resume record says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResumeRecord {
    /// The session it belongs to.
    pub session: u32,
    /// SHA-256 of the whole file.
    pub sha256: [u8; 32],
    /// Chunks written and verified.
    pub done: Bitmap,
}

/// Why a record cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResumeError {
    /// Not a record of this format or version, or cut short.
    Malformed,
    /// A record of another session or file.
    OtherSession,
}

impl std::fmt::Display for ResumeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ResumeError::Malformed => "not a resume record of this version",
            ResumeError::OtherSession => "the record belongs to another session or file",
        })
    }
}

impl std::error::Error for ResumeError {}

impl ResumeRecord {
    /// The record as bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEAD_LEN + self.done.len().div_ceil(8) as usize);
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        out.extend_from_slice(&self.session.to_be_bytes());
        out.extend_from_slice(&self.sha256);
        out.extend_from_slice(&self.done.len().to_be_bytes());
        out.extend_from_slice(&self.done.to_bytes());
        out
    }

    /// Reads a record, accepting it only if it is of `session`, whose file has `sha256` and
    /// `chunks` chunks.
    pub fn decode(
        bytes: &[u8],
        session: u32,
        sha256: &[u8; 32],
        chunks: u32,
    ) -> Result<ResumeRecord, ResumeError> {
        let (head, bitmap) = bytes
            .split_first_chunk::<HEAD_LEN>()
            .ok_or(ResumeError::Malformed)?;
        let (magic, rest) = head.split_at(MAGIC.len());
        if magic != MAGIC || rest[0] != VERSION {
            return Err(ResumeError::Malformed);
        }
        let word =
            |at: usize| u32::from_be_bytes([rest[at], rest[at + 1], rest[at + 2], rest[at + 3]]);
        let record_session = word(1);
        let record_sha: &[u8] = &rest[5..37];
        let record_chunks = word(37);
        if record_session != session || record_sha != sha256 || record_chunks != chunks {
            return Err(ResumeError::OtherSession);
        }
        let done = Bitmap::from_bytes(chunks, bitmap).ok_or(ResumeError::Malformed)?;
        Ok(ResumeRecord {
            session,
            sha256: *sha256,
            done,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> ResumeRecord {
        let mut done = Bitmap::new(6242);
        for c in (0..6242).step_by(3) {
            done.set(c);
        }
        ResumeRecord {
            session: 0x0102_0304,
            sha256: [7; 32],
            done,
        }
    }

    #[test]
    fn round_trip_in_a_few_hundred_bytes() {
        let r = record();
        let bytes = r.encode();
        assert_eq!(bytes.len(), HEAD_LEN + 781);
        assert_eq!(
            ResumeRecord::decode(&bytes, r.session, &r.sha256, 6242),
            Ok(r)
        );
    }

    #[test]
    fn another_sessions_record_is_refused() {
        let r = record();
        let bytes = r.encode();
        let other = ResumeRecord::decode(&bytes, r.session + 1, &r.sha256, 6242);
        assert_eq!(other, Err(ResumeError::OtherSession));
        let other_file = ResumeRecord::decode(&bytes, r.session, &[8; 32], 6242);
        assert_eq!(other_file, Err(ResumeError::OtherSession));
        let other_size = ResumeRecord::decode(&bytes, r.session, &r.sha256, 6243);
        assert_eq!(other_size, Err(ResumeError::OtherSession));
    }

    #[test]
    fn damaged_records_are_refused() {
        let r = record();
        let bytes = r.encode();
        let decode = |b: &[u8]| ResumeRecord::decode(b, r.session, &r.sha256, 6242);
        assert_eq!(
            decode(&bytes[..bytes.len() - 1]),
            Err(ResumeError::Malformed)
        );
        assert_eq!(decode(&bytes[..10]), Err(ResumeError::Malformed));
        let mut wrong_magic = bytes.clone();
        wrong_magic[0] = b'X';
        assert_eq!(decode(&wrong_magic), Err(ResumeError::Malformed));
        let mut wrong_version = bytes;
        wrong_version[8] = 2;
        assert_eq!(decode(&wrong_version), Err(ResumeError::Malformed));
    }
}
