//! Deploys through the admin API and the CLI against a real server: who may read and write,
//! what a create is refused for (unknown machine, image outside the data dir, bad disk, no
//! agent), and a deploy's life: created with its session, listed, shown, its machines booting
//! the agent with the deploy's orders, a machine's callbacks, cancelled (machines back to
//! what they booted before).

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use fleetboot_tests::api::Api;
use fleetboot_tests::mcast::{self, Link};
use fleetboot_tests::{cli, curl, run, Server};

const MAC_A: &str = "52:54:00:de:00:0a";
const MAC_B: &str = "52:54:00:de:00:0b";

/// The data dir: a small image in `disks/`, and, if `agent`, a (dummy) agent.
fn prepare(data: &Path, agent: bool) {
    std::fs::create_dir_all(data.join("disks")).unwrap();
    std::fs::write(data.join("disks/a.img"), vec![7u8; 100_000]).unwrap();
    if agent {
        std::fs::create_dir_all(data.join("agent")).unwrap();
        std::fs::write(data.join("agent/vmlinuz"), b"kernel").unwrap();
        std::fs::write(data.join("agent/initrd.img"), b"initrd").unwrap();
    }
    // Outside the data dir, reachable by `..` and by a link.
    std::fs::write(data.join("../outside.img"), b"secret").unwrap();
    std::os::unix::fs::symlink("../../outside.img", data.join("disks/link.img")).unwrap();
}

/// A server on loopback: nothing in these tests gets as far as sending to a group.
fn start(agent: bool) -> Server {
    Server::start_with(|data| prepare(data, agent), &["--boot-mac-check", "off"])
}

/// Records the machines (a deploy takes known machines only).
fn name_machines(admin: &Api) {
    for (mac, name) in [(MAC_A, "a"), (MAC_B, "b")] {
        let r = admin.patch(&format!("/api/v1/clients/{mac}"), &json!({ "name": name }));
        assert_eq!(r.status, 200, "{}", r.text);
    }
}

fn refused(admin: &Api, body: Value, status: u16, words: &str) {
    let r = admin.post("/api/v1/deploys", &body);
    assert_eq!(r.status, status, "{body}: {}", r.text);
    let detail = r.body["detail"].as_str().unwrap_or_default();
    assert!(detail.contains(words), "{words:?} not in {detail:?}");
}

#[test]
fn only_admins_deploy_and_bad_requests_are_refused_with_reasons() {
    let s = start(true);
    let admin = s.admin_api();
    name_machines(&admin);
    assert_eq!(s.anonymous().get("/api/v1/deploys").status, 401);
    let create = json!({ "image": "disks/a.img", "clients": [MAC_A] });
    assert_eq!(s.anonymous().post("/api/v1/deploys", &create).status, 401);
    let r = admin.post(
        "/api/v1/users",
        &json!({ "name": "vic", "role": "viewer", "password": "viewer-pw" }),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let viewer = s.login("vic", "viewer-pw");
    assert_eq!(viewer.get("/api/v1/deploys").status, 200);
    assert_eq!(viewer.post("/api/v1/deploys", &create).status, 403);
    assert_eq!(viewer.delete("/api/v1/deploys/1").status, 403);

    refused(
        &admin,
        json!({ "image": "disks/a.img", "clients": ["52:54:00:de:00:99"] }),
        400,
        "no client 52:54:00:de:00:99",
    );
    refused(
        &admin,
        json!({ "image": "disks/a.img", "clients": ["not-a-mac"] }),
        400,
        "not-a-mac",
    );
    refused(
        &admin,
        json!({ "image": "disks/a.img" }),
        400,
        "either clients (MACs) or group",
    );
    refused(
        &admin,
        json!({ "image": "disks/a.img", "group": "nobody" }),
        400,
        "group \"nobody\" has no members",
    );
    for outside in ["../outside.img", "/etc/passwd", "disks/link.img"] {
        refused(
            &admin,
            json!({ "image": outside, "clients": [MAC_A] }),
            400,
            &format!("{outside:?} is not a file inside the data dir"),
        );
    }
    refused(
        &admin,
        json!({ "image": "disks/none.img", "clients": [MAC_A] }),
        400,
        "\"disks/none.img\" in the data dir",
    );
    refused(
        &admin,
        json!({ "image": "disks", "clients": [MAC_A] }),
        400,
        "not a regular file",
    );
    refused(
        &admin,
        json!({ "image": "disks/a.img", "clients": [MAC_A], "disk": "/dev/sda quiet" }),
        400,
        "a device path",
    );
    refused(
        &admin,
        json!({ "image": "disks/a.img", "clients": [MAC_A], "surprise": 1 }),
        400,
        "surprise",
    );
    // Nothing was created, and nobody boots an agent.
    assert_eq!(admin.get("/api/v1/deploys").body, json!([]));
    assert_eq!(admin.get("/api/v1/deploys/1").status, 404);
    assert_eq!(admin.get("/api/v1/deploys/x").status, 400);
    assert_eq!(admin.delete("/api/v1/deploys/1").status, 404);
    let script = curl(&s.url(&format!("boot.ipxe?mac={MAC_A}")));
    assert!(!script.contains("fleetboot.manifest"), "{script}");
}

#[test]
fn without_the_agent_a_deploy_is_refused_with_the_command_that_builds_it() {
    let s = start(false);
    let admin = s.admin_api();
    name_machines(&admin);
    refused(
        &admin,
        json!({ "image": "disks/a.img", "clients": [MAC_A] }),
        409,
        "tools/build-deploy-agent.sh",
    );
    assert!(s.log().contains("deploy refused"), "{}", s.log());
    let o = fleetboot_tests::run(
        std::process::Command::new(fleetboot_tests::binary())
            .args([
                "deploy",
                "create",
                "disks/a.img",
                "--clients",
                MAC_A,
                "--data-dir",
            ])
            .arg(&s.data),
        30,
    );
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("deploy agent is not installed"), "{err}");
    assert!(cli(&s, &["deploy", "list"]).lines().count() == 1);
}

/// `curl -X POST url -d body` where the server runs; the status.
fn boot_post(s: &Server, url: &str, body: &str) -> u16 {
    let o = run(
        s.command("curl")
            .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "-d", body])
            .arg(url),
        10,
    );
    String::from_utf8_lossy(&o.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

/// The body of `GET url` where the server runs.
fn boot_get(s: &Server, url: &str) -> String {
    let o = run(s.command("curl").args(["-sSf", url]), 10);
    assert!(o.status.success(), "{url}: {o:?}");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Polls `GET url` where the server runs until `want` accepts it (a change is published
/// just after the event that tells of it); returns it.
fn boot_get_until(s: &Server, url: &str, want: impl Fn(&str) -> bool) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let body = boot_get(s, url);
        if want(&body) {
            return body;
        }
        assert!(std::time::Instant::now() < deadline, "{url}: {body}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `fleetboot.NAME=` of a kernel line.
fn param<'a>(script: &'a str, name: &str) -> &'a str {
    let key = format!("fleetboot.{name}=");
    script
        .split_whitespace()
        .find_map(|w| w.strip_prefix(key.as_str()))
        .unwrap_or_else(|| panic!("no {key} in {script}"))
}

#[test]
fn a_deploy_boots_its_machines_into_the_agent_follows_their_callbacks_and_cancels() {
    let link = Link::new();
    // Multicast leaves by the link (the boot network: proxyDHCP's only interface).
    let s = Server::start_in_netns(
        &link.sender.0,
        |data| prepare(data, true),
        &[
            "--http-listen",
            "0.0.0.0:0",
            "--dhcp-interface",
            link.sender_if,
            "--boot-mac-check",
            "off",
        ],
    );
    let admin = mcast::inside(&link.sender, || s.admin_api());
    let token = admin.token().unwrap().to_owned();
    let mut events = s.events(&token, None);
    let base = format!("http://{}:{}", link.sender_v4, s.http.port());
    let menu_before = boot_get(&s, &format!("{base}/boot.ipxe?mac={MAC_B}"));

    let created = mcast::inside(&link.sender, || {
        name_machines(&admin);
        admin.post(
            "/api/v1/deploys",
            &json!({ "image": "disks/a.img", "clients": [MAC_A, MAC_B], "disk": "/dev/vda",
                     "max_wait_secs": 600 }),
        )
    });
    assert_eq!(created.status, 201, "{}", created.text);
    let d = &created.body;
    assert_eq!(d["id"], 1);
    assert_eq!(d["state"], "running");
    assert_eq!(
        d["counts"],
        json!({"pending": 2, "receiving": 0, "done": 0, "failed": 0})
    );
    let session = d["session"].as_str().unwrap().to_owned();
    assert_eq!(d["multicast"]["id"], session.as_str(), "{d:#}");
    assert_eq!(d["multicast"]["path"], "disks/a.img", "{d:#}");
    // Waits for both machines (min_receivers defaults to the machines' count).
    assert_eq!(d["multicast"]["min_receivers"], 2, "{d:#}");
    assert_eq!(d["multicast"]["interface"], link.sender_if, "{d:#}");
    events.wait_for("deploy started", Duration::from_secs(10), |e| {
        e.kind == "deploy" && e.data == json!({"id": 1, "mac": null, "state": "running"})
    });

    // Each machine's script boots the agent with the deploy's orders, at the address it used.
    let script = boot_get(&s, &format!("{base}/boot.ipxe?mac={MAC_A}"));
    assert!(
        script.contains(&format!("kernel {base}/agent/vmlinuz ")),
        "{script}"
    );
    assert!(script.contains(&format!("initrd --name initrd.img {base}/agent/initrd.img")));
    assert_eq!(
        param(&script, "manifest"),
        format!("{base}/multicast/{session}")
    );
    assert_eq!(param(&script, "disk"), "/dev/vda");
    assert_eq!(param(&script, "name"), MAC_A);
    assert_eq!(boot_get(&s, &format!("{base}/agent/vmlinuz")), "kernel");
    // The manifest is the session's: the image's size and hash.
    let manifest: Value = serde_json::from_str(&boot_get(&s, param(&script, "manifest"))).unwrap();
    assert_eq!(manifest["size"], 100_000, "{manifest}");
    assert_eq!(manifest["name"], "a.img", "{manifest}");

    // The agent's callbacks: receiving, then done; a done machine boots its disk.
    let done = param(&script, "done").to_owned();
    let progress = param(&script, "progress").to_owned();
    assert!(done.starts_with(&format!("{base}/t/")), "{done}");
    assert_eq!(boot_post(&s, &progress, "receiving"), 204);
    events.wait_for("A receiving", Duration::from_secs(10), |e| {
        e.kind == "deploy" && e.data["mac"] == MAC_A && e.data["state"] == "receiving"
    });
    assert_eq!(boot_post(&s, &done, "ok"), 204);
    events.wait_for("A done", Duration::from_secs(10), |e| {
        e.kind == "deploy" && e.data["mac"] == MAC_A && e.data["state"] == "done"
    });
    let shown = mcast::inside(&link.sender, || admin.get("/api/v1/deploys/1")).body;
    assert_eq!(shown["counts"]["done"], 1, "{shown:#}");
    assert_eq!(shown["clients"][0]["state"], "done", "{shown:#}");
    assert_eq!(shown["clients"][0]["message"], "receiving", "{shown:#}");
    assert_eq!(shown["state"], "running", "{shown:#}");
    boot_get_until(&s, &format!("{base}/boot.ipxe?mac={MAC_A}"), |b| {
        b.contains("booting from local disk")
    });
    let client = mcast::inside(&link.sender, || {
        admin.get(&format!("/api/v1/clients/{MAC_A}"))
    });
    assert_eq!(client.body["local_boot"], true, "{}", client.text);
    // Its token no longer answers: the deploy is over for it.
    assert_eq!(boot_post(&s, &done, "ok"), 404);

    // B is still being deployed: a second deploy may not take it; the CLI shows the deploy.
    let busy = mcast::inside(&link.sender, || {
        admin.post(
            "/api/v1/deploys",
            &json!({ "image": "disks/a.img", "clients": [MAC_B] }),
        )
    });
    assert_eq!(busy.status, 409, "{}", busy.text);
    assert!(busy.text.contains(MAC_B), "{}", busy.text);
    let listed = cli(&s, &["deploy", "list"]);
    assert!(
        listed.contains("disks/a.img") && listed.contains("1/0/1/0"),
        "{listed}"
    );
    let show = cli(&s, &["deploy", "show", "1"]);
    assert!(show.contains(&format!("session:  {session}")), "{show}");
    assert!(show.contains(MAC_B) && show.contains("pending"), "{show}");

    // Cancelled: the session stops, B boots what it booted before; A stays on its disk.
    let out = cli(&s, &["deploy", "cancel", "1"]);
    assert!(out.contains("deploy 1 cancelled"), "{out}");
    events.wait_for("cancelled", Duration::from_secs(10), |e| {
        e.kind == "deploy" && e.data == json!({"id": 1, "mac": null, "state": "cancelled"})
    });
    let shown = mcast::inside(&link.sender, || admin.get("/api/v1/deploys/1")).body;
    assert_eq!(shown["state"], "cancelled", "{shown:#}");
    assert_eq!(shown["multicast"]["state"], "cancelled", "{shown:#}");
    boot_get_until(&s, &format!("{base}/boot.ipxe?mac={MAC_B}"), |b| {
        b == menu_before
    });
    let again = mcast::inside(&link.sender, || admin.delete("/api/v1/deploys/1"));
    assert_eq!(again.status, 409, "{}", again.text);
}
