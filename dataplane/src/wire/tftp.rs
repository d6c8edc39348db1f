//! TFTP packet codec: RFC 1350 (the protocol), RFC 2347 (option extension), RFC 2348
//! (`blksize`), RFC 2349 (`timeout`, `tsize`) and RFC 7440 (`windowsize`).
//!
//! [`Packet::parse`] is a zero-copy, allocation-free view over a received datagram that
//! never panics. It is strict about what the protocol needs (opcode, NUL-terminated
//! filename and mode) and lenient about what boot ROMs get wrong (odd option values,
//! unknown options, padding after the last field). Emitters write into caller buffers.

use std::fmt;

/// Most options accepted in one request; more is treated as an attack, not a client.
pub const MAX_OPTIONS: usize = 32;

/// Length of the DATA header (opcode + block number) in front of every payload.
pub const DATA_HEADER_LEN: usize = 4;

const OP_RRQ: u16 = 1;
const OP_WRQ: u16 = 2;
const OP_DATA: u16 = 3;
const OP_ACK: u16 = 4;
const OP_ERROR: u16 = 5;
const OP_OACK: u16 = 6;

/// Transfer mode of a request (RFC 1350 §5). "mail" is obsolete and not supported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Raw bytes.
    Octet,
    /// Text with CR LF line ends, see [`netascii_encode`].
    NetAscii,
}

/// Error codes of RFC 1350 §5 plus 8 from RFC 2347.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// 0: not defined, see the message.
    NotDefined,
    /// 1: file not found.
    FileNotFound,
    /// 2: access violation.
    AccessViolation,
    /// 3: disk full or allocation exceeded.
    DiskFull,
    /// 4: illegal TFTP operation.
    IllegalOperation,
    /// 5: unknown transfer ID.
    UnknownTid,
    /// 6: file already exists.
    FileExists,
    /// 7: no such user.
    NoSuchUser,
    /// 8: option negotiation refused (RFC 2347).
    OptionRefused,
    /// Any other code a peer sent.
    Unknown(u16),
}

impl ErrorCode {
    /// The numeric code on the wire.
    pub fn code(self) -> u16 {
        match self {
            ErrorCode::NotDefined => 0,
            ErrorCode::FileNotFound => 1,
            ErrorCode::AccessViolation => 2,
            ErrorCode::DiskFull => 3,
            ErrorCode::IllegalOperation => 4,
            ErrorCode::UnknownTid => 5,
            ErrorCode::FileExists => 6,
            ErrorCode::NoSuchUser => 7,
            ErrorCode::OptionRefused => 8,
            ErrorCode::Unknown(code) => code,
        }
    }
}

impl From<u16> for ErrorCode {
    fn from(code: u16) -> Self {
        match code {
            0 => ErrorCode::NotDefined,
            1 => ErrorCode::FileNotFound,
            2 => ErrorCode::AccessViolation,
            3 => ErrorCode::DiskFull,
            4 => ErrorCode::IllegalOperation,
            5 => ErrorCode::UnknownTid,
            6 => ErrorCode::FileExists,
            7 => ErrorCode::NoSuchUser,
            8 => ErrorCode::OptionRefused,
            other => ErrorCode::Unknown(other),
        }
    }
}

/// Options as the client asked for them. Values are raw: range checks happen during
/// negotiation. Numbers too large for the field saturate (`blksize=70000` reads as 65535,
/// later lowered), except `timeout` above 255, which is dropped as invalid.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestOptions {
    /// RFC 2348 block size.
    pub blksize: Option<u16>,
    /// RFC 2349 transfer size (0 in a read request: "tell me the size").
    pub tsize: Option<u64>,
    /// RFC 2349 retransmission timeout in seconds.
    pub timeout: Option<u8>,
    /// RFC 7440 window size in blocks.
    pub windowsize: Option<u16>,
}

/// Options the server acknowledges in an OACK (RFC 2347). Only `Some` fields are sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AckedOptions {
    /// Granted block size.
    pub blksize: Option<u16>,
    /// The file's length in bytes.
    pub tsize: Option<u64>,
    /// Accepted timeout in seconds.
    pub timeout: Option<u8>,
    /// Granted window size.
    pub windowsize: Option<u16>,
}

/// A read or write request, borrowing the datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a> {
    /// File name bytes as sent: non-empty, no NUL, not otherwise validated.
    pub filename: &'a [u8],
    /// Transfer mode.
    pub mode: Mode,
    /// Recognised options.
    pub options: RequestOptions,
}

/// A parsed TFTP packet, borrowing the datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet<'a> {
    /// RRQ (opcode 1).
    Read(Request<'a>),
    /// WRQ (opcode 2).
    Write(Request<'a>),
    /// DATA (opcode 3).
    Data {
        /// Block number (wraps at 65535).
        block: u16,
        /// Payload bytes.
        payload: &'a [u8],
    },
    /// ACK (opcode 4).
    Ack {
        /// Acknowledged block number.
        block: u16,
    },
    /// ERROR (opcode 5).
    Error {
        /// Error code.
        code: ErrorCode,
        /// Message bytes without the terminating NUL.
        message: &'a [u8],
    },
    /// OACK (opcode 6). A server never legitimately receives one; contents are not parsed.
    OptionAck,
}

/// Why a datagram is not a valid TFTP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireError {
    /// Shorter than the fixed header of its opcode.
    TooShort,
    /// Opcode not in 1..=6.
    UnknownOpcode(u16),
    /// Filename or mode not NUL-terminated.
    MissingNul,
    /// Empty filename.
    EmptyFilename,
    /// Mode other than octet or netascii.
    UnsupportedMode,
    /// An option name whose value is missing or not NUL-terminated.
    BadOption,
    /// More than [`MAX_OPTIONS`] options.
    TooManyOptions,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::TooShort => f.write_str("packet too short"),
            WireError::UnknownOpcode(op) => write!(f, "unknown opcode {op}"),
            WireError::MissingNul => f.write_str("missing NUL terminator"),
            WireError::EmptyFilename => f.write_str("empty filename"),
            WireError::UnsupportedMode => f.write_str("unsupported transfer mode"),
            WireError::BadOption => f.write_str("option without a value"),
            WireError::TooManyOptions => f.write_str("too many options"),
        }
    }
}

impl std::error::Error for WireError {}

impl<'a> Packet<'a> {
    /// Parses one datagram. Never panics, never allocates.
    pub fn parse(buf: &'a [u8]) -> Result<Packet<'a>, WireError> {
        let (opcode, body) = split_u16(buf).ok_or(WireError::TooShort)?;
        match opcode {
            OP_RRQ => parse_request(body).map(Packet::Read),
            OP_WRQ => parse_request(body).map(Packet::Write),
            OP_DATA => {
                let (block, payload) = split_u16(body).ok_or(WireError::TooShort)?;
                Ok(Packet::Data { block, payload })
            }
            // Trailing bytes after an ACK are ignored: some clients pad to a minimum size.
            OP_ACK => {
                let (block, _) = split_u16(body).ok_or(WireError::TooShort)?;
                Ok(Packet::Ack { block })
            }
            OP_ERROR => {
                let (code, rest) = split_u16(body).ok_or(WireError::TooShort)?;
                // Why lenient: an ERROR ends the transfer either way, even without its NUL.
                let message = match split_cstr(rest) {
                    Some((message, _)) => message,
                    None => rest,
                };
                Ok(Packet::Error {
                    code: ErrorCode::from(code),
                    message,
                })
            }
            OP_OACK => Ok(Packet::OptionAck),
            other => Err(WireError::UnknownOpcode(other)),
        }
    }
}

/// Splits a big-endian u16 off the front.
fn split_u16(buf: &[u8]) -> Option<(u16, &[u8])> {
    match buf {
        [hi, lo, rest @ ..] => Some((u16::from_be_bytes([*hi, *lo]), rest)),
        _ => None,
    }
}

/// Splits a NUL-terminated string off the front: (string without NUL, rest after NUL).
fn split_cstr(buf: &[u8]) -> Option<(&[u8], &[u8])> {
    let nul = buf.iter().position(|&b| b == 0)?;
    Some((buf.get(..nul)?, buf.get(nul + 1..)?))
}

fn parse_request(body: &[u8]) -> Result<Request<'_>, WireError> {
    let (filename, rest) = split_cstr(body).ok_or(WireError::MissingNul)?;
    if filename.is_empty() {
        return Err(WireError::EmptyFilename);
    }
    let (mode, mut rest) = split_cstr(rest).ok_or(WireError::MissingNul)?;
    let mode = if mode.eq_ignore_ascii_case(b"octet") {
        Mode::Octet
    } else if mode.eq_ignore_ascii_case(b"netascii") {
        Mode::NetAscii
    } else {
        return Err(WireError::UnsupportedMode);
    };
    let mut options = RequestOptions::default();
    let mut count = 0usize;
    // Why stop on an unterminated or empty name: ROMs pad requests with NULs or junk.
    while let Some((name, after_name)) = split_cstr(rest) {
        if name.is_empty() {
            break;
        }
        let (value, after_value) = split_cstr(after_name).ok_or(WireError::BadOption)?;
        count += 1;
        if count > MAX_OPTIONS {
            return Err(WireError::TooManyOptions);
        }
        apply_option(&mut options, name, value);
        rest = after_value;
    }
    Ok(Request {
        filename,
        mode,
        options,
    })
}

/// Records a known option; malformed values and unknown names are ignored (RFC 2347 §4:
/// the server simply leaves out what it does not accept).
fn apply_option(options: &mut RequestOptions, name: &[u8], value: &[u8]) {
    let Some(number) = parse_decimal(value) else {
        return;
    };
    let saturate_u16 = |n: u64| u16::try_from(n).unwrap_or(u16::MAX);
    if name.eq_ignore_ascii_case(b"blksize") {
        options.blksize = Some(saturate_u16(number));
    } else if name.eq_ignore_ascii_case(b"tsize") {
        options.tsize = Some(number);
    } else if name.eq_ignore_ascii_case(b"timeout") {
        // Above 255 is outside RFC 2349's range: treated as not asked for.
        if let Ok(seconds) = u8::try_from(number) {
            options.timeout = Some(seconds);
        }
    } else if name.eq_ignore_ascii_case(b"windowsize") {
        options.windowsize = Some(saturate_u16(number));
    }
}

/// ASCII decimal, digits only, saturating at `u64::MAX`.
fn parse_decimal(value: &[u8]) -> Option<u64> {
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(value.iter().fold(0u64, |n, &d| {
        n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    }))
}

/// The DATA header for `block`; the payload follows it.
pub fn data_header(block: u16) -> [u8; 4] {
    let [hi, lo] = block.to_be_bytes();
    [0, OP_DATA as u8, hi, lo]
}

/// An ACK packet for `block`.
pub fn emit_ack(block: u16) -> [u8; 4] {
    let [hi, lo] = block.to_be_bytes();
    [0, OP_ACK as u8, hi, lo]
}

/// Writes an ERROR packet into `out` (cleared first). NULs in `message` are dropped so the
/// message cannot end early.
pub fn emit_error(code: ErrorCode, message: &str, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&OP_ERROR.to_be_bytes());
    out.extend_from_slice(&code.code().to_be_bytes());
    out.extend(message.bytes().filter(|&b| b != 0));
    out.push(0);
}

/// Writes an OACK packet into `out` (cleared first): blksize, tsize, timeout, windowsize,
/// each only when `Some`.
pub fn emit_oack(acked: &AckedOptions, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&OP_OACK.to_be_bytes());
    let fields = [
        ("blksize", acked.blksize.map(u64::from)),
        ("tsize", acked.tsize),
        ("timeout", acked.timeout.map(u64::from)),
        ("windowsize", acked.windowsize.map(u64::from)),
    ];
    for (name, value) in fields {
        if let Some(value) = value {
            out.extend_from_slice(name.as_bytes());
            out.push(0);
            push_decimal(value, out);
            out.push(0);
        }
    }
}

/// Appends `n` in ASCII decimal without allocating a String.
fn push_decimal(mut n: u64, out: &mut Vec<u8>) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[start..]);
}

/// Appends `src` converted to netascii (RFC 764 via RFC 1350): LF becomes CR LF, a bare CR
/// becomes CR NUL. Input is taken as Unix text, so an existing CR LF becomes CR NUL CR LF.
pub fn netascii_encode(src: &[u8], out: &mut Vec<u8>) {
    out.reserve(src.len());
    for &b in src {
        match b {
            b'\n' => out.extend_from_slice(b"\r\n"),
            b'\r' => out.extend_from_slice(b"\r\0"),
            other => out.push(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(packet: Packet<'_>) -> Request<'_> {
        match packet {
            Packet::Read(r) => r,
            other => panic!("not an RRQ: {other:?}"),
        }
    }

    #[test]
    fn pxelinux_rrq_with_options() {
        let raw = b"\0\x01pxelinux.0\0octet\0blksize\x001468\0tsize\x000\0";
        let r = request(Packet::parse(raw).unwrap());
        assert_eq!(r.filename, b"pxelinux.0");
        assert_eq!(r.mode, Mode::Octet);
        assert_eq!(r.options.blksize, Some(1468));
        assert_eq!(r.options.tsize, Some(0));
        assert_eq!(r.options.timeout, None);
        assert_eq!(r.options.windowsize, None);
    }

    #[test]
    fn pxe_rom_style_rrq() {
        // Intel/iPXE ROMs: upper-case names, tsize before blksize, NUL padding at the end.
        let raw = b"\0\x01boot/x86_64/undionly.kpxe\0OCTET\0TSIZE\x000\0BlkSize\x001456\0\0\0\0";
        let r = request(Packet::parse(raw).unwrap());
        assert_eq!(r.filename, b"boot/x86_64/undionly.kpxe");
        assert_eq!(r.options.blksize, Some(1456));
        assert_eq!(r.options.tsize, Some(0));
        // Junk without a NUL after the last field is tolerated too.
        let raw = b"\0\x01a\0netascii\0windowsize\x004\0\xff\xfe";
        let r = request(Packet::parse(raw).unwrap());
        assert_eq!(r.mode, Mode::NetAscii);
        assert_eq!(r.options.windowsize, Some(4));
    }

    #[test]
    fn odd_option_values() {
        let raw = b"\0\x01f\0octet\0blksize\x0070000\0timeout\x00300\0windowsize\x00x\0\
                    tsize\x00\0foo\x00bar\0";
        let r = request(Packet::parse(raw).unwrap());
        assert_eq!(
            r.options.blksize,
            Some(u16::MAX),
            "saturates, clamped later"
        );
        assert_eq!(r.options.timeout, None, "out of RFC 2349 range: ignored");
        assert_eq!(r.options.windowsize, None, "malformed: ignored");
        assert_eq!(r.options.tsize, None, "empty: ignored");
        let raw = b"\0\x01f\0octet\0tsize\x00999999999999999999999999\0";
        let r = request(Packet::parse(raw).unwrap());
        assert_eq!(r.options.tsize, Some(u64::MAX));
    }

    #[test]
    fn request_errors() {
        let cases: [(&[u8], WireError); 9] = [
            (b"", WireError::TooShort),
            (b"\0", WireError::TooShort),
            (b"\0\x09", WireError::UnknownOpcode(9)),
            (b"\0\x01file", WireError::MissingNul),
            (b"\0\x01file\0octet", WireError::MissingNul),
            (b"\0\x01\0octet\0", WireError::EmptyFilename),
            (b"\0\x02f\0mail\0", WireError::UnsupportedMode),
            (b"\0\x01f\0octet\0blksize\0", WireError::BadOption),
            (b"\0\x03\0", WireError::TooShort),
        ];
        for (raw, want) in cases {
            assert_eq!(Packet::parse(raw), Err(want), "{raw:?}");
        }
        let mut many = b"\0\x01f\0octet\0".to_vec();
        for _ in 0..=MAX_OPTIONS {
            many.extend_from_slice(b"x\x001\0");
        }
        assert_eq!(Packet::parse(&many), Err(WireError::TooManyOptions));
        assert!(!WireError::TooManyOptions.to_string().is_empty());
    }

    #[test]
    fn data_ack_error_oack() {
        let data = Packet::parse(b"\0\x03\x01\x02hello").unwrap();
        assert_eq!(
            data,
            Packet::Data {
                block: 0x0102,
                payload: b"hello"
            }
        );
        assert_eq!(
            Packet::parse(&emit_ack(65535)).unwrap(),
            Packet::Ack { block: 65535 }
        );
        assert_eq!(data_header(7), [0, 3, 0, 7]);
        let err = Packet::parse(b"\0\x05\0\x08bad option\0").unwrap();
        assert_eq!(
            err,
            Packet::Error {
                code: ErrorCode::OptionRefused,
                message: b"bad option"
            }
        );
        assert_eq!(
            Packet::parse(b"\0\x06blksize\x00512\0").unwrap(),
            Packet::OptionAck
        );
    }

    #[test]
    fn emit_packets() {
        let mut out = vec![0xAA; 3];
        emit_error(ErrorCode::FileNotFound, "file\0 not found", &mut out);
        assert_eq!(out, b"\0\x05\0\x01file not found\0");
        emit_oack(
            &AckedOptions {
                blksize: Some(1468),
                tsize: Some(0),
                timeout: None,
                windowsize: Some(16),
            },
            &mut out,
        );
        assert_eq!(
            out,
            b"\0\x06blksize\x001468\0tsize\x000\0windowsize\x0016\0"
        );
        emit_oack(&AckedOptions::default(), &mut out);
        assert_eq!(out, b"\0\x06");
        let mut n = Vec::new();
        push_decimal(u64::MAX, &mut n);
        assert_eq!(n, b"18446744073709551615");
    }

    #[test]
    fn error_codes_round_trip() {
        for code in 0..=20u16 {
            assert_eq!(ErrorCode::from(code).code(), code);
        }
        assert_eq!(ErrorCode::from(5), ErrorCode::UnknownTid);
    }

    #[test]
    fn netascii() {
        let mut out = b"x".to_vec();
        netascii_encode(b"a\nb\rc", &mut out);
        assert_eq!(out, b"xa\r\nb\r\0c");
    }

    /// xorshift64: deterministic randomness without a crate.
    fn next(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    #[test]
    fn parse_never_panics() {
        let valid: [&[u8]; 3] = [
            b"\0\x01pxelinux.0\0octet\0blksize\x001468\0tsize\x000\0",
            b"\0\x05\0\x01nope\0",
            b"\0\x03\0\x01data",
        ];
        for packet in valid {
            for len in 0..=packet.len() {
                let _ = Packet::parse(&packet[..len]);
            }
        }
        // Alphabet biased towards what steers the parser: NULs, digits, opcodes, letters.
        let alphabet = b"\0\0\0\x01\x02\x03\x04\x05\x06\x07\xff0123456789otcebiksznwaTO";
        let mut state = 0x9E37_79B9_7F4A_7C15;
        let mut buf = [0u8; 96];
        for _ in 0..200_000 {
            let len = (next(&mut state) % buf.len() as u64) as usize;
            for b in &mut buf[..len] {
                *b = alphabet[(next(&mut state) % alphabet.len() as u64) as usize];
            }
            if len >= 2 && next(&mut state).is_multiple_of(2) {
                buf[0] = 0;
                buf[1] = (next(&mut state) % 8) as u8;
            }
            if let Ok(Packet::Read(r) | Packet::Write(r)) = Packet::parse(&buf[..len]) {
                assert!(!r.filename.is_empty() && !r.filename.contains(&0));
            }
        }
    }
}
