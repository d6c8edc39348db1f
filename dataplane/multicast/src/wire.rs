//! The datagram: a 20-byte header, then one symbol (`symbol_size` bytes, the file's last
//! symbol zero-padded so every datagram of a session has the same size: GSO batches need it).
//!
//! ```text
//!  0       1       2               4                               8
//! +-------+-------+---------------+-------------------------------+
//! |version| kind  |   reserved    |           session             |
//! +-------+-------+---------------+-------------------------------+
//! |           sequence            |            chunk              |
//! +-------------------------------+-------------------------------+
//! |             esi               |  symbol ...
//! +-------------------------------+
//! ```
//! All fields big-endian. `sequence` counts the sender's datagrams (wrapping), so receivers
//! estimate their loss from gaps; `esi` is RaptorQ's encoding symbol id within the chunk.

/// Bytes before the symbol.
pub const HEADER_LEN: usize = 20;
/// The only version this code speaks.
pub const VERSION: u8 = 1;

/// What a datagram carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// One encoding symbol of `chunk`.
    Symbol,
    /// No symbol: the sender has nothing to send for now and is waiting for reports (sent
    /// about once a second so receivers know the sender is alive; `chunk`/`esi` are zero).
    Idle,
    /// No symbol: the session is over; receivers still missing data use HTTP.
    End,
}

impl Kind {
    fn to_byte(self) -> u8 {
        match self {
            Kind::Symbol => 0,
            Kind::Idle => 1,
            Kind::End => 2,
        }
    }

    fn from_byte(b: u8) -> Option<Kind> {
        match b {
            0 => Some(Kind::Symbol),
            1 => Some(Kind::Idle),
            2 => Some(Kind::End),
            _ => None,
        }
    }
}

/// A parsed header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// What follows.
    pub kind: Kind,
    /// The session's id (from its manifest): datagrams of other sessions are ignored.
    pub session: u32,
    /// The sender's datagram counter.
    pub sequence: u32,
    /// Chunk number.
    pub chunk: u32,
    /// Encoding symbol id within the chunk (source symbols first, then repair).
    pub esi: u32,
}

/// Why a datagram was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WireError {
    /// Shorter than a header.
    Short,
    /// Another protocol version.
    Version(u8),
    /// Unknown kind byte.
    Kind(u8),
}

impl Header {
    /// Writes the header into the first [`HEADER_LEN`] bytes of `out`.
    pub fn encode(&self, out: &mut [u8; HEADER_LEN]) {
        out[0] = VERSION;
        out[1] = self.kind.to_byte();
        out[2..4].fill(0);
        out[4..8].copy_from_slice(&self.session.to_be_bytes());
        out[8..12].copy_from_slice(&self.sequence.to_be_bytes());
        out[12..16].copy_from_slice(&self.chunk.to_be_bytes());
        out[16..20].copy_from_slice(&self.esi.to_be_bytes());
    }

    /// Parses a datagram into its header and payload.
    pub fn decode(datagram: &[u8]) -> Result<(Header, &[u8]), WireError> {
        let (head, payload) = datagram
            .split_first_chunk::<HEADER_LEN>()
            .ok_or(WireError::Short)?;
        if head[0] != VERSION {
            return Err(WireError::Version(head[0]));
        }
        let kind = Kind::from_byte(head[1]).ok_or(WireError::Kind(head[1]))?;
        let word =
            |at: usize| u32::from_be_bytes([head[at], head[at + 1], head[at + 2], head[at + 3]]);
        Ok((
            Header {
                kind,
                session: word(4),
                sequence: word(8),
                chunk: word(12),
                esi: word(16),
            },
            payload,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let h = Header {
            kind: Kind::Symbol,
            session: 0xdead_beef,
            sequence: 7,
            chunk: 1 << 20,
            esi: 600,
        };
        let mut buf = [0u8; HEADER_LEN + 3];
        h.encode((&mut buf[..HEADER_LEN]).try_into().unwrap());
        buf[HEADER_LEN..].copy_from_slice(b"abc");
        assert_eq!(Header::decode(&buf), Ok((h, &b"abc"[..])));
    }

    #[test]
    fn refuses_short_foreign_and_unknown() {
        assert_eq!(Header::decode(&[1; 19]), Err(WireError::Short));
        let mut buf = [0u8; HEADER_LEN];
        buf[0] = 2;
        assert_eq!(Header::decode(&buf), Err(WireError::Version(2)));
        buf[0] = VERSION;
        buf[1] = 9;
        assert_eq!(Header::decode(&buf), Err(WireError::Kind(9)));
    }
}
