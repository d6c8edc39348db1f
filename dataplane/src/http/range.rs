//! What part of a representation to send: conditional requests (RFC 9110 §13: If-None-Match,
//! If-Modified-Since, If-Range) and byte ranges (RFC 9110 §14, the RFC 7233 semantics it
//! obsoletes). The body layout for several ranges is in [`super::multipart`].
//!
//! Any Range header we cannot use exactly is ignored and the whole representation is sent:
//! that answer is always correct, so doubt never turns into an error.

use crate::wire::date::parse_http_date;
use crate::wire::http::{parse_u64, trim_ows, Method, RequestHead};

/// The validators of the representation being served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validators<'a> {
    /// Strong entity-tag, quoted, e.g. `"5f3a-10000"`.
    pub etag: &'a str,
    /// Last modification, Unix seconds.
    pub last_modified: u64,
}

/// What to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// 200 with the whole representation.
    Full,
    /// 304: the client's copy is current.
    NotModified,
    /// 206 with one range.
    Single {
        /// First byte.
        start: u64,
        /// One past the last byte.
        end_exclusive: u64,
    },
    /// 206 multipart/byteranges: disjoint, non-adjacent `(start, end_exclusive)` in request
    /// order, or sorted when overlapping or adjacent ranges had to be merged.
    Multi(Vec<(u64, u64)>),
    /// 416: no requested range overlaps the representation.
    Unsatisfiable,
}

/// Most range-specs honoured in one request; more and the full representation is sent, so
/// a request cannot turn one file into thousands of parts (range amplification).
pub const MAX_RANGES: usize = 16;

/// Decides what to send for a GET or HEAD of a representation of `len` bytes, following the
/// precedence of RFC 9110 §13.2.2: If-None-Match, else If-Modified-Since, then Range guarded
/// by If-Range. Range is honoured for GET only (RFC 9110 §14.2); a HEAD gets 200 headers.
pub fn select(req: &RequestHead<'_>, len: u64, v: &Validators<'_>) -> Selection {
    if !matches!(req.method, Method::Get | Method::Head) {
        return Selection::Full;
    }
    if let Some(inm) = req.if_none_match {
        if none_match_hits(inm, v.etag) {
            return Selection::NotModified;
        }
    } else if let Some(since) = req.if_modified_since.and_then(parse_http_date) {
        // An invalid date is ignored (RFC 9110 §13.1.3).
        if v.last_modified <= since {
            return Selection::NotModified;
        }
    }
    let (Method::Get, Some(range)) = (req.method, req.range) else {
        return Selection::Full;
    };
    if req.if_range.is_some_and(|ir| !if_range_holds(ir, v)) {
        return Selection::Full;
    }
    let mut ranges = [(0u64, 0u64); MAX_RANGES];
    let Some(n) = parse_ranges(range, len, &mut ranges) else {
        return Selection::Full;
    };
    let mut sorted = ranges;
    let merged = coalesce(&mut sorted[..n]);
    // RFC 9110 §14.6: parts SHOULD come in request order unless ranges were coalesced.
    let ranges = if merged.len() == n {
        &ranges[..n]
    } else {
        merged
    };
    match *ranges {
        [] => Selection::Unsatisfiable,
        [(start, end_exclusive)] => Selection::Single {
            start,
            end_exclusive,
        },
        _ => Selection::Multi(ranges.to_vec()),
    }
}

/// Parses a `bytes=` range set into satisfiable ranges clipped to `len`, returning how many
/// were stored. `None` means ignore the header: other unit, bad syntax, a number too big for
/// u64, `last < first`, or more than [`MAX_RANGES`] specs.
fn parse_ranges(value: &[u8], len: u64, out: &mut [(u64, u64); MAX_RANGES]) -> Option<usize> {
    let eq = value.iter().position(|&b| b == b'=')?;
    let (unit, set) = (&value[..eq], &value[eq + 1..]);
    if !unit.eq_ignore_ascii_case(b"bytes") {
        return None;
    }
    let (mut specs, mut stored) = (0, 0);
    // A list: OWS around elements, and empty elements are allowed (RFC 9110 §5.6.1).
    for spec in set
        .split(|&b| b == b',')
        .map(trim_ows)
        .filter(|s| !s.is_empty())
    {
        specs += 1;
        if specs > MAX_RANGES {
            return None;
        }
        let dash = spec.iter().position(|&b| b == b'-')?;
        let (first, last) = (&spec[..dash], &spec[dash + 1..]);
        let range = if first.is_empty() {
            // suffix-range "-n": the last n bytes; "-0" is unsatisfiable (RFC 9110 §14.1.1).
            let n = parse_u64(last)?;
            (n > 0 && len > 0).then(|| (len - n.min(len), len))
        } else {
            let first = parse_u64(first)?;
            let last = if last.is_empty() {
                None
            } else {
                Some(parse_u64(last)?)
            };
            if last.is_some_and(|l| l < first) {
                return None;
            }
            // Clip to the representation; `first < len` keeps `len - 1` from underflowing.
            (first < len).then(|| (first, last.map_or(len, |l| l.min(len - 1) + 1)))
        };
        if let (Some(range), Some(slot)) = (range, out.get_mut(stored)) {
            *slot = range;
            stored += 1;
        }
    }
    (specs > 0).then_some(stored)
}

/// Sorts and merges overlapping or touching ranges in place; returns the merged prefix.
/// Overlapping parts would let one request multiply the bytes sent (RFC 9110 §17.15).
fn coalesce(ranges: &mut [(u64, u64)]) -> &[(u64, u64)] {
    ranges.sort_unstable();
    let mut merged = 0;
    for i in 1..ranges.len() {
        let (start, end) = ranges[i];
        if start <= ranges[merged].1 {
            ranges[merged].1 = ranges[merged].1.max(end);
        } else {
            merged += 1;
            ranges[merged] = (start, end);
        }
    }
    &ranges[..ranges.len().min(merged + 1)]
}

/// If-None-Match (RFC 9110 §13.1.2): `*` or any listed tag weakly matching `etag`.
fn none_match_hits(value: &[u8], etag: &str) -> bool {
    let value = trim_ows(value);
    value == b"*" || EntityTags(value).any(|tag| opaque(tag) == opaque(etag.as_bytes()))
}

/// If-Range (RFC 9110 §13.1.5): an entity-tag must match strongly; a date must be exactly
/// the Last-Modified time, since only that says nothing changed within the second.
fn if_range_holds(value: &[u8], v: &Validators<'_>) -> bool {
    let value = trim_ows(value);
    if value.starts_with(b"\"") || value.starts_with(b"W/") {
        let strong = |t: &[u8]| !t.starts_with(b"W/");
        return strong(value) && strong(v.etag.as_bytes()) && value == v.etag.as_bytes();
    }
    parse_http_date(value) == Some(v.last_modified)
}

/// The opaque-tag of an entity-tag: weak comparison ignores the `W/` prefix.
fn opaque(tag: &[u8]) -> &[u8] {
    tag.strip_prefix(b"W/").unwrap_or(tag)
}

/// Iterates a comma-separated list of entity-tags, each with its quotes and any `W/`. Splitting
/// on commas alone would be wrong: an opaque-tag may contain a comma. Stops at bad syntax.
struct EntityTags<'a>(&'a [u8]);

impl<'a> Iterator for EntityTags<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let start = self
            .0
            .iter()
            .position(|&b| !matches!(b, b' ' | b'\t' | b','))?;
        let rest = &self.0[start..];
        let open = usize::from(rest.starts_with(b"W/")) * 2;
        let close = match rest.get(open) {
            Some(b'"') => rest[open + 1..].iter().position(|&b| b == b'"')? + open + 2,
            _ => return None,
        };
        self.0 = &rest[close..];
        Some(&rest[..close])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::http::Version;

    const TAG: &str = "\"5f3a-10000\"";
    const V: Validators<'static> = Validators {
        etag: TAG,
        last_modified: 784_111_777,
    };
    const DATE: &[u8] = b"Sun, 06 Nov 1994 08:49:37 GMT";

    fn get(range: &[u8]) -> RequestHead<'_> {
        RequestHead {
            method: Method::Get,
            target: b"/f",
            version: Version::Http11,
            host: None,
            range: Some(range),
            if_range: None,
            if_none_match: None,
            if_modified_since: None,
            connection_close: false,
            connection_keep_alive: false,
            has_body: false,
            content_length: None,
            transfer_encoding: false,
        }
    }

    fn sel(range: &str, len: u64) -> Selection {
        select(&get(range.as_bytes()), len, &V)
    }

    fn single(start: u64, end_exclusive: u64) -> Selection {
        Selection::Single {
            start,
            end_exclusive,
        }
    }

    #[test]
    fn rfc9110_examples() {
        // RFC 9110 §14.1.2, on a 10000-byte representation.
        assert_eq!(sel("bytes=0-499", 10_000), single(0, 500));
        assert_eq!(sel("bytes=500-999", 10_000), single(500, 1000));
        assert_eq!(sel("bytes=-500", 10_000), single(9500, 10_000));
        assert_eq!(sel("bytes=9500-", 10_000), single(9500, 10_000));
        assert_eq!(
            sel("bytes=0-0,-1", 10_000),
            Selection::Multi(vec![(0, 1), (9999, 10_000)])
        );
        assert_eq!(sel("bytes= 500-600,601-999", 10_000), single(500, 1000));
        assert_eq!(sel("bytes=500-700,601-999", 10_000), single(500, 1000));
        let unsorted = Selection::Multi(vec![(500, 600), (0, 10)]);
        assert_eq!(sel("bytes=500-599,0-9", 10_000), unsorted);
        let multi = Selection::Multi(vec![(0, 10), (20, 31), (9990, 10_000)]);
        assert_eq!(sel("BYTES=-10 , 20-30,, 0-9,25-27", 10_000), multi);
    }

    #[test]
    fn clipping_and_unsatisfiable() {
        assert_eq!(sel("bytes=0-999999", 100), single(0, 100));
        assert_eq!(sel("bytes=-1000", 100), single(0, 100));
        assert_eq!(sel("bytes=50-", 100), single(50, 100));
        assert_eq!(sel("bytes=100-", 100), Selection::Unsatisfiable);
        assert_eq!(sel("bytes=100-200,-0", 100), Selection::Unsatisfiable);
        assert_eq!(sel("bytes=100-200,99-", 100), single(99, 100));
        for r in ["bytes=0-", "bytes=-1", "bytes=0-0"] {
            assert_eq!(sel(r, 0), Selection::Unsatisfiable, "{r}");
        }
    }

    #[test]
    fn invalid_ranges_are_ignored() {
        let invalid = [
            "bytes=5-4",
            "bytes=",
            "bytes=,",
            "bytes=-",
            "bytes=a-b",
            "bytes=1-2-3",
            "bytes=1 -2",
            "bytes=+1-2",
            "items=0-1",
            "bytes 0-1",
            "",
            "bytes=0-1,5-4",
            "bytes=18446744073709551616-",
            "bytes=-99999999999999999999",
            "bytes=0-18446744073709551616",
        ];
        for r in invalid {
            assert_eq!(sel(r, 10_000), Selection::Full, "{r:?}");
        }
        let many: Vec<String> = (0..=MAX_RANGES)
            .map(|i| format!("{0}-{0}", i * 10))
            .collect();
        assert_eq!(
            sel(&format!("bytes={}", many.join(",")), 10_000),
            Selection::Full
        );
        let Selection::Multi(ok) = sel(&format!("bytes={}", many[1..].join(",")), 10_000) else {
            panic!("{MAX_RANGES} ranges are served");
        };
        assert_eq!(ok.len(), MAX_RANGES);
        let amplified = vec!["0-"; MAX_RANGES].join(",");
        assert_eq!(
            sel(&format!("bytes={amplified}"), 10_000),
            single(0, 10_000)
        );
    }

    #[test]
    fn beyond_four_gib() {
        let len = 6 << 30;
        assert_eq!(sel("bytes=4294967296-", len), single(1 << 32, len));
        assert_eq!(sel("bytes=-2147483648", len), single(len - (1 << 31), len));
        let max = "bytes=18446744073709551614-18446744073709551615";
        assert_eq!(sel(max, u64::MAX), single(u64::MAX - 1, u64::MAX));
    }

    #[test]
    fn conditionals() {
        let base = RequestHead {
            range: None,
            ..get(b"")
        };
        let with = |inm: Option<&'static str>, ims: Option<&'static [u8]>| RequestHead {
            if_none_match: inm.map(str::as_bytes),
            if_modified_since: ims,
            ..base
        };
        let nm = Selection::NotModified;
        assert_eq!(select(&with(Some(TAG), None), 1, &V), nm);
        assert_eq!(select(&with(Some("*"), None), 1, &V), nm);
        assert_eq!(
            select(&with(Some("\"x\", W/\"5f3a-10000\""), None), 1, &V),
            nm
        );
        assert_eq!(
            select(&with(Some("\"a,b\", \"5f3a\""), None), 1, &V),
            Selection::Full
        );
        assert_eq!(
            select(&with(Some("\"a,\"5f3a-10000\""), None), 1, &V),
            Selection::Full
        );
        // If-None-Match present: If-Modified-Since is not evaluated.
        assert_eq!(
            select(&with(Some("\"x\""), Some(DATE)), 1, &V),
            Selection::Full
        );
        assert_eq!(select(&with(None, Some(DATE)), 1, &V), nm);
        let later = b"Sunday, 06-Nov-94 08:49:38 GMT";
        let earlier = b"Sun Nov  6 08:49:36 1994";
        assert_eq!(select(&with(None, Some(later)), 1, &V), nm);
        assert_eq!(select(&with(None, Some(earlier)), 1, &V), Selection::Full);
        assert_eq!(
            select(&with(None, Some(b"yesterday")), 1, &V),
            Selection::Full
        );
        let head = RequestHead {
            method: Method::Head,
            ..get(b"bytes=0-0")
        };
        assert_eq!(select(&head, 10, &V), Selection::Full);
        let head = RequestHead {
            method: Method::Head,
            ..with(Some(TAG), None)
        };
        assert_eq!(select(&head, 10, &V), nm);
    }

    #[test]
    fn if_range() {
        let check = |ir: &str| {
            select(
                &RequestHead {
                    if_range: Some(ir.as_bytes()),
                    ..get(b"bytes=1-2")
                },
                10,
                &V,
            )
        };
        assert_eq!(check(TAG), single(1, 3));
        assert_eq!(check("Sun, 06 Nov 1994 08:49:37 GMT"), single(1, 3));
        for mismatch in [
            "\"other\"",
            "W/\"5f3a-10000\"",
            "Sun, 06 Nov 1994 08:49:38 GMT",
            "junk",
            "",
        ] {
            assert_eq!(check(mismatch), Selection::Full, "{mismatch:?}");
        }
        let weak = Validators {
            etag: "W/\"5f3a-10000\"",
            ..V
        };
        let req = RequestHead {
            if_range: Some(b"W/\"5f3a-10000\""),
            ..get(b"bytes=1-2")
        };
        assert_eq!(select(&req, 10, &weak), Selection::Full);
    }

    #[test]
    fn never_panics_on_hostile_ranges() {
        let junk = b"0123456789-, \t*W/\"=x";
        let (mut x, mut value, mut served) = (0x2545_f491_4f6c_dd1du64, String::new(), [0; 2]);
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..100_000 {
            value.clear();
            value.push_str(["bytes=", "bytes= ", "Bytes=", ""][next() as usize % 4]);
            // Mostly well-formed specs of every form and size, with some junk mixed in.
            for _ in 0..next() % 20 {
                let (r, a, b) = (next(), next() >> (next() % 64), next() >> (next() % 64));
                match r % 8 {
                    0 => value.push_str(&format!("{a}-{b},")),
                    1 | 2 => value.push_str(&format!("{a}-{},", a.saturating_add(b >> 40))),
                    3 | 4 => value.push_str(&format!("{a}-,")),
                    5 | 6 => value.push_str(&format!("-{b},")),
                    _ => value.push(char::from(junk[(r >> 8) as usize % junk.len()])),
                }
            }
            let len = [0, 1, 10_000, next() >> 3, u64::MAX][next() as usize % 5];
            let r = next();
            let req = RequestHead {
                if_range: (r & 3 == 0).then_some(value.as_bytes()),
                if_none_match: (r & 12 == 0).then_some(value.as_bytes()),
                ..get(value.as_bytes())
            };
            let mut ranges = match select(&req, len, &V) {
                Selection::Single {
                    start,
                    end_exclusive,
                } => vec![(start, end_exclusive)],
                Selection::Multi(r) => r,
                _ => continue,
            };
            served[usize::from(ranges.len() > 1)] += 1;
            ranges.sort_unstable();
            assert!(
                ranges.windows(2).all(|w| w[0].1 < w[1].0),
                "{value} {ranges:?}"
            );
            assert!(
                ranges.iter().all(|&(s, e)| s < e && e <= len),
                "{value} {ranges:?}"
            );
        }
        assert!(served[0] > 1000 && served[1] > 1000, "{served:?}");
    }
}
