//! Shared test harness: starts a real `fleetboot serve` on loopback with ephemeral ports and a
//! throw-away data dir, runs real clients (tftp-hpa, atftp, curl) with time limits, and
//! cleans up. The driver under test comes from `FLEETBOOT_TEST_DRIVER` (io-uring | epoll).

pub mod api;
pub mod disk;
pub mod lab;
pub mod mcast;
pub mod netns;
pub mod origin;
pub mod sse;

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// The `fleetboot` binary: `FLEETBOOT_BIN`, else `target/<profile>/fleetboot` beside the tests.
pub fn binary() -> PathBuf {
    if let Some(p) = std::env::var_os("FLEETBOOT_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>");
    let bin = profile_dir.join("fleetboot");
    assert!(
        bin.is_file(),
        "{} missing: run `cargo build -p controlplane` first",
        bin.display()
    );
    bin
}

/// A load generator from `bench/` (`cargo build --workspace` puts it beside `fleetboot`).
pub fn bench_binary(name: &str) -> PathBuf {
    let bin = binary().with_file_name(name);
    assert!(
        bin.is_file(),
        "{} missing: run `cargo build -p bench --bins` first",
        bin.display()
    );
    bin
}

/// `tools/build-test-isos.sh` output (built once, cached under `target/test-assets/`): the path
/// of `<layout>.iso`.
pub fn test_iso(layout: &str) -> PathBuf {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = repo.join("target/test-assets/iso-layouts");
    let o = run(
        Command::new(repo.join("tools/build-test-isos.sh")).arg(&out),
        900,
    );
    assert!(
        o.status.success(),
        "tools/build-test-isos.sh (needs `tools/setup.sh test`): {}",
        String::from_utf8_lossy(&o.stderr)
    );
    out.join(format!("{layout}.iso"))
}

/// The first image `images list --json` shows that `pick` accepts, polled for up to 60 s;
/// panics with `what` and the server log when none comes.
pub fn wait_for_image(
    s: &Server,
    what: &str,
    pick: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let o = run(
            Command::new(binary())
                .args(["images", "list", "--json", "--data-dir"])
                .arg(&s.data),
            30,
        );
        let images: Option<Vec<serde_json::Value>> = serde_json::from_slice(&o.stdout).ok();
        if let Some(image) = images.and_then(|i| i.into_iter().find(&pick)) {
            return image;
        }
        assert!(Instant::now() < deadline, "never {what}:\n{}", s.log());
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A tiny ISO with an Ubuntu-like (casper) layout, built by xorriso as `isos/<folder>/<name>`
/// in `data` (the source tree goes beside `data`).
pub fn casper_like_iso(data: &Path, folder: &str, name: &str) {
    let tree = data.parent().unwrap().join(format!("tree-{name}"));
    std::fs::create_dir_all(tree.join("casper")).unwrap();
    std::fs::create_dir_all(tree.join(".disk")).unwrap();
    std::fs::write(tree.join("casper/vmlinuz"), format!("kernel of {name}")).unwrap();
    std::fs::write(tree.join("casper/initrd"), "initrd").unwrap();
    std::fs::write(tree.join("casper/filesystem.squashfs"), "squash").unwrap();
    std::fs::write(tree.join(".disk/info"), "Ubuntu 24.04 LTS \"Noble\"").unwrap();
    let dir = data.join("isos").join(folder);
    std::fs::create_dir_all(&dir).unwrap();
    let out = run(
        Command::new("xorriso")
            .args(["-as", "mkisofs", "-R", "-J", "-V", "TEST", "-o"])
            .arg(dir.join(name))
            .arg(&tree),
        60,
    );
    assert!(out.status.success(), "xorriso: {out:?}");
}

/// The body of a successful `curl -sSf url`.
pub fn curl(url: &str) -> String {
    let out = run(Command::new("curl").args(["-sSf", url]), 10);
    assert!(out.status.success(), "curl {url}: {:?}", out);
    String::from_utf8(out.stdout).unwrap()
}

/// The stdout of `fleetboot ARGS --data-dir <s's data>`, which must succeed.
pub fn cli(s: &Server, args: &[&str]) -> String {
    let out = run(
        Command::new(binary())
            .args(args)
            .arg("--data-dir")
            .arg(&s.data),
        10,
    );
    assert!(out.status.success(), "fleetboot {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// The driver the suite runs on.
pub fn driver() -> String {
    std::env::var("FLEETBOOT_TEST_DRIVER").unwrap_or_else(|_| "io-uring".into())
}

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates `fleetboot-<tag>-<pid>-<n>`.
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "fleetboot-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    /// The path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running server.
pub struct Server {
    child: Option<Child>,
    /// Data dir (inside `dir`).
    pub data: PathBuf,
    /// Scratch space for clients' downloads.
    pub scratch: PathBuf,
    /// TFTP address.
    pub tftp: SocketAddr,
    /// HTTP address.
    pub http: SocketAddr,
    /// Admin address.
    pub admin: SocketAddr,
    /// What the server printed on stdout before its ready line (the first start's admin
    /// password).
    pub startup: Vec<String>,
    /// proxyDHCP address (port 67), when on.
    pub dhcp: Option<SocketAddr>,
    /// PXE boot-server address (port 4011), when on.
    pub pxe: Option<SocketAddr>,
    netns: Option<String>,
    log: PathBuf,
    dir: TempDir,
}

/// Flags the harness sets unless a test passes its own: loopback with ephemeral ports, and no
/// proxyDHCP (its ports are privileged and shared by the whole host).
const DEFAULT_FLAGS: [(&str, &str); 5] = [
    ("--tftp-listen", "127.0.0.1:0"),
    ("--http-listen", "127.0.0.1:0"),
    ("--admin-listen", "127.0.0.1:0"),
    ("--dhcp-mode", "off"),
    ("--cores", "2"),
];

impl Server {
    /// Starts a server on `data` prepared by `prepare` (called with the data dir before start),
    /// with extra flags.
    pub fn start_with(prepare: impl FnOnce(&Path), extra: &[&str]) -> Server {
        Server::launch(Command::new(binary()), None, prepare, extra)
    }

    /// Like [`Server::start_with`], inside the network namespace `netns`: its clients
    /// ([`Server::command`], [`Server::tftp_get`]) run there too.
    pub fn start_in_netns(netns: &str, prepare: impl FnOnce(&Path), extra: &[&str]) -> Server {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", netns]).arg(binary());
        Server::launch(cmd, Some(netns.to_string()), prepare, extra)
    }

    /// Runs `cmd` (the fleetboot binary, possibly behind a prefix) as `serve`.
    fn launch(
        mut cmd: Command,
        netns: Option<String>,
        prepare: impl FnOnce(&Path),
        extra: &[&str],
    ) -> Server {
        let dir = TempDir::new("srv");
        let data = dir.path().join("data");
        let scratch = dir.path().join("scratch");
        std::fs::create_dir_all(data.join("files")).unwrap();
        std::fs::create_dir_all(data.join("isos")).unwrap();
        std::fs::create_dir_all(&scratch).unwrap();
        prepare(&data);
        let log = dir.path().join("server.log");
        cmd.args(["serve", "--data-dir"]).arg(&data);
        for (flag, value) in DEFAULT_FLAGS {
            if !extra.contains(&flag) {
                cmd.args([flag, value]);
            }
        }
        let mut child = cmd
            .args(["--scan-interval-ms", "200", "--driver", &driver()])
            .args(extra)
            .env("FLEETBOOT_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("spawn fleetboot");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut startup = Vec::new();
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.starts_with("fleetboot ready") {
                    let _ = tx.send((std::mem::take(&mut startup), line));
                } else {
                    startup.push(line);
                }
            }
        });
        let (startup, ready) = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(lines) => lines,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "server did not start:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
        };
        // The suite must really run on the driver it names (no silent fallback).
        let want = driver().replace('-', "_");
        assert!(
            ready.contains(&format!("driver={want}")),
            "asked for {want}: {ready}"
        );
        let value = |name: &str| {
            ready
                .split_whitespace()
                .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
        };
        let field = |name: &str| -> SocketAddr {
            value(name)
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("no {name} in {ready:?}"))
        };
        // A listener that may be "off" (or absent on a server without it).
        let optional = |name: &str| -> Option<SocketAddr> {
            let v = value(name).filter(|v| *v != "off")?;
            Some(
                v.parse()
                    .unwrap_or_else(|_| panic!("bad {name} in {ready:?}")),
            )
        };
        Server {
            tftp: field("tftp"),
            http: field("http"),
            admin: field("admin"),
            startup,
            dhcp: optional("dhcp"),
            pxe: optional("pxe"),
            child: Some(child),
            netns,
            data,
            scratch,
            log,
            dir,
        }
    }

    /// Starts a server whose `files/` holds `files` (name, bytes).
    pub fn start(files: &[(&str, &[u8])]) -> Server {
        Server::start_with(
            |data| {
                for (name, bytes) in files {
                    let p = data.join("files").join(name);
                    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                    std::fs::write(p, bytes).unwrap();
                }
            },
            &[],
        )
    }

    /// `http://127.0.0.1:PORT/<path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}/{}", self.http, path.trim_start_matches('/'))
    }

    /// A tftp-hpa command fetching `remote` into `local` in `mode` ("binary" or "netascii").
    pub fn tftp_get(&self, mode: &str, remote: &str, local: &Path) -> Command {
        let mut cmd = Command::new("tftp");
        cmd.args([
            "-m",
            mode,
            "127.0.0.1",
            &self.tftp.port().to_string(),
            "-c",
            "get",
            remote,
        ])
        .arg(local);
        cmd
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A command running `program` where the server runs (its network namespace, if any).
    pub fn command(&self, program: &str) -> Command {
        match &self.netns {
            Some(ns) => {
                let mut cmd = Command::new("ip");
                cmd.args(["netns", "exec", ns, program]);
                cmd
            }
            None => Command::new(program),
        }
    }

    /// The counters (`/api/v1/status`), asked over the control socket (no login needed).
    pub fn status(&self) -> String {
        let socket = self.data.join("control.sock");
        let out = run(
            self.command("curl").args([
                "-sS",
                "--max-time",
                "5",
                "--unix-socket",
                socket.to_str().unwrap(),
                "http://localhost/api/v1/status",
            ]),
            10,
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A numeric field of [`Server::status`].
    pub fn status_number(&self, key: &str) -> u64 {
        let body = self.status();
        let pat = format!("\"{key}\":");
        let start = body
            .find(&pat)
            .unwrap_or_else(|| panic!("{key} not in {body}"))
            + pat.len();
        body[start..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse()
            .unwrap()
    }

    /// Waits (bounded by `limit`) until the status number `key` is `want`; returns how
    /// long that took. Panics with the status body if it never is.
    pub fn wait_for_status(&self, key: &str, want: u64, limit: Duration) -> Duration {
        let start = Instant::now();
        while self.status_number(key) != want && start.elapsed() < limit {
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(
            self.status_number(key),
            want,
            "{key} after {limit:?}: {}",
            self.status()
        );
        start.elapsed()
    }

    /// Sends SIGTERM and waits (bounded) for exit; returns the exit status code.
    pub fn stop(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        // SAFETY-free: kill(2) via the `kill` command keeps the tests free of unsafe.
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    /// Kills the server with SIGKILL (no clean shutdown) and reaps it.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the server (SIGTERM, or `kill9` first for a crash) and starts a new one on the
    /// same data dir with `extra` flags.
    pub fn restart(mut self, extra: &[&str]) -> Server {
        self.stop();
        let keep = TempDir::new("keep");
        let moved = keep.path().join("data");
        std::fs::rename(&self.data, &moved).unwrap();
        drop(self);
        Server::start_with(
            |data| {
                std::fs::remove_dir_all(data).unwrap();
                std::fs::rename(&moved, data).unwrap();
            },
            extra,
        )
    }

    /// How many descriptors the server process holds open now.
    pub fn open_fds(&self) -> usize {
        let pid = self.child.as_ref().expect("server running").id();
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .map(|dir| dir.count())
            .unwrap_or(0)
    }

    /// The server's resident memory now, in bytes (VmRSS).
    pub fn rss_bytes(&self) -> u64 {
        let pid = self.child.as_ref().expect("server running").id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kib| kib * 1024)
    }

    /// Keeps the temp dir alive for as long as the server.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// One raw TFTP RRQ with options, as firmware sends it.
pub fn rrq(name: &str, mode: &str, options: &[(&str, &str)]) -> Vec<u8> {
    let mut p = vec![0, 1];
    for field in [name, mode]
        .into_iter()
        .chain(options.iter().flat_map(|(k, v)| [*k, *v]))
    {
        p.extend_from_slice(field.as_bytes());
        p.push(0);
    }
    p
}

/// Runs a command with a hard time limit (seconds); returns its output.
pub fn run(cmd: &mut Command, limit_secs: u64) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = stdout.read_to_end(&mut v);
        v
    });
    let err_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = stderr.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + Duration::from_secs(limit_secs);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let s = child.wait().unwrap();
            eprintln!("command timed out after {limit_secs}s: {cmd:?}");
            break s;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Output {
        status,
        stdout: out_reader.join().unwrap(),
        stderr: err_reader.join().unwrap(),
    }
}

/// Deterministic pseudo-random bytes (xorshift64*), so failures reproduce.
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// SHA-256 of bytes, hex.
pub fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// SHA-256 of a file, hex.
pub fn sha256_file(path: &Path) -> String {
    sha256(&std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display())))
}
