//! Recipes follow the files around an unchanged ISO: a manual override (`<stem>/vmlinuz`,
//! `<stem>/initrd`, `<stem>/cmdline` beside `<stem>.iso`) wins over detection and is served
//! under the image, and editing `data/layouts.toml` re-detects, all without indexing the ISO
//! again.
//!
//! Needs `xorriso` and `curl` (`tools/setup.sh test`).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use fleetboot_tests::{binary, random_bytes, run, Server, TempDir};

const ISO: &str = "linux/Ubuntu Test.iso";
const NESTED: &str = "linux/Ubuntu Test/nested.iso";
/// The built-in `ubuntu-desktop` cmdline with the squashfs filled in.
const DETECTED_CMDLINE: &str = "boot=casper ip=dhcp fetch={image_url}/casper/filesystem.squashfs";

/// A casper ISO the built-in table calls `ubuntu-desktop`.
fn make_iso(tree: &Path, iso: &Path) {
    let files: [(&str, Vec<u8>); 4] = [
        ("casper/vmlinuz", random_bytes(200_000, 1)),
        ("casper/initrd", random_bytes(100_000, 2)),
        ("casper/filesystem.squashfs", random_bytes(300_000, 3)),
        (
            ".disk/info",
            b"Ubuntu 24.04 LTS \"Noble Numbat\"\n".to_vec(),
        ),
    ];
    for (name, bytes) in &files {
        let p = tree.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }
    let o = run(
        Command::new("xorriso")
            .args(["-as", "mkisofs", "-R", "-J", "-V", "Ubuntu 24.04", "-o"])
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

/// Polls `images list` (bounded) until the image at `path` satisfies `want`; returns it.
fn wait_image(
    s: &Server,
    path: &str,
    what: &str,
    want: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let images = images_json(&s.data);
        if let Some(image) = images.iter().find(|i| i["path"] == path && want(i)) {
            return image.clone();
        }
        assert!(
            Instant::now() < deadline,
            "{path}: never {what}: {images:#?}\n{}",
            s.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// HTTP status and body of `GET url`.
fn get(url: &str) -> (String, Vec<u8>) {
    let body = TempDir::new("ovr-body");
    let out = body.path().join("body");
    let o = run(
        Command::new("curl")
            .args(["-sS", "--max-time", "20", "-w", "%{http_code}", "-o"])
            .arg(&out)
            .arg(url),
        30,
    );
    assert!(o.status.success(), "{url}: {o:?}");
    let status = String::from_utf8(o.stdout).unwrap();
    (status, std::fs::read(&out).unwrap_or_default())
}

/// Lines of the server log saying `iso` was indexed (read from its metadata).
fn index_count(s: &Server, iso: &str) -> usize {
    s.log()
        .lines()
        .filter(|l| l.contains("indexed") && l.contains(&format!("iso=\"{iso}\"")))
        .count()
}

#[test]
fn manual_override_and_user_layouts_change_the_recipe_of_an_unchanged_iso() {
    let work = TempDir::new("ovr");
    let iso = work.path().join("ubuntu.iso");
    make_iso(&work.path().join("tree"), &iso);
    let s = Server::start_with(
        |data| {
            std::fs::create_dir_all(data.join("isos/linux")).unwrap();
            std::fs::copy(&iso, data.join("isos").join(ISO)).unwrap();
        },
        &[],
    );
    let detected = wait_image(&s, ISO, "detected", |i| i["layout"] == "ubuntu-desktop");
    assert_eq!(detected["kernel"], "casper/vmlinuz", "{detected}");
    assert_eq!(detected["cmdline"], DETECTED_CMDLINE, "{detected}");
    let id = detected["id"].as_str().unwrap().to_owned();
    let override_url = s.url(&format!("images/{id}/fleetboot-override/vmlinuz"));
    assert_eq!(get(&override_url).0, "404");

    // (a) The override: kernel and initrd beside the ISO, and an ISO inside the same folder,
    // which stays an image of its own in the nested group.
    let dir = s.data.join("isos/linux/Ubuntu Test");
    std::fs::create_dir_all(&dir).unwrap();
    let kernel = random_bytes(150_000, 10);
    let initrd = random_bytes(70_000, 11);
    std::fs::copy(&iso, dir.join("nested.iso")).unwrap();
    std::fs::write(dir.join("initrd"), &initrd).unwrap();
    std::fs::write(dir.join("vmlinuz"), &kernel).unwrap();
    let over = wait_image(&s, ISO, "overridden", |i| i["layout"] == "manual-override");
    assert_eq!(over["id"], id.as_str());
    assert_eq!(over["method"], "kernel", "{over}");
    assert_eq!(over["kernel"], "fleetboot-override/vmlinuz", "{over}");
    assert_eq!(
        over["initrds"],
        serde_json::json!(["fleetboot-override/initrd"])
    );
    assert_eq!(over["cmdline"], DETECTED_CMDLINE, "kept from detection");
    let nested = wait_image(&s, NESTED, "detected", |i| i["layout"] == "ubuntu-desktop");
    assert_eq!(nested["group"], serde_json::json!(["linux", "Ubuntu Test"]));
    assert_eq!(get(&override_url), ("200".to_owned(), kernel.clone()));
    assert_eq!(
        get(&s.url(&format!("images/{id}/fleetboot-override/initrd"))),
        ("200".to_owned(), initrd)
    );
    // Real clients get it: the boot menu loads the override.
    let (status, menu) =
        get(&s.url("boot.ipxe?mac=52%3a54%3a00%3a12%3a34%3a56&arch=x86_64&platform=pcbios"));
    assert_eq!(status, "200");
    let menu = String::from_utf8(menu).unwrap();
    assert!(
        menu.contains(&format!("/images/{id}/fleetboot-override/vmlinuz"))
            && menu.contains(&format!("/images/{id}/fleetboot-override/initrd")),
        "{menu}"
    );

    // A cmdline file wins over the detected command line; editing it is picked up.
    std::fs::write(dir.join("cmdline"), "console=ttyS0\nfleetboot.test=one\n").unwrap();
    wait_image(&s, ISO, "given the cmdline file", |i| {
        i["cmdline"] == "console=ttyS0 fleetboot.test=one"
    });
    std::fs::write(dir.join("cmdline"), "fleetboot.test=two").unwrap();
    wait_image(&s, ISO, "given the edited cmdline", |i| {
        i["cmdline"] == "fleetboot.test=two" && i["layout"] == "manual-override"
    });

    // Gone again: back to what detection found, and the override is no longer served.
    for name in ["vmlinuz", "initrd", "cmdline"] {
        std::fs::remove_file(dir.join(name)).unwrap();
    }
    let back = wait_image(&s, ISO, "detected again", |i| {
        i["layout"] == "ubuntu-desktop"
    });
    assert_eq!(back, detected);
    assert_eq!(get(&override_url).0, "404");

    // (b) The user's table replaces the built-in ubuntu-desktop layout with another cmdline.
    let user_table = |cmdline: &str| {
        format!(
            r#"[[layout]]
id = "ubuntu-desktop"
distro = "Ubuntu"
priority = 590
all = ["casper/filesystem.squashfs"]
label_any = ["ubuntu"]
method = "kernel"
kernel = "casper/vmlinuz"
initrds = ["casper/initrd"]
squashfs = "casper/filesystem.squashfs"
cmdline = "{cmdline}"
"#
        )
    };
    let layouts = s.data.join("layouts.toml");
    std::fs::write(
        &layouts,
        user_table("boot=casper fetch={squashfs_url} user=1"),
    )
    .unwrap();
    let user_cmdline = "boot=casper fetch={image_url}/casper/filesystem.squashfs user=1";
    wait_image(&s, ISO, "re-detected with the user table", |i| {
        i["cmdline"] == user_cmdline
    });
    wait_image(&s, NESTED, "re-detected with the user table", |i| {
        i["cmdline"] == user_cmdline
    });
    // An invalid table is refused, loudly, and the one in force stays.
    std::fs::write(&layouts, user_table("{no_such_variable}")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !s.log().contains("user layouts rejected") {
        assert!(
            Instant::now() < deadline,
            "no rejection logged:\n{}",
            s.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(600));
    let kept = images_json(&s.data);
    let kept = kept.iter().find(|i| i["path"] == ISO).unwrap();
    assert_eq!(kept["cmdline"], user_cmdline, "{kept}");
    // No table of one's own: the built-ins again.
    std::fs::remove_file(&layouts).unwrap();
    let builtin = wait_image(&s, ISO, "back on the built-in table", |i| {
        i["cmdline"] == DETECTED_CMDLINE
    });
    assert_eq!(builtin, detected);

    // Every recipe change above came from the stored index: each ISO was read once.
    assert_eq!(index_count(&s, ISO), 1, "{}", s.log());
    assert_eq!(index_count(&s, NESTED), 1, "{}", s.log());
}
