//! Multicast sessions through the admin API and the CLI against a real server running in a
//! network namespace of the test's own, linked to a receiver namespace: who may start,
//! list, show and cancel; paths escaping the data dir refused; the manifest on the boot port
//! with the file's SHA-256 and every chunk's XXH3; reports answered (and malformed ones refused
//! with 400); `/data` ranges byte-exact; and a socket joined to the group in the receiver's
//! namespace gets every source symbol of the file.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use fleetboot_tests::api::Api;
use fleetboot_tests::mcast::{self, Link};
use fleetboot_tests::{cli, random_bytes, run, sha256, Server};
use multicast::{chunk_hash, hex, Geometry, Manifest, ReportAnswer, SessionState};

/// Two chunks and a bit.
const SIZE: usize = 2 * 1344 * 512 + 777;

/// A server in `link`'s sender namespace, its boot HTTP port on every address (so manifest
/// URLs name the link's address), `files/disk.img` in its data dir.
fn start(link: &Link, data: &[u8]) -> Server {
    Server::start_in_netns(
        &link.sender.0,
        |d| std::fs::write(d.join("files/disk.img"), data).unwrap(),
        &["--http-listen", "0.0.0.0:0"],
    )
}

fn agent() -> ureq::Agent {
    ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .build(),
    )
}

/// `GET url` with extra headers: status, body, headers.
fn get(url: &str, headers: &[(&str, &str)]) -> (u16, Vec<u8>, ureq::http::HeaderMap) {
    let mut request = agent().get(url);
    for (n, v) in headers {
        request = request.header(*n, *v);
    }
    let mut response = request.call().unwrap();
    let status = response.status().as_u16();
    let head = response.headers().clone();
    (status, response.body_mut().read_to_vec().unwrap(), head)
}

/// `POST url` with `body`: status and text.
fn post(url: &str, body: &str) -> (u16, String) {
    let mut response = agent()
        .post(url)
        .header("content-type", "application/json")
        .send(body)
        .unwrap();
    let status = response.status().as_u16();
    (status, response.body_mut().read_to_string().unwrap())
}

/// Polls the session until `done` says so (bounded).
fn wait_for(admin: &Api, id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let view = admin.get(&format!("/api/v1/multicast/{id}")).body;
        if done(&view) {
            return view;
        }
        assert!(Instant::now() < deadline, "{what}: {view}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn admins_start_list_show_and_cancel_viewers_read_and_strangers_get_nothing() {
    let link = Link::new();
    let s = start(&link, &random_bytes(SIZE, 1));
    mcast::inside(&link.sender, || {
        let admin = s.admin_api();
        let created = admin.post(
            "/api/v1/users",
            &json!({"name": "v", "role": "viewer", "password": "v-secret-1"}),
        );
        assert_eq!(created.status, 201, "{}", created.text);
        let viewer = s.login("v", "v-secret-1");
        let spec = json!({"path": "files/disk.img", "interface": link.sender_if,
                          "group": "239.255.70.3", "port": 7030, "min_receivers": 5});
        assert_eq!(s.anonymous().post("/api/v1/multicast", &spec).status, 401);
        assert_eq!(s.anonymous().get("/api/v1/multicast").status, 401);
        let refused = viewer.post("/api/v1/multicast", &spec);
        assert_eq!(refused.status, 403, "{}", refused.text);
        assert_eq!(viewer.get("/api/v1/multicast").body, json!([]));

        // Anything but a file inside the data dir is refused, and says why.
        for path in [
            "../fleetboot.redb",
            "/etc/passwd",
            "files/../../x",
            "files/none.img",
        ] {
            let bad = admin.post(
                "/api/v1/multicast",
                &json!({"path": path, "interface": "lo"}),
            );
            assert_eq!(bad.status, 400, "{path}: {}", bad.text);
            assert!(
                bad.body["detail"].as_str().unwrap().contains(path),
                "{}",
                bad.text
            );
        }
        let mut unicast_group = spec.clone();
        unicast_group["group"] = json!("10.0.0.1");
        let bad = admin.post("/api/v1/multicast", &unicast_group);
        assert_eq!(bad.status, 400, "{}", bad.text);
        let mut no_such_if = spec.clone();
        no_such_if["interface"] = json!("nope0");
        assert_eq!(admin.post("/api/v1/multicast", &no_such_if).status, 400);

        let started = admin.post("/api/v1/multicast", &spec);
        assert_eq!(started.status, 201, "{}", started.text);
        let id = started.body["id"].as_str().unwrap().to_owned();
        assert_eq!(id.len(), 8);
        let port = s.http.port();
        assert_eq!(
            started.body["url"],
            format!("http://{}:{port}/multicast/{id}", link.sender_v4)
        );
        assert_eq!(started.body["path"], "files/disk.img");
        assert_eq!(started.body["interface"], link.sender_if);
        assert!(["preparing", "waiting"].contains(&started.body["state"].as_str().unwrap()));
        let listed = viewer.get("/api/v1/multicast").body;
        assert_eq!(listed[0]["id"], id.as_str());
        let shown = wait_for(&admin, &id, "waiting", |v| v["state"] == "waiting");
        assert_eq!(shown["size"], SIZE);
        assert_eq!(shown["min_receivers"], 5);
        assert_eq!(viewer.get(&format!("/api/v1/multicast/{id}")).status, 200);
        assert_eq!(admin.get("/api/v1/multicast/0badc0de").status, 404);
        assert_eq!(
            viewer.delete(&format!("/api/v1/multicast/{id}")).status,
            403
        );
        let cancelled = admin.delete(&format!("/api/v1/multicast/{id}"));
        assert_eq!(cancelled.status, 200, "{}", cancelled.text);
        assert_eq!(cancelled.body["state"], "cancelled");
        assert_eq!(admin.delete("/api/v1/multicast/0badc0de").status, 404);
    });

    // The CLI, over the control socket: send prints the URL; list, show, cancel.
    let url = cli(
        &s,
        &[
            "multicast",
            "send",
            "files/disk.img",
            "--interface",
            link.sender_if,
            "--group",
            "239.255.70.4",
            "--port",
            "7040",
        ],
    );
    let id = url.trim().rsplit('/').next().unwrap().to_owned();
    assert!(
        url.starts_with(&format!("http://{}:", link.sender_v4)),
        "{url}"
    );
    assert!(cli(&s, &["multicast", "list"]).contains(&id));
    let shown = cli(&s, &["multicast", "show", &id]);
    assert!(shown.contains("239.255.70.4:7040 via mcs0"), "{shown}");
    assert!(cli(&s, &["multicast", "cancel", &id]).contains("cancelled"));
    let outside = run(
        std::process::Command::new(fleetboot_tests::binary())
            .args(["multicast", "send", "/etc/hostname", "--data-dir"])
            .arg(&s.data),
        10,
    );
    assert!(!outside.status.success());
    let stderr = String::from_utf8_lossy(&outside.stderr);
    assert!(stderr.contains("not inside the data dir"), "{stderr}");
}

#[test]
fn a_session_sends_the_file_to_the_group_and_serves_manifest_reports_and_data() {
    let link = Link::new();
    let data = random_bytes(SIZE, 2);
    let s = start(&link, &data);
    let group: SocketAddr = "239.255.70.5:7050".parse().unwrap();
    let receiver = mcast::receive(
        &link.receiver,
        link.receiver_if,
        group,
        Duration::from_secs(60),
    );
    let geometry = Geometry::for_size(SIZE as u64);
    let id = mcast::inside(&link.sender, || {
        let admin = s.admin_api();
        let spec = json!({"path": "files/disk.img", "interface": link.sender_if,
                          "group": "239.255.70.5", "port": 7050, "rate_mbit": 100,
                          "min_receivers": 1, "max_wait_secs": 60});
        let started = admin.post("/api/v1/multicast", &spec);
        assert_eq!(started.status, 201, "{}", started.text);
        let id = started.body["id"].as_str().unwrap().to_owned();
        let manifest_url = started.body["url"].as_str().unwrap().to_owned();
        wait_for(&admin, &id, "announced", |v| v["state"] != "preparing");

        // The manifest: the file's hash and every chunk's.
        let (status, body, head) = get(&manifest_url, &[]);
        assert_eq!(status, 200);
        assert_eq!(head["content-type"], "application/json");
        let manifest: Manifest = serde_json::from_slice(&body).unwrap();
        assert_eq!(format!("{:08x}", manifest.session), id);
        assert_eq!(manifest.sha256, sha256(&data));
        assert_eq!(manifest.geometry, geometry);
        assert_eq!(
            (manifest.group.as_str(), manifest.port),
            ("239.255.70.5", 7050)
        );
        assert_eq!(manifest.state, SessionState::Waiting);
        let chunks: Vec<String> = (0..geometry.chunks())
            .map(|c| {
                let r = geometry.chunk_range(c);
                hex::encode(&chunk_hash(&data[r.start as usize..r.end as usize]))
            })
            .collect();
        assert_eq!(manifest.chunk_xxh3, chunks);
        let base = format!("http://{}:{}/multicast", link.sender_v4, s.http.port());
        assert_eq!(get(&format!("{base}/0badc0de"), &[]).0, 404);

        // Reports: malformed ones are refused with a reason, a good one is answered.
        let report_url = format!("{manifest_url}/report");
        for bad in [
            "{not json",
            r#"{"receiver":"r1","chunks_done":0,"needs":[{"first":0,"last":9,"symbols":1}],"loss":0.0,"verdict":"receiving"}"#,
            r#"{"receiver":"","chunks_done":0,"needs":[],"loss":0.0,"verdict":"receiving"}"#,
            r#"{"receiver":"r1","chunks_done":0,"needs":[],"loss":7,"verdict":"receiving"}"#,
        ] {
            let (status, why) = post(&report_url, bad);
            assert_eq!(status, 400, "{bad}: {why}");
            assert!(!why.trim().is_empty());
        }
        assert_eq!(post(&format!("{base}/0badc0de/report"), "{}").0, 404);
        let all = geometry.chunks() - 1;
        let report = json!({"receiver": "r1", "chunks_done": 0, "loss": 0.0,
            "needs": [{"first": 0, "last": all, "symbols": 512}], "verdict": "receiving"});
        let (status, answer) = post(&report_url, &report.to_string());
        assert_eq!(status, 200, "{answer}");
        let answer: ReportAnswer = serde_json::from_str(&answer).unwrap();
        assert_eq!(answer.rate_mbit, 100);
        assert!(!answer.unicast);

        // One receiver was the minimum: the first round goes out; then r1 says it is done.
        let source = u64::from(geometry.chunks() - 1) * 512 + u64::from(geometry.source_symbols(2));
        wait_for(&admin, &id, "first round", |v| {
            v["datagrams_sent"].as_u64().unwrap() >= source
        });
        let done = json!({"receiver": "r1", "chunks_done": all + 1, "loss": 0.0,
                          "needs": [], "verdict": "done"});
        assert_eq!(post(&report_url, &done.to_string()).0, 200);
        let over = wait_for(&admin, &id, "finished", |v| v["state"] == "finished");
        assert_eq!(over["receivers"][0]["name"], "r1");
        assert_eq!(over["receivers"][0]["verdict"], "done");

        // /data: the file, ranges byte-exact, after the session too.
        let data_url = format!("{manifest_url}/data");
        let (status, body, _) = get(&data_url, &[]);
        assert_eq!((status, body.len()), (200, SIZE));
        assert!(body == data);
        for (range, start, end) in [
            ("bytes=100-1099", 100, 1100),
            ("bytes=-777", SIZE - 777, SIZE),
            ("bytes=688128-", 688_128, SIZE),
        ] {
            let (status, body, head) = get(&data_url, &[("range", range)]);
            assert_eq!(status, 206, "{range}");
            assert_eq!(body, &data[start..end], "{range}");
            let want = format!("bytes {start}-{}/{SIZE}", end - 1);
            assert_eq!(head["content-range"], want.as_str());
        }
        // Counters reach the metrics.
        let metrics = admin.get("/metrics").text;
        let sent = metrics
            .lines()
            .find_map(|l| l.strip_prefix("fleetboot_multicast_datagrams_total "))
            .unwrap_or_else(|| panic!("{metrics}"));
        assert!(sent.parse::<u64>().unwrap() >= source);
        id
    });

    let got = receiver.join().unwrap();
    assert_eq!(got.session.map(|n| format!("{n:08x}")), Some(id));
    for chunk in 0..geometry.chunks() {
        for esi in 0..u32::from(geometry.source_symbols(chunk)) {
            let range = geometry.symbol_range(chunk, esi);
            let payload = got
                .symbols
                .get(&(chunk, esi))
                .unwrap_or_else(|| panic!("symbol {chunk}/{esi} missing"));
            let bytes = &data[range.start as usize..range.end as usize];
            assert_eq!(&payload[..bytes.len()], bytes, "symbol {chunk}/{esi}");
        }
    }
    assert_eq!(got.counts[2], 1, "End");
}
