//! The web console in a real browser: Debian's `chromium`, headless, driven by playwright
//! (`tests/ui/console.py`, from the venv `tools/setup.sh test` makes) against a real server on
//! loopback with proxyDHCP on ephemeral ports. Screenshots of every page land in
//! `target/ui-screenshots/`.

use std::path::Path;
use std::process::Command;

use fleetboot_tests::{run, test_iso, Server};

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
        |_| {},
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
