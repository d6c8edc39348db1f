//! HTTP-date codec (RFC 9110 §5.6.7): formats IMF-fixdate, e.g.
//! `Sun, 06 Nov 1994 08:49:37 GMT`, and parses it together with the obsolete RFC 850
//! (`Sunday, 06-Nov-94 08:49:37 GMT`) and asctime (`Sun Nov  6 08:49:37 1994`) forms that
//! recipients must accept. No allocation; invalid input gives `None`, never a panic.

use super::http::{find, parse_u64, trim_ows};

const DAYS: [&[u8; 3]; 7] = [b"Sun", b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat"];
const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];
/// 9999-12-31T23:59:59Z: the last instant a four-digit year can show.
const MAX_DATE: u64 = 253_402_300_799;

/// Formats `unix_secs` as an IMF-fixdate (RFC 9110 §5.6.7), e.g.
/// `Sun, 06 Nov 1994 08:49:37 GMT`, into `out`. Times past year 9999 are clamped.
pub fn http_date(unix_secs: u64, out: &mut [u8; 29]) -> &str {
    let secs = unix_secs.min(MAX_DATE);
    let (days, in_day) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    *out = *b"Thu, 01 Jan 1970 00:00:00 GMT";
    // 1970-01-01 was a Thursday.
    out[..3].copy_from_slice(DAYS[(days % 7 + 4) as usize % 7]);
    out[8..11].copy_from_slice(MONTHS[(month as usize + 11) % 12]);
    let fields = [(5, day), (12, year / 100), (14, year % 100)];
    let time = [
        (17, in_day / 3600),
        (20, in_day / 60 % 60),
        (23, in_day % 60),
    ];
    for (at, n) in fields.into_iter().chain(time) {
        out[at] = b'0' + (n / 10 % 10) as u8;
        out[at + 1] = b'0' + (n % 10) as u8;
    }
    std::str::from_utf8(out).unwrap_or_default()
}

/// Whether `s` has the shape of `pattern`: `#` is a digit, `?` any byte, others themselves.
fn fits(s: &[u8], pattern: &[u8]) -> bool {
    s.len() == pattern.len()
        && s.iter().zip(pattern).all(|(&c, &p)| match p {
            b'#' => c.is_ascii_digit(),
            b'?' => true,
            _ => c == p,
        })
}

/// Parses an HTTP-date (RFC 9110 §5.6.7): IMF-fixdate, and the obsolete RFC 850 and asctime
/// forms recipients must accept. `None` for anything invalid or before 1970.
pub fn parse_http_date(s: &[u8]) -> Option<u64> {
    let day_name = |b: &[u8]| DAYS.iter().any(|d| d[..] == *b);
    let month = |b: &[u8]| {
        MONTHS
            .iter()
            .position(|m| m[..] == *b)
            .map(|i| i as u64 + 1)
    };
    let num = |b: &[u8]| parse_u64(trim_ows(b));
    let imf = fits(s, b"???, ## ??? #### ##:##:## GMT");
    let (day, mon, year, time) =
        if (imf || fits(s, b"??? ??? ?# ##:##:## ####")) && day_name(&s[..3]) {
            // IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT" or asctime "Sun Nov  6 08:49:37 1994".
            let at = |fixdate: usize, asctime: usize, n: usize| {
                let i = if imf { fixdate } else { asctime };
                &s[i..i + n]
            };
            (
                num(at(5, 8, 2))?,
                month(at(8, 4, 3))?,
                num(at(12, 20, 4))?,
                at(17, 11, 8),
            )
        } else {
            // RFC 850: Sunday, 06-Nov-94 08:49:37 GMT
            let (name, rest) = s.split_at(find(s, b',')?);
            let long = b"Sunday Monday Tuesday Wednesday Thursday Friday Saturday";
            if !long.split(|&b| b == b' ').any(|d| d == name)
                || !fits(rest, b", ##-???-## ##:##:## GMT")
            {
                return None;
            }
            // Two-digit years: 70-99 are 19xx, the rest 20xx (RFC 9110 §5.6.7 leaves it open).
            let yy = num(&rest[9..11])?;
            (
                num(&rest[2..4])?,
                month(&rest[5..8])?,
                yy + if yy >= 70 { 1900 } else { 2000 },
                &rest[12..20],
            )
        };
    let (h, m, sec) = (num(&time[..2])?, num(&time[3..5])?, num(&time[6..])?);
    let leap = u64::from(year % 4 == 0 && (year % 100 != 0 || year % 400 == 0));
    let month_days = [31, 28 + leap, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let day_ok = day >= 1 && day <= month_days[(mon as usize + 11) % 12];
    if !(1970..=9999).contains(&year) || !day_ok || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    Some(days_from_civil(year, mon, day) * 86_400 + h * 3600 + m * 60 + sec)
}

/// Days since 1970-01-01 to (year, month, day); H. Hinnant's civil calendar algorithm.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let (era, doe) = (z / 146_097, z % 146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + u64::from(month <= 2), month, day)
}

/// Inverse of [`civil_from_days`], for years from 1970.
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let y = year - u64::from(month <= 2);
    let (era, yoe) = (y / 400, y % 400);
    let doy = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::http::tests::xorshift;

    #[test]
    fn http_dates() {
        let mut buf = [0u8; 29];
        let known = [
            (784_111_777, "Sun, 06 Nov 1994 08:49:37 GMT"),
            (0, "Thu, 01 Jan 1970 00:00:00 GMT"),
            (951_782_400, "Tue, 29 Feb 2000 00:00:00 GMT"),
            (u64::MAX, "Fri, 31 Dec 9999 23:59:59 GMT"),
        ];
        for (t, text) in known {
            assert_eq!(http_date(t, &mut buf), text);
        }
        let forms = ["Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994"];
        for s in forms {
            assert_eq!(parse_http_date(s.as_bytes()), Some(784_111_777), "{s:?}");
        }
        let bad = [
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 30 Feb 1994 08:49:37 GMT",
            "Sun, 06 Nov 1969 08:49:37 GMT",
            "Sun, 06 Nov 1994 24:49:37 GMT",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT ",
            "",
        ];
        for s in bad {
            assert_eq!(parse_http_date(s.as_bytes()), None, "{s:?}");
        }
        // Round trip over the whole representable range.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..20_000 {
            x = xorshift(x);
            let t = x % (MAX_DATE + 1);
            assert_eq!(parse_http_date(http_date(t, &mut buf).as_bytes()), Some(t));
        }
    }
}
