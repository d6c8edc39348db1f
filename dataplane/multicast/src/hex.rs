//! Hashes as the manifest writes them: lowercase hex.

/// `bytes` in lowercase hex.
pub fn encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `N` bytes from `2 × N` hex digits (either case); `None` if `hex` is not that.
pub fn decode<const N: usize>(hex: &str) -> Option<[u8; N]> {
    // Digits only: `from_str_radix` alone would take "+f" as 15.
    if hex.len() != 2 * N || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; N];
    for (byte, pair) in out.iter_mut().zip(hex.as_bytes().chunks(2)) {
        *byte = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_what_is_not_hex_of_the_length() {
        assert_eq!(encode(&[0x0f, 0xa5]), "0fa5");
        assert_eq!(decode::<2>("0fa5"), Some([0x0f, 0xa5]));
        assert_eq!(decode::<2>("0FA5"), Some([0x0f, 0xa5]));
        assert_eq!(decode::<32>(&encode(&[0xa5; 32])), Some([0xa5; 32]));
        assert_eq!(decode::<2>("0fa"), None);
        assert_eq!(decode::<2>("0fa500"), None);
        assert_eq!(decode::<2>("zzzz"), None);
        assert_eq!(decode::<2>("+f+f"), None);
        assert_eq!(decode::<2>("éé"), None);
    }
}
