//! Request names to catalog keys. TFTP filenames and HTTP paths are hostile input: this is the
//! single place that decides what a name means, so TFTP and HTTP cannot disagree about it.
//!
//! A key is a `/`-separated relative path with no empty, `.` or `..` segments. Backslashes
//! become slashes and leading slashes are dropped (PXE ROMs send `\pxelinux.0`, `/ipxe.efi`).
//! Any `..` segment is refused outright rather than resolved: nothing legitimate needs it.

use std::fmt;

/// Why a requested name was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    /// A `..` segment: an attempt to leave the served root.
    Escape,
    /// NUL or other control bytes, invalid UTF-8, or bad percent-encoding.
    Malformed,
    /// Nothing left after normalisation.
    Empty,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PathError::Escape => "path escapes the served root",
            PathError::Malformed => "malformed path",
            PathError::Empty => "empty path",
        })
    }
}

impl std::error::Error for PathError {}

/// Longest name accepted, in bytes, after decoding.
pub const MAX_NAME: usize = 4096;

/// Normalises a raw name (TFTP filename, or an HTTP path already percent-decoded) into the key
/// form written into `out` (cleared first). `out` is reused across requests: no allocation once
/// it has grown.
///
/// # Errors
/// [`PathError`] when the name is empty, malformed or tries to escape.
pub fn normalize_into(raw: &[u8], out: &mut String) -> Result<(), PathError> {
    out.clear();
    if raw.len() > MAX_NAME {
        return Err(PathError::Malformed);
    }
    let text = std::str::from_utf8(raw).map_err(|_| PathError::Malformed)?;
    if text.chars().any(char::is_control) {
        return Err(PathError::Malformed);
    }
    for segment in text.split(['/', '\\']) {
        match segment {
            "" | "." => {}
            ".." => return Err(PathError::Escape),
            s => {
                if !out.is_empty() {
                    out.push('/');
                }
                out.push_str(s);
            }
        }
    }
    if out.is_empty() {
        return Err(PathError::Empty);
    }
    Ok(())
}

/// Percent-decodes an HTTP path (without its query) into `out` (cleared first). `+` is kept:
/// it means space only in query strings.
///
/// # Errors
/// [`PathError::Malformed`] for a truncated or non-hex escape, or a decoded NUL.
pub fn percent_decode_into(raw: &[u8], out: &mut Vec<u8>) -> Result<(), PathError> {
    out.clear();
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        if b == b'%' {
            let hi = raw.get(i + 1).and_then(|c| hex(*c));
            let lo = raw.get(i + 2).and_then(|c| hex(*c));
            match (hi, lo) {
                (Some(h), Some(l)) => out.push(h << 4 | l),
                _ => return Err(PathError::Malformed),
            }
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    if out.contains(&0) {
        return Err(PathError::Malformed);
    }
    Ok(())
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(raw: &str) -> Result<String, PathError> {
        let mut out = String::new();
        normalize_into(raw.as_bytes(), &mut out).map(|()| out)
    }

    #[test]
    fn firmware_spellings_normalise() {
        assert_eq!(norm("/ipxe.efi").unwrap(), "ipxe.efi");
        assert_eq!(
            norm("\\boot\\x64\\wdsnbp.com").unwrap(),
            "boot/x64/wdsnbp.com"
        );
        assert_eq!(norm("//isos/./a b.iso").unwrap(), "isos/a b.iso");
        assert_eq!(norm("files/é.txt").unwrap(), "files/é.txt");
    }

    #[test]
    fn escapes_are_refused() {
        for bad in [
            "../../etc/passwd",
            "/..",
            "a/../../b",
            "..\\..\\etc\\passwd",
            "a/..",
        ] {
            assert_eq!(norm(bad), Err(PathError::Escape), "{bad}");
        }
        assert_eq!(norm("a\0b"), Err(PathError::Malformed));
        assert_eq!(norm("/"), Err(PathError::Empty));
        assert_eq!(norm(""), Err(PathError::Empty));
    }

    #[test]
    fn percent_decoding() {
        let mut out = Vec::new();
        percent_decode_into(b"/a%20b/%2e%2e%2Fetc", &mut out).unwrap();
        assert_eq!(out, b"/a b/../etc");
        let mut key = String::new();
        assert_eq!(normalize_into(&out, &mut key), Err(PathError::Escape));
        assert!(percent_decode_into(b"/a%2", &mut out).is_err());
        assert!(percent_decode_into(b"/a%zz", &mut out).is_err());
        assert!(percent_decode_into(b"/a%00", &mut out).is_err());
    }
}
