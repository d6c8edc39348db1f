//! SHA-256 digests, written and read as hex.

/// A SHA-256 digest.
pub type Sha256Digest = [u8; 32];

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
    use sha2::{Digest, Sha256};

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
