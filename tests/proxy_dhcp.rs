//! proxyDHCP on loopback (ephemeral ports, answers on 4011 go back to the sender), hostile
//! datagrams, and the `/boot.ipxe` policy driven through the `clients` CLI with curl. The
//! full chain with real firmware is `boot_lab.rs`.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use dhcproto::v4::{DhcpOption, Message, MessageType, OptionCode};
use dhcproto::{Decodable, Decoder, Encodable, Encoder};
use fleetboot_tests::{binary, casper_like_iso, cli, curl, run, Server};

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
            "--menu-timeout",
            "3",
            // The boot script is fetched from loopback, which has no neighbour entry to
            // confirm a MAC by (`boot_script.rs` tests the check).
            "--boot-mac-check",
            "off",
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
    assert_eq!(s.status_number("dhcp_answered"), 4);
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
    assert_eq!(s.status_number("dhcp_malformed"), 0);
    assert_eq!(s.status_number("dhcp_answered"), 2 * ROUNDS);
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
    while s.status_number("dhcp_malformed") < expected && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(s.status_number("dhcp_malformed"), expected);
    // A plain DHCP client is the router's business: no answer, counted as ignored.
    let plain = pxe_message(MessageType::Request, 0, false, b"MSFT 5.0");
    assert!(exchange(&sock, targets[1], &plain).is_none());
    assert_eq!(s.status_number("dhcp_ignored"), 1);
    assert_eq!(s.status_number("dhcp_answered"), 0);
    // And the server still answers.
    assert!(exchange(&sock, targets[1], &good).is_some());
}

fn image_ids(s: &Server, want: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let list: serde_json::Value =
            serde_json::from_str(&cli(s, &["images", "list", "--json"])).unwrap();
        let ids: Vec<String> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_owned())
            .collect();
        if ids.len() >= want || Instant::now() > deadline {
            return ids;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Two tiny ISOs with an Ubuntu-like (casper) layout, one in a folder.
fn two_isos(data: &Path) {
    casper_like_iso(data, "lab one", "alpha.iso");
    casper_like_iso(data, "", "beta.iso");
}

#[test]
fn boot_script_follows_assignments_and_records_inventory() {
    let s = start(two_isos);
    let ids = image_ids(&s, 2);
    assert_eq!(ids.len(), 2, "{ids:?}");
    let (alpha, beta) = if ids[0].starts_with("alpha") {
        (&ids[0], &ids[1])
    } else {
        (&ids[1], &ids[0])
    };
    // No MAC yet: a chain back to the absolute URL asked (old iPXE cannot chain relative
    // ones), carrying the inventory.
    let chain = curl(&s.url("boot.ipxe"));
    let back = format!(
        "chain --autofree {}?mac=${{netX/mac}}&uuid=${{uuid}}",
        s.url("boot.ipxe")
    );
    assert!(chain.contains(&back), "{chain}");
    let mac = "52:54:00:fb:00:01";
    let me = format!(
        "boot.ipxe?mac={mac}&manufacturer=Fleet%20Lab&product=R1&serial=SN1&platform=pcbios"
    );
    let menu = curl(&s.url(&me));
    assert!(menu.contains("menu \"fleetboot\""), "{menu}");
    assert!(menu.contains("item menu1 \"lab one/\""), "{menu}");
    assert!(menu.contains("[kernel]"), "{menu}");
    // Assigned: that image, every time.
    cli(&s, &["clients", "assign", mac, beta]);
    let port = s.http.port();
    let want = format!("kernel http://127.0.0.1:{port}/images/{beta}/casper/vmlinuz");
    for _ in 0..2 {
        let script = curl(&s.url(&me));
        assert!(script.contains(&want), "{script}");
        assert!(script.contains("initrd=initrd"), "{script}");
    }
    // Once: that image, then back to the permanent assignment.
    cli(&s, &["clients", "assign", mac, alpha, "--once"]);
    let once = curl(&s.url(&me));
    assert!(
        once.contains(&format!("/images/{alpha}/casper/vmlinuz")),
        "{once}"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut after = curl(&s.url(&me));
    while !after.contains(&want) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        after = curl(&s.url(&me));
    }
    assert!(after.contains(&want), "next-boot was not cleared: {after}");
    // What a client was served arrives by event, which may still be queued.
    let clients: serde_json::Value = loop {
        let list: serde_json::Value =
            serde_json::from_str(&cli(&s, &["clients", "list", "--json"])).unwrap();
        if list[0]["last_boot"] == beta.as_str() || Instant::now() > deadline {
            break list;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let c = &clients[0];
    assert_eq!(c["mac"], mac);
    assert_eq!(c["manufacturer"], "Fleet Lab");
    assert_eq!(c["serial"], "SN1");
    assert_eq!(c["platform"], "pcbios");
    assert_eq!(c["assigned"], beta.as_str());
    assert_eq!(c["next_boot"], serde_json::Value::Null);
    assert_eq!(c["last_boot"], beta.as_str());
    // Unassigned: the menu again.
    cli(&s, &["clients", "unassign", mac]);
    assert!(curl(&s.url(&me)).contains("menu \"fleetboot\""));
    // Bad input is refused with a reason.
    let bad = run(
        Command::new(binary())
            .args(["clients", "assign", mac, "no-such-image", "--data-dir"])
            .arg(&s.data),
        10,
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no image"));
}
