//! `bench/`'s `boot-storm` against a real server in a network namespace of the test's own:
//! 40 simulated BIOS machines run the whole chain at once (relayed proxyDHCP, TFTP iPXE,
//! iPXE's DHCP, `/boot.ipxe` chained with inventory, kernel + initrd from the ISO over HTTP)
//! and every file is checked against an independent copy; machines left unassigned or a wrong
//! expected file make the storm fail, so the test can tell.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;

use fleetboot_tests::netns::Netns;
use fleetboot_tests::{
    bench_binary, binary, random_bytes, run, test_iso, wait_for_image, Server, TempDir,
};

const MACHINES: u32 = 40;

/// `xorriso` extracts `path` from `iso`: the copy the storm's downloads are checked against.
fn extract(iso: &Path, path: &str, to: &Path) {
    let o = run(
        Command::new("xorriso")
            .args(["-osirrox", "on", "-indev"])
            .arg(iso)
            .args(["-extract", path])
            .arg(to),
        60,
    );
    assert!(o.status.success(), "xorriso extract {path}: {o:?}");
}

struct Storm<'a> {
    ns: &'a Netns,
    server: &'a Server,
}

impl Storm<'_> {
    /// Runs boot-storm in the namespace; returns (exit code, summary line, stderr).
    fn run(&self, args: &[&str]) -> (Option<i32>, String, String) {
        let dhcp = self.server.dhcp.expect("proxyDHCP on");
        let target = SocketAddr::from(([127, 0, 0, 1], dhcp.port())).to_string();
        let o = run(
            Command::new("ip")
                .args(["netns", "exec", &self.ns.0])
                .arg(bench_binary("boot-storm"))
                .args([&target, "--relay", "127.0.0.1", "--tftp-port"])
                .arg(self.server.tftp.port().to_string())
                .args(args),
            300,
        );
        let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
        let line = stdout
            .lines()
            .find(|l| l.starts_with("boot-storm "))
            .unwrap_or_default()
            .to_owned();
        (
            o.status.code(),
            line,
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    }

    fn macs(&self, args: &[&str]) -> Vec<String> {
        let o = run(
            Command::new(bench_binary("boot-storm"))
                .args(["127.0.0.1:1", "--relay", "127.0.0.1", "--list-macs"])
                .args(args),
            10,
        );
        assert!(o.status.success(), "--list-macs: {o:?}");
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

fn field<'a>(line: &'a str, key: &str) -> &'a str {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("no {key} in {line:?}"))
}

#[test]
fn forty_machines_boot_at_once_with_every_byte_checked() {
    let iso = test_iso("casper");
    let ns = Netns::new("fbstorm");
    let undionly = random_bytes(90_000, 7);
    let server = Server::start_in_netns(
        &ns.0,
        |data| {
            std::fs::copy(&iso, data.join("isos/casper.iso")).unwrap();
            std::fs::create_dir_all(data.join("bootloaders")).unwrap();
            std::fs::write(data.join("bootloaders/undionly.kpxe"), &undionly).unwrap();
        },
        &[
            "--dhcp-mode",
            "proxy",
            "--dhcp-port",
            "0",
            "--pxe-port",
            "0",
            // The machines are simulated behind one relay address, as on a routed network,
            // so no neighbour entry can confirm their MACs.
            "--boot-mac-check",
            "off",
        ],
    );
    let expected = TempDir::new("storm-files");
    let bootloader = expected.path().join("undionly.kpxe");
    std::fs::write(&bootloader, &undionly).unwrap();
    let (kernel, initrd) = (
        expected.path().join("vmlinuz"),
        expected.path().join("initrd"),
    );
    extract(&iso, "/casper/vmlinuz", &kernel);
    extract(&iso, "/casper/initrd", &initrd);
    let verify = |name: &str, file: &Path| format!("{name}={}", file.display());
    let verify_all = [
        "--verify".to_owned(),
        verify("undionly.kpxe", &bootloader),
        "--verify".to_owned(),
        verify("vmlinuz", &kernel),
        "--verify".to_owned(),
        verify("initrd", &initrd),
    ];
    let verify_all: Vec<&str> = verify_all.iter().map(String::as_str).collect();

    let image = wait_for_image(&server, "indexed", |_| true)["id"]
        .as_str()
        .expect("image id")
        .to_owned();
    let storm = Storm {
        ns: &ns,
        server: &server,
    };
    let machines = MACHINES.to_string();
    let macs = storm.macs(&["--machines", &machines]);
    assert_eq!(macs.len(), MACHINES as usize);
    for mac in &macs {
        let o = run(
            Command::new(binary())
                .args(["clients", "assign", mac, &image, "--data-dir"])
                .arg(&server.data),
            30,
        );
        assert!(o.status.success(), "assign {mac}: {o:?}");
    }

    let mut args = vec!["--machines", &machines];
    args.extend(&verify_all);
    let (code, line, stderr) = storm.run(&args);
    assert_eq!(code, Some(0), "{line}\n{stderr}\n{}", server.log());
    assert_eq!(field(&line, "booted"), machines, "{line}");
    assert_eq!(field(&line, "failed"), "0", "{line}");
    assert_eq!(field(&line, "wrong"), "0", "{line}");
    // Bootloader, kernel and initrd of every machine matched the independent copies.
    assert_eq!(
        field(&line, "verified_files"),
        (3 * MACHINES).to_string(),
        "{line}"
    );
    let kernel_len = std::fs::metadata(&kernel).unwrap().len();
    let initrd_len = std::fs::metadata(&initrd).unwrap().len();
    let per_machine = undionly.len() as u64 + kernel_len + initrd_len;
    assert_eq!(
        field(&line, "bytes"),
        (per_machine * u64::from(MACHINES)).to_string()
    );
    assert!(server.status_number("tftp_transfers") >= u64::from(MACHINES));

    // Machines nobody assigned get the menu, which a storm cannot boot: it says so and fails.
    let (code, line, stderr) = storm.run(&["--machines", "3", "--first-mac", "1", "--xid", "1000"]);
    assert_eq!(code, Some(1), "{line}\n{stderr}");
    assert_eq!(field(&line, "failed"), "3", "{line}");
    assert!(stderr.contains("the script is a menu"), "{stderr}");

    // A kernel that is not the expected one is counted as wrong.
    let (code, line, _) = storm.run(&[
        "--machines",
        "2",
        "--xid",
        "2000",
        "--verify",
        &verify("vmlinuz", &initrd),
    ]);
    assert_eq!(code, Some(1), "{line}");
    assert_eq!(field(&line, "wrong"), "2", "{line}");
}
