//! Ethernet hardware addresses: the key clients are known by.

use std::fmt;
use std::str::FromStr;

/// A 48-bit MAC address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mac(pub [u8; 6]);

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

impl fmt::Debug for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Mac {
    type Err = String;

    /// Accepts `52:54:00:12:34:56`, `52-54-00-12-34-56` (iPXE's `hexhyp`) and `525400123456`,
    /// in either case.
    fn from_str(s: &str) -> Result<Mac, String> {
        let digits: Vec<u8> = s.bytes().filter(|b| !matches!(b, b':' | b'-')).collect();
        let bad = || format!("{s:?} is not a MAC address (like 52:54:00:12:34:56)");
        if digits.len() != 12 || s.len() > 17 || !digits.iter().all(u8::is_ascii_hexdigit) {
            return Err(bad());
        }
        let mut mac = [0u8; 6];
        for (byte, pair) in mac.iter_mut().zip(digits.chunks(2)) {
            let pair = std::str::from_utf8(pair).map_err(|_| bad())?;
            *byte = u8::from_str_radix(pair, 16).map_err(|_| bad())?;
        }
        Ok(Mac(mac))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_usual_spelling() {
        let want = Mac([0x52, 0x54, 0, 0x12, 0x34, 0xab]);
        for s in ["52:54:00:12:34:ab", "52-54-00-12-34-AB", "5254001234ab"] {
            assert_eq!(s.parse::<Mac>().unwrap(), want, "{s}");
        }
        assert_eq!(want.to_string(), "52:54:00:12:34:ab");
        for s in [
            "",
            "52:54:00:12:34",
            "52:54:00:12:34:zz",
            "52:54:00:12:34:56:78",
            "+2:54:00:12:34:56",
        ] {
            assert!(s.parse::<Mac>().is_err(), "{s}");
        }
    }
}
