//! proxyDHCP on loopback (ephemeral ports, answers on 4011 go back to the sender) and hostile
//! datagrams. The `/boot.ipxe` policy is `boot_script.rs`; the full chain with real firmware
//! is `boot_lab.rs`.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant};

use dhcproto::v4::{DhcpOption, Message, MessageType, OptionCode};
use dhcproto::{Decodable, Decoder, Encodable, Encoder};
use fleetboot_tests::Server;

const MAC: [u8; 6] = [0x52, 0x54, 0x00, 0xfb, 0x00, 0x01];

fn start(prepare: impl FnOnce(&Path)) -> Server {
    Server::start_with(
        prepare,
        &[
            "--dhcp-mode",
            "proxy",
            "--dhcp-port",
            "0",
            "--pxe-port",
            "0",
            "--server-addr",
            "127.0.0.1",
            "--menu-timeout",
            "3",
        ],
    )
}

/// A PXE client message as firmware (or iPXE, with user class) sends it.
fn pxe_message(kind: MessageType, arch: u16, ipxe: bool, class: &[u8]) -> Vec<u8> {
    let zero = Ipv4Addr::UNSPECIFIED;
    let mut m = Message::new_with_id(0x0fb0_0001, zero, zero, zero, zero, &MAC);
    let o = m.opts_mut();
    o.insert(DhcpOption::MessageType(kind));
    o.insert(DhcpOption::ClassIdentifier(class.to_vec()));
    o.insert(DhcpOption::ClientSystemArchitecture(arch.into()));
    o.insert(DhcpOption::ClientMachineIdentifier(vec![0; 17]));
    if ipxe {
        o.insert(DhcpOption::UserClass(b"iPXE".to_vec()));
    }
    let mut out = Vec::new();
    m.encode(&mut Encoder::new(&mut out)).unwrap();
    out
}

fn client() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(1500)))
        .unwrap();
    s
}

fn loopback(addr: SocketAddr) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, addr.port()))
}

fn exchange(sock: &UdpSocket, to: SocketAddr, request: &[u8]) -> Option<Message> {
    sock.send_to(request, to).unwrap();
    let mut buf = [0u8; 1500];
    let (n, _) = sock.recv_from(&mut buf).ok()?;
    assert!(n >= 300, "reply shorter than a BOOTP packet: {n}");
    Some(Message::decode(&mut Decoder::new(&buf[..n])).unwrap())
}

fn bootfile(m: &Message) -> String {
    match m.opts().get(OptionCode::BootfileName) {
        Some(DhcpOption::BootfileName(b)) => String::from_utf8_lossy(b).into_owned(),
        other => panic!("no bootfile: {other:?}"),
    }
}

#[test]
fn boot_server_port_answers_firmware_and_ipxe() {
    let s = start(|_| {});
    let pxe = loopback(s.pxe.expect("pxe port"));
    let sock = client();
    let uefi = pxe_message(
        MessageType::Request,
        7,
        false,
        b"PXEClient:Arch:00007:UNDI:003016",
    );
    let ack = exchange(&sock, pxe, &uefi).expect("UEFI request answered on 4011");
    assert_eq!(ack.xid(), 0x0fb0_0001);
    assert_eq!(ack.opts().msg_type(), Some(MessageType::Ack));
    assert!(ack.yiaddr().is_unspecified());
    assert_eq!(ack.siaddr(), Ipv4Addr::LOCALHOST);
    assert_eq!(bootfile(&ack), "ipxe.efi");
    assert_eq!(
        ack.opts().get(OptionCode::ClassIdentifier),
        Some(&DhcpOption::ClassIdentifier(b"PXEClient".to_vec()))
    );
    let bios = pxe_message(
        MessageType::Request,
        0,
        false,
        b"PXEClient:Arch:00000:UNDI:002001",
    );
    assert_eq!(
        bootfile(&exchange(&sock, pxe, &bios).unwrap()),
        "undionly.kpxe"
    );
    // iPXE gets the script, never another iPXE.
    let ipxe = pxe_message(
        MessageType::Request,
        7,
        true,
        b"PXEClient:Arch:00007:UNDI:003010",
    );
    assert_eq!(
        bootfile(&exchange(&sock, pxe, &ipxe).unwrap()),
        format!("http://127.0.0.1:{}/boot.ipxe", s.http.port())
    );
    // UEFI HTTP boot gets a URL and its own class back.
    let http = pxe_message(
        MessageType::Request,
        16,
        false,
        b"HTTPClient:Arch:00016:UNDI:003001",
    );
    let answer = exchange(&sock, pxe, &http).unwrap();
    assert_eq!(
        bootfile(&answer),
        format!("http://127.0.0.1:{}/ipxe/ipxe.efi", s.http.port())
    );
    assert_eq!(
        answer.opts().get(OptionCode::ClassIdentifier),
        Some(&DhcpOption::ClassIdentifier(b"HTTPClient".to_vec()))
    );
    assert_eq!(s.health_number("dhcp_answered"), 4);
}

/// Requests sent back to back queue up while the server answers the first; a queued longer
/// one (iPXE's, with option 77) after a shorter one must be read whole, not cut to the
/// previous datagram's length.
#[test]
fn queued_requests_of_growing_length_are_all_answered() {
    let s = start(|_| {});
    let pxe = loopback(s.pxe.expect("pxe port"));
    let bios = pxe_message(
        MessageType::Request,
        0,
        false,
        b"PXEClient:Arch:00000:UNDI:002001",
    );
    let ipxe = pxe_message(
        MessageType::Request,
        0,
        true,
        b"PXEClient:Arch:00000:UNDI:002001",
    );
    assert!(ipxe.len() > bios.len());
    const ROUNDS: u64 = 100;
    let sock = client();
    let mut buf = [0u8; 1500];
    let mut answers = 0;
    for _ in 0..ROUNDS {
        sock.send_to(&bios, pxe).unwrap();
        sock.send_to(&ipxe, pxe).unwrap();
        for _ in 0..2 {
            if sock.recv_from(&mut buf).is_ok() {
                answers += 1;
            }
        }
    }
    assert_eq!(s.health_number("dhcp_malformed"), 0);
    assert_eq!(s.health_number("dhcp_answered"), 2 * ROUNDS);
    assert_eq!(answers, 2 * ROUNDS);
}

#[test]
fn garbage_and_foreign_dhcp_change_only_counters() {
    let s = start(|_| {});
    let targets = [loopback(s.dhcp.unwrap()), loopback(s.pxe.unwrap())];
    let sock = client();
    let good = pxe_message(
        MessageType::Request,
        0,
        false,
        b"PXEClient:Arch:00000:UNDI:002001",
    );
    let mut wrong_cookie = good.clone();
    wrong_cookie[236..240].copy_from_slice(b"JUNK");
    let mut huge_option = good[..240].to_vec();
    huge_option.extend_from_slice(&[53, 1, 3, 60, 255, b'P', b'X', b'E']);
    let garbage: Vec<Vec<u8>> = vec![
        good[..100].to_vec(),
        wrong_cookie,
        huge_option,
        vec![0xff; 700],
        Vec::new(),
    ];
    for to in targets {
        for g in &garbage {
            sock.send_to(g, to).unwrap();
        }
    }
    let expected = 2 * garbage.len() as u64;
    let deadline = Instant::now() + Duration::from_secs(5);
    while s.health_number("dhcp_malformed") < expected && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(s.health_number("dhcp_malformed"), expected);
    // A plain DHCP client is the router's business: no answer, counted as ignored.
    let plain = pxe_message(MessageType::Request, 0, false, b"MSFT 5.0");
    assert!(exchange(&sock, targets[1], &plain).is_none());
    assert_eq!(s.health_number("dhcp_ignored"), 1);
    assert_eq!(s.health_number("dhcp_answered"), 0);
    // And the server still answers.
    assert!(exchange(&sock, targets[1], &good).is_some());
}
