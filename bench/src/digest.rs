//! SHA-256 digests: what a transfer's bytes are checked against.

use std::io::{self, Read};
use std::path::Path;

use sha2::{Digest, Sha256};

/// A SHA-256 digest.
pub type Sha256Digest = [u8; 32];

/// The digest of a local file, read in 1 MiB chunks.
///
/// # Errors
/// Opening or reading the file.
pub fn of_file(path: &Path) -> io::Result<Sha256Digest> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(hasher.finalize().into());
        }
        hasher.update(&buf[..n]);
    }
}

/// Parses 64 hex digits.
pub fn parse_hex(s: &str) -> Option<Sha256Digest> {
    let s = s.trim();
    if s.len() != 64 || !s.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// Lower-case hex.
pub fn hex(d: &Sha256Digest) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_of_known_digest() {
        let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        let d: Sha256Digest = Sha256::digest(b"abc").into();
        assert_eq!(hex(&d), abc);
        assert_eq!(parse_hex(abc), Some(d));
        assert_eq!(parse_hex("abc"), None);
        assert_eq!(parse_hex(&abc.replace('a', "g")), None);
    }
}
