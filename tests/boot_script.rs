//! `/boot.ipxe` guards: a next-boot-once is served exactly once even while boot events are
//! being lost, and a MAC in the query is believed only when the kernel's neighbour table names
//! it for the requesting address. The policy itself is tested in `proxy_dhcp.rs`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use fleetboot_tests::netns::Netns;
use fleetboot_tests::{binary, casper_like_iso, cli, curl, run, Server};

/// A server on loopback with two tiny casper-like ISOs, `alpha` and `beta`.
fn start(extra: &[&str]) -> Server {
    let mut flags = vec!["--server-addr", "127.0.0.1", "--menu-timeout", "3"];
    flags.extend_from_slice(extra);
    Server::start_with(isos, &flags)
}

fn isos(data: &Path) {
    casper_like_iso(data, "", "alpha.iso");
    casper_like_iso(data, "", "beta.iso");
}

/// The image ids (alpha, beta), once both are indexed.
fn images(s: &Server) -> (String, String) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let list: serde_json::Value =
            serde_json::from_str(&cli(s, &["images", "list", "--json"])).unwrap();
        let id = |stem: &str| {
            list.as_array()?
                .iter()
                .filter_map(|i| i["id"].as_str())
                .find(|id| id.starts_with(stem))
                .map(str::to_owned)
        };
        if let (Some(alpha), Some(beta)) = (id("alpha"), id("beta")) {
            return (alpha, beta);
        }
        assert!(Instant::now() < deadline, "images not indexed: {list}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `mac`'s entry in `clients list --json`.
fn client(s: &Server, mac: &str) -> serde_json::Value {
    let list: serde_json::Value =
        serde_json::from_str(&cli(s, &["clients", "list", "--json"])).unwrap();
    list.as_array()
        .unwrap()
        .iter()
        .find(|c| c["mac"] == mac)
        .unwrap_or_else(|| panic!("no client {mac} in {list:#}"))
        .clone()
}

fn kernel_of(image: &str) -> String {
    format!("/images/{image}/casper/vmlinuz")
}

const MENU: &str = "menu \"fleetboot\"";

/// Sends `requests` (`METHOD /target`) pipelined on one connection, the last one closing it;
/// returns each response's (status, body), in order.
fn pipelined(addr: SocketAddr, requests: &[&str]) -> Vec<(u16, String)> {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut bytes = Vec::with_capacity(requests.len() * 48);
    for (i, request) in requests.iter().enumerate() {
        let close = if i + 1 == requests.len() {
            "Connection: close\r\n"
        } else {
            ""
        };
        write!(bytes, "{request} HTTP/1.1\r\nHost: {addr}\r\n{close}\r\n").unwrap();
    }
    // Written from another thread: the server stops reading while its answers are unread.
    let mut writer = stream.try_clone().unwrap();
    let writing = std::thread::spawn(move || writer.write_all(&bytes));
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    writing.join().unwrap().unwrap();
    let mut answers = Vec::with_capacity(requests.len());
    let mut rest = &raw[..];
    for request in requests {
        let end = rest
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("an answer to every request");
        let head = String::from_utf8_lossy(&rest[..end]).to_ascii_lowercase();
        let status = head[9..12].parse().unwrap();
        let len: usize = if request.starts_with("HEAD ") {
            0
        } else {
            head.lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .map_or(0, |v| v.trim().parse().unwrap())
        };
        let body = &rest[end + 4..end + 4 + len];
        answers.push((status, String::from_utf8_lossy(body).into_owned()));
        rest = &rest[end + 4 + len..];
    }
    assert!(rest.is_empty(), "more answers than requests");
    answers
}

/// The bug this guards: a next-boot-once used to be cleared by the boot event the data plane
/// sends when it serves the script. Events travel over a bounded channel that drops what does
/// not fit, so under a flood of other requests the clearing could be lost and the machine
/// would reinstall at every boot.
#[test]
fn a_once_assignment_is_served_once_while_boot_events_are_lost() {
    let s = start(&["--boot-mac-check", "off"]);
    let (alpha, beta) = images(&s);
    let mac = "52:54:00:fb:00:02";
    cli(&s, &["clients", "assign", mac, &beta]);
    cli(&s, &["clients", "assign", mac, &alpha, "--once"]);
    // Every 404 is an event; far more than the channel holds (65,536) arrive faster than the
    // coordinator takes them, from four connections at once.
    const FLOOD: usize = 100_000;
    let missing = "GET /no-such-file";
    let flooding: Vec<_> = (0..3)
        .map(|_| {
            let addr = s.http;
            std::thread::spawn(move || pipelined(addr, &vec![missing; FLOOD]).len())
        })
        .collect();
    let me = format!("/boot.ipxe?mac={mac}");
    // A HEAD boots nothing, so it does not use the once-assignment up; the first GET does.
    let (head, get) = (format!("HEAD {me}"), format!("GET {me}"));
    let mut requests = vec![missing; FLOOD];
    requests.extend([head.as_str(), &get]);
    requests.extend(vec![missing; FLOOD / 10]);
    requests.push(&get);
    let answers = pipelined(s.http, &requests);
    for f in flooding {
        assert_eq!(f.join().unwrap(), FLOOD);
    }
    let dropped = s.status_number("events_dropped");
    assert!(dropped > 0, "the flood lost no event; it proves nothing");
    let ok: Vec<&String> = answers
        .iter()
        .filter(|(status, _)| *status == 200)
        .map(|(_, body)| body)
        .collect();
    assert_eq!(ok.len(), 3, "HEAD and two GETs");
    assert!(ok[1].contains(&kernel_of(&alpha)), "{}", ok[1]);
    assert!(
        ok[2].contains(&kernel_of(&beta)),
        "next-boot-once served twice: {}",
        ok[2]
    );
    assert!(curl(&format!("http://{}{me}", s.http)).contains(&kernel_of(&beta)));
    let c = client(&s, mac);
    assert_eq!(c["next_boot"], serde_json::Value::Null, "{c:#}");
    assert_eq!(c["assigned"], beta.as_str(), "{c:#}");
    // Recorded, not just remembered: a restart does not bring it back.
    let mut s = s;
    s.stop();
    let o = run(
        Command::new(binary())
            .args(["clients", "list", "--json", "--data-dir"])
            .arg(&s.data),
        10,
    );
    let stored: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        stored[0]["next_boot"],
        serde_json::Value::Null,
        "{stored:#}"
    );
}

/// Loopback has no neighbour entry: under the default check a MAC sent from there is not
/// believed, so nobody can read another machine's assignment or use up its next-boot-once.
#[test]
fn a_mac_the_server_never_saw_gets_the_menu() {
    let s = start(&[]);
    let (alpha, beta) = images(&s);
    let mac = "52:54:00:fb:00:03";
    cli(&s, &["clients", "assign", mac, &beta]);
    cli(&s, &["clients", "assign", mac, &alpha, "--once"]);
    let me = format!("boot.ipxe?mac={mac}&serial=FORGED");
    for _ in 0..2 {
        let script = curl(&s.url(&me));
        assert!(script.contains(MENU), "{script}");
    }
    assert_eq!(s.status_number("boot_mac_refused"), 2);
    // Nothing was spent or recorded under the claimed MAC.
    let c = client(&s, mac);
    assert_eq!(c["next_boot"], alpha.as_str(), "{c:#}");
    assert_eq!(c["serial"], serde_json::Value::Null, "{c:#}");
    assert_eq!(c["last_boot"], serde_json::Value::Null, "{c:#}");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !s.log().contains("MAC does not match") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(s.log().contains(&format!("claimed={mac}")), "{}", s.log());
}

/// A machine on a directly attached network (a veth pair between two namespaces of the
/// test's own): its TCP handshake alone fills the server's neighbour entry, so a transfer
/// asked by address alone is filed under its MAC, and its own MAC is believed and another's
/// is not. The QEMU lab's guests reach the server the same way.
#[test]
fn the_neighbour_table_confirms_a_machines_own_mac() {
    let server_ns = Netns::new("fbmacs");
    let machine_ns = Netns::new("fbmacm");
    let mac = "52:54:00:fb:00:04";
    let other = "52:54:00:fb:00:05";
    let ip = |args: &[&str]| {
        let o = run(Command::new("ip").args(args), 10);
        assert!(o.status.success(), "ip {args:?}: {o:?}");
    };
    ip(&[
        "-n",
        &server_ns.0,
        "link",
        "add",
        "fb0",
        "type",
        "veth",
        "peer",
        "name",
        "eth0",
        "netns",
        &machine_ns.0,
    ]);
    ip(&["-n", &machine_ns.0, "link", "set", "eth0", "address", mac]);
    ip(&[
        "-n",
        &server_ns.0,
        "addr",
        "add",
        "10.99.0.1/24",
        "dev",
        "fb0",
    ]);
    ip(&[
        "-n",
        &machine_ns.0,
        "addr",
        "add",
        "10.99.0.2/24",
        "dev",
        "eth0",
    ]);
    ip(&["-n", &server_ns.0, "link", "set", "fb0", "up"]);
    ip(&["-n", &machine_ns.0, "link", "set", "eth0", "up"]);
    let s = Server::start_in_netns(
        &server_ns.0,
        isos,
        &["--http-listen", "10.99.0.1:0", "--server-addr", "10.99.0.1"],
    );
    let (alpha, beta) = images(&s);
    // A transfer carries only the machine's address: the neighbour table names the machine,
    // which becomes a client seen at that address.
    let url = s.url(&kernel_of(&alpha));
    let o = run(
        machine_ns
            .exec("curl")
            .args(["-sSf", "-o", "/dev/null", &url]),
        10,
    );
    assert!(o.status.success(), "curl {url}: {o:?}");
    let deadline = Instant::now() + Duration::from_secs(5);
    let seen_at = |list: &str| {
        list.lines()
            .any(|l| l.contains(mac) && l.contains("10.99.0.2"))
    };
    while !seen_at(&cli(&s, &["clients", "list"])) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let list = cli(&s, &["clients", "list"]);
    assert!(seen_at(&list), "{list}");
    cli(&s, &["clients", "assign", mac, &beta]);
    cli(&s, &["clients", "assign", other, &alpha]);
    let fetch = |claimed: &str| {
        let url = s.url(&format!("boot.ipxe?mac={claimed}"));
        let o = run(machine_ns.exec("curl").args(["-sSf", &url]), 10);
        assert!(o.status.success(), "curl {url}: {o:?}");
        String::from_utf8(o.stdout).unwrap()
    };
    let own = fetch(mac);
    assert!(own.contains(&kernel_of(&beta)), "{own}");
    let stolen = fetch(other);
    assert!(stolen.contains(MENU), "{stolen}");
    assert_eq!(s.status_number("boot_mac_refused"), 1);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !s.log().contains("MAC does not match") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(s.log().contains(&format!("neighbour={mac}")), "{}", s.log());
}
