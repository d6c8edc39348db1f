//! TFTP with real clients: tftp-hpa, curl and atftp fetch large files byte-exact (across the
//! 16-bit block rollover), many transfers run at once, windows cross a 1500-byte link both as
//! UDP GSO sends and, for blocks over the MTU, as fragmented `sendmmsg` datagrams, a server
//! with two addresses answers from the one asked, and names that try to leave the served root
//! are refused.

use std::process::Command;

use fleetboot_tests::lab::Lab;
use fleetboot_tests::netns::Netns;
use fleetboot_tests::{bench_binary, random_bytes, run, sha256, sha256_file, Server};

const BIG: usize = 40 << 20;

fn port(s: &Server) -> String {
    s.tftp.port().to_string()
}

#[test]
fn tftp_hpa_512_byte_blocks_cross_the_rollover() {
    let data = random_bytes(BIG, 1);
    let s = Server::start(&[("big.bin", &data)]);
    let out = s.scratch.join("hpa.bin");
    let o = run(&mut s.tftp_get("binary", "files/big.bin", &out), 240);
    assert!(o.status.success(), "tftp-hpa failed: {o:?}\n{}", s.log());
    // 40 MiB / 512 = 81,920 blocks: block numbers wrap past 65,535.
    assert_eq!(sha256_file(&out), sha256(&data));
    // The transfer was reported to the control plane as a boot event and logged.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !s.log().contains("bytes=41943040") && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let log = s.log();
    let line = log
        .lines()
        .find(|l| l.contains("bytes=41943040"))
        .unwrap_or_else(|| panic!("no event:\n{log}"));
    assert!(
        line.contains("proto=\"tftp\"")
            && line.contains("files/big.bin")
            && line.contains("served"),
        "{line}"
    );
}

#[test]
fn past_the_transfer_cap_clients_get_a_clear_error() {
    let data = random_bytes(BIG, 5);
    let s = Server::start_with(
        |d| std::fs::write(d.join("files/big.bin"), &data).unwrap(),
        &["--tftp-max-transfers", "1"],
    );
    let mut long = s
        .tftp_get("binary", "files/big.bin", &s.scratch.join("long.bin"))
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let o = run(
        &mut s.tftp_get("binary", "files/big.bin", &s.scratch.join("second.bin")),
        30,
    );
    let text = String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr);
    assert!(text.contains("server busy"), "{text}");
    assert!(
        long.wait().unwrap().success(),
        "the running transfer must not suffer"
    );
    assert_eq!(sha256_file(&s.scratch.join("long.bin")), sha256(&data));
}

#[test]
fn curl_blksize_1468() {
    let data = random_bytes(BIG, 2);
    let s = Server::start(&[("big.bin", &data)]);
    let out = s.scratch.join("curl.bin");
    let o = run(
        Command::new("curl")
            .args(["-sS", "--tftp-blksize", "1468", "--max-time", "120", "-o"])
            .arg(&out)
            .arg(format!("tftp://127.0.0.1:{}/files/big.bin", port(&s))),
        150,
    );
    assert!(o.status.success(), "curl failed: {o:?}\n{}", s.log());
    assert_eq!(sha256_file(&out), sha256(&data));
}

#[test]
fn atftp_blksize_and_windowsize() {
    let data = random_bytes(BIG, 3);
    let s = Server::start(&[("big.bin", &data)]);
    let out = s.scratch.join("atftp.bin");
    let o = run(
        Command::new("atftp")
            .args([
                "--option",
                "blksize 1468",
                "--option",
                "windowsize 16",
                "-g",
                "-r",
                "files/big.bin",
                "-l",
            ])
            .arg(&out)
            .args(["127.0.0.1", &port(&s)]),
        150,
    );
    assert!(o.status.success(), "atftp failed: {o:?}\n{}", s.log());
    assert_eq!(sha256_file(&out), sha256(&data));
}

#[test]
fn two_hundred_concurrent_transfers() {
    let data = random_bytes(300_000, 4);
    // Every client is 127.0.0.1 here: raise the per-address cap above the 200.
    let s = Server::start_with(
        |d| std::fs::write(d.join("files/mid.bin"), &data).unwrap(),
        &["--tftp-max-per-ip", "256"],
    );
    let want = sha256(&data);
    let mut children = Vec::new();
    for i in 0..200 {
        let out = s.scratch.join(format!("c{i}.bin"));
        let child = s
            .tftp_get("binary", "files/mid.bin", &out)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn tftp");
        children.push((child, out));
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(180);
    for (mut child, out) in children {
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                assert!(status.success(), "a transfer failed\n{}", s.log());
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "transfers did not finish in time"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert_eq!(sha256_file(&out), want);
    }
}

#[test]
fn escapes_and_missing_files_get_tftp_errors() {
    let s = Server::start(&[("ok.txt", b"fine\n")]);
    std::fs::write(s.data.join("secret.txt"), b"the database lives here").unwrap();
    for (name, expect) in [
        ("../../etc/passwd", "Access violation"),
        ("files/../secret.txt", "Access violation"),
        ("..\\..\\etc\\passwd", "Access violation"),
        ("/etc/passwd", "File not found"),
        ("..%2f..%2fetc%2fpasswd", "File not found"),
        ("secret.txt", "File not found"),
        ("fleetboot.redb", "File not found"),
        ("files/nope.txt", "File not found"),
    ] {
        let out = s.scratch.join("escape.out");
        let _ = std::fs::remove_file(&out);
        let o = run(&mut s.tftp_get("binary", name, &out), 30);
        let text =
            String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr);
        assert!(
            text.to_lowercase().contains(&expect.to_lowercase()),
            "{name}: {text}"
        );
        let got = std::fs::read(&out).unwrap_or_default();
        assert!(got.is_empty(), "{name}: received {} bytes", got.len());
    }
    // A leading slash and backslashes are how firmware spells ordinary names.
    let out = s.scratch.join("ok.out");
    let o = run(&mut s.tftp_get("binary", "\\files\\ok.txt", &out), 30);
    assert!(o.status.success(), "{o:?}");
    assert_eq!(std::fs::read(&out).unwrap(), b"fine\n");
}

#[test]
fn netascii_mode_converts_line_ends() {
    let s = Server::start(&[("notes.txt", b"line one\nline two\n")]);
    let out = s.scratch.join("notes.txt");
    // tftp-hpa converts CR LF back to the local convention, so the round trip is identity.
    let o = run(&mut s.tftp_get("netascii", "files/notes.txt", &out), 30);
    assert!(o.status.success(), "{o:?}");
    assert_eq!(std::fs::read(&out).unwrap(), b"line one\nline two\n");
    // curl does not convert: it shows the wire form.
    let o = run(
        Command::new("curl")
            .args(["-sS", "--max-time", "10"])
            .arg(format!(
                "tftp://127.0.0.1:{}/files/notes.txt;mode=netascii",
                port(&s)
            )),
        20,
    );
    assert_eq!(o.stdout, b"line one\r\nline two\r\n", "{o:?}");
}

#[test]
fn uploads_are_refused_and_bootloaders_are_served() {
    let s = Server::start(&[]);
    let src = s.scratch.join("up.bin");
    std::fs::write(&src, b"x").unwrap();
    let o = run(
        Command::new("tftp")
            .args(["127.0.0.1", &port(&s), "-c", "put"])
            .arg(&src)
            .arg("files/up.bin"),
        30,
    );
    let text = String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr);
    assert!(
        text.to_lowercase().contains("access violation") || text.contains("read-only"),
        "{text}"
    );
    assert!(!s.data.join("files/up.bin").exists());
    // Every bootloader the log says it serves comes back byte-identical to Debian's.
    let log = s.log();
    let mut checked = 0;
    for name in ["undionly.kpxe", "ipxe.efi", "snponly.efi"] {
        let system = std::path::Path::new("/usr/lib/ipxe").join(name);
        if !log.contains(&format!("bootloader {name} (")) || !system.exists() {
            continue;
        }
        let out = s.scratch.join(name);
        let o = run(
            Command::new("curl")
                .args(["-sS", "--max-time", "20", "--tftp-blksize", "1468", "-o"])
                .arg(&out)
                .arg(format!("tftp://127.0.0.1:{}/{name}", port(&s))),
            30,
        );
        assert!(o.status.success(), "{o:?}");
        assert_eq!(sha256_file(&out), sha256_file(&system), "{name}");
        checked += 1;
    }
    assert!(
        checked > 0 || log.contains("MISSING"),
        "no bootloader served and none reported missing:\n{log}"
    );
}

#[test]
fn a_bootloader_in_the_data_dir_overrides_the_embedded_one() {
    let custom = random_bytes(100_000, 6);
    let s = Server::start_with(
        |d| {
            std::fs::create_dir_all(d.join("bootloaders/arm64")).unwrap();
            std::fs::write(d.join("bootloaders/ipxe.efi"), &custom).unwrap();
            std::fs::write(d.join("bootloaders/arm64/ipxe.efi"), &custom[..5000]).unwrap();
        },
        &[],
    );
    assert!(
        s.log()
            .contains("bootloader ipxe.efi (100000 bytes): override"),
        "{}",
        s.log()
    );
    let out = s.scratch.join("ipxe.efi");
    let o = run(
        Command::new("curl")
            .args(["-sS", "--max-time", "20", "--tftp-blksize", "1468", "-o"])
            .arg(&out)
            .arg(format!("tftp://127.0.0.1:{}/ipxe.efi", port(&s))),
        30,
    );
    assert!(o.status.success(), "{o:?}");
    assert_eq!(sha256_file(&out), sha256(&custom));
    // Over HTTP too, at the root and under /ipxe/, and the arm64 build in its folder.
    for path in ["ipxe.efi", "ipxe/ipxe.efi"] {
        let o = run(
            Command::new("curl").args(["-sS", "--max-time", "10", &s.url(path)]),
            15,
        );
        assert_eq!(sha256(&o.stdout), sha256(&custom), "{path}");
    }
    let o = run(
        Command::new("curl").args(["-sS", "--max-time", "10", &s.url("arm64/ipxe.efi")]),
        15,
    );
    assert_eq!(o.stdout, &custom[..5000]);
}

/// Over a veth link (MTU 1500) between two namespaces: blksize 1468 fills a frame exactly, so
/// windows leave as UDP GSO sends; blksize 4096 exceeds the MTU, the kernel refuses GSO
/// (EINVAL) and the window goes out with `sendmmsg` as IP fragments. `tftp-storm` checks every
/// byte of each read.
#[test]
fn windows_cross_a_1500_byte_link_segmented_or_fragmented() {
    let lab = Lab::new();
    lab.add_host("client", "eth0", 3);
    let data = random_bytes(6 << 20, 9);
    let addr = format!("{}:0", lab.server_addr());
    let s = Server::start_in_netns(
        &lab.netns("server"),
        |d| std::fs::write(d.join("files/big.bin"), &data).unwrap(),
        &["--tftp-listen", &addr],
    );
    let local = s.scratch.join("big.bin");
    std::fs::write(&local, &data).unwrap();
    for (blksize, windowsize) in [("1468", "16"), ("4096", "8")] {
        let o = run(
            lab.exec("client", bench_binary("tftp-storm").to_str().unwrap())
                .arg(s.tftp.to_string())
                .args(["--file", "files/big.bin", "--local"])
                .arg(&local)
                .args([
                    "--clients",
                    "4",
                    "--blksize",
                    blksize,
                    "--windowsize",
                    windowsize,
                ]),
            120,
        );
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(
            o.status.success() && out.contains("ok=4 failed=0"),
            "blksize {blksize}: {o:?}\n{}",
            s.log()
        );
        assert!(out.contains(&format!("blksize={blksize}")), "{out}");
    }
    assert!(!s.log().contains("transfer failed"), "{}", s.log());
}

/// Sends an RRQ to each `IP:port` from a fresh socket and prints `dest source opcode` for the
/// first answer: a client that sees where its answer really came from.
const RRQ_PROBE: &str = r#"
import socket, sys
for dest in sys.argv[1:]:
    ip, port = dest.rsplit(":", 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(5)
    s.sendto(b"\0\1files/a.txt\0octet\0", (ip, int(port)))
    data, src = s.recvfrom(600)
    print(ip, src[0], data[:2].hex())
"#;

#[test]
fn a_multi_homed_server_answers_from_the_address_asked() {
    // Server and client namespaces joined by a veth pair; the server's side has a primary and
    // a secondary address on one subnet, so the routing table would pick the primary.
    let server_ns = Netns::new("fbmh");
    let client_ns = Netns::new("fbmh");
    server_ns.ip(&[
        "link",
        "add",
        "fbv0",
        "type",
        "veth",
        "peer",
        "name",
        "fbv1",
        "netns",
        &client_ns.0,
    ]);
    server_ns.ip(&["addr", "add", "10.201.0.2/24", "dev", "fbv0"]);
    server_ns.ip(&["addr", "add", "10.201.0.3/24", "dev", "fbv0"]);
    server_ns.ip(&["link", "set", "fbv0", "up"]);
    client_ns.ip(&["addr", "add", "10.201.0.9/24", "dev", "fbv1"]);
    client_ns.ip(&["link", "set", "fbv1", "up"]);
    let s = Server::start_in_netns(
        &server_ns.0,
        |d| std::fs::write(d.join("files/a.txt"), b"hello").unwrap(),
        &["--tftp-listen", "0.0.0.0:0"],
    );
    let port = port(&s);
    let targets: Vec<String> = ["10.201.0.2", "10.201.0.3"]
        .iter()
        .map(|ip| format!("{ip}:{port}"))
        .collect();
    let o = run(
        client_ns
            .exec("python3")
            .args(["-c", RRQ_PROBE])
            .args(&targets),
        30,
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{o:?}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        ["10.201.0.2 10.201.0.2 0003", "10.201.0.3 10.201.0.3 0003"],
        "DATA must come from the address the RRQ went to"
    );
}
