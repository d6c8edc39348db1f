//! Clients through the admin API and the CLI against a real server: records edited, listed,
//! deleted and refused; the CLI (over the control socket, or offline on the database) and
//! the API give the same record; boot history from real `/boot.ipxe` requests; and what a
//! restart or a `kill -9` in the middle of writes keeps.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use fleetboot_tests::api::Api;
use fleetboot_tests::{casper_like_iso, cli, curl, Server};

const MAC_A: &str = "52:54:00:c1:00:0a";
const MAC_B: &str = "52:54:00:c1:00:0b";
const MAC_C: &str = "52:54:00:c1:00:0c";

/// A server with two tiny ISOs (`a.iso`, `b.iso`), and their image ids once scanned.
fn start_with_images(extra: &[&str]) -> (Server, String, String) {
    let s = Server::start_with(
        |d| {
            casper_like_iso(d, "", "a.iso");
            casper_like_iso(d, "", "b.iso");
        },
        extra,
    );
    let admin = s.admin_api();
    let (a, b) = image_ids(&admin);
    (s, a, b)
}

/// The ids of `a.iso` and `b.iso`, polled until both are scanned.
fn image_ids(api: &Api) -> (String, String) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let list = api.get("/api/v1/images");
        let id = |path: &str| {
            list.body.as_array().and_then(|images| {
                images
                    .iter()
                    .find(|i| i["path"] == path && i["status"] == "ready")
                    .and_then(|i| i["id"].as_str().map(str::to_owned))
            })
        };
        if let (Some(a), Some(b)) = (id("a.iso"), id("b.iso")) {
            return (a, b);
        }
        assert!(
            Instant::now() < deadline,
            "images never ready: {}",
            list.text
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A client record without what differs between two machines given the same orders.
fn comparable(record: &Value) -> Value {
    let mut r = record.clone();
    let fields = r.as_object_mut().expect("a client record");
    for key in ["mac", "first_seen", "last_seen"] {
        assert!(fields.remove(key).is_some(), "no {key} in {record}");
    }
    r
}

/// Polls `f` every 50 ms until it gives `Some`, for at most `limit`.
fn eventually<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "never {what} within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_client_is_edited_refused_listed_and_deleted() {
    let (s, a, b) = start_with_images(&[]);
    let api = s.admin_api();
    let path = format!("/api/v1/clients/{MAC_A}");
    assert_eq!(api.get(&path).body["error"], "not_found");
    let set = api.patch(
        &path,
        &json!({"name": "rack1-n1", "notes": "left rack\nslot 3", "assigned": a,
                "extra_args": "console=ttyS0"}),
    );
    assert_eq!(set.status, 200, "{}", set.text);
    assert_eq!(set.body["mac"], MAC_A);
    assert_eq!(set.body["assigned"], a.as_str());
    assert_eq!(set.body["extra_args"], "console=ttyS0");
    assert_eq!(api.get(&path).body, set.body);
    // Other spellings of the MAC name the same record.
    let upper = api.get("/api/v1/clients/52-54-00-C1-00-0A");
    assert_eq!(upper.body, set.body, "{}", upper.text);

    // Refusals change nothing.
    for bad in ["zz", "52:54:00:c1:00", "52:54:00:c1:00:0a:ff"] {
        let p = format!("/api/v1/clients/{bad}");
        for answer in [
            api.get(&p),
            api.patch(&p, &json!({"name": "x"})),
            api.delete(&p),
            api.get(&format!("{p}/boots")),
        ] {
            assert_eq!(answer.status, 400, "{bad}: {}", answer.text);
            assert_eq!(answer.body["error"], "bad_request", "{}", answer.text);
        }
    }
    for patch in [
        json!({"assigned": "no-such-image"}),
        json!({"next_boot": "no-such-image"}),
        json!({"allowed_images": [a, "no-such-image"]}),
    ] {
        let answer = api.patch(&path, &patch);
        assert_eq!(answer.status, 404, "{patch}: {}", answer.text);
        assert_eq!(answer.body["error"], "not_found", "{}", answer.text);
    }
    for patch in [json!({"colour": "red"}), json!({"name": 7}), json!([1])] {
        let answer = api.patch(&path, &patch);
        assert_eq!(answer.status, 400, "{patch}: {}", answer.text);
    }
    assert_eq!(api.get(&path).body, set.body, "a refused change applied");

    // allowed_images: the assignment must be in the list, now and later.
    let allowed = api.patch(&path, &json!({"allowed_images": [a]}));
    assert_eq!(allowed.status, 200, "{}", allowed.text);
    for patch in [json!({"assigned": b}), json!({"next_boot": b})] {
        let answer = api.patch(&path, &patch);
        assert_eq!(answer.status, 400, "{patch}: {}", answer.text);
        assert!(answer.text.contains("allowed_images"), "{}", answer.text);
    }
    let refused = api.patch(&path, &json!({"allowed_images": [b]}));
    assert_eq!(refused.status, 400, "{a} is assigned: {}", refused.text);
    let both = api.patch(&path, &json!({"allowed_images": [b], "assigned": b}));
    assert_eq!(both.status, 200, "{}", both.text);
    assert_eq!(both.body["allowed_images"], json!([b]));
    let any = api.patch(&path, &json!({"allowed_images": [], "next_boot": a}));
    assert_eq!(any.status, 200, "{}", any.text);
    // `null` clears, a missing field stays.
    let cleared = api.patch(&path, &json!({"name": null, "next_boot": null}));
    assert_eq!(cleared.status, 200, "{}", cleared.text);
    assert_eq!(cleared.body["name"], Value::Null);
    assert_eq!(cleared.body["next_boot"], Value::Null);
    assert_eq!(cleared.body["notes"], "left rack\nslot 3");
    assert_eq!(cleared.body["assigned"], b.as_str());

    let gone = api.delete(&path);
    assert_eq!(gone.status, 204, "{}", gone.text);
    assert_eq!(api.get(&path).status, 404);
    assert_eq!(api.delete(&path).status, 404);
    assert_eq!(api.get("/api/v1/clients").body, json!([]));
}

#[test]
fn clients_are_listed_filtered_and_paged() {
    let (s, a, _) = start_with_images(&[]);
    let api = s.admin_api();
    let macs: Vec<String> = (0..7).map(|i| format!("52:54:00:d0:00:{i:02x}")).collect();
    for (i, mac) in macs.iter().enumerate() {
        let patch = if i % 2 == 0 {
            json!({"name": format!("Web-{i}"), "assigned": a})
        } else {
            json!({"name": format!("db-{i}")})
        };
        assert_eq!(
            api.patch(&format!("/api/v1/clients/{mac}"), &patch).status,
            200
        );
    }
    let list = |query: &str| {
        let answer = api.get(&format!("/api/v1/clients{query}"));
        assert_eq!(answer.status, 200, "{query}: {}", answer.text);
        let total: usize = answer
            .header("x-total-count")
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no X-Total-Count: {:?}", answer.headers));
        let macs: Vec<String> = answer
            .body
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["mac"].as_str().unwrap().to_owned())
            .collect();
        (total, macs)
    };
    assert_eq!(list(""), (7, macs.clone()));
    let webs: Vec<String> = macs.iter().step_by(2).cloned().collect();
    assert_eq!(list("?q=web"), (4, webs.clone()), "any case");
    assert_eq!(list(&format!("?q={a}")), (4, webs.clone()), "by assignment");
    assert_eq!(list("?q=D0:00:03"), (1, vec![macs[3].clone()]), "by MAC");
    assert_eq!(list("?q=nothing-like-it"), (0, vec![]));
    assert_eq!(list("?q=web&offset=1&limit=2"), (4, webs[1..3].to_vec()));
    assert_eq!(list("?offset=5&limit=10"), (7, macs[5..].to_vec()));
    assert_eq!(list("?offset=9"), (7, vec![]));
    assert_eq!(list("?limit=0"), (7, vec![]));
    for bad in ["?offset=-1", "?limit=x"] {
        let answer = api.get(&format!("/api/v1/clients{bad}"));
        assert_eq!(answer.status, 400, "{bad}: {}", answer.text);
        assert_eq!(answer.body["error"], "bad_request", "{}", answer.text);
    }
}

#[test]
fn the_cli_and_the_api_assign_the_same_record_online_and_offline() {
    let (s, a, b) = start_with_images(&[]);
    let password = s.admin_password();
    let api = s.admin_api();
    // The same orders, one machine through the CLI (control socket), one through PATCH.
    let by_cli: Value =
        serde_json::from_str(&cli(&s, &["clients", "assign", MAC_A, &a, "--json"])).unwrap();
    let by_api = api.patch(&format!("/api/v1/clients/{MAC_B}"), &json!({"assigned": a}));
    assert_eq!(by_api.status, 200, "{}", by_api.text);
    assert_eq!(comparable(&by_cli), comparable(&by_api.body));
    let stored_a = api.get(&format!("/api/v1/clients/{MAC_A}")).body;
    assert_eq!(stored_a, by_cli, "the CLI printed what was stored");
    // A next-boot-once choice survives an assignment either way.
    for mac in [MAC_A, MAC_B] {
        let once = api.patch(&format!("/api/v1/clients/{mac}"), &json!({"next_boot": b}));
        assert_eq!(once.status, 200, "{}", once.text);
    }
    let by_cli: Value =
        serde_json::from_str(&cli(&s, &["clients", "assign", MAC_A, &b, "--json"])).unwrap();
    let by_api = api.patch(&format!("/api/v1/clients/{MAC_B}"), &json!({"assigned": b}));
    assert_eq!(by_cli["next_boot"], b.as_str(), "{by_cli}");
    assert_eq!(comparable(&by_cli), comparable(&by_api.body));
    let once: Value = serde_json::from_str(&cli(
        &s,
        &["clients", "assign", MAC_C, &a, "--once", "--json"],
    ))
    .unwrap();
    assert_eq!(once["next_boot"], a.as_str(), "{once}");
    assert_eq!(once["assigned"], Value::Null, "{once}");
    let unassigned: Value =
        serde_json::from_str(&cli(&s, &["clients", "unassign", MAC_C, "--json"])).unwrap();
    assert_eq!(unassigned["assigned"], Value::Null, "{unassigned}");

    // No server: the CLI opens the database itself, with the same rules.
    let mut s = s;
    assert_eq!(s.stop(), Some(0));
    assert!(
        !s.data.join("control.sock").exists(),
        "a stale control socket"
    );
    let offline: Value =
        serde_json::from_str(&cli(&s, &["clients", "assign", MAC_B, &a, "--json"])).unwrap();
    assert_eq!(offline["assigned"], a.as_str(), "{offline}");
    assert_eq!(
        offline["next_boot"],
        b.as_str(),
        "offline keeps next_boot too: {offline}"
    );
    let fresh: Value = serde_json::from_str(&cli(
        &s,
        &["clients", "assign", "52:54:00:c1:00:0d", &a, "--json"],
    ))
    .unwrap();
    let listed: Value = serde_json::from_str(&cli(&s, &["clients", "list", "--json"])).unwrap();
    assert!(
        listed.as_array().unwrap().iter().any(|c| c == &fresh),
        "{listed}"
    );
    let s = s.restart(&[]);
    let api = s.login("admin", &password);
    let b_after = api.get(&format!("/api/v1/clients/{MAC_B}"));
    assert_eq!(b_after.body, offline, "{}", b_after.text);
    let d_after = api.get("/api/v1/clients/52:54:00:c1:00:0d");
    assert_eq!(d_after.body, fresh, "{}", d_after.text);
    // An offline assignment the server does not know an image for is refused the same way.
    let mut s = s;
    s.stop();
    let o = fleetboot_tests::run(
        std::process::Command::new(fleetboot_tests::binary())
            .args(["clients", "assign", MAC_A, "no-such-image", "--data-dir"])
            .arg(&s.data),
        10,
    );
    assert!(!o.status.success(), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("no-such-image"),
        "{o:?}"
    );
}

/// The history records `path` answers, checked newest first.
fn boots(api: &Api, path: &str) -> Vec<Value> {
    let answer = api.get(path);
    assert_eq!(answer.status, 200, "{path}: {}", answer.text);
    let records = answer.body.as_array().cloned().unwrap_or_default();
    let seqs: Vec<u64> = records.iter().map(|r| r["seq"].as_u64().unwrap()).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] > w[1]),
        "not newest first: {seqs:?}"
    );
    records
}

#[test]
fn boot_history_shows_boot_script_requests_newest_first() {
    let (s, a, _) = start_with_images(&["--boot-mac-check", "off"]);
    let api = s.admin_api();
    assert_eq!(
        api.patch(&format!("/api/v1/clients/{MAC_A}"), &json!({"assigned": a}))
            .status,
        200
    );
    for mac in [MAC_A, MAC_B, MAC_A, MAC_A] {
        let script = curl(&s.url(&format!("boot.ipxe?mac={mac}")));
        assert!(script.starts_with("#!ipxe"), "{script}");
    }
    let all = eventually(Duration::from_secs(10), "4 boots recorded", || {
        let r = boots(&api, "/api/v1/boots");
        (r.len() == 4).then_some(r)
    });
    let macs: Vec<&str> = all.iter().map(|r| r["mac"].as_str().unwrap()).collect();
    assert_eq!(macs, [MAC_A, MAC_A, MAC_B, MAC_A]);
    for r in &all {
        assert_eq!(r["protocol"], "http", "{r}");
        assert_eq!(r["object"], "boot.ipxe", "{r}");
    }
    assert_eq!(all[0]["image"], a.as_str(), "{}", all[0]);
    // Per machine, paged with `before`.
    let mine = boots(&api, &format!("/api/v1/clients/{MAC_A}/boots"));
    assert_eq!(mine.len(), 3, "{mine:?}");
    assert!(mine.iter().all(|r| r["mac"] == MAC_A), "{mine:?}");
    let page1 = boots(&api, &format!("/api/v1/clients/{MAC_A}/boots?limit=2"));
    assert_eq!(page1, mine[..2]);
    let last = page1[1]["seq"].as_u64().unwrap();
    let page2 = boots(
        &api,
        &format!("/api/v1/clients/{MAC_A}/boots?limit=2&before={last}"),
    );
    assert_eq!(page2, mine[2..]);
    let oldest = page2[0]["seq"].as_u64().unwrap();
    assert_eq!(
        boots(&api, &format!("/api/v1/boots?before={oldest}")),
        Vec::<Value>::new()
    );
    let global = boots(&api, "/api/v1/boots?limit=3");
    assert_eq!(global, all[..3]);
    // A machine never seen has an empty history, not an error.
    assert_eq!(
        boots(&api, &format!("/api/v1/clients/{MAC_C}/boots")),
        Vec::<Value>::new()
    );
    // The request taught the server about MAC_B.
    let b = api.get(&format!("/api/v1/clients/{MAC_B}"));
    assert_eq!(b.status, 200, "{}", b.text);
}

#[test]
fn a_restart_keeps_users_sessions_tokens_clients_history_settings_and_image_edits() {
    let (s, a, b) = start_with_images(&["--boot-mac-check", "off"]);
    let password = s.admin_password();
    let admin = s.admin_api();
    let added = admin.post(
        "/api/v1/users",
        &json!({"name": "v", "role": "viewer", "password": "viewer-pw"}),
    );
    assert_eq!(added.status, 201, "{}", added.text);
    let viewer = s.login("v", "viewer-pw");
    let token = admin.post("/api/v1/tokens", &json!({"name": "ci", "role": "admin"}));
    assert_eq!(token.status, 201, "{}", token.text);
    let ci = s.anonymous().with_token(token.body["token"].as_str());
    let gone = s.login("v", "viewer-pw");
    assert_eq!(gone.post("/api/v1/logout", &json!({})).status, 204);

    let client = admin.patch(
        &format!("/api/v1/clients/{MAC_A}"),
        &json!({"name": "n1", "assigned": a, "next_boot": b, "allowed_images": [a, b]}),
    );
    assert_eq!(client.status, 200, "{}", client.text);
    let plain = admin.patch(&format!("/api/v1/clients/{MAC_C}"), &json!({"assigned": a}));
    assert_eq!(plain.status, 200, "{}", plain.text);
    curl(&s.url(&format!("boot.ipxe?mac={MAC_B}")));
    let history = eventually(Duration::from_secs(10), "a boot recorded", || {
        let r = boots(&admin, "/api/v1/boots");
        (!r.is_empty()).then_some(r)
    });
    let settings = admin.patch(
        "/api/v1/settings",
        &json!({"menu_title": "Lab", "menu_timeout_secs": 3, "kernel_args": "quiet"}),
    );
    assert_eq!(settings.status, 200, "{}", settings.text);
    let image = admin.patch(
        &format!("/api/v1/images/{a}"),
        &json!({"description": "the A image", "public": false, "extra_args": "nomodeset"}),
    );
    assert_eq!(image.status, 200, "{}", image.text);
    let image_before = admin.get(&format!("/api/v1/images/{a}")).body;
    let clients_before = admin.get("/api/v1/clients").body;
    let users_before = admin.get("/api/v1/users").body;
    let tokens_before = admin.get("/api/v1/tokens").body;

    let s = s.restart(&["--boot-mac-check", "off"]);
    assert!(
        !s.startup.iter().any(|l| l.contains("password")),
        "a second admin password: {:?}",
        s.startup
    );
    // The old sessions and token, against the new server.
    let rebase = |api: &Api| s.anonymous().with_token(api.token());
    let (admin, viewer, ci) = (rebase(&admin), rebase(&viewer), rebase(&ci));
    assert_eq!(admin.get("/api/v1/me").body["user"], "admin");
    assert_eq!(viewer.get("/api/v1/me").body["role"], "viewer");
    assert_eq!(ci.get("/api/v1/me").body["role"], "admin");
    assert_eq!(
        rebase(&gone).get("/api/v1/me").status,
        401,
        "logged out stays out"
    );
    s.login("admin", &password);
    s.login("v", "viewer-pw");
    assert_eq!(admin.get("/api/v1/users").body, users_before);
    assert_eq!(admin.get("/api/v1/tokens").body, tokens_before);
    assert_eq!(admin.get("/api/v1/clients").body, clients_before);
    assert_eq!(boots(&admin, "/api/v1/boots"), history);
    let settings_after = admin.get("/api/v1/settings");
    assert_eq!(
        settings_after.body, settings.body,
        "{}",
        settings_after.text
    );
    let image_after = eventually(Duration::from_secs(30), "the image back", || {
        let i = admin.get(&format!("/api/v1/images/{a}"));
        (i.status == 200 && i.body["status"] == "ready").then_some(i.body)
    });
    assert_eq!(image_after, image_before);
    // Edits are in effect, not just stored: the assigned machine boots A with its arguments.
    let script = curl(&s.url(&format!("boot.ipxe?mac={MAC_C}")));
    assert!(script.contains("nomodeset"), "{script}");
}

#[test]
fn kill_9_during_writes_loses_no_answered_change() {
    let mut s = Server::start(&[]);
    let password = s.admin_password();
    let api = s.admin_api();
    let token = api.token().unwrap().to_owned();
    let base = format!("http://{}", s.admin);
    // The steps whose two changes were both answered 200, in order.
    let answered = Arc::new(Mutex::new(Vec::<usize>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let answered = answered.clone();
        let stop = stop.clone();
        std::thread::spawn(move || {
            let agent = ureq::Agent::new_with_config(
                ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .timeout_global(Some(Duration::from_secs(10)))
                    .build(),
            );
            for i in 0.. {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                // A new record each time, and one record overwritten each time.
                let mac = format!("52:54:00:e0:{:02x}:{:02x}", i / 256, i % 256);
                let ok = [
                    (mac, json!({"name": format!("n{i}")})),
                    (MAC_A.to_owned(), json!({"notes": format!("{i}")})),
                ]
                .into_iter()
                .all(|(mac, body)| {
                    agent
                        .patch(&format!("{base}/api/v1/clients/{mac}"))
                        .header("authorization", &format!("Bearer {token}"))
                        .header("content-type", "application/json")
                        .send(body.to_string())
                        .is_ok_and(|r| r.status() == 200)
                });
                if !ok {
                    break;
                }
                answered.lock().unwrap().push(i);
            }
        })
    };
    // Kill while it writes.
    let deadline = Instant::now() + Duration::from_secs(60);
    while answered.lock().unwrap().len() < 40 {
        assert!(Instant::now() < deadline, "too few writes answered");
        std::thread::sleep(Duration::from_millis(10));
    }
    s.kill9();
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    let acked = answered.lock().unwrap().clone();
    let last = *acked.last().unwrap();

    let s = s.restart(&[]);
    let api = s.login("admin", &password);
    let clients = api.get("/api/v1/clients").body;
    let by_mac = |mac: &str| {
        clients
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["mac"] == mac)
            .cloned()
    };
    for i in &acked {
        let mac = format!("52:54:00:e0:{:02x}:{:02x}", i / 256, i % 256);
        let c = by_mac(&mac).unwrap_or_else(|| panic!("answered change {i} lost ({mac})"));
        assert_eq!(c["name"], format!("n{i}"), "{c}");
    }
    // The overwritten record holds the last answered value, or the one in flight.
    let notes: usize = by_mac(MAC_A).unwrap()["notes"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        notes == last || notes == last + 1,
        "notes {notes} after {last} answered"
    );
    // The server after the crash works (the control socket included).
    assert!(cli(&s, &["clients", "list", "--json"]).contains(MAC_A));
}
