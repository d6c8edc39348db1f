//! Getting ISOs in and out through the admin API against a running server: multipart uploads
//! (detected, listed, in the boot menu; names checked; size cap; a cut upload leaves nothing,
//! even after a crash and restart), image edits as the boot scripts show them, delete and
//! rescan, and download jobs from a local http/https origin (progress on SSE, Range resume,
//! sha256 check, cancel).

use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use fleetboot_tests::api::{Answer, Api};
use fleetboot_tests::origin::{Origin, Pace};
use fleetboot_tests::{curl, run, sha256_file, test_iso, Server};
use serde_json::{json, Value};

/// Uploads `iso` as `name` (into `folder`) with curl's multipart form, as a user would.
fn upload(s: &Server, token: &str, iso: &Path, name: &str, folder: Option<&str>) -> Answer {
    let mut cmd = Command::new("curl");
    cmd.args([
        "-sS",
        "--max-time",
        "60",
        "-o",
        "-",
        "-w",
        "\n%{http_code}",
        "-H",
    ])
    .arg(format!("authorization: Bearer {token}"))
    .arg("-F")
    .arg(format!("file=@{};filename={name}", iso.display()));
    if let Some(f) = folder {
        cmd.arg("-F").arg(format!("folder={f}"));
    }
    let out = run(cmd.arg(format!("http://{}/api/v1/images", s.admin)), 90);
    let all = String::from_utf8_lossy(&out.stdout).into_owned();
    let (text, code) = all.rsplit_once('\n').unwrap_or(("", &all));
    Answer {
        status: code.trim().parse().unwrap_or(0),
        body: serde_json::from_str(text).unwrap_or(Value::Null),
        text: format!("{text} (curl: {})", String::from_utf8_lossy(&out.stderr)),
        headers: Vec::new(),
    }
}

/// The image `GET /api/v1/images` lists that `pick` accepts, polled for up to 60 s.
fn wait_image(s: &Server, api: &Api, what: &str, pick: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let list = api.get("/api/v1/images");
        assert_eq!(list.status, 200, "{}", list.text);
        if let Some(image) = list
            .body
            .as_array()
            .and_then(|a| a.iter().find(|i| pick(i)))
        {
            return image.clone();
        }
        assert!(Instant::now() < deadline, "never {what}:\n{}", s.log());
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Polls `check` for up to `limit`; panics with `what` when it never holds.
fn eventually(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "never {what} within {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Every file below `dir` (relative paths, sorted), hidden ones included.
fn files_below(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.push(p.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// The files in `data/isos/.incoming/`.
fn incoming(s: &Server) -> Vec<String> {
    files_below(&s.data.join("isos/.incoming"))
}

/// The boot menu, as a machine nothing is assigned to gets it (bare `/boot.ipxe` only chains
/// to itself with the machine's details).
fn menu(s: &Server) -> String {
    let menu = curl(&s.url("boot.ipxe?mac=52:54:00:00:00:99"));
    assert!(menu.contains("menu "), "not the menu: {menu}");
    menu
}

fn assert_error(answer: &Answer, status: u16, what: &str) {
    assert_eq!(answer.status, status, "{what}: {}", answer.text);
    assert!(
        answer.body["error"].is_string() && answer.body["detail"].is_string(),
        "{what}: not a JSON error: {}",
        answer.text
    );
}

fn ids(api: &Api) -> Vec<String> {
    let list = api.get("/api/v1/images");
    list.body
        .as_array()
        .unwrap_or_else(|| panic!("{}", list.text))
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn an_uploaded_iso_is_detected_listed_and_in_the_menu_and_bad_names_are_refused() {
    let s = Server::start(&[]);
    let api = s.admin_api();
    let token = api.token().unwrap().to_owned();
    let iso = test_iso("casper");

    let up = upload(&s, &token, &iso, "noble.iso", Some("linux/desktop"));
    assert_eq!(up.status, 201, "{}", up.text);
    assert_eq!(
        up.body["file"]["path"], "linux/desktop/noble.iso",
        "{}",
        up.text
    );
    assert_eq!(up.body["file"]["sha256"], sha256_file(&iso).as_str());
    assert_eq!(
        up.body["file"]["size"],
        std::fs::metadata(&iso).unwrap().len()
    );
    let image = &up.body["image"];
    assert_eq!(image["layout"], "ubuntu-desktop", "{}", up.text);
    assert_eq!(image["method"], "kernel", "{}", up.text);
    assert!(
        image["distro"]
            .as_str()
            .is_some_and(|d| d.to_lowercase().contains("ubuntu")),
        "{}",
        up.text
    );
    let id = image["id"].as_str().unwrap().to_owned();
    assert_eq!(
        sha256_file(&s.data.join("isos/linux/desktop/noble.iso")),
        sha256_file(&iso)
    );
    assert!(ids(&api).contains(&id));
    let menu = menu(&s);
    assert!(menu.contains("noble.iso"), "{menu}");
    assert!(menu.contains("desktop/"), "{menu}");

    // The same name again is a conflict; the first file is untouched.
    let again = upload(
        &s,
        &token,
        &test_iso("arch"),
        "noble.iso",
        Some("linux/desktop"),
    );
    assert_error(&again, 409, "same name");
    assert_eq!(
        sha256_file(&s.data.join("isos/linux/desktop/noble.iso")),
        sha256_file(&iso)
    );

    for (name, folder) in [
        ("../x.iso", None),
        (".hidden.iso", None),
        ("x.img", None),
        ("ok.iso", Some("../up")),
        ("ok.iso", Some(".secret")),
    ] {
        let bad = upload(&s, &token, &iso, name, folder);
        assert_error(&bad, 400, &format!("{name} in {folder:?}"));
    }
    // Only the one upload is anywhere, and no temp file stayed.
    assert_eq!(
        files_below(&s.data.join("isos")),
        ["linux/desktop/noble.iso"]
    );
    assert_eq!(ids(&api), [id]);

    // A viewer cannot upload.
    api.post(
        "/api/v1/users",
        &json!({"name": "vera", "role": "viewer", "password": "viewer-password-1"}),
    );
    let viewer = s.login("vera", "viewer-password-1");
    let refused = upload(&s, viewer.token().unwrap(), &iso, "v.iso", None);
    assert_error(&refused, 403, "viewer upload");
    let anonymous = upload(&s, "nonsense", &iso, "v.iso", None);
    assert_error(&anonymous, 401, "bad token upload");
    assert_eq!(
        files_below(&s.data.join("isos")),
        ["linux/desktop/noble.iso"]
    );
}

#[test]
fn an_upload_over_the_size_cap_is_refused_and_leaves_nothing() {
    let s = Server::start_with(|_| {}, &["--upload-max-bytes", "1000000"]);
    let api = s.admin_api();
    let iso = test_iso("casper");
    assert!(std::fs::metadata(&iso).unwrap().len() > 1_000_000);
    let answer = upload(&s, api.token().unwrap(), &iso, "big.iso", None);
    assert_error(&answer, 413, "over the cap");
    eventually("the temp file removed", Duration::from_secs(10), || {
        incoming(&s).is_empty()
    });
    assert_eq!(files_below(&s.data.join("isos")), Vec::<String>::new());
    assert!(ids(&api).is_empty());
}

/// Sends the start of an upload of `name` announcing `total` bytes, then `sent` bytes of it,
/// and returns the open connection.
fn start_upload(s: &Server, token: &str, name: &str, total: usize, sent: usize) -> TcpStream {
    let boundary = "fleetboot-test-boundary";
    let part = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    );
    let mut tcp = TcpStream::connect(s.admin).unwrap();
    let head = format!(
        "POST /api/v1/images HTTP/1.1\r\nHost: fleetboot\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {}\r\n\r\n{part}",
        part.len() + total + boundary.len() + 8
    );
    tcp.write_all(head.as_bytes()).unwrap();
    tcp.write_all(&vec![0x5a; sent]).unwrap();
    tcp.flush().unwrap();
    tcp
}

#[test]
fn an_upload_cut_mid_body_leaves_nothing_registered_nor_a_temp_file_after_a_crash() {
    let mut s = Server::start(&[]);
    let api = s.admin_api();
    let password = s.admin_password();
    let token = api.token().unwrap().to_owned();

    // The client goes away half-way: the temp file goes with the request.
    let tcp = start_upload(&s, &token, "cut.iso", 50 << 20, 4 << 20);
    eventually(
        "a temp file while the upload streams",
        Duration::from_secs(10),
        || !incoming(&s).is_empty(),
    );
    assert!(
        files_below(&s.data.join("isos"))
            .iter()
            .all(|f| f.starts_with(".incoming/")),
        "{:?}",
        files_below(&s.data.join("isos"))
    );
    drop(tcp);
    eventually("the temp file removed", Duration::from_secs(10), || {
        incoming(&s).is_empty()
    });
    assert_eq!(files_below(&s.data.join("isos")), Vec::<String>::new());
    assert!(ids(&api).is_empty());

    // The server dies mid-upload: the temp file outlives it, and the next start removes it.
    let tcp = start_upload(&s, &token, "crash.iso", 50 << 20, 4 << 20);
    eventually(
        "a temp file while the upload streams",
        Duration::from_secs(10),
        || !incoming(&s).is_empty(),
    );
    s.kill9();
    drop(tcp);
    assert!(!incoming(&s).is_empty(), "the crash left no temp file");
    let old: PathBuf = s.data.clone();
    let s2 = Server::start_with(
        |data| {
            let o = run(
                Command::new("cp").arg("-a").arg(old.join(".")).arg(data),
                30,
            );
            assert!(o.status.success(), "{o:?}");
        },
        &[],
    );
    assert!(incoming(&s2).is_empty(), "{:?}", incoming(&s2));
    assert_eq!(files_below(&s2.data.join("isos")), Vec::<String>::new());
    let api2 = s2.login("admin", &password);
    assert!(ids(&api2).is_empty());
    assert!(!menu(&s2).contains("crash.iso"));
}

/// A server with the casper test ISO as `isos/noble.iso`, and that image's id.
fn with_noble(extra: &[&str]) -> (Server, Api, String) {
    let iso = test_iso("casper");
    let s = Server::start_with(
        |data| {
            std::fs::copy(&iso, data.join("isos/noble.iso")).unwrap();
        },
        extra,
    );
    let api = s.admin_api();
    let image = wait_image(&s, &api, "noble.iso detected", |i| {
        i["path"] == "noble.iso" && i["method"] == "kernel"
    });
    let id = image["id"].as_str().unwrap().to_owned();
    (s, api, id)
}

#[test]
fn image_edits_show_in_the_menu_and_the_boot_script() {
    let (s, api, id) = with_noble(&["--boot-mac-check", "off"]);
    let me = s.url("boot.ipxe?mac=52:54:00:fb:10:01");
    let image = format!("/api/v1/images/{id}");

    let edit = api.patch(&image, &json!({"description": "lab desktop"}));
    assert_eq!(edit.status, 200, "{}", edit.text);
    assert_eq!(edit.body["description"], "lab desktop");
    assert_eq!(api.get(&image).body["description"], "lab desktop");

    // Hidden from the menu, still booted by a machine it is assigned to.
    let edit = api.patch(&image, &json!({"public": false}));
    assert_eq!(edit.body["public"], false, "{}", edit.text);
    eventually("hidden from the menu", Duration::from_secs(10), || {
        !menu(&s).contains("noble.iso")
    });
    let assign = api.patch(
        "/api/v1/clients/52:54:00:fb:10:01",
        &json!({"assigned": id}),
    );
    assert_eq!(assign.status, 200, "{}", assign.text);
    assert_eq!(assign.body["assigned"], id.as_str());
    let script = curl(&me);
    assert!(script.contains("casper/vmlinuz"), "{script}");
    assert!(!script.contains("sanboot"), "{script}");

    let edit = api.patch(&image, &json!({"method": "sanboot"}));
    assert_eq!(edit.status, 200, "{}", edit.text);
    eventually("a sanboot script", Duration::from_secs(10), || {
        let script = curl(&me);
        script.contains("sanboot") && !script.contains("casper/vmlinuz")
    });

    let edit = api.patch(
        &image,
        &json!({"method": null, "extra_args": "fleetboot.test=1"}),
    );
    assert_eq!(edit.status, 200, "{}", edit.text);
    eventually(
        "extra args on the kernel line",
        Duration::from_secs(10),
        || {
            curl(&me)
                .lines()
                .any(|l| l.starts_with("kernel ") && l.contains("fleetboot.test=1"))
        },
    );

    // null returns every edit to what was detected.
    let edit = api.patch(
        &image,
        &json!({"extra_args": null, "public": null, "description": null}),
    );
    assert_eq!(edit.status, 200, "{}", edit.text);
    assert_eq!(edit.body["public"], true, "{}", edit.text);
    assert_eq!(edit.body["description"], Value::Null, "{}", edit.text);
    eventually("back in the menu", Duration::from_secs(10), || {
        menu(&s).contains("noble.iso")
    });
    let script = curl(&me);
    assert!(!script.contains("fleetboot.test=1"), "{script}");
    assert!(script.contains("casper/vmlinuz"), "{script}");

    let bad = api.patch(&image, &json!({"method": "floppy"}));
    assert_eq!(bad.status / 100, 4, "{}", bad.text);
    let missing = api.patch("/api/v1/images/nope", &json!({"description": "x"}));
    assert_error(&missing, 404, "edit of an unknown image");
}

#[test]
fn delete_needs_file_true_and_rescan_finds_a_hand_copied_iso() {
    let (s, api, id) = with_noble(&[]);
    let image = format!("/api/v1/images/{id}");
    assert_error(&api.delete(&image), 409, "delete without file=true");
    assert!(s.data.join("isos/noble.iso").is_file());
    assert_eq!(api.get(&image).status, 200);

    let gone = api.delete(&format!("{image}?file=true"));
    assert_eq!(gone.status, 204, "{}", gone.text);
    assert!(!s.data.join("isos/noble.iso").exists());
    assert!(!ids(&api).contains(&id));
    assert_error(&api.get(&image), 404, "deleted image");
    assert!(!menu(&s).contains("noble.iso"));
    assert_error(
        &api.delete(&format!("{image}?file=true")),
        404,
        "deleted twice",
    );

    std::fs::create_dir_all(s.data.join("isos/by-hand")).unwrap();
    std::fs::copy(test_iso("arch"), s.data.join("isos/by-hand/arch.iso")).unwrap();
    let rescan = api.post("/api/v1/images/rescan", &json!({}));
    assert_eq!(rescan.status, 200, "{}", rescan.text);
    let found = rescan.body.as_array().unwrap();
    assert!(
        found.iter().any(|i| i["path"] == "by-hand/arch.iso"),
        "{}",
        rescan.text
    );
    assert!(menu(&s).contains("arch.iso"));
}

/// Polls `GET /api/v1/jobs/{id}` until the job has ended; returns it.
fn wait_job(s: &Server, api: &Api, id: u64, limit: Duration) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        let job = api.get(&format!("/api/v1/jobs/{id}"));
        assert_eq!(job.status, 200, "{}", job.text);
        if matches!(
            job.body["state"].as_str(),
            Some("done" | "failed" | "cancelled")
        ) {
            return job.body;
        }
        assert!(
            Instant::now() < deadline,
            "job {id} still {} after {limit:?}:\n{}",
            job.text,
            s.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn start_download(api: &Api, request: &Value) -> u64 {
    let started = api.post("/api/v1/images/download", request);
    assert_eq!(started.status, 202, "{}", started.text);
    assert!(
        matches!(started.body["state"].as_str(), Some("queued" | "running")),
        "{}",
        started.text
    );
    started.body["id"].as_u64().unwrap()
}

#[test]
fn a_download_job_reports_progress_on_sse_and_its_image_appears() {
    let s = Server::start(&[]);
    let api = s.admin_api();
    let iso = test_iso("arch");
    let size = std::fs::metadata(&iso).unwrap().len();
    let origin = Origin::http(
        std::fs::read(&iso).unwrap(),
        Pace::Trickle {
            chunk: 1 << 20,
            every: Duration::from_millis(150),
        },
    );
    let mut events = s.events(api.token().unwrap(), None);
    let id = start_download(
        &api,
        &json!({"url": origin.url("arch-latest.iso"), "sha256": sha256_file(&iso), "path": "net/arch.iso"}),
    );
    let job = wait_job(&s, &api, id, Duration::from_secs(60));
    assert_eq!(job["state"], "done", "{job:#}");
    assert_eq!(job["bytes_done"], size, "{job:#}");
    assert_eq!(job["path"], "net/arch.iso", "{job:#}");
    assert_eq!(job["sha256"], sha256_file(&iso).as_str(), "{job:#}");
    assert_eq!(
        sha256_file(&s.data.join("isos/net/arch.iso")),
        sha256_file(&iso)
    );
    assert!(incoming(&s).is_empty());

    // On the event stream: progress while running, then the end; the image is listed by then.
    let done = events.wait_for("job done", Duration::from_secs(10), |e| {
        e.kind == "job" && e.data["id"] == id && e.data["state"] == "done"
    });
    assert_eq!(done.data["bytes_done"], size);
    let progress: Vec<u64> = events
        .seen
        .iter()
        .filter(|e| e.kind == "job" && e.data["id"] == id && e.data["state"] == "running")
        .filter_map(|e| e.data["bytes_done"].as_u64())
        .collect();
    assert!(
        progress.iter().any(|b| *b > 0 && *b < size),
        "no progress update: {:#?}",
        events.seen
    );
    assert!(progress.windows(2).all(|w| w[0] <= w[1]), "{progress:?}");
    assert!(
        ids(&api).iter().any(|i| i.contains("arch")),
        "{:?}",
        ids(&api)
    );
    let image = wait_image(&s, &api, "the download listed", |i| {
        i["path"] == "net/arch.iso"
    });
    assert_eq!(image["layout"], "arch", "{image:#}");
    let jobs = api.get("/api/v1/jobs");
    assert!(
        jobs.body
            .as_array()
            .unwrap()
            .iter()
            .any(|j| j["id"] == id && j["state"] == "done"),
        "{}",
        jobs.text
    );
}

#[test]
fn a_dropped_https_download_resumes_with_range_using_the_ca_file() {
    let iso = test_iso("casper");
    let body = std::fs::read(&iso).unwrap();
    let origin = Origin::https(body, Pace::CutFirstAfter(3 << 20));
    let ca = std::env::temp_dir().join(format!("fleetboot-api-ca-{}.pem", std::process::id()));
    std::fs::write(&ca, origin.ca_pem.as_deref().unwrap()).unwrap();
    let s = Server::start_with(|_| {}, &["--ca-file", ca.to_str().unwrap()]);
    let api = s.admin_api();
    let id = start_download(
        &api,
        &json!({"url": origin.url("noble.iso"), "sha256": sha256_file(&iso)}),
    );
    let job = wait_job(&s, &api, id, Duration::from_secs(60));
    let _ = std::fs::remove_file(&ca);
    assert_eq!(job["state"], "done", "{job:#}");
    assert_eq!(job["path"], "noble.iso", "{job:#}");
    assert_eq!(
        sha256_file(&s.data.join("isos/noble.iso")),
        sha256_file(&iso)
    );
    let ranges = origin.ranges.lock().unwrap().clone();
    assert_eq!(ranges.first(), Some(&None), "{ranges:?}");
    assert!(
        ranges.iter().skip(1).any(|r| r
            .as_deref()
            .is_some_and(|r| r.starts_with("bytes=") && r != "bytes=0-")),
        "no resume: {ranges:?}"
    );
    wait_image(&s, &api, "the https download listed", |i| {
        i["path"] == "noble.iso" && i["layout"] == "ubuntu-desktop"
    });
    // The name is taken now: a second download there is refused before it starts.
    let again = api.post(
        "/api/v1/images/download",
        &json!({"url": origin.url("noble.iso")}),
    );
    assert_error(&again, 409, "download onto an existing ISO");
}

#[test]
fn a_wrong_sha256_fails_and_a_cancelled_download_leaves_no_file() {
    let s = Server::start(&[]);
    let api = s.admin_api();
    let iso = test_iso("arch");
    let origin = Origin::http(std::fs::read(&iso).unwrap(), Pace::Full);
    let id = start_download(
        &api,
        &json!({"url": origin.url("arch.iso"), "sha256": "00".repeat(32)}),
    );
    let job = wait_job(&s, &api, id, Duration::from_secs(60));
    assert_eq!(job["state"], "failed", "{job:#}");
    assert!(
        job["error"]
            .as_str()
            .is_some_and(|e| e.contains("sha") || e.contains("SHA")),
        "{job:#}"
    );
    assert!(!s.data.join("isos/arch.iso").exists());
    assert!(incoming(&s).is_empty(), "{:?}", incoming(&s));

    let bad = api.post(
        "/api/v1/images/download",
        &json!({"url": origin.url("x.iso"), "sha256": "not-hex"}),
    );
    assert_error(&bad, 400, "bad sha256");
    let bad = api.post(
        "/api/v1/images/download",
        &json!({"url": "ftp://example.com/x.iso"}),
    );
    assert_error(&bad, 400, "ftp URL");

    let slow = Origin::http(
        std::fs::read(&iso).unwrap(),
        Pace::Trickle {
            chunk: 1024,
            every: Duration::from_millis(50),
        },
    );
    let id = start_download(&api, &json!({"url": slow.url("slow.iso")}));
    eventually("the slow download writing", Duration::from_secs(10), || {
        api.get(&format!("/api/v1/jobs/{id}")).body["bytes_done"]
            .as_u64()
            .is_some_and(|b| b > 0)
    });
    assert!(!incoming(&s).is_empty(), "no temp file while downloading");
    let cancel = api.delete(&format!("/api/v1/jobs/{id}"));
    assert_eq!(cancel.status, 200, "{}", cancel.text);
    let job = wait_job(&s, &api, id, Duration::from_secs(10));
    assert_eq!(job["state"], "cancelled", "{job:#}");
    eventually("the partial file removed", Duration::from_secs(10), || {
        incoming(&s).is_empty()
    });
    assert_eq!(files_below(&s.data.join("isos")), Vec::<String>::new());
    assert!(ids(&api).is_empty());
    assert_error(&api.get("/api/v1/jobs/999999"), 404, "unknown job");
}
