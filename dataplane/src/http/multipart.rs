//! Layout of multipart/byteranges bodies (RFC 9110 §14.6), the 206 answer to a request for
//! several ranges: per part a small owned header, then the range sent straight from the file,
//! and a closing delimiter. Which ranges to send is decided in [`super::range`].

use crate::wire::http_response::ContentRange;

/// Layout of a multipart/byteranges body: the I/O loop sends, per part, the owned header
/// bytes and then the range straight from the file, and finally the trailer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultipartPlan {
    /// Per part: header bytes (`CRLF--boundary` through the blank line), start, end_exclusive.
    pub parts: Vec<(Vec<u8>, u64, u64)>,
    /// The closing delimiter, `CRLF--boundary--CRLF`.
    pub trailer: Vec<u8>,
    /// Total body length: every header, range and the trailer.
    pub content_length: u64,
}

/// Lays out a multipart/byteranges body (RFC 9110 §14.6) for `ranges` of a `len`-byte
/// representation of type `content_type` (omitted from parts when empty). Ranges are clipped
/// to `len` and empty ones skipped. Only header bytes are built; the body is never copied.
pub fn plan_multipart(
    ranges: &[(u64, u64)],
    len: u64,
    content_type: &str,
    boundary: &str,
) -> MultipartPlan {
    let mut parts = Vec::with_capacity(ranges.len());
    let mut content_length = 0u64;
    for &(start, end) in ranges {
        let end = end.min(len);
        if start >= end {
            continue;
        }
        let mut head = Vec::with_capacity(boundary.len() + content_type.len() + 110);
        head.extend_from_slice(b"\r\n--");
        head.extend_from_slice(boundary.as_bytes());
        if !content_type.is_empty() {
            head.extend_from_slice(b"\r\nContent-Type: ");
            head.extend_from_slice(content_type.as_bytes());
        }
        head.extend_from_slice(b"\r\nContent-Range: ");
        let range = ContentRange::Bytes {
            first: start,
            last: end - 1,
            complete: len,
        };
        range.write_value(&mut head);
        head.extend_from_slice(b"\r\n\r\n");
        content_length = content_length.saturating_add(head.len() as u64 + (end - start));
        parts.push((head, start, end));
    }
    let trailer = [b"\r\n--", boundary.as_bytes(), b"--\r\n"].concat();
    content_length = content_length.saturating_add(trailer.len() as u64);
    MultipartPlan {
        parts,
        trailer,
        content_length,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_plan_length_matches_bytes() {
        let ranges = [(0, 1), (9999, 10_000), (500, 700), (5, 3), (9000, 20_000)];
        let plan = plan_multipart(&ranges, 10_000, "application/octet-stream", "B0UND");
        assert_eq!(plan.parts.len(), 4);
        let first = b"\r\n--B0UND\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes 0-0/10000\r\n\r\n";
        assert_eq!(plan.parts[0].0, first);
        assert_eq!((plan.parts[3].1, plan.parts[3].2), (9000, 10_000));
        assert_eq!(plan.trailer, b"\r\n--B0UND--\r\n");
        let body: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
        let mut rendered = Vec::new();
        for (head, start, end) in &plan.parts {
            rendered.extend_from_slice(head);
            rendered.extend_from_slice(&body[*start as usize..*end as usize]);
        }
        rendered.extend_from_slice(&plan.trailer);
        assert_eq!(plan.content_length, rendered.len() as u64);
        let plan = plan_multipart(&[(0, 1 << 33)], 1 << 34, "", "b");
        let header = b"\r\n--b\r\nContent-Range: bytes 0-8589934591/17179869184\r\n\r\n";
        assert_eq!(plan.parts[0].0, header);
        assert_eq!(plan.content_length, header.len() as u64 + (1 << 33) + 9);
    }
}
