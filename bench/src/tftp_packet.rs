//! The client's side of the TFTP wire format (RFC 1350, options RFC 2347/2348/7440): it
//! writes RRQ and ACK and reads DATA, OACK and ERROR. Written apart from the server's codec so
//! that a bug there cannot hide behind the same bug here.

const RRQ: u16 = 1;
const DATA: u16 = 3;
const ACK: u16 = 4;
const ERROR: u16 = 5;
const OACK: u16 = 6;

/// An octet-mode read request for `file` with `options` as (name, value) pairs.
pub fn rrq(file: &str, options: &[(&str, u32)]) -> Vec<u8> {
    let mut p = RRQ.to_be_bytes().to_vec();
    for part in [file, "octet"] {
        p.extend_from_slice(part.as_bytes());
        p.push(0);
    }
    for (name, value) in options {
        p.extend_from_slice(name.as_bytes());
        p.push(0);
        p.extend_from_slice(value.to_string().as_bytes());
        p.push(0);
    }
    p
}

/// An ACK of wire block `block` (0 acknowledges an OACK).
pub fn ack(block: u16) -> [u8; 4] {
    let [a, b] = ACK.to_be_bytes();
    let [c, d] = block.to_be_bytes();
    [a, b, c, d]
}

/// What the server sent.
#[derive(Debug, PartialEq, Eq)]
pub enum Reply<'a> {
    /// A data block.
    Data {
        /// Wire block number (wraps at 65536).
        block: u16,
        /// The block's bytes.
        payload: &'a [u8],
    },
    /// Accepted options; those the server left out are not in effect.
    Oack {
        /// Negotiated block size.
        blksize: Option<u16>,
        /// Negotiated window size.
        windowsize: Option<u16>,
    },
    /// The transfer was refused or aborted.
    Error {
        /// TFTP error code.
        code: u16,
        /// The server's message.
        message: String,
    },
}

/// Parses a datagram from the server; `None` for anything a reading client never expects.
pub fn parse(datagram: &[u8]) -> Option<Reply<'_>> {
    let (op, rest) = datagram.split_first_chunk::<2>()?;
    match u16::from_be_bytes(*op) {
        DATA => {
            let (block, payload) = rest.split_first_chunk::<2>()?;
            Some(Reply::Data {
                block: u16::from_be_bytes(*block),
                payload,
            })
        }
        OACK => {
            let mut fields = rest.split(|&b| b == 0);
            let (mut blksize, mut windowsize) = (None, None);
            while let (Some(name), Some(value)) = (fields.next(), fields.next()) {
                let value = std::str::from_utf8(value).ok()?.parse().ok();
                match std::str::from_utf8(name)
                    .ok()?
                    .to_ascii_lowercase()
                    .as_str()
                {
                    "blksize" => blksize = value,
                    "windowsize" => windowsize = value,
                    _ => {}
                }
            }
            Some(Reply::Oack {
                blksize,
                windowsize,
            })
        }
        ERROR => {
            let (code, message) = rest.split_first_chunk::<2>()?;
            let message = message.split(|&b| b == 0).next().unwrap_or_default();
            Some(Reply::Error {
                code: u16::from_be_bytes(*code),
                message: String::from_utf8_lossy(message).into_owned(),
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rrq_and_ack_bytes() {
        assert_eq!(
            rrq("a/b", &[("blksize", 1468), ("windowsize", 16)]),
            b"\x00\x01a/b\x00octet\x00blksize\x001468\x00windowsize\x0016\x00"
        );
        assert_eq!(ack(0x1234), [0, 4, 0x12, 0x34]);
    }

    #[test]
    fn parses_server_packets() {
        assert_eq!(
            parse(b"\x00\x03\x00\x07xyz"),
            Some(Reply::Data {
                block: 7,
                payload: b"xyz"
            })
        );
        assert_eq!(
            parse(b"\x00\x06blksize\x001468\x00tsize\x00123\x00WindowSize\x0016\x00"),
            Some(Reply::Oack {
                blksize: Some(1468),
                windowsize: Some(16)
            })
        );
        assert_eq!(
            parse(b"\x00\x05\x00\x01File not found\x00"),
            Some(Reply::Error {
                code: 1,
                message: "File not found".into()
            })
        );
        assert_eq!(parse(b"\x00\x04\x00\x01"), None);
        assert_eq!(parse(b"\x00"), None);
    }
}
