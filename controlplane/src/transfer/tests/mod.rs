//! Transfers against real components: an axum server on loopback fed by curl and by raw
//! sockets, and small HTTP(S) servers written here (Range, dropped connections, slow bodies).

mod download;
mod http_server;
mod upload;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// A fresh data dir with an empty `isos/`.
fn scratch(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("fleetboot-transfer-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(dir.join("isos")).unwrap();
    dir
}

/// `n` bytes that are not all alike, so a resume at the wrong offset shows in the hash.
fn content(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 % 251) as u8).collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    super::hex_digest(Sha256::new_with_prefix(bytes))
}

/// The files left in `data/isos/.incoming/`.
fn incoming(data: &Path) -> Vec<String> {
    fs::read_dir(data.join("isos/.incoming"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Waits up to 10 s for `cond`.
fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn temp_files_are_never_scanned_and_cleanup_removes_them() {
    let data = scratch("cleanup");
    assert_eq!(super::cleanup_incoming(&data), 0);
    fs::create_dir_all(data.join("isos/.incoming")).unwrap();
    fs::write(data.join("isos/.incoming/upload-1-0.part"), b"half").unwrap();
    fs::write(data.join("isos/.incoming/download-1-1.part"), b"half").unwrap();
    fs::write(data.join("isos/.incoming/whole.iso"), b"not yet").unwrap();
    // What is on its way in is never scanned.
    assert!(crate::scan::scan(&data).is_empty());
    assert_eq!(super::cleanup_incoming(&data), 3);
    assert!(incoming(&data).is_empty());
}
