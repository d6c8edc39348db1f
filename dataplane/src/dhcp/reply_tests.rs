use dhcproto::v4::{DhcpOption, Message, MessageType, OptionCode};
use dhcproto::{Decodable, Decoder};

use super::*;
use crate::dhcp::request::{ClientClass, Firmware, MessageKind, PxeRequest};
use crate::mac::Mac;

/// The address the requests in these tests arrived at.
const HERE: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

fn policy() -> Policy {
    Policy {
        server: None,
        http_port: 8080,
        bootfiles: Bootfiles {
            bios: "undionly.kpxe".into(),
            uefi_x64: "ipxe.efi".into(),
            uefi_ia32: None,
            uefi_arm64: None,
        },
        uefi: UefiStrategy::InOffer,
    }
}

fn request(firmware: Firmware) -> PxeRequest {
    PxeRequest {
        kind: MessageKind::Discover,
        xid: 7,
        broadcast: false,
        ciaddr: Ipv4Addr::UNSPECIFIED,
        giaddr: Ipv4Addr::UNSPECIFIED,
        mac: Mac([2, 0, 0, 0, 0, 1]),
        class: ClientClass::Pxe,
        vendor_class: "PXEClient:Arch:00000:UNDI:002001".into(),
        firmware,
        ipxe: false,
        guid: Some(vec![0, 1, 2, 3]),
        server_id: None,
        boot_item: None,
    }
}

fn answer(r: &PxeRequest, port: Port, p: &Policy) -> Answer {
    match decide(r, port, p, HERE) {
        Decision::Answer(a) => a,
        other => panic!("no answer: {other:?}"),
    }
}

#[test]
fn bootfile_by_firmware() {
    let p = policy();
    let bios = answer(&request(Firmware::Bios), Port::Dhcp, &p);
    assert_eq!(bios.kind, MessageType::Offer);
    assert_eq!(bios.bootfile, Bootfile::Tftp("undionly.kpxe".into()));
    let uefi = answer(&request(Firmware::Uefi64), Port::Dhcp, &p);
    assert_eq!(uefi.bootfile, Bootfile::Tftp("ipxe.efi".into()));
    let mut ipxe = request(Firmware::Uefi64);
    ipxe.ipxe = true;
    let script = answer(&ipxe, Port::Dhcp, &p);
    assert_eq!(
        script.bootfile,
        Bootfile::Url("http://10.0.0.2:8080/boot.ipxe".into())
    );
    let mut http = request(Firmware::HttpUefi64);
    http.class = ClientClass::Http;
    assert_eq!(
        answer(&http, Port::Dhcp, &p).bootfile,
        Bootfile::Url("http://10.0.0.2:8080/ipxe/ipxe.efi".into())
    );
    assert!(matches!(
        decide(&request(Firmware::UefiArm64), Port::Dhcp, &p, HERE),
        Decision::NoBootloader(_)
    ));
}

#[test]
fn requests_for_the_router_are_left_alone() {
    let p = policy();
    let mut r = request(Firmware::Bios);
    r.kind = MessageKind::Request;
    r.server_id = Some(Ipv4Addr::new(10, 0, 0, 1));
    assert!(matches!(
        decide(&r, Port::Dhcp, &p, HERE),
        Decision::Silent(_)
    ));
    // The same REQUEST on 4011 is ours.
    assert_eq!(answer(&r, Port::BootServer, &p).kind, MessageType::Ack);
    r.server_id = Some(HERE);
    assert_eq!(answer(&r, Port::Dhcp, &p).kind, MessageType::Ack);
    r.kind = MessageKind::Discover;
    assert!(matches!(
        decide(&r, Port::BootServer, &p, HERE),
        Decision::Silent(_)
    ));
}

#[test]
fn boot_server_strategy_moves_uefi_bootfile_to_4011() {
    let mut p = policy();
    p.uefi = UefiStrategy::BootServer;
    let uefi = request(Firmware::Uefi64);
    assert_eq!(
        answer(&uefi, Port::Dhcp, &p).bootfile,
        Bootfile::AskBootServer
    );
    let mut on_4011 = uefi.clone();
    on_4011.kind = MessageKind::Request;
    assert_eq!(
        answer(&on_4011, Port::BootServer, &p).bootfile,
        Bootfile::Tftp("ipxe.efi".into())
    );
    // BIOS keeps the bootfile in the offer.
    let bios = answer(&request(Firmware::Bios), Port::Dhcp, &p);
    assert_eq!(bios.bootfile, Bootfile::Tftp("undionly.kpxe".into()));
}

#[test]
fn encoded_offer_is_a_proxy_offer() {
    let p = policy();
    let r = request(Firmware::Bios);
    let a = answer(&r, Port::Dhcp, &p);
    let bytes = encode(&r, &a, HERE);
    assert!(bytes.len() >= 300);
    let m = Message::decode(&mut Decoder::new(&bytes)).unwrap();
    assert_eq!(m.xid(), 7);
    assert!(
        m.yiaddr().is_unspecified(),
        "a proxy never hands out addresses"
    );
    assert_eq!(m.siaddr(), HERE);
    assert_eq!(m.chaddr(), &r.mac.0);
    let fname = m.fname().unwrap_or_default();
    assert_eq!(fname.split(|b| *b == 0).next(), Some(&b"undionly.kpxe"[..]));
    let o = m.opts();
    assert_eq!(o.msg_type(), Some(MessageType::Offer));
    assert_eq!(
        o.get(OptionCode::ClassIdentifier),
        Some(&DhcpOption::ClassIdentifier(b"PXEClient".to_vec()))
    );
    assert_eq!(
        o.get(OptionCode::ClientMachineIdentifier),
        Some(&DhcpOption::ClientMachineIdentifier(vec![0, 1, 2, 3]))
    );
    assert_eq!(
        o.get(OptionCode::VendorExtensions),
        Some(&DhcpOption::VendorExtensions(vec![6, 1, 8, 255]))
    );
    assert_eq!(
        o.get(OptionCode::ServerIdentifier),
        Some(&DhcpOption::ServerIdentifier(HERE))
    );
}

#[test]
fn replies_go_to_relay_sender_or_broadcast() {
    let from: SocketAddrV4 = "10.0.0.50:68".parse().unwrap();
    let mut r = request(Firmware::Bios);
    assert_eq!(
        destination(&r, Port::Dhcp, from),
        "255.255.255.255:68".parse().unwrap()
    );
    assert_eq!(destination(&r, Port::BootServer, from), from);
    r.ciaddr = Ipv4Addr::new(10, 0, 0, 50);
    assert_eq!(
        destination(&r, Port::Dhcp, from),
        "10.0.0.50:68".parse().unwrap()
    );
    r.broadcast = true;
    assert_eq!(
        destination(&r, Port::Dhcp, from),
        "255.255.255.255:68".parse().unwrap()
    );
    r.giaddr = Ipv4Addr::new(10, 9, 0, 1);
    assert_eq!(
        destination(&r, Port::Dhcp, from),
        "10.9.0.1:67".parse().unwrap()
    );
}

#[test]
fn server_address_is_where_the_request_arrived_unless_fixed() {
    let mut p = policy();
    let other = Ipv4Addr::new(192, 168, 7, 1);
    assert_eq!(p.server_for(other), other);
    let mut ipxe = request(Firmware::Bios);
    ipxe.ipxe = true;
    assert_eq!(
        answer_at(&ipxe, &p, other).bootfile,
        Bootfile::Url("http://192.168.7.1:8080/boot.ipxe".into())
    );
    p.server = Some(HERE);
    assert_eq!(p.server_for(other), HERE);
    // A REQUEST on 67 is ours only when it names the address we gave out.
    let mut r = request(Firmware::Bios);
    r.kind = MessageKind::Request;
    r.server_id = Some(HERE);
    assert_eq!(answer_at(&r, &p, other).kind, MessageType::Ack);
    r.server_id = Some(other);
    assert!(matches!(
        decide(&r, Port::Dhcp, &p, p.server_for(other)),
        Decision::Silent(_)
    ));
}

fn answer_at(r: &PxeRequest, p: &Policy, local: Ipv4Addr) -> Answer {
    match decide(r, Port::Dhcp, p, p.server_for(local)) {
        Decision::Answer(a) => a,
        other => panic!("no answer: {other:?}"),
    }
}
