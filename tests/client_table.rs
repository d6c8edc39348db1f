//! The client table stays bounded whatever MACs arrive: unknown MACs are capped per source and
//! overall (refusals counted in `/api/v1/status`), unknown records expire, assigned ones never do.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use fleetboot_tests::{binary, run, wait_for_image, Server, TempDir};

/// `GET /boot.ipxe?mac=…` as a machine at `127.0.0.1` would send it. The servers here run with
/// `--boot-mac-check off`, as on a routed network: every claimed MAC is taken, which is what
/// lets one host try to fill the table.
fn boot_script(http: SocketAddr, mac: &str) {
    let mut s = TcpStream::connect(http).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET /boot.ipxe?mac={mac} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

/// The MACs `clients list --json` shows (server running or not).
fn macs(data: &Path) -> Vec<String> {
    let o = run(
        Command::new(binary())
            .args(["clients", "list", "--json", "--data-dir"])
            .arg(data),
        30,
    );
    assert!(o.status.success(), "{o:?}");
    let list: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    list.iter()
        .map(|c| c["mac"].as_str().unwrap().to_owned())
        .collect()
}

/// A status counter, 0 while absent.
fn counter(s: &Server, key: &str) -> u64 {
    let health: serde_json::Value = serde_json::from_str(&s.status()).unwrap_or_default();
    health[key].as_u64().unwrap_or(0)
}

/// Polls (bounded) until `done` holds; returns whether it did.
fn eventually(mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    done()
}

fn mac(n: usize) -> String {
    format!("52:54:00:00:{:02x}:{:02x}", n >> 8, n & 0xff)
}

#[test]
fn unknown_macs_from_one_host_are_capped() {
    let s = Server::start_with(|_| {}, &["--boot-mac-check", "off"]);
    const SENT: usize = 300;
    for n in 0..SENT {
        boot_script(s.http, &mac(n));
    }
    let settled = eventually(|| {
        macs(&s.data).len() as u64 + counter(&s, "clients_refused_source") == SENT as u64
    });
    let recorded = macs(&s.data).len();
    assert!(
        settled && recorded == 256,
        "{recorded} records of {SENT} MACs from one address"
    );
    assert_eq!(counter(&s, "clients_refused_source"), (SENT - 256) as u64);
    // A known MAC is still served and updated.
    boot_script(s.http, &mac(0));
    assert_eq!(counter(&s, "clients_refused_source"), (SENT - 256) as u64);
}

/// A one-file ISO in `data/isos/`, so that there is an image to assign.
fn small_iso(data: &Path) {
    let tree = data.join("../iso-tree");
    std::fs::create_dir_all(&tree).unwrap();
    std::fs::write(tree.join("readme.txt"), b"hello\n").unwrap();
    let o = run(
        Command::new("xorriso")
            .args(["-as", "mkisofs", "-R", "-J", "-o"])
            .arg(data.join("isos/small.iso"))
            .arg(&tree),
        120,
    );
    assert!(o.status.success(), "xorriso: {o:?}");
}

#[test]
fn a_full_table_refuses_unknown_macs_which_expire_while_assigned_ones_stay() {
    let config = TempDir::new("clients-config");
    let file = config.path().join("fleetboot.toml");
    std::fs::write(
        &file,
        "[clients]\nmax_records = 4\nunknown_expiry_secs = 2\n",
    )
    .unwrap();
    let flags = [
        "--config",
        file.to_str().unwrap(),
        "--boot-mac-check",
        "off",
    ];
    let mut s = Server::start_with(small_iso, &flags);
    let image = wait_for_image(&s, "small.iso indexed", |_| true);
    let id = image["id"].as_str().unwrap();
    let assigned = mac(1000);
    let o = run(
        Command::new(binary())
            .args(["clients", "assign", &assigned, id, "--data-dir"])
            .arg(&s.data),
        30,
    );
    assert!(o.status.success(), "{o:?}");
    for n in 0..5 {
        boot_script(s.http, &mac(n));
    }
    assert!(
        eventually(|| counter(&s, "clients_refused_full") == 2),
        "refused: {}, records: {:?}",
        counter(&s, "clients_refused_full"),
        macs(&s.data)
    );
    // The unknown ones go after 2 s unseen; the assigned one stays.
    assert!(
        eventually(|| macs(&s.data) == [assigned.clone()]),
        "records: {:?}\n{}",
        macs(&s.data),
        s.log()
    );
    assert_eq!(counter(&s, "clients_expired"), 3);
    assert_eq!(s.stop(), Some(0));
    // Gone from the database too.
    assert_eq!(macs(&s.data), [assigned]);
}
