use dhcproto::v4::{DhcpOption, Flags, Message, MessageType, UnknownOption};
use dhcproto::{Encodable, Encoder};

use super::*;

const MAC: [u8; 6] = [0x52, 0x54, 0, 0x12, 0x34, 0x56];

/// A PXE DISCOVER as a BIOS PXE ROM sends it (options as in PXE spec 2.1 §2.2.1).
fn discover(extra: impl FnOnce(&mut Message)) -> Vec<u8> {
    let zero = Ipv4Addr::UNSPECIFIED;
    let mut m = Message::new_with_id(0xdead_beef, zero, zero, zero, zero, &MAC);
    m.set_flags(Flags::default().set_broadcast());
    let o = m.opts_mut();
    o.insert(DhcpOption::MessageType(MessageType::Discover));
    o.insert(DhcpOption::ClassIdentifier(
        b"PXEClient:Arch:00000:UNDI:002001".to_vec(),
    ));
    o.insert(DhcpOption::ClientSystemArchitecture(0.into()));
    o.insert(DhcpOption::ClientMachineIdentifier(vec![0; 17]));
    extra(&mut m);
    let mut out = Vec::new();
    m.encode(&mut Encoder::new(&mut out)).unwrap();
    out
}

fn pxe(bytes: &[u8]) -> PxeRequest {
    match parse(bytes) {
        Ok(Seen::Pxe(r)) => r,
        other => panic!("not a PXE request: {other:?}"),
    }
}

#[test]
fn bios_pxe_discover() {
    let r = pxe(&discover(|_| {}));
    assert_eq!(r.kind, MessageKind::Discover);
    assert_eq!(r.xid, 0xdead_beef);
    assert!(r.broadcast);
    assert_eq!(r.mac.0, MAC);
    assert_eq!(r.class, ClientClass::Pxe);
    assert_eq!(r.firmware, Firmware::Bios);
    assert!(!r.ipxe);
    assert_eq!(r.guid.as_deref(), Some(&[0u8; 17][..]));
}

#[test]
fn ipxe_is_recognised_by_user_class_or_option_175() {
    let by_77 = discover(|m| {
        m.opts_mut().insert(DhcpOption::UserClass(b"iPXE".to_vec()));
    });
    assert!(pxe(&by_77).ipxe);
    let by_175 = discover(|m| {
        m.opts_mut().insert(DhcpOption::Unknown(UnknownOption::new(
            175.into(),
            vec![0xb1, 1, 1],
        )));
    });
    assert!(pxe(&by_175).ipxe);
}

#[test]
fn uefi_and_http_clients() {
    let uefi = discover(|m| {
        let o = m.opts_mut();
        o.insert(DhcpOption::ClientSystemArchitecture(7.into()));
    });
    assert_eq!(pxe(&uefi).firmware, Firmware::Uefi64);
    let http = discover(|m| {
        let o = m.opts_mut();
        o.insert(DhcpOption::ClassIdentifier(
            b"HTTPClient:Arch:00016:UNDI:003001".to_vec(),
        ));
        o.insert(DhcpOption::ClientSystemArchitecture(16.into()));
    });
    let r = pxe(&http);
    assert_eq!(
        (r.class, r.firmware),
        (ClientClass::Http, Firmware::HttpUefi64)
    );
}

#[test]
fn ordinary_dhcp_is_ignored() {
    let plain = discover(|m| {
        m.opts_mut()
            .remove(dhcproto::v4::OptionCode::ClassIdentifier);
    });
    assert_eq!(parse(&plain), Ok(Seen::Ignored(Ignored::NotPxe)));
    let msft = discover(|m| {
        m.opts_mut()
            .insert(DhcpOption::ClassIdentifier(b"MSFT 5.0".to_vec()));
    });
    assert_eq!(parse(&msft), Ok(Seen::Ignored(Ignored::NotPxe)));
    let release = discover(|m| {
        m.opts_mut()
            .insert(DhcpOption::MessageType(MessageType::Release));
    });
    assert_eq!(parse(&release), Ok(Seen::Ignored(Ignored::MessageType)));
}

#[test]
fn garbage_is_malformed_never_a_panic() {
    let good = discover(|_| {});
    assert_eq!(parse(&good[..200]), Err(Malformed::Truncated));
    let mut reply = good.clone();
    reply[0] = 2;
    assert_eq!(parse(&reply), Err(Malformed::NotRequest));
    let mut cookie = good.clone();
    cookie[236] = 0;
    assert_eq!(parse(&cookie), Err(Malformed::BadCookie));
    // An option claiming 255 bytes with 3 left.
    let mut overrun = good[..240].to_vec();
    overrun.extend_from_slice(&[60, 255, b'P', b'X', b'E']);
    assert_eq!(parse(&overrun), Err(Malformed::OptionOverrun));
    let mut bad_len = good[..240].to_vec();
    bad_len.extend_from_slice(&[53, 2, 1, 1, 255]);
    assert_eq!(parse(&bad_len), Err(Malformed::BadOptionLength(53)));
    // Every truncation and every single-byte corruption of a real request stays in the types.
    for len in 0..good.len() {
        let _ = parse(&good[..len]);
    }
    for at in 0..good.len() {
        for value in [0u8, 1, 0x7f, 0xff] {
            let mut b = good.clone();
            b[at] = value;
            let _ = parse(&b);
        }
    }
}

#[test]
fn boot_item_is_read_from_option_43() {
    let with_item = discover(|m| {
        m.opts_mut().insert(DhcpOption::VendorExtensions(vec![
            0, 71, 4, 0x80, 0x00, 0x00, 0x00, 255,
        ]));
    });
    assert_eq!(pxe(&with_item).boot_item, Some([0x80, 0, 0, 0]));
}
