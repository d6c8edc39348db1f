//! PXE DISCOVERs as a relay agent forwards them (or as the client broadcasts them, with no
//! relay), and checks of the answers. Request `i` of a
//! storm has xid `base + i` and a MAC derived from `i`, so an answer is matched to its
//! request without a table: its xid gives `i`, and its chaddr must be `i`'s MAC.
//!
//! Options sent (RFC 2132, RFC 4578): 53 DISCOVER, 60 `PXEClient:Arch:00000:UNDI:002001`,
//! 93 architecture 0 (BIOS), 94 UNDI 2.1, 97 a GUID, and for iPXE's own DHCP 77 `iPXE`.
//! giaddr is the relay's address (RFC 2131 §4.1), so the server answers by unicast to it.

use std::net::Ipv4Addr;

use dhcproto::v4::{self, DhcpOption, MessageType, Opcode};
use dhcproto::{Decodable, Decoder, Encodable};

/// What a BIOS PXE ROM puts in option 60.
pub const PXE_CLASS: &[u8] = b"PXEClient:Arch:00000:UNDI:002001";

/// The locally administered MAC of request `i`: 02:fb + `i` (32 bits).
pub fn mac(i: u32) -> [u8; 6] {
    let [a, b, c, d] = i.to_be_bytes();
    [0x02, 0xfb, a, b, c, d]
}

/// Who sends a DISCOVER: the firmware's PXE ROM, or the iPXE it loaded (user class `iPXE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Client {
    /// The PXE ROM: gets a bootloader over TFTP.
    PxeRom,
    /// iPXE: gets the boot script's URL.
    Ipxe,
}

/// The DISCOVER of request `i` with xid `xid`, relayed by `relay`.
pub fn discover(i: u32, xid: u32, relay: Ipv4Addr) -> Vec<u8> {
    discover_from(Client::PxeRom, i, xid, relay)
}

/// The DISCOVER `client` of machine `i` sends, with xid `xid`, relayed by `relay`.
pub fn discover_from(client: Client, i: u32, xid: u32, relay: Ipv4Addr) -> Vec<u8> {
    let unspecified = Ipv4Addr::UNSPECIFIED;
    let mut msg =
        v4::Message::new_with_id(xid, unspecified, unspecified, unspecified, relay, &mac(i));
    msg.set_opcode(Opcode::BootRequest)
        .set_htype(v4::HType::Eth)
        .set_hops(u8::from(!relay.is_unspecified()))
        .set_flags(v4::Flags::default().set_broadcast());
    let mut guid = vec![0u8; 17]; // type 0, then a 16-byte UUID
    guid[13..].copy_from_slice(&i.to_be_bytes());
    let opts = msg.opts_mut();
    opts.insert(DhcpOption::MessageType(MessageType::Discover));
    opts.insert(DhcpOption::ClassIdentifier(PXE_CLASS.to_vec()));
    opts.insert(DhcpOption::ClientSystemArchitecture(
        v4::Architecture::from(0),
    ));
    opts.insert(DhcpOption::ClientNetworkInterface(1, 2, 1));
    opts.insert(DhcpOption::ClientMachineIdentifier(guid));
    if client == Client::Ipxe {
        opts.insert(DhcpOption::UserClass(b"iPXE".to_vec()));
    }
    msg.to_vec().expect("a DISCOVER always encodes")
}

/// Why an answer was not counted.
#[derive(Debug, PartialEq, Eq)]
pub enum Rejected {
    /// Not a DHCP message.
    Malformed,
    /// Its xid is outside the storm's.
    UnknownXid,
    /// A DHCP server's lease offer (an address in yiaddr), not a proxy's: the site's router
    /// answering the same broadcast.
    Lease,
    /// Not the proxy OFFER a PXE client needs: the reason.
    Wrong(&'static str),
}

impl Rejected {
    /// Why this answer is wrong, or `None` when it is simply not ours to judge. Through a
    /// relay only the server under test answers, so a lease offer is its mistake; on a
    /// client's link the site's router answers the same broadcast with one.
    pub fn fault(&self, relayed: bool) -> Option<&'static str> {
        match self {
            Rejected::Wrong(why) => Some(why),
            Rejected::Lease if relayed => Some("proxy OFFER with an address"),
            Rejected::Lease | Rejected::Malformed | Rejected::UnknownXid => None,
        }
    }
}

/// A proxy OFFER, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    /// The request it answers (xid − base).
    pub index: u32,
    /// siaddr: where to fetch a TFTP bootfile.
    pub next_server: Ipv4Addr,
    /// Option 67, else the `file` field; `None` when neither names one.
    pub bootfile: Option<String>,
    /// Option 54, the server identifier.
    pub server_id: Option<Ipv4Addr>,
}

/// Checks a server's answer to a storm whose xids start at `base` and number `count`, where
/// request `i` came from `mac_of(i)`.
///
/// # Errors
/// Why it is not a proxy OFFER (BOOTREPLY, OFFER, yiaddr 0, option 60 `PXEClient`, the
/// request's chaddr) to one of the storm's requests.
pub fn check_answer(
    datagram: &[u8],
    base: u32,
    count: u32,
    mac_of: impl Fn(u32) -> [u8; 6],
) -> Result<Offer, Rejected> {
    let msg = v4::Message::decode(&mut Decoder::new(datagram)).map_err(|_| Rejected::Malformed)?;
    let i = msg.xid().wrapping_sub(base);
    if i >= count {
        return Err(Rejected::UnknownXid);
    }
    if msg.opcode() != Opcode::BootReply {
        return Err(Rejected::Wrong("not a BOOTREPLY"));
    }
    if msg.opts().msg_type() != Some(MessageType::Offer) {
        return Err(Rejected::Wrong("not an OFFER"));
    }
    if msg.yiaddr() != Ipv4Addr::UNSPECIFIED {
        return Err(Rejected::Lease);
    }
    if msg.chaddr().get(..6) != Some(&mac_of(i)[..]) {
        return Err(Rejected::Wrong("chaddr of another request"));
    }
    match msg.opts().get(v4::OptionCode::ClassIdentifier) {
        Some(DhcpOption::ClassIdentifier(c)) if c.as_slice() == b"PXEClient" => {}
        _ => return Err(Rejected::Wrong("option 60 is not PXEClient")),
    }
    let bootfile = match msg.opts().get(v4::OptionCode::BootfileName) {
        Some(DhcpOption::BootfileName(name)) => name.as_slice(),
        _ => msg.fname().unwrap_or_default(),
    };
    // The file field is NUL-padded; some servers NUL-terminate option 67 too.
    let end = bootfile
        .iter()
        .position(|&c| c == 0)
        .unwrap_or(bootfile.len());
    let server_id = match msg.opts().get(v4::OptionCode::ServerIdentifier) {
        Some(DhcpOption::ServerIdentifier(id)) => Some(*id),
        _ => None,
    };
    Ok(Offer {
        index: i,
        next_server: msg.siaddr(),
        server_id,
        bootfile: Some(String::from_utf8_lossy(&bootfile[..end]).into_owned())
            .filter(|b| !b.is_empty()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer_to(request: &[u8], class: &[u8]) -> Vec<u8> {
        let mut msg = v4::Message::decode(&mut Decoder::new(request)).unwrap();
        msg.set_opcode(Opcode::BootReply);
        let opts = msg.opts_mut();
        opts.insert(DhcpOption::MessageType(MessageType::Offer));
        opts.insert(DhcpOption::ClassIdentifier(class.to_vec()));
        msg.to_vec().unwrap()
    }

    #[test]
    fn offers_give_next_server_and_bootfile() {
        let relay = Ipv4Addr::new(10, 0, 0, 1);
        let ipxe = discover_from(Client::Ipxe, 3, 1003, relay);
        let msg = v4::Message::decode(&mut Decoder::new(&ipxe)).unwrap();
        assert_eq!(
            msg.opts().get(v4::OptionCode::UserClass),
            Some(&DhcpOption::UserClass(b"iPXE".to_vec()))
        );
        let mut offer =
            v4::Message::decode(&mut Decoder::new(&offer_to(&ipxe, b"PXEClient"))).unwrap();
        offer.set_siaddr(Ipv4Addr::new(10, 0, 0, 2));
        offer.set_fname_str("undionly.kpxe");
        let got = check_answer(&offer.to_vec().unwrap(), 1000, 10, mac).unwrap();
        assert_eq!(
            got,
            Offer {
                index: 3,
                next_server: Ipv4Addr::new(10, 0, 0, 2),
                bootfile: Some("undionly.kpxe".into()),
                server_id: None,
            }
        );
        assert_eq!(
            check_answer(&offer_to(&ipxe, b"PXEClient"), 1000, 10, mac).map(|o| o.bootfile),
            Ok(None)
        );
        // Option 67 wins over the file field.
        offer
            .opts_mut()
            .insert(DhcpOption::BootfileName(b"http://h/boot.ipxe".to_vec()));
        let got = check_answer(&offer.to_vec().unwrap(), 1000, 10, mac).unwrap();
        assert_eq!(got.bootfile.as_deref(), Some("http://h/boot.ipxe"));
    }

    #[test]
    fn discover_carries_pxe_options_and_relay() {
        let relay = Ipv4Addr::new(10, 0, 0, 1);
        let bytes = discover(5, 1005, relay);
        let msg = v4::Message::decode(&mut Decoder::new(&bytes)).unwrap();
        assert_eq!(msg.giaddr(), relay);
        assert_eq!(msg.xid(), 1005);
        assert_eq!(msg.chaddr(), mac(5));
        assert_eq!(msg.opts().msg_type(), Some(MessageType::Discover));
        assert_eq!(
            msg.opts().get(v4::OptionCode::ClassIdentifier),
            Some(&DhcpOption::ClassIdentifier(PXE_CLASS.to_vec()))
        );
        assert!(msg
            .opts()
            .get(v4::OptionCode::ClientSystemArchitecture)
            .is_some());
        assert!(msg
            .opts()
            .get(v4::OptionCode::ClientMachineIdentifier)
            .is_some());
    }

    #[test]
    fn answers_are_matched_and_checked() {
        let relay = Ipv4Addr::new(10, 0, 0, 1);
        let request = discover(5, 1005, relay);
        assert_eq!(
            check_answer(&offer_to(&request, b"PXEClient"), 1000, 10, mac).map(|o| o.index),
            Ok(5)
        );
        assert_eq!(
            check_answer(&offer_to(&request, b"PXEClient"), 2000, 10, mac),
            Err(Rejected::UnknownXid)
        );
        assert!(matches!(
            check_answer(&offer_to(&request, b"other"), 1000, 10, mac),
            Err(Rejected::Wrong(_))
        ));
        assert!(matches!(
            check_answer(&request, 1000, 10, mac),
            Err(Rejected::Wrong(_))
        ));
        assert_eq!(
            check_answer(b"junk", 1000, 10, mac),
            Err(Rejected::Malformed)
        );
        let mut lease =
            v4::Message::decode(&mut Decoder::new(&offer_to(&request, b"PXEClient"))).unwrap();
        lease.set_yiaddr(Ipv4Addr::new(10, 0, 0, 150));
        assert_eq!(
            check_answer(&lease.to_vec().unwrap(), 1000, 10, mac),
            Err(Rejected::Lease)
        );
        // Request 6's xid with request 5's chaddr.
        let mut other = discover(5, 1006, relay);
        other = offer_to(&other, b"PXEClient");
        assert_eq!(
            check_answer(&other, 1000, 10, mac),
            Err(Rejected::Wrong("chaddr of another request"))
        );
    }
}
