use std::io::Write as _;
use std::net::TcpListener;

use sha2::{Digest, Sha256};

use super::*;
use crate::store::FileRecord;

/// A fresh, empty folder for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fleetboot-netboot-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// One tar entry: the name is written raw, so hostile names survive.
fn entry(b: &mut tar::Builder<Vec<u8>>, name: &str, kind: tar::EntryType, data: &[u8]) {
    let mut h = tar::Header::new_old();
    h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    h.set_entry_type(kind);
    h.set_mode(0o644);
    h.set_size(data.len() as u64);
    if kind == tar::EntryType::Symlink {
        h.set_link_name("/etc/passwd").unwrap();
    }
    h.set_cksum();
    b.append(&h, data).unwrap();
}

fn targz(entries: &[(&str, tar::EntryType, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, kind, data) in entries {
        entry(&mut b, name, *kind, data);
    }
    let tar = b.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    gz.finish().unwrap()
}

const FILE: tar::EntryType = tar::EntryType::Regular;

fn debian() -> Vec<u8> {
    targz(&[
        ("./debian-installer/amd64/", tar::EntryType::Directory, b""),
        ("./debian-installer/amd64/linux", FILE, b"KERNEL"),
        ("./debian-installer/amd64/initrd.gz", FILE, b"INITRD"),
        ("./pxelinux.0", tar::EntryType::Symlink, b""),
    ])
}

fn hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Serves `responses` in order, one per connection; returns the base URL.
fn serve(responses: Vec<Vec<u8>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for response in responses {
            let Ok((mut s, _)) = listener.accept() else {
                return;
            };
            let mut head = Vec::new();
            let mut byte = [0u8];
            while !head.ends_with(b"\r\n\r\n") && s.read(&mut byte).unwrap_or(0) == 1 {
                head.push(byte[0]);
            }
            let _ = s.write_all(&response);
        }
    });
    base
}

fn ok(body: &[u8]) -> Vec<u8> {
    let mut r = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
    r.extend_from_slice(body);
    r
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn unpacks_files_and_skips_links() {
    let dir = scratch("links");
    unpack(&debian()[..], &dir, &Limits::default()).unwrap();
    assert_eq!(
        fs::read(dir.join("debian-installer/amd64/linux")).unwrap(),
        b"KERNEL"
    );
    assert!(
        fs::symlink_metadata(dir.join("pxelinux.0")).is_err(),
        "symlink created"
    );
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn refuses_paths_that_climb_out_or_are_absolute() {
    for name in ["../evil", "a/../../evil", "/evil"] {
        let dir = scratch("climb").join("tree");
        fs::create_dir_all(&dir).unwrap();
        let gz = targz(&[("ok", FILE, b"x"), (name, FILE, b"evil")]);
        let err = unpack(&gz[..], &dir, &Limits::default()).unwrap_err();
        assert!(
            matches!(err, NetbootError::Archive(ref m) if m.contains("unsafe path")),
            "{name}: {err}"
        );
        assert!(
            !dir.parent().unwrap().join("evil").exists(),
            "{name} escaped"
        );
        fs::remove_dir_all(dir.parent().unwrap()).unwrap();
    }
}

#[test]
fn caps_total_size_and_entry_count() {
    let dir = scratch("caps");
    let small = Limits {
        unpacked: 10,
        ..Limits::default()
    };
    let gz = targz(&[("a", FILE, &[7; 8]), ("b", FILE, &[7; 8])]);
    let err = unpack(&gz[..], &dir, &small).unwrap_err();
    assert!(err.to_string().contains("more than 10 bytes"), "{err}");
    let few = Limits {
        entries: 1,
        ..Limits::default()
    };
    let err = unpack(&gz[..], &dir, &few).unwrap_err();
    assert!(err.to_string().contains("more than 1 entries"), "{err}");
    unpack(
        &gz[..],
        &dir,
        &Limits {
            unpacked: 16,
            entries: 2,
            ..Limits::default()
        },
    )
    .unwrap();
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn fetch_follows_a_redirect_checks_the_hash_and_installs() {
    let gz = debian();
    let dest = scratch("fetch");
    let url = serve(vec![
        b"HTTP/1.1 302 Found\r\nLocation: /real.tar.gz\r\nContent-Length: 0\r\n\r\n".to_vec(),
        ok(&gz),
    ]) + "/netboot.tar.gz";
    let got = fetch(
        &url,
        Some(&hex(&gz).to_uppercase()),
        &Trust::default(),
        &dest,
        "img",
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(got.kernel, "debian-installer/amd64/linux");
    assert_eq!(got.initrd, "debian-installer/amd64/initrd.gz");
    assert_eq!(fs::read(got.dir.join(&got.initrd)).unwrap(), b"INITRD");
    assert_eq!(names(&dest), ["img"]);
    fs::remove_dir_all(&dest).unwrap();
}

#[test]
fn chunked_bodies_are_decoded() {
    let gz = debian();
    let (a, b) = gz.split_at(gz.len() / 2);
    let mut r = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for part in [a, b] {
        r.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
        r.extend_from_slice(part);
        r.extend_from_slice(b"\r\n");
    }
    r.extend_from_slice(b"0\r\n\r\n");
    let dest = scratch("chunked");
    let url = serve(vec![r]) + "/n.tar.gz";
    fetch(
        &url,
        Some(&hex(&gz)),
        &Trust::default(),
        &dest,
        "img",
        &Limits::default(),
    )
    .unwrap();
    fs::remove_dir_all(&dest).unwrap();
}

#[test]
fn a_wrong_hash_leaves_nothing_and_keeps_the_old_tree() {
    let gz = debian();
    let dest = scratch("hash");
    fs::create_dir_all(dest.join("img")).unwrap();
    fs::write(dest.join("img/old"), b"old").unwrap();
    let url = serve(vec![ok(&gz)]) + "/n.tar.gz";
    let err = fetch(
        &url,
        Some(&"0".repeat(64)),
        &Trust::default(),
        &dest,
        "img",
        &Limits::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("SHA-256 mismatch"), "{err}");
    assert_eq!(names(&dest), ["img"]);
    assert_eq!(names(&dest.join("img")), ["old"]);
    fs::remove_dir_all(&dest).unwrap();
}

#[test]
fn oversized_downloads_and_trees_without_a_kernel_leave_nothing() {
    let dest = scratch("size");
    let gz = debian();
    let url = serve(vec![ok(&gz)]) + "/n.tar.gz";
    let tiny = Limits {
        download: 10,
        ..Limits::default()
    };
    let err = fetch(&url, None, &Trust::default(), &dest, "img", &tiny).unwrap_err();
    assert!(err.to_string().contains("larger than 10 bytes"), "{err}");
    let empty = targz(&[("readme", FILE, b"x")]);
    let url = serve(vec![ok(&empty)]) + "/n.tar.gz";
    let err = fetch(
        &url,
        None,
        &Trust::default(),
        &dest,
        "img",
        &Limits::default(),
    )
    .unwrap_err();
    assert!(matches!(err, NetbootError::NoKernel), "{err}");
    assert!(names(&dest).is_empty(), "{:?}", names(&dest));
    fs::remove_dir_all(&dest).unwrap();
}

/// `fetch` into a scratch folder with no expected hash and the default trust.
fn fetch_err(url: &str, limits: &Limits) -> NetbootError {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dest = scratch(&format!("err-{n}"));
    let err = fetch(url, None, &Trust::default(), &dest, "img", limits).unwrap_err();
    assert!(names(&dest).is_empty(), "{url}: {:?}", names(&dest));
    fs::remove_dir_all(&dest).unwrap();
    err
}

#[test]
fn refuses_odd_urls() {
    for url in [
        "ftp://x/y",
        "http://:80/x",
        "http://h:99999/x",
        "/x",
        "no url",
    ] {
        let err = fetch_err(url, &Limits::default());
        assert!(matches!(err, NetbootError::Url(_)), "{url}: {err}");
    }
}

#[test]
fn redirects_are_bounded_and_statuses_reported() {
    let moved = b"HTTP/1.1 302 Found\r\nLocation: /again\r\nContent-Length: 0\r\n\r\n";
    let url = serve(vec![moved.to_vec(); 5]) + "/n.tar.gz";
    let err = fetch_err(&url, &Limits::default());
    assert!(err.to_string().contains("more than 3 redirects"), "{err}");
    let url = serve(vec![
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec()
    ]);
    let err = fetch_err(&(url + "/n.tar.gz"), &Limits::default());
    assert!(err.to_string().contains("HTTP status 404"), "{err}");
}

#[test]
fn a_body_without_a_length_is_capped_and_a_short_one_refused() {
    let mut no_length = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".to_vec();
    no_length.extend_from_slice(&[7; 100]);
    let tiny = Limits {
        download: 10,
        ..Limits::default()
    };
    let err = fetch_err(&(serve(vec![no_length]) + "/n"), &tiny);
    assert!(err.to_string().contains("larger than 10 bytes"), "{err}");
    let short = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nonly this".to_vec();
    let err = fetch_err(&(serve(vec![short]) + "/n"), &Limits::default());
    assert!(matches!(err, NetbootError::Http(_)), "{err}");
}

#[test]
fn a_trickling_download_stops_at_the_deadline() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/n.tar.gz", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n");
        // A byte every 100 ms: every read is quick, the whole is not.
        while s.write_all(b"x").is_ok() {
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    let limits = Limits {
        deadline: Duration::from_secs(1),
        ..Limits::default()
    };
    let started = std::time::Instant::now();
    let err = fetch_err(&url, &limits);
    assert!(err.to_string().contains("took longer than 1 s"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_ca_file_must_hold_a_certificate() {
    let dir = scratch("ca");
    let err = Trust::with_ca_file(&dir.join("missing.pem")).unwrap_err();
    assert!(
        matches!(err, NetbootError::Tls(ref m) if m.contains("missing.pem")),
        "{err}"
    );
    fs::write(dir.join("empty.pem"), "no PEM here\n").unwrap();
    let err = Trust::with_ca_file(&dir.join("empty.pem")).unwrap_err();
    assert!(err.to_string().contains("no PEM certificate"), "{err}");
    fs::remove_dir_all(&dir).unwrap();
}

fn found(path: &str) -> Found {
    Found {
        abs: PathBuf::from(path),
        record: FileRecord {
            path: path.to_owned(),
            size: 1,
            mtime_ns: 0,
            inode: 0,
        },
    }
}

#[test]
fn a_tree_turns_a_netboot_recipe_into_a_kernel_recipe() {
    let recipe = BootRecipe {
        layout: "debian-installer".into(),
        distro: "Debian (installer)".into(),
        method: Method::NeedsNetboot,
        kernel: Some("install.amd/vmlinuz".into()),
        initrds: vec!["install.amd/initrd.gz".into()],
        cmdline: String::new(),
        reason: "matched".into(),
        netboot_url: Some("http://x/netboot.tar.gz".into()),
    };
    assert_eq!(apply("d", Some(recipe.clone()), &[]), Some(recipe.clone()));
    let only_kernel = [found("files/netboot/d/debian-installer/amd64/linux")];
    assert_eq!(
        apply("d", Some(recipe.clone()), &only_kernel),
        Some(recipe.clone())
    );
    let tree = [
        found("files/netboot/d/debian-installer/amd64/initrd.gz"),
        found("files/netboot/d/debian-installer/amd64/linux"),
    ];
    let applied = apply("d", Some(recipe.clone()), &tree).unwrap();
    assert_eq!(applied.method, Method::Kernel);
    assert_eq!(
        applied.kernel.as_deref(),
        Some("/files/netboot/d/debian-installer/amd64/linux")
    );
    assert_eq!(
        applied.initrds,
        ["/files/netboot/d/debian-installer/amd64/initrd.gz"]
    );
    assert!(is_applied(Some(&applied)) && !is_applied(Some(&recipe)));
    assert_eq!(apply("other", Some(recipe.clone()), &tree), Some(recipe));
}
