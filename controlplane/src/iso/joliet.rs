//! Joliet (Microsoft, 1995): a supplementary volume descriptor (ECMA-119 §8.5) whose escape
//! sequences `%/@`, `%/C` or `%/E` (UCS-2 levels 1-3) mark a second directory tree with
//! UCS-2 big-endian file identifiers.

/// Whether a supplementary volume descriptor's escape sequences field (bytes 88..120) names
/// a Joliet UCS-2 level.
pub(crate) fn is_joliet_escape(field: &[u8]) -> bool {
    field
        .windows(3)
        .any(|w| matches!(w, [b'%', b'/', b'@' | b'C' | b'E']))
}

/// Decodes a Joliet file identifier: UCS-2 big-endian (surrogate pairs accepted, broken ones
/// replaced), with the `;1` version suffix stripped. An odd trailing byte is ignored.
pub(crate) fn name(raw: &[u8]) -> String {
    let units = raw
        .chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]));
    let mut s: String = char::decode_utf16(units)
        .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect();
    if let Some(semi) = s.rfind(';') {
        if s[semi + 1..].chars().all(|c| c.is_ascii_digit()) {
            s.truncate(semi);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ucs2(s: &str) -> Vec<u8> {
        s.encode_utf16().flat_map(|u| u.to_be_bytes()).collect()
    }

    #[test]
    fn decodes_names() {
        assert_eq!(name(&ucs2("vmlinuz;1")), "vmlinuz");
        assert_eq!(name(&ucs2("Grüße.txt;1")), "Grüße.txt");
        assert_eq!(name(&ucs2("dir")), "dir");
        assert_eq!(name(&ucs2("a;b")), "a;b");
        assert_eq!(name(&ucs2("😀;1")), "😀");
        // Lone surrogate and odd byte.
        assert_eq!(name(&[0xD8, 0x00, 0, b'a', 7]), "\u{FFFD}a");
    }

    #[test]
    fn escape_sequences() {
        let mut f = [0u8; 32];
        assert!(!is_joliet_escape(&f));
        f[..3].copy_from_slice(b"%/E");
        assert!(is_joliet_escape(&f));
        f[2] = b'X';
        assert!(!is_joliet_escape(&f));
    }
}
