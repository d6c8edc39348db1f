//! The database survives what disks and operators do to it: a corrupt `fleetboot.redb` stops
//! the start with a message naming the file and the way out (no panic, no crash loop).

use std::path::Path;
use std::process::Command;

use fleetboot_tests::{binary, random_bytes, run, Server, TempDir};

/// Runs `serve` on `data` (which must fail to start) and returns its exit code and stderr.
fn failed_start(data: &Path) -> (Option<i32>, String) {
    let o = run(
        Command::new(binary())
            .args(["serve", "--data-dir"])
            .arg(data)
            .args([
                "--tftp-listen",
                "127.0.0.1:0",
                "--http-listen",
                "127.0.0.1:0",
                "--admin-listen",
                "127.0.0.1:0",
                "--dhcp-mode",
                "off",
            ])
            .env("RUST_BACKTRACE", "0"),
        30,
    );
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn assert_clear_refusal(db: &Path, code: Option<i32>, stderr: &str) {
    assert_eq!(code, Some(1), "exit status, stderr:\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        stderr.contains(&db.display().to_string()),
        "names the file: {stderr}"
    );
    assert!(
        stderr.contains("corrupt") && stderr.contains("Move it aside"),
        "{stderr}"
    );
}

#[test]
fn a_corrupt_database_stops_the_start_with_a_clear_message() {
    // Not a database at all.
    let dir = TempDir::new("corrupt-db");
    let db = dir.path().join("fleetboot.redb");
    let garbage = random_bytes(64 << 10, 7);
    std::fs::write(&db, &garbage).unwrap();
    let (code, stderr) = failed_start(dir.path());
    assert_clear_refusal(&db, code, &stderr);
    assert_eq!(
        std::fs::read(&db).unwrap(),
        garbage,
        "the file is left as it was"
    );

    // A real database whose pages (after the header) are overwritten.
    let mut s = Server::start(&[("a.txt", b"a")]);
    assert_eq!(s.stop(), Some(0));
    let db = s.data.join("fleetboot.redb");
    let mut bytes = std::fs::read(&db).unwrap();
    let len = bytes.len();
    assert!(len > 8192, "database of {len} bytes");
    bytes[4096..].copy_from_slice(&random_bytes(len - 4096, 8));
    std::fs::write(&db, &bytes).unwrap();
    let (code, stderr) = failed_start(&s.data);
    assert_clear_refusal(&db, code, &stderr);
}
