//! Files inside ISOs are served straight out of the ISO ("virtual extraction"): every file of
//! a Rock Ridge + Joliet image built by xorriso comes back over HTTP (and TFTP) byte-identical
//! to what xorriso itself extracts; broken images are reported and do not disturb the others.

use std::path::Path;
use std::process::Command;

use fleetboot_tests::{binary, random_bytes, run, sha256, sha256_file, Server, TempDir};

/// Builds a tree with the awkward cases and masters it with xorriso (Rock Ridge + Joliet).
fn make_iso(tree: &Path, iso: &Path) {
    let long_name = format!("{}.cfg", "n".repeat(200));
    let files: Vec<(String, Vec<u8>)> = vec![
        ("casper/vmlinuz".into(), random_bytes(3_000_000, 40)),
        ("casper/initrd".into(), random_bytes(1_500_000, 41)),
        (
            "casper/filesystem.squashfs".into(),
            random_bytes(5_000_000, 42),
        ),
        (
            format!("boot/{long_name}"),
            b"long rock ridge name\n".to_vec(),
        ),
        ("deep/a/b/c/d/e/f/g/file.txt".into(), b"deep\n".to_vec()),
        ("with space/ünïcode.txt".into(), b"names\n".to_vec()),
        ("empty.bin".into(), Vec::new()),
    ];
    for (name, bytes) in &files {
        let p = tree.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }
    std::fs::create_dir_all(tree.join("many")).unwrap();
    for i in 0..300 {
        std::fs::write(tree.join(format!("many/file-{i:03}.txt")), format!("{i}\n")).unwrap();
    }
    let o = run(
        Command::new("xorriso")
            .args([
                "-as",
                "mkisofs",
                "-R",
                "-J",
                "-joliet-long",
                "-V",
                "TEST_LIVE",
                "-o",
            ])
            .arg(iso)
            .arg(tree),
        120,
    );
    assert!(
        o.status.success(),
        "xorriso (install with tools/setup.sh test): {o:?}"
    );
}

fn images_json(data: &Path) -> Vec<serde_json::Value> {
    let o = run(
        Command::new(binary())
            .args(["images", "list", "--json", "--data-dir"])
            .arg(data),
        30,
    );
    assert!(o.status.success(), "images list: {o:?}");
    serde_json::from_slice::<serde_json::Value>(&o.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn every_file_inside_an_iso_is_served_byte_identical_to_xorriso_extraction() {
    let work = TempDir::new("iso");
    let tree = work.path().join("tree");
    let iso = work.path().join("Test Live.ISO");
    make_iso(&tree, &iso);
    let s = Server::start_with(
        |data| {
            let dir = data.join("isos/linux/servers");
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::copy(&iso, dir.join("Test Live.ISO")).unwrap();
            std::fs::write(data.join("isos/garbage.iso"), random_bytes(1 << 20, 43)).unwrap();
            let bytes = std::fs::read(&iso).unwrap();
            std::fs::write(data.join("isos/truncated.iso"), &bytes[..bytes.len() / 3]).unwrap();
        },
        &[],
    );
    // The independent extractor.
    let extracted = work.path().join("extracted");
    let o = run(
        Command::new("xorriso")
            .args(["-osirrox", "on", "-indev"])
            .arg(&iso)
            .args(["-extract", "/"])
            .arg(&extracted),
        120,
    );
    assert!(o.status.success(), "{o:?}");

    let images = images_json(&s.data);
    let good = images
        .iter()
        .find(|i| i["path"] == "linux/servers/Test Live.ISO")
        .unwrap_or_else(|| panic!("{images:?}"));
    assert_eq!(good["group"], serde_json::json!(["linux", "servers"]));
    // A casper tree: the kernel recipe straight from the ISO, fetching the squashfs once.
    assert_eq!(good["method"], "kernel", "{good}");
    assert_eq!(good["kernel"], "casper/vmlinuz", "{good}");
    assert_eq!(
        good["initrds"],
        serde_json::json!(["casper/initrd"]),
        "{good}"
    );
    let cmdline = good["cmdline"].as_str().unwrap();
    assert!(
        cmdline.contains("boot=casper") && cmdline.contains("filesystem.squashfs"),
        "{cmdline}"
    );
    let id = good["id"].as_str().unwrap();
    assert!(
        id.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c)),
        "{id}"
    );
    for broken in ["garbage.iso", "truncated.iso"] {
        let b = images.iter().find(|i| i["path"] == broken).unwrap();
        assert!(b["error"].as_str().is_some_and(|e| !e.is_empty()), "{b}");
    }

    let mut checked = 0;
    let mut stack = vec![extracted.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let rel = p
                .strip_prefix(&extracted)
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned();
            let url = s.url(&format!("images/{id}/{}", percent_encode(&rel)));
            let o = run(
                Command::new("curl").args(["-sS", "--fail", "--max-time", "20", &url]),
                30,
            );
            assert!(o.status.success(), "{rel}: {o:?}");
            assert_eq!(sha256(&o.stdout), sha256_file(&p), "{rel}");
            checked += 1;
        }
    }
    assert!(checked >= 307, "only {checked} files compared");

    // Ranges work inside an ISO file, and the kernel is reachable over TFTP too.
    let kernel = std::fs::read(extracted.join("casper/vmlinuz")).unwrap();
    let o = run(
        Command::new("curl").args([
            "-sS",
            "-r",
            "1000-1999",
            &s.url(&format!("images/{id}/casper/vmlinuz")),
        ]),
        20,
    );
    assert_eq!(o.stdout, &kernel[1000..2000]);
    let out = s.scratch.join("vmlinuz");
    let o = run(
        Command::new("curl")
            .args(["-sS", "--tftp-blksize", "1468", "--max-time", "30", "-o"])
            .arg(&out)
            .arg(format!(
                "tftp://127.0.0.1:{}/images/{id}/casper/vmlinuz",
                s.tftp.port()
            )),
        40,
    );
    assert!(o.status.success(), "{o:?}");
    assert_eq!(sha256_file(&out), sha256(&kernel));
}

#[test]
fn a_restart_reuses_the_stored_index() {
    let work = TempDir::new("iso-restart");
    let iso = work.path().join("a.iso");
    make_iso(&work.path().join("tree"), &iso);
    let data_dir;
    {
        let mut s = Server::start_with(|d| drop(std::fs::copy(&iso, d.join("isos/a.iso"))), &[]);
        assert!(s.log().contains("indexed"), "{}", s.log());
        data_dir = s.data.clone();
        assert_eq!(s.stop(), Some(0));
        // Keep the data dir: move it out of the server's temp dir before it is removed.
        let keep = work.path().join("data");
        std::fs::rename(&data_dir, &keep).unwrap();
    }
    let keep = work.path().join("data");
    let before = images_json(&keep);
    assert_eq!(before.len(), 1, "{before:?}");
    let image = &before[0];
    assert!(
        image["distro"].is_string() && image["size"].as_u64().is_some(),
        "{image}"
    );
    let id = image["id"].as_str().unwrap();
    let show = |extra: &[&str]| {
        let o = run(
            Command::new(binary())
                .args(["images", "show", id])
                .args(extra)
                .arg("--data-dir")
                .arg(&keep),
            30,
        );
        assert!(o.status.success(), "images show: {o:?}");
        String::from_utf8(o.stdout).unwrap()
    };
    let text = show(&[]);
    for line in [
        "volume:    TEST_LIVE",
        "method:    kernel",
        "why:",
        "el torito: none",
    ] {
        assert!(text.contains(line), "no {line:?} in:\n{text}");
    }
    let shown: serde_json::Value = serde_json::from_str(&show(&["--json"])).unwrap();
    assert!(
        shown["reason"].as_str().is_some_and(|r| !r.is_empty()) && shown["boot"].is_array(),
        "{shown}"
    );
    let s = Server::start_with(
        |d| {
            std::fs::remove_dir_all(d).unwrap();
            std::fs::rename(&keep, d).unwrap();
        },
        &[],
    );
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(
        !s.log().contains("indexed"),
        "re-indexed an unchanged ISO:\n{}",
        s.log()
    );
    assert_eq!(images_json(&s.data), before);
}

fn percent_encode(path: &str) -> String {
    let mut out = String::new();
    for b in path.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
