//! Unattended installs through the running server: a template attached to an image reaches
//! its machine's boot script as the installer's kernel parameter, its files are served at the
//! machine's token on the boot port with the server's address filled in, a wrong token is a
//! plain 404, the done callback sends the machine to its disk, and a secret is seen by no one
//! but the installer and admins (not in boot scripts, the menu, the log, or viewers' answers).

use std::process::Command;

use fleetboot_tests::{run, test_iso, Server};
use serde_json::json;

const MAC: &str = "52:54:00:44:55:66";
const SECRET: &str = "$6$fleetboot$do-not-leak-me";

/// `curl` on the boot port: (status, body).
fn boot_get(s: &Server, path: &str, method: &str) -> (u16, String) {
    let out = run(
        Command::new("curl")
            .args(["-sS", "-X", method, "-o", "-", "-w", "\n%{http_code}"])
            .arg(s.url(path)),
        10,
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (code.trim().parse().unwrap_or(0), body.to_owned())
}

#[test]
fn a_template_reaches_its_machine_only_and_done_sends_it_to_its_disk() {
    let iso = test_iso("fedora-pxeboot");
    let s = Server::start_with(
        |data| {
            std::fs::copy(&iso, data.join("isos/fedora.iso")).unwrap();
        },
        &["--boot-mac-check", "off"],
    );
    let admin = s.admin_api();
    let images = admin.post("/api/v1/images/rescan", &json!({}));
    let id = images.body[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(images.body[0]["method"], "kernel", "{}", images.text);

    // Attach the starter kickstart to the image; a secret it reads; a named machine.
    let put = admin.send(
        "PUT",
        "/api/v1/secrets/password_hash",
        Some(&json!({ "value": SECRET })),
    );
    assert_eq!(put.status, 204, "{}", put.text);
    let edit = admin.patch(
        &format!("/api/v1/images/{id}"),
        &json!({ "template": "starter-kickstart" }),
    );
    assert_eq!(edit.status, 200, "{}", edit.text);
    let client = admin.patch(
        &format!("/api/v1/clients/{MAC}"),
        &json!({ "assigned": id, "name": "db-01" }),
    );
    assert_eq!(client.status, 200, "{}", client.text);
    let view = admin.get(&format!("/api/v1/clients/{MAC}/install"));
    assert_eq!(
        view.body["source"],
        json!({ "from": "image", "name": id }),
        "{}",
        view.text
    );
    assert_eq!(view.body["family"], "kickstart", "{}", view.text);
    let args = view.body["kernel_args"].as_str().unwrap().to_owned();
    let token = args
        .split("/t/")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap()
        .to_owned();
    assert_eq!(token.len(), 32, "{args}");

    // The boot script names the file at the address the client reached; the file is rendered.
    let script = fleetboot_tests::curl(&s.url(&format!("boot.ipxe?mac={MAC}")));
    let url = format!("http://{}/t/{token}/ks.cfg", s.http);
    assert!(script.contains(&format!("inst.ks={url}")), "{script}");
    assert!(!script.contains(SECRET));
    let (status, kickstart) = boot_get(&s, &format!("t/{token}/ks.cfg"), "GET");
    assert_eq!(status, 200, "{kickstart}");
    assert!(kickstart.contains("--hostname=db-01"), "{kickstart}");
    assert!(kickstart.contains(SECRET), "the installer gets the secret");
    assert!(
        kickstart.contains(&format!("http://{}/t/{token}/done", s.http)),
        "{kickstart}"
    );

    // Wrong tokens and files look like any unknown path; the menu names no token.
    for path in [
        "t/0123456789abcdef0123456789abcdef/ks.cfg".to_owned(),
        format!("t/{token}/preseed.cfg"),
        "t/".to_owned(),
    ] {
        assert_eq!(boot_get(&s, &path, "GET").0, 404, "{path}");
    }
    assert_eq!(
        boot_get(&s, "t/0123456789abcdef0123456789abcdef/done", "POST").0,
        404
    );
    let menu = fleetboot_tests::curl(&s.url("boot.ipxe?mac=52:54:00:00:00:01"));
    assert!(!menu.contains(&token) && !menu.contains(SECRET));

    // A viewer sees that a template applies, not the token, the files or the secret.
    let added = admin.post(
        "/api/v1/users",
        &json!({ "name": "ann", "role": "viewer", "password": "viewer-pw" }),
    );
    assert_eq!(added.status, 201, "{}", added.text);
    let viewer = s.login("ann", "viewer-pw");
    let seen = viewer.get(&format!("/api/v1/clients/{MAC}/install"));
    assert_eq!(seen.status, 200);
    assert!(!seen.text.contains(&token), "{}", seen.text);
    for path in [
        "/api/v1/secrets".to_owned(),
        format!("/api/v1/clients/{MAC}/install/files"),
    ] {
        assert_eq!(viewer.get(&path).status, 403, "{path}");
    }
    for path in [
        "/api/v1/templates".to_owned(),
        format!("/api/v1/clients/{MAC}"),
        "/api/v1/clients".to_owned(),
        format!("/api/v1/images/{id}"),
        "/api/v1/boots".to_owned(),
    ] {
        let a = viewer.get(&path);
        assert_eq!(a.status, 200, "{path}");
        assert!(
            !a.text.contains(SECRET) && !a.text.contains(&token),
            "{path}: {}",
            a.text
        );
    }
    let files = admin.get(&format!("/api/v1/clients/{MAC}/install/files"));
    assert!(
        files.text.contains("do-not-leak-me"),
        "admins see what the installer gets"
    );

    // Done: the machine boots its disk from now on.
    let (status, _) = boot_get(&s, &format!("t/{token}/done"), "POST");
    assert_eq!(status, 204);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let record = loop {
        let c = admin.get(&format!("/api/v1/clients/{MAC}"));
        if c.body["local_boot"] == true || std::time::Instant::now() > deadline {
            break c.body;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert_eq!(record["local_boot"], true, "{record}");
    assert_eq!(record["install"]["state"], "done", "{record}");
    assert!(record["assigned"].is_null());
    let script = fleetboot_tests::curl(&s.url(&format!("boot.ipxe?mac={MAC}")));
    assert!(
        script.contains("local disk") && script.contains("exit"),
        "{script}"
    );
    // The old token's files are gone with the assignment.
    assert_eq!(boot_get(&s, &format!("t/{token}/ks.cfg"), "GET").0, 404);

    let log = s.log();
    assert!(
        !log.contains(SECRET) && !log.contains(&token),
        "the log leaks"
    );
}
