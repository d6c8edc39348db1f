//! The web console in a real browser: Debian's `chromium`, headless, driven by playwright
//! (`tests/ui/console.py`, from the venv `tools/setup.sh test` makes) against a real server on
//! loopback with proxyDHCP on ephemeral ports, and a small disk image in its data dir for
//! the Deploys page's multicast sessions and deploy (the script puts a stand-in deploy agent
//! there once it has seen a deploy refused without one). Screenshots of every page land in
//! `target/ui-screenshots/`.

use std::path::Path;
use std::process::Command;

use fleetboot_tests::{random_bytes, run, test_iso, Server};

/// The image the Deploys page sends, relative to the data dir: five chunks of the default
/// geometry (1344-byte symbols, 512 a chunk) and a bit.
const DISK: &str = "disks/lab.img";
const DISK_SIZE: usize = 4 * 1344 * 512 + 4096;

#[test]
fn console_in_chromium() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let python = std::env::var_os("FLEETBOOT_UI_PYTHON")
        .map_or_else(|| repo.join("target/venv/bin/python"), Into::into);
    assert!(
        python.is_file(),
        "{} missing: run `tools/setup.sh test` (playwright in a venv, Debian's chromium)",
        python.display()
    );
    let iso = test_iso("casper");
    let s = Server::start_with(
        |data| {
            let disk = data.join(DISK);
            std::fs::create_dir_all(disk.parent().unwrap()).unwrap();
            std::fs::write(disk, random_bytes(DISK_SIZE, 15)).unwrap();
        },
        &[
            "--dhcp-mode",
            "proxy",
            "--dhcp-port",
            "0",
            "--pxe-port",
            "0",
            // The boot script is fetched from loopback, which has no neighbour entry to
            // confirm a MAC by (`boot_script.rs` tests the check).
            "--boot-mac-check",
            "off",
        ],
    );
    let out = repo.join("target/ui-screenshots");
    let o = run(
        Command::new(&python)
            .arg(repo.join("tests/ui/console.py"))
            .args(["--admin", &format!("http://{}", s.admin)])
            .args(["--password", &s.admin_password()])
            .arg("--iso")
            .arg(&iso)
            .args(["--http", &format!("http://{}", s.http)])
            .args(["--tftp-port", &s.tftp.port().to_string()])
            .args(["--pxe-port", &s.pxe.expect("pxe port").port().to_string()])
            .arg("--data")
            .arg(&s.data)
            .args(["--disk", DISK])
            .arg("--out")
            .arg(&out),
        600,
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    println!("{stdout}");
    assert!(
        o.status.success(),
        "tests/ui/console.py failed:\n{stdout}\n{stderr}\nserver log:\n{}",
        s.log()
    );
}
