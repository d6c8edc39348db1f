//! Deploys through the admin API and the CLI against a real server: who may read and write,
//! what a create is refused for (unknown machine, image outside the data dir, bad disk, no
//! agent), and a deploy's life: created with its session, listed, shown, its machines booting
//! the agent with the deploy's orders, a machine's callbacks, cancelled (machines back to
//! what they booted before).

use serde_json::{json, Value};

use fleetboot_tests::api::Api;
use fleetboot_tests::{cli, curl, Server};

const MAC_A: &str = "52:54:00:de:00:0a";
const MAC_B: &str = "52:54:00:de:00:0b";

/// A server with a small image in `disks/` and, unless `agent` is false, a (dummy) agent.
fn start(agent: bool) -> Server {
    Server::start_with(
        |data| {
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
        },
        &["--boot-mac-check", "off"],
    )
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
    refused(
        &admin,
        json!({ "image": "../outside.img", "clients": [MAC_A] }),
        400,
        "without `..`",
    );
    refused(
        &admin,
        json!({ "image": "/etc/passwd", "clients": [MAC_A] }),
        400,
        "relative to the data dir",
    );
    refused(
        &admin,
        json!({ "image": "disks/link.img", "clients": [MAC_A] }),
        400,
        "leads outside the data dir",
    );
    refused(
        &admin,
        json!({ "image": "disks/none.img", "clients": [MAC_A] }),
        400,
        "disks/none.img",
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
