//! A throw-away network-boot lab built from network namespaces, so boot tests run real
//! firmware against a real LAN without touching the host's network:
//!
//! - `lan`: the switch, bridge `br0`; guests' taps and every host's veth plug in here;
//! - `router`: 10.N.0.1, the site's plain DHCP server (dnsmasq without any PXE option, as
//!   proxyDHCP expects) that also sends IPv6 router advertisements, because iPXE otherwise
//!   waits ~15 s for a DHCPv6 answer;
//! - `server`: 10.N.0.2 on `fb0`, where the test runs fleetboot; no default route, as on an
//!   isolated provisioning network, unless [`Lab::add_management_link`] makes it multi-homed;
//! - more hosts on demand ([`Lab::add_host`]), and QEMU guests ([`Lab::boot`]).
//!
//! Interface names only need to be unique inside their namespace, so they are fixed; the
//! namespaces carry the process id and a counter. Dropping the lab kills whatever still runs
//! in its namespaces and deletes them.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::{run, TempDir};

/// OVMF firmware as Debian's `ovmf` package installs it.
const OVMF_CODE: &str = "/usr/share/OVMF/OVMF_CODE_4M.fd";
/// What the firmware prints when it has given up: iPXE after its last boot attempt, SeaBIOS,
/// OVMF without and with its shell. Waiting longer after these is pointless.
const FIRMWARE_GAVE_UP: [&str; 4] = [
    "No more network devices",
    "No bootable device",
    "No bootable option",
    "Shell> ",
];
/// The same for a guest with a disk: when iPXE gives up (or a script sends it back with
/// `exit`), SeaBIOS goes on to the disk, so only the firmware's own end is final.
const DISK_FIRMWARE_GAVE_UP: [&str; 3] = ["No bootable device", "No bootable option", "Shell> "];
/// What a Linux guest prints when it has stopped for good.
const KERNEL_PANIC: &str = "Kernel panic - not syncing";

/// Template of the per-machine UEFI variable store (copied per guest: OVMF writes to it).
const OVMF_VARS: &str = "/usr/share/OVMF/OVMF_VARS_4M.fd";

/// How a guest starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Firmware {
    /// SeaBIOS; the e1000's option ROM is iPXE, so the first DHCP client is already iPXE.
    Bios,
    /// OVMF with its own PXE client (arch 7), which fetches the UEFI iPXE over TFTP.
    Uefi,
}

/// One lab: namespaces, the router's dnsmasq and a temp dir for logs.
pub struct Lab {
    /// The lab's IPv4 subnet is 10.N.0.0/24.
    pub n: u8,
    prefix: String,
    namespaces: Mutex<Vec<String>>,
    router: Mutex<Option<Child>>,
    guests: AtomicU32,
    dir: TempDir,
}

impl Lab {
    /// Builds the LAN, starts the router's DHCP service and the (empty) server host.
    ///
    /// # Panics
    /// When a namespace, link or dnsmasq cannot be set up (needs root); whatever was made
    /// so far is torn down.
    pub fn new() -> Lab {
        crate::netns::remove_orphans();
        static LABS: AtomicU32 = AtomicU32::new(0);
        let k = LABS.fetch_add(1, Ordering::Relaxed);
        let lab = Lab {
            n: 10 + (k % 200) as u8,
            prefix: format!("fb{}-{k}", std::process::id()),
            namespaces: Mutex::new(Vec::new()),
            router: Mutex::new(None),
            guests: AtomicU32::new(0),
            dir: TempDir::new("lab"),
        };
        // From here on a panic drops `lab`, which removes what exists.
        lab.add_namespace("lan");
        ip(&[
            "-n",
            &lab.netns("lan"),
            "link",
            "add",
            "br0",
            "type",
            "bridge",
        ]);
        ip(&["-n", &lab.netns("lan"), "link", "set", "br0", "up"]);
        // A switch forwards frames without looking at them: where br_netfilter is loaded (by
        // the host's firewall or container runtime), the bridge would pass each one through
        // the netfilter hooks. Off in the LAN's namespace; `-e`: no such keys without it.
        let o = run(
            lab.exec("lan", "sysctl").args([
                "-qe",
                "-w",
                "net.bridge.bridge-nf-call-iptables=0",
                "net.bridge.bridge-nf-call-ip6tables=0",
                "net.bridge.bridge-nf-call-arptables=0",
            ]),
            10,
        );
        assert!(o.status.success(), "sysctl in the LAN: {o:?}");
        lab.add_host("router", "eth0", 1);
        ip(&[
            "-n",
            &lab.netns("router"),
            "addr",
            "add",
            &format!("{}1/64", lab.ula()),
            "dev",
            "eth0",
            "nodad",
        ]);
        lab.start_router();
        lab.add_host("server", "fb0", 2);
        lab
    }

    /// The namespace name of a role ("lan", "router", "server", or an added host).
    pub fn netns(&self, role: &str) -> String {
        format!("{}-{role}", self.prefix)
    }

    /// 10.N.0.`host`.
    pub fn addr(&self, host: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, self.n, 0, host)
    }

    /// The server host's address (10.N.0.2).
    pub fn server_addr(&self) -> Ipv4Addr {
        self.addr(2)
    }

    /// A command that runs `program` inside the namespace of `role`.
    pub fn exec(&self, role: &str, program: &str) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.netns(role), program]);
        cmd
    }

    /// Adds a host namespace `role` whose interface `iface` (10.N.0.`host`/24) is cabled
    /// into the LAN bridge.
    pub fn add_host(&self, role: &str, iface: &str, host: u8) {
        let ns = self.add_namespace(role);
        let lan = self.netns("lan");
        let port = format!("v{host}");
        ip(&[
            "-n", &lan, "link", "add", &port, "type", "veth", "peer", "name", iface, "netns", &ns,
        ]);
        ip(&["-n", &lan, "link", "set", &port, "master", "br0", "up"]);
        let cidr = format!("{}/24", self.addr(host));
        // With a broadcast address: multicast tools (udpcast) find no receivers without one.
        ip(&["-n", &ns, "addr", "add", &cidr, "brd", "+", "dev", iface]);
        ip(&["-n", &ns, "link", "set", iface, "up"]);
    }

    /// Makes the server multi-homed, as in a datacenter: a management link `mg0`
    /// (10.N.1.2/24) to an `uplink` namespace (10.N.1.1) that carries the server's default
    /// route, beside its provisioning link `fb0` on the LAN. Nothing but the LAN's own subnet
    /// is then routed by `fb0`: a server that sends by route answers PXE clients out of the
    /// wrong NIC, from the wrong address.
    pub fn add_management_link(&self) {
        let uplink = self.add_namespace("uplink");
        let server = self.netns("server");
        ip(&[
            "-n", &uplink, "link", "add", "eth0", "type", "veth", "peer", "name", "mg0", "netns",
            &server,
        ]);
        let gateway = format!("10.{}.1.1", self.n);
        ip(&[
            "-n",
            &uplink,
            "addr",
            "add",
            &format!("{gateway}/24"),
            "dev",
            "eth0",
        ]);
        ip(&["-n", &uplink, "link", "set", "eth0", "up"]);
        let cidr = format!("10.{}.1.2/24", self.n);
        ip(&["-n", &server, "addr", "add", &cidr, "dev", "mg0"]);
        ip(&["-n", &server, "link", "set", "mg0", "up"]);
        ip(&["-n", &server, "route", "add", "default", "via", &gateway]);
    }

    /// Moves the server's provisioning address to 10.N.0.`host`, as when its own DHCP lease
    /// changes: what runs there must follow without a restart.
    pub fn renumber_server(&self, host: u8) {
        let server = self.netns("server");
        let old = format!("{}/24", self.server_addr());
        ip(&["-n", &server, "addr", "del", &old, "dev", "fb0"]);
        let new = format!("{}/24", self.addr(host));
        ip(&["-n", &server, "addr", "add", &new, "dev", "fb0"]);
    }

    /// The router's dnsmasq log (every DHCP exchange it saw).
    pub fn router_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dnsmasq.log")).unwrap_or_default()
    }

    /// Starts a guest with `mac` on a new tap in the LAN; `extra` goes to QEMU as is.
    ///
    /// # Panics
    /// When the tap or QEMU cannot be started.
    pub fn boot(&self, firmware: Firmware, mac: &str, extra: &[&str]) -> Guest<'_> {
        self.start_guest(firmware, mac, None, extra)
    }

    /// Starts a guest like [`Lab::boot`] with `disk` (a raw image file) as its SCSI disk on a
    /// virtio-scsi controller (`/dev/sda` in Linux). It still boots from the network first
    /// (`-boot n` only orders devices): when iPXE gives up or is sent back to the firmware
    /// (`exit`), SeaBIOS boots the disk, as a server's firmware does.
    ///
    /// # Panics
    /// When the tap or QEMU cannot be started.
    pub fn boot_with_disk(&self, firmware: Firmware, mac: &str, disk: &Path) -> Guest<'_> {
        let drive = format!("file={},format=raw,if=none,id=d0", disk.display());
        let args = [
            "-drive",
            &drive,
            "-device",
            "virtio-scsi-pci,id=scsi0",
            "-device",
            "scsi-hd,drive=d0,bus=scsi0.0",
        ];
        self.start_guest(firmware, mac, Some(&DISK_FIRMWARE_GAVE_UP[..]), &args)
    }

    fn start_guest(
        &self,
        firmware: Firmware,
        mac: &str,
        gave_up: Option<&'static [&'static str]>,
        extra: &[&str],
    ) -> Guest<'_> {
        let i = self.guests.fetch_add(1, Ordering::Relaxed);
        let lan = self.netns("lan");
        let tap = format!("t{i}");
        ip(&["-n", &lan, "tuntap", "add", "dev", &tap, "mode", "tap"]);
        ip(&["-n", &lan, "link", "set", &tap, "master", "br0", "up"]);
        let serial = self.dir.path().join(format!("guest{i}.serial"));
        let mut cmd = self.exec("lan", "qemu-system-x86_64");
        cmd.args(["-accel", accel()]);
        cmd.args(["-m", "256", "-smp", "1"]);
        cmd.arg("-serial").arg(format!("file:{}", serial.display()));
        let netdev = format!("tap,id=n0,ifname={tap},script=no,downscript=no");
        cmd.args(["-netdev", &netdev]);
        match firmware {
            Firmware::Bios => {
                cmd.args(["-device", &format!("e1000,netdev=n0,mac={mac}")]);
            }
            Firmware::Uefi => {
                let vars = self.dir.path().join(format!("guest{i}.vars"));
                std::fs::copy(OVMF_VARS, &vars)
                    .unwrap_or_else(|e| panic!("{OVMF_VARS} (package ovmf): {e}"));
                cmd.args([
                    "-drive",
                    &format!("if=pflash,format=raw,readonly=on,file={OVMF_CODE}"),
                ]);
                cmd.arg("-drive")
                    .arg(format!("if=pflash,format=raw,file={}", vars.display()));
                // No option ROM: OVMF's own virtio-net driver and PXE client, not iPXE's.
                // Debian's iPXE drives only the modern (virtio 1.0) device.
                cmd.args([
                    "-device",
                    &format!("virtio-net-pci,disable-legacy=on,romfile=,netdev=n0,mac={mac}"),
                ]);
            }
        }
        cmd.args(extra);
        let out = std::fs::File::create(self.dir.path().join(format!("guest{i}.out"))).unwrap();
        let child = qemu_base(&mut cmd)
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("spawn qemu-system-x86_64 (package qemu-system-x86)");
        Guest {
            lab: self,
            child,
            serial,
            tap,
            gave_up: gave_up.unwrap_or(&FIRMWARE_GAVE_UP),
            mac: mac.to_string(),
        }
    }

    fn add_namespace(&self, role: &str) -> String {
        let ns = self.netns(role);
        ip(&["netns", "add", &ns]);
        self.namespaces.lock().unwrap().push(ns.clone());
        ip(&["-n", &ns, "link", "set", "lo", "up"]);
        ns
    }

    /// Unique local IPv6 prefix of the LAN, for router advertisements.
    fn ula(&self) -> String {
        format!("fd42:{}::", self.n)
    }

    fn start_router(&self) {
        let dir = self.dir.path();
        let log = dir.join("dnsmasq.log");
        let child = self
            .exec("router", "dnsmasq")
            .args([
                "--keep-in-foreground",
                "--port=0",
                "--conf-file=/dev/null",
                "--no-resolv",
                "--interface=eth0",
                "--bind-interfaces",
                "--dhcp-authoritative",
                "--log-dhcp",
                "--user=root",
                "--enable-ra",
            ])
            .arg(format!(
                "--dhcp-range={},{},12h",
                self.addr(100),
                self.addr(199)
            ))
            .arg(format!("--dhcp-range={},ra-only", self.ula()))
            .arg(format!("--dhcp-leasefile={}", dir.join("leases").display()))
            .arg(format!("--log-facility={}", log.display()))
            .arg(format!("--pid-file={}", dir.join("dnsmasq.pid").display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(dir.join("dnsmasq.err")).unwrap(),
            ))
            .spawn()
            .expect("spawn dnsmasq (package dnsmasq-base)");
        *self.router.lock().unwrap() = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.router_log().contains("DHCP, sockets bound") {
            let exited = self.router.lock().unwrap().as_mut().unwrap().try_wait();
            assert!(
                Instant::now() < deadline && matches!(exited, Ok(None)),
                "dnsmasq did not start: {}\n{}",
                std::fs::read_to_string(dir.join("dnsmasq.err")).unwrap_or_default(),
                self.router_log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Default for Lab {
    fn default() -> Lab {
        Lab::new()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Some(mut child) = self.router.lock().unwrap().take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let namespaces = std::mem::take(&mut *self.namespaces.lock().unwrap());
        for ns in namespaces.iter().rev() {
            // Anything still inside (a server the test did not stop) would keep it alive.
            let pids = run(Command::new("ip").args(["netns", "pids", ns]), 10);
            for pid in String::from_utf8_lossy(&pids.stdout).split_whitespace() {
                let _ = Command::new("kill").args(["-KILL", pid]).status();
            }
            let _ = run(Command::new("ip").args(["netns", "del", ns]), 10);
        }
    }
}

/// A QEMU guest whose first serial port is logged to a file; killed on drop.
pub struct Guest<'a> {
    lab: &'a Lab,
    child: Child,
    serial: PathBuf,
    tap: String,
    /// What the firmware prints when this guest will boot nothing more.
    gave_up: &'static [&'static str],
    /// Its NIC's MAC address.
    pub mac: String,
}

impl Guest<'_> {
    /// The serial output so far (lossy UTF-8, carriage returns removed).
    pub fn serial(&self) -> String {
        let bytes = std::fs::read(&self.serial).unwrap_or_default();
        String::from_utf8_lossy(&bytes).replace('\r', "")
    }

    /// Waits until the serial output contains `pattern`; returns the output.
    ///
    /// # Errors
    /// The output so far, when the time runs out, QEMU exits or the firmware has given up
    /// booting without printing `pattern`.
    pub fn wait_for(&mut self, pattern: &str, timeout: Duration) -> Result<String, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let exited = self.child.try_wait().ok().flatten();
            let out = self.serial();
            if out.contains(pattern) {
                return Ok(out);
            }
            if let Some(status) = exited {
                return Err(format!("qemu exited ({status}) before {pattern:?}:\n{out}"));
            }
            let ended = self.gave_up.iter().chain([&KERNEL_PANIC]);
            if let Some(end) = ended.into_iter().find(|end| out.contains(*end)) {
                return Err(format!(
                    "firmware gave up ({end:?}) before {pattern:?}:\n{out}"
                ));
            }
            if Instant::now() > deadline {
                return Err(format!("no {pattern:?} within {timeout:?}:\n{out}"));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Waits (bounded) for QEMU to exit, as it does when the guest powers off.
    pub fn wait_exit(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }
}

impl Drop for Guest<'_> {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let lan = self.lab.netns("lan");
        let _ = run(
            Command::new("ip").args(["-n", &lan, "link", "del", &self.tap]),
            10,
        );
    }
}

/// Options every guest and the probe share: no default devices, serial only, no reboot
/// (a failed boot ends QEMU instead of looping), network boot first.
fn qemu_base(cmd: &mut Command) -> &mut Command {
    cmd.args([
        "-nodefaults",
        "-nographic",
        "-monitor",
        "none",
        "-no-reboot",
        "-boot",
        "n",
    ])
    .stdin(Stdio::null())
}

/// `kvm` when it really works, else `tcg`. Probed once per process: /dev/kvm can exist and
/// still hang the iPXE ROM or crash OVMF, so a short BIOS boot must reach iPXE's device
/// initialisation (well under a second when KVM works).
pub fn accel() -> &'static str {
    static ACCEL: OnceLock<&'static str> = OnceLock::new();
    ACCEL.get_or_init(|| {
        if !std::path::Path::new("/dev/kvm").exists() {
            return "tcg";
        }
        let dir = TempDir::new("kvm-probe");
        let serial = dir.path().join("serial");
        let mut cmd = Command::new("qemu-system-x86_64");
        cmd.args(["-accel", "kvm", "-m", "128"])
            .arg("-serial")
            .arg(format!("file:{}", serial.display()))
            .args([
                "-netdev",
                "hubport,id=n0,hubid=0",
                "-device",
                "e1000,netdev=n0",
            ]);
        let Ok(mut child) = qemu_base(&mut cmd)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        else {
            return "tcg";
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        let works = loop {
            let out = std::fs::read(&serial).unwrap_or_default();
            if String::from_utf8_lossy(&out).contains("initialising devices") {
                break true;
            }
            if Instant::now() > deadline || !matches!(child.try_wait(), Ok(None)) {
                break false;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let _ = child.kill();
        let _ = child.wait();
        if works {
            "kvm"
        } else {
            eprintln!("lab: /dev/kvm does not boot iPXE here, guests run under TCG");
            "tcg"
        }
    })
}

/// Runs `ip ARGS`, panicking with its error output on failure.
fn ip(args: &[&str]) {
    let o = run(Command::new("ip").args(args), 10);
    assert!(
        o.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&o.stderr)
    );
}
