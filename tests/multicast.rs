//! Multicast mass reinstall end to end: `fleetboot serve` sends a file to a group in a
//! namespace lab and real `fleetboot-receive` processes, each in its own namespace, rebuild
//! it — one losing 2 % of its datagrams, one joining late, one killed and restarted (its disk
//! having lost a write), one writing to a block device, two from an IPv6 group, two
//! unpacking a zstd image onto a file and a disk — and
//! receivers pointed at a wrong URL, or whose server dies, fail clearly.
//! Needs root, nftables and losetup.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fleetboot_tests::lab::Lab;
use fleetboot_tests::{binary, cli, random_bytes, run, sha256, Server, TempDir};
use multicast::{Geometry, ResumeRecord};
use sha2::Digest;

/// About 24 MiB: 35 chunks of the default geometry, the last one short.
const FILE_SIZE: usize = 24 * 1024 * 1024 - 12345;
/// Slow enough that a receiver can be killed, and another join, while the first round runs.
const RATE_MBIT: &str = "40";
/// Bounds every wait for a receiver.
const RECEIVE_TIMEOUT: Duration = Duration::from_secs(120);

/// The `fleetboot-receive` binary built beside `fleetboot`.
fn receiver_binary() -> PathBuf {
    let bin = binary().with_file_name("fleetboot-receive");
    assert!(
        bin.is_file(),
        "{} missing: run `cargo build -p fleetboot-receive` first",
        bin.display()
    );
    bin
}

/// The lab: the bridge floods multicast to every port (no IGMP snooping to wait for), and
/// the server runs fleetboot on 10.N.0.2.
fn lab_with_server(file: &[u8]) -> (Lab, Server) {
    let lab = Lab::new();
    let lan = lab.netns("lan");
    ip(&[
        "-n",
        &lan,
        "link",
        "set",
        "br0",
        "type",
        "bridge",
        "mcast_snooping",
        "0",
    ]);
    let http = format!("{}:8080", lab.server_addr());
    let server = Server::start_in_netns(
        &lab.netns("server"),
        |data| std::fs::write(data.join("files").join("image.bin"), file).unwrap(),
        &["--http-listen", &http],
    );
    (lab, server)
}

/// Adds receiver host `role` at 10.N.0.`host`, with a route for multicast groups.
fn add_receiver_host(lab: &Lab, role: &str, host: u8) {
    lab.add_host(role, "eth0", host);
    ip(&[
        "-n",
        &lab.netns(role),
        "route",
        "add",
        "224.0.0.0/4",
        "dev",
        "eth0",
    ]);
}

/// Drops 2 % of the UDP datagrams reaching `role` (host `host`), in its own namespace.
fn lose_two_percent(lab: &Lab, dir: &Path, role: &str, host: u8) {
    // The sender's GSO batches cross the veths whole, so nftables would judge ~47 datagrams
    // at a time: a run could then lose nothing at all (seen in CI). The bridge port segments
    // them first, as a real NIC puts each datagram in its own frame.
    let out = run(
        lab.exec("lan", "ethtool")
            .args(["-K", &format!("v{host}"), "tx-udp-segmentation", "off"]),
        10,
    );
    assert!(out.status.success(), "ethtool: {out:?}");
    drop_input(
        lab,
        dir,
        role,
        "meta l4proto udp numgen random mod 100 lt 2 drop",
    );
}

/// Drops every UDP datagram reaching `role`: the group never reaches it (a switch without
/// multicast), while HTTP to the server still works.
fn deafen(lab: &Lab, dir: &Path, role: &str) {
    drop_input(lab, dir, role, "meta l4proto udp drop");
}

/// Loads an nftables input chain of one `rule` in `role`'s namespace.
fn drop_input(lab: &Lab, dir: &Path, role: &str, rule: &str) {
    // nft refuses this table written on one line; one statement per line it takes.
    let rules = dir.join(format!("{role}.nft"));
    std::fs::write(
        &rules,
        format!(
            "table inet test {{\n\
             \tchain input {{\n\
             \t\ttype filter hook input priority 0; policy accept;\n\
             \t\t{rule}\n\
             \t}}\n\
             }}\n"
        ),
    )
    .unwrap();
    let out = run(lab.exec(role, "nft").arg("-f").arg(&rules), 10);
    assert!(out.status.success(), "nft: {out:?}");
}

/// A running `fleetboot-receive` whose stderr is collected as it comes.
struct Receiver {
    child: Child,
    stderr: Arc<Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Receiver {
    fn start(lab: &Lab, role: &str, url: &str, output: &Path, name: &str) -> Receiver {
        Receiver::start_with(lab, role, url, output, &["--name", name, "--timeout", "60"])
    }

    fn start_with(lab: &Lab, role: &str, url: &str, output: &Path, args: &[&str]) -> Receiver {
        let mut child = lab
            .exec(role, receiver_binary().to_str().unwrap())
            .arg(url)
            .arg("--output")
            .arg(output)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn fleetboot-receive");
        let stderr = Arc::new(Mutex::new(String::new()));
        let pipe = child.stderr.take().unwrap();
        let reader = std::thread::spawn({
            let stderr = Arc::clone(&stderr);
            move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    let mut all = stderr.lock().unwrap();
                    all.push_str(&line);
                    all.push('\n');
                }
            }
        });
        Receiver {
            child,
            stderr,
            reader: Some(reader),
        }
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits (bounded) for `predicate` over the stderr so far.
    fn wait_stderr(&mut self, what: &str, predicate: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + RECEIVE_TIMEOUT;
        while !predicate(&self.stderr()) {
            assert!(
                matches!(self.child.try_wait(), Ok(None)),
                "receiver exited before {what}:\n{}",
                self.stderr()
            );
            assert!(Instant::now() < deadline, "no {what}:\n{}", self.stderr());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits (bounded) for the receiver to exit: its status, stdout and stderr.
    fn finish(mut self) -> (ExitStatus, String, String) {
        let deadline = Instant::now() + RECEIVE_TIMEOUT;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("receiver still running:\n{}", self.stderr());
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        if let Some(reader) = self.reader.take() {
            reader.join().unwrap();
        }
        let mut stdout = String::new();
        if let Some(mut pipe) = self.child.stdout.take() {
            std::io::Read::read_to_string(&mut pipe, &mut stdout).unwrap();
        }
        (status, stdout, self.stderr())
    }

    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Checks a receiver that should have succeeded: exit 0, its done line, and `output` holds
/// exactly `file`.
fn assert_received(
    who: &str,
    (status, stdout, stderr): (ExitStatus, String, String),
    output: &Path,
    file: &[u8],
) {
    assert!(status.success(), "{who} failed ({status}):\n{stderr}");
    let want = format!(
        "fleetboot-receive: done {} {} bytes in ",
        sha256(file),
        file.len()
    );
    assert!(stdout.starts_with(&want), "{who}: {stdout:?}\n{stderr}");
    let got = std::fs::read(output).unwrap();
    assert!(
        got[..file.len()] == *file,
        "{who}: output differs from the file"
    );
}

fn ip(args: &[&str]) {
    let out = run(Command::new("ip").args(args), 10);
    assert!(out.status.success(), "ip {args:?}: {out:?}");
}

/// A loop device over a sparse file of `size` bytes, detached on drop.
struct LoopDevice(String);

impl LoopDevice {
    fn new(backing: &Path, size: u64) -> LoopDevice {
        std::fs::File::create(backing)
            .unwrap()
            .set_len(size)
            .unwrap();
        let out = run(
            Command::new("losetup")
                .args(["--find", "--show"])
                .arg(backing),
            10,
        );
        assert!(out.status.success(), "losetup: {out:?}");
        LoopDevice(String::from_utf8(out.stdout).unwrap().trim().to_string())
    }
}

impl Drop for LoopDevice {
    fn drop(&mut self) {
        let _ = run(Command::new("losetup").args(["--detach", &self.0]), 10);
    }
}

/// The largest loss (percent) in a receiver's progress lines.
fn worst_loss(stderr: &str) -> f64 {
    stderr
        .lines()
        .filter_map(|l| l.split(" loss ").nth(1)?.strip_suffix('%')?.parse().ok())
        .fold(0.0, f64::max)
}

/// Waits (bounded) until `role`'s `iface` has a link-local IPv6 address out of duplicate
/// address detection: before, the kernel has no source address for IPv6 multicast.
fn wait_for_ipv6(lab: &Lab, role: &str, iface: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = run(
            lab.exec(role, "ip")
                .args(["-6", "addr", "show", "dev", iface, "scope", "link"]),
            10,
        );
        let shown = String::from_utf8_lossy(&out.stdout);
        if shown.contains("inet6 ") && !shown.contains("tentative") {
            return;
        }
        assert!(Instant::now() < deadline, "no IPv6 on {iface}: {shown}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Starts a session of the server's `files/image.bin`; its manifest URL.
fn send(server: &Server, min_receivers: &str) -> String {
    send_with(server, min_receivers, &[])
}

/// [`send`] with more flags for `fleetboot multicast send`.
fn send_with(server: &Server, min_receivers: &str, extra: &[&str]) -> String {
    let mut args = vec![
        "multicast",
        "send",
        "files/image.bin",
        "--rate",
        RATE_MBIT,
        "--min-receivers",
        min_receivers,
        "--max-wait",
        "60",
    ];
    args.extend_from_slice(extra);
    cli(server, &args).trim().to_string()
}

/// A receiver's resume record at `state`, if it has written one.
fn resume_record(state: &Path, url: &str, file: &[u8]) -> Option<ResumeRecord> {
    let bytes = std::fs::read(state).ok()?;
    let session = u32::from_str_radix(url.rsplit('/').next().unwrap(), 16).unwrap();
    let sha: [u8; 32] = sha2::Sha256::digest(file).into();
    let chunks = Geometry::for_size(file.len() as u64).chunks();
    ResumeRecord::decode(&bytes, session, &sha, chunks).ok()
}

/// The chunks a receiver's resume record at `state` says are done (0 without a record).
fn chunks_recorded(state: &Path, url: &str, file: &[u8]) -> u32 {
    resume_record(state, url, file).map_or(0, |r| r.done.count())
}

/// Flips a byte of the first chunk the resume record says is done: the disk lost a write.
fn damage_a_recorded_chunk(output: &Path, state: &Path, url: &str, file: &[u8]) {
    let record = resume_record(state, url, file).expect("a resume record");
    let chunk = record.done.ones().next().expect("a chunk recorded done");
    let at = Geometry::for_size(file.len() as u64)
        .chunk_range(chunk)
        .start
        + 100;
    let out = std::fs::OpenOptions::new()
        .write(true)
        .open(output)
        .unwrap();
    let flipped = [!file[at as usize]];
    std::os::unix::fs::FileExt::write_all_at(&out, &flipped, at).unwrap();
}

#[test]
fn four_receivers_rebuild_the_file_whatever_befalls_them() {
    let file = random_bytes(FILE_SIZE, 15);
    let (lab, server) = lab_with_server(&file);
    let dir = TempDir::new("multicast");
    for (role, host) in [
        ("steady", 11),
        ("lossy", 12),
        ("restarted", 13),
        ("late", 14),
    ] {
        add_receiver_host(&lab, role, host);
    }
    lose_two_percent(&lab, dir.path(), "lossy", 12);
    // The session waits for the three first receivers; the fourth joins late.
    let url = send(&server, "3");
    let disk = LoopDevice::new(
        &dir.path().join("steady.disk"),
        FILE_SIZE as u64 + (1 << 20),
    );
    let steady_out = PathBuf::from(&disk.0);
    // Checks the device's bytes, not what it was given.
    let steady = Receiver::start_with(
        &lab,
        "steady",
        &url,
        &steady_out,
        &["--name", "steady", "--timeout", "60", "--read-back"],
    );
    let lossy_out = dir.path().join("lossy.img");
    let lossy = Receiver::start(&lab, "lossy", &url, &lossy_out, "lossy");
    let restarted_out = dir.path().join("restarted.img");
    let restarted_state = dir.path().join("restarted.img.fleetboot-receive");
    let mut first_run = Receiver::start(&lab, "restarted", &url, &restarted_out, "restarted");

    // Killed (SIGKILL: no goodbye) once its resume record holds a few chunks.
    first_run.wait_stderr("a resume record", |_| {
        chunks_recorded(&restarted_state, &url, &file) >= 3
    });
    let recorded = chunks_recorded(&restarted_state, &url, &file);
    first_run.kill();
    damage_a_recorded_chunk(&restarted_out, &restarted_state, &url, &file);
    let late_out = dir.path().join("late.img");
    let late = Receiver::start(&lab, "late", &url, &late_out, "late");
    let second_run = Receiver::start(&lab, "restarted", &url, &restarted_out, "restarted");

    let steady = steady.finish();
    let lossy = lossy.finish();
    let late = late.finish();
    let second_run = second_run.finish();
    assert!(
        worst_loss(&lossy.2) > 0.5,
        "the lossy receiver lost nothing:\n{}",
        lossy.2
    );
    // The default policy waits for slow receivers: the group repaired every one of them.
    for (who, run) in [("steady", &steady), ("lossy", &lossy), ("late", &late)] {
        assert!(
            !run.2.contains("over HTTP"),
            "{who} fell back to HTTP:\n{}",
            run.2
        );
    }
    // Whole-file hashes: taken in passing, but read back where asked (`--read-back`).
    assert!(steady.2.contains("back to check it"), "{}", steady.2);
    for (who, run) in [("lossy", &lossy), ("late", &late)] {
        assert!(!run.2.contains("back to check it"), "{who}:\n{}", run.2);
    }
    // The restarted receiver resumed, found the chunk its disk lost, and fetched only it.
    let resumed = format!("resuming with {recorded} of ");
    assert!(second_run.2.contains(&resumed), "{}", second_run.2);
    for line in [
        "fleetboot-receive: 1 chunk damaged in the output",
        "fleetboot-receive: fetching 1 chunk over HTTP",
    ] {
        assert!(second_run.2.contains(line), "{line}:\n{}", second_run.2);
    }
    assert_eq!(
        second_run.2.matches("over HTTP").count(),
        1,
        "{}",
        second_run.2
    );
    assert_received("steady", steady, &steady_out, &file);
    assert_received("lossy", lossy, &lossy_out, &file);
    assert_received("late", late, &late_out, &file);
    assert_received("restarted", second_run, &restarted_out, &file);
    assert!(
        !restarted_state.exists(),
        "the resume record outlived the copy"
    );

    // The group carried the file: the sender sent about a copy and then repairs, not one
    // copy per receiver.
    let id = url.rsplit('/').next().unwrap();
    let view: serde_json::Value =
        serde_json::from_str(&cli(&server, &["multicast", "show", id, "--json"])).unwrap();
    let sent = view["bytes_sent"].as_u64().unwrap();
    assert!(
        sent >= FILE_SIZE as u64 && sent < 2 * FILE_SIZE as u64,
        "{sent} bytes sent for {FILE_SIZE}: {view:#}"
    );
}

#[test]
fn two_receivers_rebuild_the_file_from_an_ipv6_group_one_losing_datagrams() {
    let file = random_bytes(6 << 20, 19);
    let (lab, server) = lab_with_server(&file);
    let dir = TempDir::new("multicast-v6");
    for (role, host) in [("steady", 11), ("lossy", 12)] {
        add_receiver_host(&lab, role, host);
    }
    lose_two_percent(&lab, dir.path(), "lossy", 12);
    wait_for_ipv6(&lab, "server", "fb0");
    // Site-local scope: link-local (ff12::) would also pass this one-bridge lab, but a
    // provisioning network with a router between racks needs a wider scope.
    let url = send_with(&server, "2", &["--group", "ff15::fb:70", "--port", "7070"]);
    let outputs = [dir.path().join("steady.img"), dir.path().join("lossy.img")];
    let receivers = [("steady", &outputs[0]), ("lossy", &outputs[1])]
        .map(|(role, out)| (role, Receiver::start(&lab, role, &url, out, role)));
    for ((role, receiver), out) in receivers.into_iter().zip(&outputs) {
        let run = receiver.finish();
        assert!(
            run.2.contains("from group [ff15::fb:70]:7070"),
            "{role}:\n{}",
            run.2
        );
        assert!(
            !run.2.contains("over HTTP"),
            "{role} fell back to HTTP:\n{}",
            run.2
        );
        if role == "lossy" {
            assert!(worst_loss(&run.2) > 0.5, "lossy lost nothing:\n{}", run.2);
        }
        assert_received(role, run, out, &file);
    }
}

/// `bytes` compressed by the zstd command line tool.
fn zstd(bytes: &[u8], dir: &Path, name: &str) -> Vec<u8> {
    let raw = dir.join(name);
    std::fs::write(&raw, bytes).unwrap();
    let out = run(
        Command::new("zstd").args(["-q", "-f", "--rm"]).arg(&raw),
        30,
    );
    assert!(out.status.success(), "zstd: {out:?}");
    std::fs::read(dir.join(format!("{name}.zst"))).unwrap()
}

#[test]
fn a_zstd_image_crosses_compressed_and_lands_unpacked_on_a_file_and_a_disk() {
    let dir = TempDir::new("multicast-zstd");
    // A disk image's shape: data, a long run of zeros, data. Two zstd frames, as `cat` of
    // two compressed pieces (or a parallel compressor) makes.
    let image = [
        random_bytes(3 << 20, 20),
        vec![0; 8 << 20],
        random_bytes(1 << 20, 21),
    ]
    .concat();
    let half = image.len() / 2;
    let sent = [
        zstd(&image[..half], dir.path(), "a.img"),
        zstd(&image[half..], dir.path(), "b.img"),
    ]
    .concat();
    assert!(sent.len() < image.len() * 2 / 3, "{} bytes", sent.len());
    let (lab, server) = lab_with_server(&sent);
    for (role, host) in [("file", 11), ("disk", 12)] {
        add_receiver_host(&lab, role, host);
    }
    let url = send(&server, "2");
    let manifest = run(lab.exec("file", "curl").args(["-sSf", &url]), 10);
    let manifest = String::from_utf8_lossy(&manifest.stdout);
    assert!(manifest.contains(r#""encoding":"zstd""#), "{manifest}");
    let disk = LoopDevice::new(&dir.path().join("disk.backing"), image.len() as u64 + 4096);
    let outputs = [dir.path().join("out.img"), PathBuf::from(&disk.0)];
    let receivers = [("file", &outputs[0]), ("disk", &outputs[1])]
        .map(|(role, out)| (role, Receiver::start(&lab, role, &url, out, role)));
    for ((role, receiver), out) in receivers.into_iter().zip(&outputs) {
        let (status, stdout, stderr) = receiver.finish();
        assert!(status.success(), "{role}:\n{stderr}");
        let done = format!(
            "fleetboot-receive: done {} {} bytes in ",
            sha256(&sent),
            sent.len()
        );
        let unpacked = format!("fleetboot-receive: unpacked {} bytes", image.len());
        assert!(
            stdout.starts_with(&done) && stdout.contains(&unpacked),
            "{role}: {stdout}\n{stderr}"
        );
        assert!(stderr.contains("as it arrives"), "{role}: {stderr}");
        assert!(!stderr.contains("the spool keeps"), "{role}: {stderr}");
        // The disk keeps no resume record, so its spool is freed as it is unpacked.
        assert_eq!(
            stdout.contains("(the spool held at most "),
            role == "disk",
            "{role}: {stdout}"
        );
        let got = std::fs::read(out).unwrap();
        assert!(got[..image.len()] == image[..], "{role}: not the image");
        if role == "file" {
            assert_eq!(got.len(), image.len());
            assert!(!dir.path().join("out.img.fleetboot-spool.zst").exists());
        }
    }
}

#[test]
fn a_receiver_the_group_never_reaches_fetches_the_file_over_http() {
    let file = random_bytes(2 << 20, 17);
    let (lab, server) = lab_with_server(&file);
    add_receiver_host(&lab, "deaf", 11);
    let dir = TempDir::new("multicast-deaf");
    deafen(&lab, dir.path(), "deaf");
    let url = send(&server, "1");
    let out = dir.path().join("deaf.img");
    let started = Instant::now();
    let deaf = Receiver::start(&lab, "deaf", &url, &out, "deaf").finish();
    assert!(
        deaf.2.contains("fetching the rest over HTTP"),
        "no fallback:\n{}",
        deaf.2
    );
    // Ten seconds of silence, then the file by HTTP: far inside the no-progress time-out.
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
    assert_received("deaf", deaf, &out, &file);
}

#[test]
fn a_receiver_pointed_wrong_fails_clearly() {
    let file = random_bytes(1 << 20, 16);
    let (lab, server) = lab_with_server(&file);
    add_receiver_host(&lab, "receiver", 11);
    let dir = TempDir::new("multicast-wrong");
    let url = send(&server, "1");
    let small = LoopDevice::new(&dir.path().join("small.disk"), 512 * 1024);
    let server_addr = lab.server_addr();
    let cases: [(String, PathBuf, &str); 5] = [
        (
            format!("http://{server_addr}:8080/multicast/0badf00d"),
            dir.path().join("a.img"),
            "unreachable: http status: 404",
        ),
        (
            format!("http://{server_addr}:9/multicast/1"),
            dir.path().join("b.img"),
            "unreachable",
        ),
        (
            format!("http://{server_addr}:8080/boot.ipxe"),
            dir.path().join("c.img"),
            "is not a session URL",
        ),
        (
            url.clone(),
            PathBuf::from(&small.0),
            "too small: 524288 bytes, the image has 1048576",
        ),
        (url, dir.path().to_path_buf(), "cannot open output"),
    ];
    for (url, output, reason) in cases {
        let out = run(
            lab.exec("receiver", receiver_binary().to_str().unwrap())
                .arg(&url)
                .arg("--output")
                .arg(&output),
            30,
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{url}: {stderr}");
        let last = stderr.lines().last().unwrap_or_default();
        assert!(
            last.starts_with("fleetboot-receive: error: ") && last.contains(reason),
            "{url} into {}: {stderr}",
            output.display()
        );
    }
}

#[test]
fn a_receiver_whose_server_dies_gives_up_after_its_timeout() {
    let file = random_bytes(1 << 20, 18);
    let (lab, mut server) = lab_with_server(&file);
    add_receiver_host(&lab, "orphan", 11);
    let dir = TempDir::new("multicast-orphan");
    // The session waits for two receivers; one comes, is told to wait, then the server dies.
    let url = send(&server, "2");
    let out = dir.path().join("orphan.img");
    let orphan = Receiver::start_with(&lab, "orphan", &url, &out, &["--timeout", "3"]);
    let id = url.rsplit('/').next().unwrap();
    let deadline = Instant::now() + RECEIVE_TIMEOUT;
    loop {
        let view: serde_json::Value =
            serde_json::from_str(&cli(&server, &["multicast", "show", id, "--json"])).unwrap();
        if view["receivers"].as_array().is_some_and(|r| !r.is_empty()) {
            assert_eq!(view["state"], "waiting", "{view:#}");
            break;
        }
        assert!(Instant::now() < deadline, "the receiver never reported");
        std::thread::sleep(Duration::from_millis(100));
    }
    server.kill9();
    let died = Instant::now();
    let (status, _, stderr) = orphan.finish();
    assert_eq!(status.code(), Some(1), "{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("fleetboot-receive: error: no progress for 3 s from group "),
        "{stderr}"
    );
    assert!(
        died.elapsed() < Duration::from_secs(15),
        "gave up {:?} after the server died",
        died.elapsed()
    );
}
