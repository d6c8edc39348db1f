//! `fleetboot images netboot`: a Debian installer ISO (needs-netboot) gets its netboot tree
//! from a `netboot.tar.gz` made with `tar czf` and served over HTTP by fleetboot itself; a
//! wrong SHA-256 fails and leaves nothing; the right one unpacks the tree, and the running
//! server then lists the image as a kernel recipe, serves the kernel and puts it in the menu.

use std::path::Path;
use std::process::{Command, Output};

use fleetboot_tests::{
    binary, random_bytes, run, sha256, test_iso, wait_for_image, Server, TempDir,
};

const MENU: &str = "boot.ipxe?mac=52%3a54%3a00%3a12%3a34%3a56&arch=x86_64&platform=pcbios";

fn curl(url: &str) -> Vec<u8> {
    let o = run(
        Command::new("curl").args(["-sSf", "--max-time", "20", url]),
        30,
    );
    assert!(o.status.success(), "{url}: {o:?}");
    o.stdout
}

fn netboot(s: &Server, id: &str, url: &str, sha: &str) -> Output {
    run(
        Command::new(binary())
            .args([
                "images",
                "netboot",
                id,
                "--url",
                url,
                "--sha256",
                sha,
                "--data-dir",
            ])
            .arg(&s.data),
        60,
    )
}

/// Every entry below `dir` (hidden ones too), as relative paths.
fn everything_below(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = entry.path();
            out.push(p.strip_prefix(dir).unwrap().display().to_string());
            if p.is_dir() {
                stack.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn a_fetched_netboot_tree_boots_a_debian_installer_iso() {
    let iso = test_iso("debian-installer");
    let kernel = random_bytes(300_000, 1);
    let initrd = random_bytes(200_000, 2);
    let tree = TempDir::new("netboot-tree");
    let amd64 = tree.path().join("debian-installer/amd64");
    std::fs::create_dir_all(&amd64).unwrap();
    std::fs::write(amd64.join("linux"), &kernel).unwrap();
    std::fs::write(amd64.join("initrd.gz"), &initrd).unwrap();
    std::os::unix::fs::symlink("debian-installer/amd64/linux", tree.path().join("linux")).unwrap();
    let tarball = tree.path().join("netboot.tar.gz");
    let o = run(
        Command::new("tar")
            .arg("czf")
            .arg(&tarball)
            .arg("-C")
            .arg(tree.path())
            .args(["debian-installer", "linux"]),
        60,
    );
    assert!(o.status.success(), "tar: {o:?}");
    let tar_gz = std::fs::read(&tarball).unwrap();

    let s = Server::start_with(
        |data| {
            std::fs::write(data.join("files/netboot.tar.gz"), &tar_gz).unwrap();
            std::fs::copy(&iso, data.join("isos/debian-installer.iso")).unwrap();
        },
        &[],
    );
    let image = wait_for_image(&s, "listed as needs-netboot", |i| {
        i["method"] == "needs-netboot"
    });
    let id = image["id"].as_str().unwrap().to_owned();
    let url = s.url("files/netboot.tar.gz");
    let trees = s.data.join("files/netboot");

    let o = netboot(&s, &id, &url, &"ab".repeat(32));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "wrong hash accepted: {o:?}");
    assert!(stderr.contains("SHA-256 mismatch"), "{stderr}");
    assert!(
        everything_below(&trees).is_empty(),
        "{:?}",
        everything_below(&trees)
    );

    let o = netboot(&s, &id, &url, &sha256(&tar_gz));
    assert!(o.status.success(), "{o:?}");
    let tree_dir = format!("files/netboot/{id}/debian-installer/amd64");
    assert_eq!(
        everything_below(&trees.join(&id)),
        [
            "debian-installer",
            "debian-installer/amd64",
            "debian-installer/amd64/initrd.gz",
            "debian-installer/amd64/linux"
        ],
        "the symlink is not unpacked"
    );

    let image = wait_for_image(&s, "listed as a kernel recipe", |i| i["method"] == "kernel");
    assert_eq!(image["id"], id.as_str());
    assert_eq!(image["kernel"], format!("/{tree_dir}/linux"));
    assert_eq!(
        image["initrds"],
        serde_json::json!([format!("/{tree_dir}/initrd.gz")])
    );
    assert_eq!(curl(&s.url(&format!("{tree_dir}/linux"))), kernel);
    assert_eq!(curl(&s.url(&format!("{tree_dir}/initrd.gz"))), initrd);
    let menu = String::from_utf8(curl(&s.url(MENU))).unwrap();
    let lines: Vec<&str> = menu.lines().collect();
    let has = |verb: &str, file: &str| {
        let tail = format!("/{tree_dir}/{file}");
        lines.iter().any(|l| {
            l.starts_with(verb)
                && l.split(' ')
                    .any(|w| w.starts_with("http://") && w.ends_with(&tail))
        })
    };
    assert!(
        has("kernel ", "linux") && has("initrd ", "initrd.gz"),
        "{menu}"
    );

    // Removing the tree brings the needs-netboot recipe back.
    std::fs::remove_dir_all(trees.join(&id)).unwrap();
    wait_for_image(&s, "needs-netboot again", |i| {
        i["method"] == "needs-netboot"
    });
}
