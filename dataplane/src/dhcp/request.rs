//! Decoding a client's DHCP message (RFC 2131 §2, options RFC 2132, PXE options RFC 4578)
//! into what proxyDHCP decides on: a [`PxeRequest`], a reason to stay silent, or
//! [`Malformed`].
//!
//! A small zero-copy reader of our own rather than `dhcproto`'s decoder: that one allocates
//! every option and, in 0.15, panics on some hostile inputs (an `unwrap` on option 121's prefix
//! length, `debug_assert`s on option lengths). Replies are still built with `dhcproto`.

use std::net::Ipv4Addr;

use crate::mac::Mac;

/// RFC 2131 §3: the first four octets of the options field.
pub const MAGIC_COOKIE: [u8; 4] = [99, 130, 83, 99];
/// Fixed BOOTP header, before the cookie.
const HEADER: usize = 236;

/// Why a datagram was dropped and counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    /// Shorter than the fixed header and cookie.
    Truncated,
    /// op is not BOOTREQUEST.
    NotRequest,
    /// The magic cookie is wrong.
    BadCookie,
    /// An option's length runs past the end of the datagram.
    OptionOverrun,
    /// A fixed-size option (53, 93, 54) has the wrong length.
    BadOptionLength(u8),
}

/// Why a well-formed message gets no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ignored {
    /// No option 60 `PXEClient`/`HTTPClient`: ordinary DHCP traffic, the router's business.
    NotPxe,
    /// Not Ethernet (htype 1, hlen 6).
    NotEthernet,
    /// A message type proxyDHCP does not answer (RELEASE, DECLINE, replies, none).
    MessageType,
}

/// The DHCP message types proxyDHCP answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// DHCPDISCOVER.
    Discover,
    /// DHCPREQUEST.
    Request,
    /// DHCPINFORM.
    Inform,
}

/// Option 60's family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientClass {
    /// `PXEClient…`: firmware PXE (TFTP) or iPXE.
    Pxe,
    /// `HTTPClient…`: UEFI HTTP boot; wants a URL.
    Http,
}

/// Option 93, RFC 4578 §2.1 and the IANA registry, reduced to what picks a bootfile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Firmware {
    /// 0: x86 BIOS.
    Bios,
    /// 6: x86 UEFI.
    Uefi32,
    /// 7 and 9: x86-64 UEFI.
    Uefi64,
    /// 11: arm64 UEFI.
    UefiArm64,
    /// 16: x86-64 UEFI HTTP boot.
    HttpUefi64,
    /// 19: arm64 UEFI HTTP boot.
    HttpArm64,
    /// Anything else (the raw number).
    Other(u16),
}

impl Firmware {
    /// From option 93's first value.
    pub fn from_code(code: u16) -> Firmware {
        match code {
            0 => Firmware::Bios,
            6 => Firmware::Uefi32,
            7 | 9 => Firmware::Uefi64,
            11 => Firmware::UefiArm64,
            16 => Firmware::HttpUefi64,
            19 => Firmware::HttpArm64,
            n => Firmware::Other(n),
        }
    }

    /// A short name for logs and inventory.
    pub fn name(self) -> String {
        match self {
            Firmware::Bios => "bios".into(),
            Firmware::Uefi32 => "efi-ia32".into(),
            Firmware::Uefi64 => "efi-x64".into(),
            Firmware::UefiArm64 => "efi-arm64".into(),
            Firmware::HttpUefi64 => "efi-x64-http".into(),
            Firmware::HttpArm64 => "efi-arm64-http".into(),
            Firmware::Other(n) => format!("arch-{n}"),
        }
    }
}

/// A PXE or HTTP-boot client's request, everything proxyDHCP needs and nothing borrowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PxeRequest {
    /// Message type.
    pub kind: MessageKind,
    /// Transaction ID, echoed.
    pub xid: u32,
    /// The broadcast flag (RFC 2131 §4.1).
    pub broadcast: bool,
    /// The client's own address, when it has one.
    pub ciaddr: Ipv4Addr,
    /// The relay's address, when relayed.
    pub giaddr: Ipv4Addr,
    /// Client hardware address.
    pub mac: Mac,
    /// Option 60's family.
    pub class: ClientClass,
    /// Option 60 as sent (lossy UTF-8).
    pub vendor_class: String,
    /// Option 93; BIOS when absent (RFC 4578: older PXE ROMs omit it).
    pub firmware: Firmware,
    /// The client is iPXE already (option 77 `iPXE`, or iPXE's option 175 present).
    pub ipxe: bool,
    /// Option 97, the client GUID, echoed.
    pub guid: Option<Vec<u8>>,
    /// Option 54, the server the client chose (REQUEST).
    pub server_id: Option<Ipv4Addr>,
    /// Option 43 sub-option 71, the PXE boot item asked for on port 4011.
    pub boot_item: Option<[u8; 4]>,
}

/// What a datagram turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// Answerable.
    Pxe(PxeRequest),
    /// Well-formed, not ours.
    Ignored(Ignored),
}

/// Parses one datagram.
///
/// # Errors
/// [`Malformed`] for anything a correct client would not send.
pub fn parse(datagram: &[u8]) -> Result<Seen, Malformed> {
    let header = datagram.get(..HEADER + 4).ok_or(Malformed::Truncated)?;
    if header[0] != 1 {
        return Err(Malformed::NotRequest);
    }
    if header[HEADER..] != MAGIC_COOKIE {
        return Err(Malformed::BadCookie);
    }
    let options = Options::scan(&datagram[HEADER + 4..])?;
    let (htype, hlen) = (header[1], header[2]);
    let kind = match options.message_type {
        Some(1) => MessageKind::Discover,
        Some(3) => MessageKind::Request,
        Some(8) => MessageKind::Inform,
        _ => return Ok(Seen::Ignored(Ignored::MessageType)),
    };
    let Some(vendor_class) = options.vendor_class else {
        return Ok(Seen::Ignored(Ignored::NotPxe));
    };
    let class = if vendor_class.starts_with(b"PXEClient") {
        ClientClass::Pxe
    } else if vendor_class.starts_with(b"HTTPClient") {
        ClientClass::Http
    } else {
        return Ok(Seen::Ignored(Ignored::NotPxe));
    };
    if htype != 1 || hlen != 6 {
        return Ok(Seen::Ignored(Ignored::NotEthernet));
    }
    let addr =
        |at: usize| Ipv4Addr::new(header[at], header[at + 1], header[at + 2], header[at + 3]);
    let mut mac = [0u8; 6];
    mac.copy_from_slice(&header[28..34]);
    Ok(Seen::Pxe(PxeRequest {
        kind,
        xid: u32::from_be_bytes([header[4], header[5], header[6], header[7]]),
        broadcast: header[10] & 0x80 != 0,
        ciaddr: addr(12),
        giaddr: addr(24),
        mac: Mac(mac),
        class,
        vendor_class: String::from_utf8_lossy(vendor_class).into_owned(),
        firmware: options.arch.map_or(Firmware::Bios, Firmware::from_code),
        ipxe: options.user_class_ipxe || options.ipxe_encapsulated,
        guid: options.guid.map(<[u8]>::to_vec),
        server_id: options.server_id,
        boot_item: options.boot_item,
    }))
}

/// The options we read, borrowed from the datagram.
#[derive(Default)]
struct Options<'a> {
    message_type: Option<u8>,
    vendor_class: Option<&'a [u8]>,
    arch: Option<u16>,
    user_class_ipxe: bool,
    ipxe_encapsulated: bool,
    guid: Option<&'a [u8]>,
    server_id: Option<Ipv4Addr>,
    boot_item: Option<[u8; 4]>,
}

impl<'a> Options<'a> {
    /// Walks the TLVs once, checking every length. The first occurrence of an option wins
    /// (RFC 3396 concatenation is not needed for anything we read).
    fn scan(mut rest: &'a [u8]) -> Result<Options<'a>, Malformed> {
        let mut o = Options::default();
        while let Some((&code, after)) = rest.split_first() {
            match code {
                0 => {
                    rest = after;
                    continue;
                }
                255 => break,
                _ => {}
            }
            let (&len, after) = after.split_first().ok_or(Malformed::OptionOverrun)?;
            let len = usize::from(len);
            let value = after.get(..len).ok_or(Malformed::OptionOverrun)?;
            rest = &after[len..];
            let fixed = |want: usize| {
                if value.len() == want {
                    Ok(value)
                } else {
                    Err(Malformed::BadOptionLength(code))
                }
            };
            match code {
                53 if o.message_type.is_none() => o.message_type = Some(fixed(1)?[0]),
                54 if o.server_id.is_none() => {
                    let v = fixed(4)?;
                    o.server_id = Some(Ipv4Addr::new(v[0], v[1], v[2], v[3]));
                }
                60 if o.vendor_class.is_none() => o.vendor_class = Some(value),
                // A list of u16; the first names the firmware booting now.
                93 if o.arch.is_none() => {
                    if value.len() < 2 || value.len() % 2 != 0 {
                        return Err(Malformed::BadOptionLength(code));
                    }
                    o.arch = Some(u16::from_be_bytes([value[0], value[1]]));
                }
                // iPXE sends "iPXE" bare; RFC 3004 clients length-prefix each class.
                77 => o.user_class_ipxe |= value == b"iPXE" || value.get(1..) == Some(b"iPXE"),
                97 if o.guid.is_none() => o.guid = Some(value),
                43 => o.boot_item = o.boot_item.or_else(|| boot_item(value)),
                175 => o.ipxe_encapsulated = true,
                _ => {}
            }
        }
        Ok(o)
    }
}

/// PXE sub-option 71 (PXE_BOOT_ITEM: type u16, layer u16) inside option 43.
fn boot_item(mut encapsulated: &[u8]) -> Option<[u8; 4]> {
    // Every arm shortens the slice or returns: the loop ends.
    loop {
        match encapsulated {
            [0, rest @ ..] => encapsulated = rest,
            [code, len, rest @ ..] if *code != 255 => {
                let value = rest.get(..usize::from(*len))?;
                if *code == 71 && value.len() == 4 {
                    return Some([value[0], value[1], value[2], value[3]]);
                }
                encapsulated = &rest[usize::from(*len)..];
            }
            _ => return None,
        }
    }
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
