//! Multicast deploys in the namespace lab: four BIOS machines with blank disks boot fleetboot's
//! deploy agent at once, receive a disk image from a multicast session straight to disk (two
//! deploys side by side: the raw image to two machines, the same image zstd-compressed to the
//! other two, which unpack it onto their disks), report done, and then boot that disk. Needs root, QEMU, dnsmasq, and the deploy agent
//! (`tools/build-deploy-agent.sh`, cached).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use fleetboot_tests::disk::{boot_image, boot_line};
use fleetboot_tests::lab::{Firmware, Guest, Lab};
use fleetboot_tests::{cli, run, Server, TempDir};

/// Four guests under TCG on two cores boot the agent slowly; receiving takes seconds.
const DEPLOY_TIMEOUT: Duration = Duration::from_secs(600);
/// A boot of the disk: iPXE, its local-disk script, then SeaBIOS on the disk.
const DISK_BOOT_TIMEOUT: Duration = Duration::from_secs(240);
/// The image: big enough for many chunks, small enough for TCG guests.
const IMAGE_LEN: usize = 6 << 20;
/// The blank disks, larger than the image as real disks are.
const DISK_LEN: u64 = 16 << 20;

/// Builds the deploy agent (cached by the script) into `dir`.
fn build_agent(dir: &Path) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/build-deploy-agent.sh");
    let o = run(Command::new(script).arg(dir), 1800);
    assert!(o.status.success(), "build-deploy-agent.sh: {o:?}");
}

/// A MAC of this lab.
fn mac(lab: &Lab, i: u8) -> String {
    format!("52:54:00:{:02x}:01:{i:02x}", lab.n)
}

/// `fleetboot deploy show ID --json`.
fn deploy_json(s: &Server, id: u64) -> serde_json::Value {
    let out = cli(s, &["deploy", "show", &id.to_string(), "--json"]);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// Waits for every guest's `pattern`; panics with the guest's serial and the server's log.
fn wait_all(guests: &mut [Guest<'_>], pattern: &str, limit: Duration, s: &Server) {
    for g in guests.iter_mut() {
        if let Err(e) = g.wait_for(pattern, limit) {
            panic!("{}: {e}\n--- fleetboot log\n{}", g.mac, s.log());
        }
    }
}

/// The bytes the receiver says its spool held at most, from its `unpacked` line.
fn spool_peak(serial: &str) -> Option<u64> {
    let (_, rest) = serial.split_once("(the spool held at most ")?;
    rest.split_once(' ')?.0.parse().ok()
}

#[test]
fn four_machines_receive_a_raw_and_a_zstd_image_at_once_then_boot_them() {
    let lab = Lab::new();
    // A site's shape: the server also has an uplink with the default route; nothing tells
    // fleetboot which interface is the boot network.
    lab.add_management_link();
    let image = boot_image("lab-deploy", IMAGE_LEN, 0x5eed);
    let prepare = |data: &Path| {
        build_agent(&data.join("agent"));
        std::fs::create_dir_all(data.join("disks")).unwrap();
        let raw = data.join("disks/test.img");
        std::fs::write(&raw, &image).unwrap();
        let o = run(
            Command::new("zstd")
                .args(["-q", "-3", "-o"])
                .arg(data.join("disks/test.img.zst"))
                .arg(&raw),
            60,
        );
        assert!(o.status.success(), "zstd: {o:?}");
    };
    let s = Server::start_in_netns(
        &lab.netns("server"),
        prepare,
        &[
            "--dhcp-mode",
            "proxy",
            "--tftp-listen",
            "0.0.0.0:69",
            "--http-listen",
            "0.0.0.0:8080",
            "--kernel-args",
            // Under TCG on a loaded host the kernel's IO-APIC timer check can fail and panic
            // (nothing wrong with the guest): skip it.
            "console=ttyS0 no_timer_check",
        ],
    );
    let macs: Vec<String> = (1..=4).map(|i| mac(&lab, i)).collect();
    // Machines are named before they ever booted: a deploy takes known machines only.
    for (i, m) in macs.iter().enumerate() {
        let body = serde_json::json!({ "name": format!("node-{}", i + 1) });
        control(&s, "PATCH", &format!("/api/v1/clients/{m}"), &body);
    }
    // Two deploys at once: the raw image to machines 1-2, the zstd one to 3-4.
    let (raw_macs, zstd_macs) = macs.split_at(2);
    for (id, (image, machines)) in [
        ("disks/test.img", raw_macs),
        ("disks/test.img.zst", zstd_macs),
    ]
    .into_iter()
    .enumerate()
    {
        let id = id as u64 + 1;
        let out = cli(
            &s,
            &[
                "deploy",
                "create",
                image,
                "--clients",
                &machines.join(","),
                // Four TCG guests on two shared cores take far less than the default
                // ceiling; at it, their first pass mostly overflows receive buffers and the
                // test would measure repair rounds rather than the deploy.
                "--rate",
                "50",
            ],
        );
        assert!(out.starts_with(&format!("deploy {id} started")), "{out}");
        let d = deploy_json(&s, id);
        assert_eq!(d["state"], "running", "{d:#}");
        assert_eq!(d["disk"], "/dev/sda", "{d:#}");
        // The one interface without the default route: the boot network.
        assert_eq!(d["multicast"]["interface"], "fb0", "{d:#}");
        assert_eq!(d["counts"]["pending"], 2, "{d:#}");
    }

    let dir = TempDir::new("deploy-lab");
    let disks: Vec<_> = (1..=4)
        .map(|i| {
            let path = dir.path().join(format!("disk{i}.img"));
            std::fs::File::create(&path)
                .unwrap()
                .set_len(DISK_LEN)
                .unwrap();
            path
        })
        .collect();
    let started = Instant::now();
    let mut guests: Vec<Guest<'_>> = macs
        .iter()
        .zip(&disks)
        .map(|(m, disk)| lab.boot_with_disk(Firmware::Bios, m, disk))
        .collect();
    wait_all(&mut guests, "FLEETBOOT-DEPLOY-", DEPLOY_TIMEOUT, &s);
    for (i, g) in guests.iter_mut().enumerate() {
        let out = g.serial();
        assert!(
            out.contains("FLEETBOOT-DEPLOY-DONE"),
            "{}:\n{out}\n--- fleetboot log\n{}",
            g.mac,
            s.log()
        );
        let unpacked = format!("fleetboot-receive: unpacked {IMAGE_LEN} bytes");
        assert_eq!(out.contains(&unpacked), i >= 2, "{}:\n{out}", g.mac);
        if i >= 2 {
            // Unpacked as it arrived, the spool (the agent's tmpfs) freed behind it. How
            // much it held at most is not asserted: under TCG the unpacking lags even this
            // 50 Mbit/s stream.
            assert!(spool_peak(&out).is_some(), "{}:\n{out}", g.mac);
            assert!(!out.contains("the spool keeps"), "{}:\n{out}", g.mac);
        }
        // The agent syncs and reboots; QEMU (-no-reboot) then exits and the disk is closed.
        assert!(g.wait_exit(Duration::from_secs(60)), "{}: no reboot", g.mac);
    }
    eprintln!("4 machines deployed in {:?}", started.elapsed());
    drop(guests);
    for disk in &disks {
        let bytes = std::fs::read(disk).unwrap();
        assert_eq!(bytes.len() as u64, DISK_LEN, "{}", disk.display());
        assert!(
            bytes[..IMAGE_LEN] == image[..],
            "{} differs from the image",
            disk.display()
        );
    }

    // Recorded: every machine done, both deploys done, each machine sent to its disk.
    for id in [1, 2] {
        let d = deploy_json(&s, id);
        assert_eq!(d["state"], "done", "{d:#}");
        assert_eq!(d["counts"]["done"], 2, "{d:#}");
    }
    let clients: serde_json::Value =
        serde_json::from_str(&cli(&s, &["clients", "list", "--json"])).unwrap();
    for (i, m) in macs.iter().enumerate() {
        let c = clients
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["mac"] == m.as_str())
            .unwrap_or_else(|| panic!("no client {m} in {clients:#}"));
        assert_eq!(c["local_boot"], true, "{c:#}");
        let deploy = if i < 2 { "deploy-1" } else { "deploy-2" };
        assert_eq!(c["last_boot"], deploy, "{c:#}");
    }

    // Each boots its disk: iPXE gets the local-disk script, SeaBIOS the disk's boot sector.
    let mut guests: Vec<Guest<'_>> = macs
        .iter()
        .zip(&disks)
        .map(|(m, disk)| lab.boot_with_disk(Firmware::Bios, m, disk))
        .collect();
    wait_all(&mut guests, &boot_line("lab-deploy"), DISK_BOOT_TIMEOUT, &s);
    for g in &guests {
        assert!(
            g.serial().contains("fleetboot: booting from local disk"),
            "{}:\n{}",
            g.mac,
            g.serial()
        );
    }
}

/// `method path` with a JSON body on the control socket, which must succeed.
fn control(s: &Server, method: &str, path: &str, body: &serde_json::Value) {
    let o = run(
        Command::new("curl")
            .args(["-sSf", "--unix-socket"])
            .arg(s.data.join("control.sock"))
            .args(["-X", method, "-H", "content-type: application/json", "-d"])
            .arg(body.to_string())
            .arg(format!("http://localhost{path}")),
        30,
    );
    assert!(o.status.success(), "{method} {path}: {o:?}");
}
