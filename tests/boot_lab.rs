//! Whole network boots in a namespace lab: real firmware (SeaBIOS with the iPXE ROM, OVMF's
//! own PXE) beside a plain DHCP server, fleetboot's proxyDHCP and TFTP/HTTP, the test ISOs'
//! kernels started with their recipe's command line; assignments, client inventory, a
//! perfdhcp burst and garbage on the DHCP ports. Needs root, QEMU, OVMF, dnsmasq, perfdhcp.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use fleetboot_tests::lab::{Firmware, Guest, Lab};
use fleetboot_tests::{bench_binary, binary, random_bytes, run, Server};

/// One boot under TCG takes ~20 s; this leaves room for two at once on two cores.
const BOOT_TIMEOUT: Duration = Duration::from_secs(120);

/// `PXEClient:Arch:00000:UNDI:002001`, the vendor class of a BIOS PXE ROM.
const PXE_VENDOR_CLASS: &str = "PXEClient:Arch:00000:UNDI:002001";

/// Builds the test ISOs (cached by the script) into `dir`.
fn build_test_isos(dir: &Path) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/build-test-isos.sh");
    let o = run(Command::new(script).arg(dir), 900);
    assert!(o.status.success(), "build-test-isos.sh: {o:?}");
}

/// Image id per test ISO (keyed by its layout, the ISO's file stem). Ids depend only on the
/// path under `isos/`, so one throw-away server tells the ids every lab server will use.
fn image_id(layout: &str) -> &'static str {
    static IDS: OnceLock<HashMap<String, String>> = OnceLock::new();
    let ids = IDS.get_or_init(|| {
        let mut s = Server::start_with(|data| build_test_isos(&data.join("isos")), &[]);
        let images = images_json(&s.data);
        s.stop();
        images
            .iter()
            .map(|i| {
                let path = i["path"].as_str().unwrap();
                let layout = path.strip_suffix(".iso").unwrap_or(path).to_string();
                (layout, i["id"].as_str().unwrap().to_string())
            })
            .collect()
    });
    ids.get(layout)
        .unwrap_or_else(|| panic!("no test ISO {layout}: {ids:?}"))
}

fn images_json(data: &Path) -> Vec<serde_json::Value> {
    fleetboot_json(&["images", "list", "--json", "--data-dir"], data)
}

/// `fleetboot clients list --json`.
fn clients_json(s: &Server) -> Vec<serde_json::Value> {
    fleetboot_json(&["clients", "list", "--json", "--data-dir"], &s.data)
}

fn fleetboot_json(args: &[&str], data: &Path) -> Vec<serde_json::Value> {
    let o = run(Command::new(binary()).args(args).arg(data), 30);
    assert!(o.status.success(), "fleetboot {args:?}: {o:?}");
    serde_json::from_slice::<serde_json::Value>(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stdout)))
        .as_array()
        .unwrap()
        .clone()
}

/// `fleetboot clients ARGS --data-dir D`, which must succeed.
fn clients_cli(s: &Server, args: &[&str]) {
    let o = run(
        Command::new(binary())
            .arg("clients")
            .args(args)
            .arg("--data-dir")
            .arg(&s.data),
        30,
    );
    assert!(o.status.success(), "fleetboot clients {args:?}: {o:?}");
}

/// fleetboot in the lab's server namespace with the test ISOs and `default_layout` as the
/// menu's default after one second. Network settings are the defaults a new user has (the
/// harness turns proxyDHCP off elsewhere, so it is turned back on here): no interface, no
/// server address, every port on every address.
fn lab_server(lab: &Lab, default_layout: &str, extra: &[&str]) -> Server {
    let mut flags = vec![
        "--dhcp-mode",
        "proxy",
        "--tftp-listen",
        "0.0.0.0:69",
        "--http-listen",
        "0.0.0.0:8080",
        "--kernel-args",
        "console=ttyS0",
        "--menu-timeout",
        "1",
        "--menu-default",
        image_id(default_layout),
    ];
    flags.extend_from_slice(extra);
    let s = Server::start_in_netns(
        &lab.netns("server"),
        |data| build_test_isos(&data.join("isos")),
        &flags,
    );
    assert!(s.dhcp.is_some() && s.pxe.is_some(), "proxyDHCP is off");
    s
}

/// A MAC of this lab.
fn mac(lab: &Lab, i: u8) -> String {
    format!("52:54:00:{:02x}:00:{i:02x}", lab.n)
}

/// Waits for the test kernel's report; returns (layout, kernel command line).
fn booted(g: &mut Guest<'_>, lab: &Lab, s: &Server) -> (String, String) {
    let started = Instant::now();
    let out = g
        .wait_for("FLEETBOOT-CMDLINE", BOOT_TIMEOUT)
        .unwrap_or_else(|e| {
            panic!(
                "{} did not boot: {e}\n--- fleetboot log\n{}\n--- router log\n{}",
                g.mac,
                s.log(),
                lab.router_log()
            )
        });
    // The report is complete once the guest has powered off.
    assert!(g.wait_exit(Duration::from_secs(20)), "no poweroff:\n{out}");
    let out = g.serial();
    let line = |tag: &str| {
        out.lines()
            .find_map(|l| l.split_once(tag).map(|(_, rest)| rest.trim().to_string()))
            .unwrap_or_else(|| panic!("no {tag:?} in\n{out}"))
    };
    eprintln!("{} booted in {:?}", g.mac, started.elapsed());
    (
        line("FLEETBOOT-TEST-BOOTED layout="),
        line("FLEETBOOT-CMDLINE "),
    )
}

/// Waits (bounded) until the status number `key` reaches `at_least`; returns its value.
fn counter_reaches(s: &Server, key: &str, at_least: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let v = s.status_number(key);
        if v >= at_least || Instant::now() > deadline {
            return v;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The client entry for `mac` in `clients list --json`.
fn client<'a>(clients: &'a [serde_json::Value], mac: &str) -> &'a serde_json::Value {
    clients
        .iter()
        .find(|c| c["mac"] == mac)
        .unwrap_or_else(|| panic!("no client {mac} in {clients:#?}"))
}

#[test]
fn bios_client_boots_casper_iso() {
    let lab = Lab::new();
    let s = lab_server(&lab, "casper", &[]);
    let id = image_id("casper");
    let mut g = lab.boot(Firmware::Bios, &mac(&lab, 1), &[]);
    let (layout, cmdline) = booted(&mut g, &lab, &s);
    assert_eq!(layout, "casper");
    let image_url = format!("http://{}:8080/images/{id}/", lab.server_addr());
    for want in ["initrd=", "boot=casper", "console=ttyS0", &image_url] {
        assert!(cmdline.contains(want), "{want:?} not in {cmdline:?}");
    }
    // The router leased the address; fleetboot only added the boot options.
    let router = lab.router_log();
    assert!(
        router
            .lines()
            .any(|l| l.contains("DHCPACK") && l.contains(&g.mac)),
        "{router}"
    );
    assert!(s.status_number("dhcp_answered") >= 1, "{}", s.status());
    assert!(s.log().contains("boot.ipxe"), "{}", s.log());
}

/// UEFI boots the menu default (debian-live): OVMF's PXE gets ipxe.efi over TFTP, which then
/// fetches boot.ipxe over HTTP.
#[test]
fn uefi_client_chains_through_tftp_ipxe_efi() {
    let lab = Lab::new();
    let s = lab_server(&lab, "debian-live", &[]);
    let mut g = lab.boot(Firmware::Uefi, &mac(&lab, 1), &[]);
    let (layout, cmdline) = booted(&mut g, &lab, &s);
    assert_eq!(layout, "debian-live");
    assert!(cmdline.contains("boot=live"), "{cmdline}");
    let log = s.log();
    let whole_ipxe_efi = |l: &str| {
        l.contains("served")
            && l.contains("tftp")
            && l.contains("object=ipxe.efi ")
            && !l.contains(" bytes=0 ")
    };
    assert!(
        log.lines().any(whole_ipxe_efi),
        "ipxe.efi not served over TFTP:\n{log}"
    );
    let c = clients_json(&s);
    assert!(!client(&c, &g.mac)["last_boot"].is_null(), "{c:#?}");
}

/// Whether `entry` has a next-boot-once image pending: the contract's `once` flag, or the
/// pending image itself where the listing names it `next_boot`.
fn once_pending(entry: &serde_json::Value) -> bool {
    entry["once"] == true || !entry["next_boot"].is_null()
}

#[test]
fn once_assignment_then_menu_default() {
    let lab = Lab::new();
    let s = lab_server(&lab, "casper", &[]);
    let m = mac(&lab, 1);
    clients_cli(&s, &["assign", &m, image_id("fedora-pxeboot"), "--once"]);
    let c = clients_json(&s);
    assert!(once_pending(client(&c, &m)), "{c:#?}");
    let mut g = lab.boot(Firmware::Bios, &m, &[]);
    assert_eq!(booted(&mut g, &lab, &s).0, "fedora-pxeboot");
    drop(g);
    let c = clients_json(&s);
    assert!(!once_pending(client(&c, &m)), "{c:#?}");
    assert!(client(&c, &m)["assigned"].is_null(), "{c:#?}");
    let mut g = lab.boot(Firmware::Bios, &m, &[]);
    assert_eq!(booted(&mut g, &lab, &s).0, "casper");
}

#[test]
fn two_clients_at_once() {
    let lab = Lab::new();
    let s = lab_server(&lab, "casper", &[]);
    let smbios = |n: u8| format!("type=1,manufacturer=FleetLab,product=Rack{n},serial=SN{n}");
    let (a, b) = (smbios(1), smbios(2));
    let mut guests = [
        lab.boot(Firmware::Bios, &mac(&lab, 1), &["-smbios", &a]),
        lab.boot(Firmware::Bios, &mac(&lab, 2), &["-smbios", &b]),
    ];
    for g in &mut guests {
        assert_eq!(booted(g, &lab, &s).0, "casper");
    }
    let c = clients_json(&s);
    for (n, g) in (1..).zip(&guests) {
        let entry = client(&c, &g.mac);
        assert!(!entry["arch"].is_null(), "{entry:#}");
        assert_eq!(entry["manufacturer"], "FleetLab", "{entry:#}");
        assert_eq!(entry["product"], format!("Rack{n}"), "{entry:#}");
        assert_eq!(entry["serial"], format!("SN{n}"), "{entry:#}");
    }
}

/// perfdhcp's DISCOVER-OFFER counts after sending at `rate` for `seconds`: (sent, received).
fn perfdhcp(lab: &Lab, options: &[String], rate: u32, seconds: u32) -> (u64, u64) {
    let mut cmd = lab.exec("load", "perfdhcp");
    // A unicast server makes perfdhcp a relay: giaddr is 10.N.0.3 and answers come to
    // its port 67. -i: DISCOVER/OFFER only, -R: that many distinct MACs, -W: wait 2 s for
    // the last answers before counting (perfdhcp 2.2 refuses -W with -i and -n, hence -p).
    cmd.args(["-4", "-i", "-l", &lab.addr(3).to_string()])
        .args(["-r", &rate.to_string(), "-p", &seconds.to_string()])
        .args(["-R", "1000", "-W", "2000000"]);
    for o in options {
        cmd.args(["-o", o]);
    }
    let o = run(cmd.arg(lab.server_addr().to_string()), 120);
    let out = String::from_utf8_lossy(&o.stdout);
    let stat = |name: &str| -> u64 {
        out.split("Statistics for: DISCOVER-OFFER")
            .nth(1)
            .and_then(|stats| {
                stats
                    .lines()
                    .find_map(|l| l.trim().strip_prefix(name)?.trim().parse().ok())
            })
            .unwrap_or_else(|| panic!("no {name} in perfdhcp output: {o:?}"))
    };
    (stat("sent packets:"), stat("received packets:"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Option 60 (PXEClient) and 93 (client arch 0, BIOS).
fn pxe_options() -> Vec<String> {
    vec![
        format!("60,{}", hex(PXE_VENDOR_CLASS.as_bytes())),
        "93,0000".into(),
    ]
}

#[test]
fn perfdhcp_burst_all_answered() {
    let lab = Lab::new();
    lab.add_host("load", "ld0", 3);
    let s = lab_server(&lab, "casper", &[]);
    let (sent, received) = perfdhcp(&lab, &pxe_options(), 1000, 5);
    assert!(sent >= 4000, "perfdhcp sent only {sent}");
    assert_eq!(received, sent, "drops under load\n{}", s.status());
    // Not a PXE client: a proxy must stay silent, and says so in its counters.
    let ignored = s.status_number("dhcp_ignored");
    let (sent, received) = perfdhcp(&lab, &["93,0000".into()], 500, 1);
    assert!(sent >= 400, "perfdhcp sent only {sent}");
    assert_eq!(received, 0);
    assert!(
        counter_reaches(&s, "dhcp_ignored", ignored + sent) >= ignored + sent,
        "{}",
        s.status()
    );
}

/// A valid PXE DISCOVER as a BIOS ROM sends it, broken in the ways the test needs.
fn discover() -> Vec<u8> {
    let mut p = vec![0u8; 240];
    p[..4].copy_from_slice(&[1, 1, 6, 0]); // BOOTREQUEST, Ethernet, 6-byte MAC
    p[4..8].copy_from_slice(&0x1234_5678u32.to_be_bytes());
    p[28..34].copy_from_slice(&[0x52, 0x54, 0x00, 0xee, 0, 1]);
    p[236..240].copy_from_slice(&[99, 130, 83, 99]);
    p.extend_from_slice(&[53, 1, 1]);
    p.extend_from_slice(&[60, PXE_VENDOR_CLASS.len() as u8]);
    p.extend_from_slice(PXE_VENDOR_CLASS.as_bytes());
    p.extend_from_slice(&[93, 2, 0, 0, 255]);
    p
}

/// Sends one datagram from the load host: bash's /dev/udp is a connected UDP socket, and `cat`
/// copies a small file with one write, so one datagram (printf would split at newlines).
fn send_udp(lab: &Lab, s: &Server, port: u16, bytes: &[u8]) {
    let file = s.scratch.join("datagram");
    std::fs::write(&file, bytes).unwrap();
    let script = format!(
        "cat '{}' > /dev/udp/{}/{port}",
        file.display(),
        lab.server_addr()
    );
    let o = run(lab.exec("load", "bash").args(["-c", &script]), 10);
    assert!(o.status.success(), "{o:?}");
}

#[test]
fn garbage_on_67_and_4011() {
    let lab = Lab::new();
    lab.add_host("load", "ld0", 3);
    let s = lab_server(&lab, "casper", &[]);
    let counters =
        || ["dhcp_malformed", "dhcp_answered", "dhcp_ignored"].map(|k| s.status_number(k));
    let [malformed, answered, ignored] = counters();
    let good = discover();
    let mut bad_cookie = good.clone();
    bad_cookie[236..240].copy_from_slice(b"\xde\xad\xbe\xef");
    // Option 60 claims 255 bytes, the datagram ends long before.
    let mut huge_option = good[..240].to_vec();
    huge_option.extend_from_slice(&[53, 1, 1, 60, 255, b'P', b'X', b'E']);
    let junk = [
        good[..100].to_vec(),
        bad_cookie,
        huge_option,
        random_bytes(300, 67),
    ];
    for port in [67, 4011] {
        for datagram in &junk {
            send_udp(&lab, &s, port, datagram);
        }
    }
    let sent = 2 * junk.len() as u64;
    assert_eq!(
        counter_reaches(&s, "dhcp_malformed", malformed + sent),
        malformed + sent,
        "{}",
        s.status()
    );
    assert_eq!(counters(), [malformed + sent, answered, ignored]);
    // Still serving: one real PXE DISCOVER is answered.
    let (sent, received) = perfdhcp(&lab, &pxe_options(), 10, 1);
    assert!(
        sent > 0 && received == sent,
        "{sent} sent, {received} answered"
    );
}

/// PXE clients on the LAN, as `dhcp-storm` plays them from the `probe` host: `count`
/// broadcast DISCOVERs, each of which must get exactly one proxy OFFER, sent from `server`
/// and naming it as server identifier and next-server (the router's lease offers aside).
fn probe(lab: &Lab, server: Ipv4Addr, count: u32) {
    let tool = bench_binary("dhcp-storm");
    let mut cmd = lab.exec("probe", tool.to_str().unwrap());
    cmd.args(["255.255.255.255:67", "--interface", "pr0", "--wait", "2"])
        .args(["--expect-server", &server.to_string()])
        .args(["--count", &count.to_string(), "--rate", "1000"]);
    let o = run(&mut cmd, 60);
    assert!(
        o.status.success(),
        "probe for {server}:\n{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// The server sits on an isolated provisioning network (no default route) and runs with
/// default flags: every broadcast DISCOVER gets one OFFER from the provisioning address, on
/// all cores and on one, and a new server address is used without a restart.
#[test]
fn one_offer_per_discover_from_the_arrival_address() {
    let lab = Lab::new();
    lab.add_host("probe", "pr0", 4);
    for cores in [None, Some("1")] {
        let extra: Vec<&str> = cores.map(|n| vec!["--cores", n]).unwrap_or_default();
        let s = lab_server(&lab, "casper", &extra);
        let answered = s.status_number("dhcp_answered");
        probe(&lab, lab.server_addr(), 200);
        assert_eq!(
            counter_reaches(&s, "dhcp_answered", answered + 200),
            answered + 200,
            "cores {cores:?}: {}",
            s.status()
        );
    }
    let s = lab_server(&lab, "casper", &["--cores", "1"]);
    probe(&lab, lab.server_addr(), 20);
    lab.renumber_server(5);
    probe(&lab, lab.addr(5), 20);
    drop(s);
}

/// A multi-homed server (management link with the default route, provisioning link without)
/// with default flags: a BIOS and a UEFI machine boot on the provisioning link while PXE
/// clients there get one OFFER each from the provisioning address.
#[test]
fn multi_homed_server_boots_bios_and_uefi() {
    let lab = Lab::new();
    lab.add_management_link();
    lab.add_host("probe", "pr0", 4);
    let s = lab_server(&lab, "casper", &[]);
    let mut bios = lab.boot(Firmware::Bios, &mac(&lab, 1), &[]);
    let mut uefi = lab.boot(Firmware::Uefi, &mac(&lab, 2), &[]);
    let (layout, cmdline) = booted(&mut bios, &lab, &s);
    assert_eq!(layout, "casper");
    let image_url = format!("http://{}:8080/images/", lab.server_addr());
    assert!(cmdline.contains(&image_url), "{cmdline}");
    assert_eq!(booted(&mut uefi, &lab, &s).0, "casper");
    // After the boots: the probe's MACs would take the router's whole address pool.
    probe(&lab, lab.server_addr(), 50);
}

#[test]
fn a_dropped_lab_leaves_no_namespace() {
    let lab = Lab::new();
    let mine = lab.netns("");
    drop(lab);
    let o = run(Command::new("ip").args(["netns", "list"]), 10);
    let list = String::from_utf8_lossy(&o.stdout);
    assert!(!list.contains(&mine), "{list}");
}

/// An admin API request over the server's control socket (reachable from outside the
/// server's namespace: it is a file); returns the JSON answer.
fn api(s: &Server, method: &str, path: &str, body: &serde_json::Value) -> serde_json::Value {
    let socket = s.data.join("control.sock");
    let o = run(
        Command::new("curl")
            .args(["-sSf", "--unix-socket"])
            .arg(&socket)
            .args(["-X", method, "-H", "content-type: application/json", "-d"])
            .arg(body.to_string())
            .arg(format!("http://localhost{path}")),
        30,
    );
    assert!(o.status.success(), "{method} {path}: {o:?}");
    serde_json::from_slice(&o.stdout).unwrap_or(serde_json::Value::Null)
}

/// The Debian installer ISO's own kernel and initrd as a netboot tree, fetched through
/// `images netboot` from the server itself, so that the image boots a kernel (it is
/// needs-netboot, as the real one is).
fn fetch_debian_netboot(s: &Server) {
    let tree = fleetboot_tests::TempDir::new("install-netboot");
    let amd64 = tree.path().join("debian-installer/amd64");
    std::fs::create_dir_all(&amd64).unwrap();
    let iso = s.data.join("isos/debian-installer.iso");
    for (inside, name) in [
        ("/install.amd/vmlinuz", "linux"),
        ("/install.amd/initrd.gz", "initrd.gz"),
    ] {
        let o = run(
            Command::new("xorriso")
                .args(["-osirrox", "on", "-indev"])
                .arg(&iso)
                .arg("-extract")
                .arg(inside)
                .arg(amd64.join(name)),
            60,
        );
        assert!(o.status.success(), "xorriso: {o:?}");
    }
    // Made aside and renamed into place: a scan never maps a half-written tarball.
    let part = s.data.join("files/.netboot.tar.gz");
    let o = run(
        Command::new("tar")
            .arg("czf")
            .arg(&part)
            .arg("-C")
            .arg(tree.path())
            .arg("debian-installer"),
        60,
    );
    assert!(o.status.success(), "tar: {o:?}");
    std::fs::rename(&part, s.data.join("files/netboot.tar.gz")).unwrap();
    let id = image_id("debian-installer");
    // Until the next scan has published it (every 2 s by default).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let o = run(
            s.command(binary().to_str().unwrap())
                .args(["images", "netboot", id, "--url"])
                .arg("http://127.0.0.1:8080/files/netboot.tar.gz")
                .arg("--data-dir")
                .arg(&s.data),
            60,
        );
        if o.status.success() {
            break;
        }
        assert!(Instant::now() < deadline, "images netboot: {o:?}");
        std::thread::sleep(Duration::from_millis(500));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while images_json(&s.data)
        .iter()
        .any(|i| i["id"] == id && i["method"] != "kernel")
    {
        assert!(Instant::now() < deadline, "the netboot tree is not used");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Unattended installs of the three families the test ISOs play (Ubuntu's NoCloud, Debian's
/// preseed, Fedora's kickstart), three machines at once: each installer finds its file at the
/// URL of the parameter fleetboot added, gets it rendered for itself, reports done; fleetboot
/// then sends it to its disk.
#[test]
fn unattended_installs_fetch_their_file_report_done_then_boot_the_disk() {
    let lab = Lab::new();
    let s = lab_server(&lab, "casper", &[]);
    fetch_debian_netboot(&s);
    let plays = [
        ("casper", "nocloud", "user-data"),
        ("debian-installer", "preseed", "preseed.cfg"),
        ("fedora-pxeboot", "kickstart", "ks.cfg"),
    ];
    for (n, (layout, family, file)) in (1..).zip(plays) {
        let mut files = serde_json::Map::new();
        files.insert(
            file.into(),
            "# fleetboot lab: host={{ hostname }} mac={{ mac }} via={{ server }}\n".into(),
        );
        api(
            &s,
            "PUT",
            &format!("/api/v1/templates/lab-{family}"),
            &serde_json::json!({ "family": family, "files": files }),
        );
        api(
            &s,
            "PATCH",
            &format!("/api/v1/images/{}", image_id(layout)),
            &serde_json::json!({ "template": format!("lab-{family}") }),
        );
        api(
            &s,
            "PATCH",
            &format!("/api/v1/clients/{}", mac(&lab, n)),
            &serde_json::json!({ "assigned": image_id(layout), "name": format!("node-{n}") }),
        );
    }
    let mut guests: Vec<Guest<'_>> = (1..=3)
        .map(|n| lab.boot(Firmware::Bios, &mac(&lab, n), &[]))
        .collect();
    for (n, g) in (1..).zip(&mut guests) {
        let out = g
            .wait_for("FLEETBOOT-INSTALL-", Duration::from_secs(300))
            .unwrap_or_else(|e| panic!("{}: {e}\n--- fleetboot log\n{}", g.mac, s.log()));
        assert!(g.wait_exit(Duration::from_secs(30)), "no poweroff:\n{out}");
        let out = g.serial();
        assert!(out.contains("FLEETBOOT-INSTALL-DONE"), "{}:\n{out}", g.mac);
        let want = format!(
            "# fleetboot lab: host=node-{n} mac={} via={}:8080",
            g.mac,
            lab.server_addr()
        );
        assert!(out.contains(&want), "{want:?} not in\n{out}");
    }
    // Each is recorded done and sent to its disk; a second boot gets the local-disk script.
    let c = clients_json(&s);
    for g in &guests {
        let entry = client(&c, &g.mac);
        assert_eq!(entry["install"]["state"], "done", "{entry:#}");
        assert_eq!(entry["local_boot"], true, "{entry:#}");
        assert!(entry["assigned"].is_null(), "{entry:#}");
    }
    drop(guests);
    let again = lab.boot(Firmware::Bios, &mac(&lab, 1), &[]);
    let deadline = Instant::now() + BOOT_TIMEOUT;
    loop {
        let c = clients_json(&s);
        if client(&c, &again.mac)["last_boot"] == "local" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no local boot: {c:#?}\n{}",
            s.log()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}
