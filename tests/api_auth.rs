//! Who may use the admin API, against a real server over real HTTP: every `/api/` route (as
//! the OpenAPI document lists them) refuses callers without a valid token with 401, viewers
//! read but never write, failed logins are limited per source, sessions end (logout, expiry,
//! password change, user deleted), API tokens come from the CLI, and the admin listener caps
//! its connections and the time to send a request head.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use fleetboot_tests::api::{Answer, Api};
use fleetboot_tests::{binary, casper_like_iso, cli, Server};

/// A MAC the tests give a client record.
const MAC: &str = "52:54:00:aa:bb:01";

/// Every (method, path) of the OpenAPI document under `/api/`, path parameters filled with
/// `fill` (name → value), plus the document itself.
fn api_routes(admin: &Api, fill: &dyn Fn(&str) -> String) -> Vec<(String, String)> {
    let doc = admin.get("/api/v1/openapi.json");
    assert_eq!(doc.status, 200, "{}", doc.text);
    let paths = doc.body["paths"].as_object().expect("paths");
    let mut routes = vec![("GET".to_owned(), "/api/v1/openapi.json".to_owned())];
    for (template, item) in paths {
        if !template.starts_with("/api/") {
            continue;
        }
        let mut path = template.clone();
        while let Some(start) = path.find('{') {
            let end = start + path[start..].find('}').expect("closing brace");
            let value = fill(&path[start + 1..end]);
            path.replace_range(start..=end, &value);
        }
        for method in item.as_object().expect("path item").keys() {
            routes.push((method.to_uppercase(), path.clone()));
        }
    }
    assert!(routes.len() >= 25, "too few routes: {routes:?}");
    routes
}

/// Path parameters that name nothing in particular.
fn any_value(name: &str) -> String {
    match name {
        "mac" => MAC.into(),
        "name" => "nobody".into(),
        _ => "0123456789abcdef".into(),
    }
}

/// `method path` with an empty JSON object as the body of a write.
fn call(api: &Api, method: &str, path: &str) -> Answer {
    let body = (method != "GET").then(|| json!({}));
    api.send(method, path, body.as_ref())
}

/// A 401 with the JSON error body and a bearer challenge.
fn assert_unauthorized(a: &Answer, what: &str) {
    assert_eq!(a.status, 401, "{what}: {}", a.text);
    assert_eq!(a.body["error"], "unauthorized", "{what}: {}", a.text);
    assert!(
        a.body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{what}: {}",
        a.text
    );
    let challenge = a.header("www-authenticate").unwrap_or_default();
    assert!(challenge.starts_with("Bearer"), "{what}: {:?}", a.headers);
}

/// `fleetboot ARGS --data-dir DATA` with `stdin` piped in.
fn cli_stdin(data: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(binary())
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn fleetboot");
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.as_bytes()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

/// Polls `f` every 50 ms until it is true, for at most `limit`.
fn eventually(limit: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < deadline, "never {what} within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The status line of `GET path` with `token`, read from a raw connection (for the event
/// stream, which never ends).
fn status_line(s: &Server, path: &str, token: &str) -> String {
    let mut c = TcpStream::connect(s.admin).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        c,
        "GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n"
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n") && c.read(&mut byte).unwrap() == 1 {
        head.push(byte[0]);
    }
    String::from_utf8_lossy(&head).trim().to_owned()
}

#[test]
fn every_api_route_refuses_a_caller_without_a_valid_token() {
    let s = Server::start(&[]);
    let admin = s.admin_api();
    let health = s.anonymous().get("/health");
    assert_eq!(health.status, 200, "{}", health.text);
    assert_eq!(health.body, json!({"status": "ok"}), "{}", health.text);

    // A revoked API token and a logged-out session.
    let issued = admin.post("/api/v1/tokens", &json!({"name": "gone", "role": "admin"}));
    assert_eq!(issued.status, 201, "{}", issued.text);
    let revoked = issued.body["token"].as_str().unwrap().to_owned();
    let id = issued.body["id"].as_str().unwrap();
    assert_eq!(admin.get("/api/v1/me").status, 200);
    assert_eq!(
        admin.with_token(Some(&revoked)).get("/api/v1/me").body["role"],
        "admin"
    );
    assert_eq!(admin.delete(&format!("/api/v1/tokens/{id}")).status, 204);
    let session = s.admin_api();
    let logged_out = session.token().unwrap().to_owned();
    assert_eq!(session.post("/api/v1/logout", &json!({})).status, 204);

    let routes = api_routes(&admin, &any_value);
    let anonymous = s.anonymous();
    let callers = [
        ("no token", anonymous.with_token(None)),
        (
            "a wrong token",
            anonymous.with_token(Some("fbt_0123456789abcdef")),
        ),
        ("a revoked API token", anonymous.with_token(Some(&revoked))),
        (
            "a logged-out session",
            anonymous.with_token(Some(&logged_out)),
        ),
    ];
    for (method, path) in &routes {
        if path == "/api/v1/login" {
            continue;
        }
        for (who, api) in &callers {
            assert_unauthorized(&call(api, method, path), &format!("{method} {path}, {who}"));
        }
    }
    // Refused before the body is read: a malformed one changes nothing.
    let a = anonymous.send_with(
        "PATCH",
        &format!("/api/v1/clients/{MAC}"),
        &[("content-type", "application/json")],
        None,
    );
    assert_unauthorized(&a, "PATCH without a body");
    // Nothing a refused caller sent took effect.
    assert_eq!(admin.get(&format!("/api/v1/clients/{MAC}")).status, 404);
    let users = admin.get("/api/v1/users");
    assert_eq!(
        users.body.as_array().map(Vec::len),
        Some(1),
        "{}",
        users.text
    );
    let tokens = admin.get("/api/v1/tokens");
    assert_eq!(tokens.body, json!([]), "{}", tokens.text);
    // The login route is open, but the answer to a wrong password is still a 401.
    let wrong = anonymous.post(
        "/api/v1/login",
        &json!({"username": "admin", "password": "nope"}),
    );
    assert_unauthorized(&wrong, "a wrong password");
}

#[test]
fn a_viewer_reads_everything_but_users_and_tokens_and_writes_nothing() {
    let s = Server::start_with(
        |d| {
            casper_like_iso(d, "", "a.iso");
            // A (dummy) deploy agent, so that a deploy can be started.
            std::fs::create_dir_all(d.join("agent")).unwrap();
            std::fs::write(d.join("agent/vmlinuz"), b"k").unwrap();
            std::fs::write(d.join("agent/initrd.img"), b"i").unwrap();
        },
        // Deploys' sessions leave by the boot network's interface: loopback here.
        &["--dhcp-interface", "lo"],
    );
    let admin = s.admin_api();
    // One viewer from the CLI (password on stdin), one through the API.
    let o = cli_stdin(
        &s.data,
        &["user", "add", "v", "--role", "viewer"],
        "v-secret-1\n",
    );
    assert!(o.status.success(), "{o:?}");
    let added = admin.post(
        "/api/v1/users",
        &json!({"name": "w", "role": "viewer", "password": "w-secret-1"}),
    );
    assert_eq!(added.status, 201, "{}", added.text);
    let viewers = [s.login("v", "v-secret-1"), s.login("w", "w-secret-1")];
    assert_eq!(viewers[0].get("/api/v1/me").body["role"], "viewer");

    // Things for the reads to find: an image, a client, a job (a download nobody serves).
    let mut image = String::new();
    eventually(Duration::from_secs(30), "the image scanned", || {
        let list = admin.get("/api/v1/images");
        match list.body[0]["id"].as_str() {
            Some(id) => {
                image = id.to_owned();
                true
            }
            None => false,
        }
    });
    let c = admin.patch(
        &format!("/api/v1/clients/{MAC}"),
        &json!({"name": "kept", "assigned": image}),
    );
    assert_eq!(c.status, 200, "{}", c.text);
    let job = admin.post(
        "/api/v1/images/download",
        &json!({"url": "http://127.0.0.1:9/never.iso"}),
    );
    assert_eq!(job.status, 202, "{}", job.text);
    let job = match &job.body["id"] {
        Value::String(id) => id.clone(),
        id => id.to_string(),
    };
    // A multicast session that waits on loopback for receivers that never come.
    let session = admin.post(
        "/api/v1/multicast",
        &json!({"path": "isos/a.iso", "interface": "lo", "min_receivers": 5}),
    );
    assert_eq!(session.status, 201, "{}", session.text);
    let session = session.body["id"].as_str().unwrap().to_owned();
    // A deploy to the client, waiting for it like the session above.
    let deploy = admin.post(
        "/api/v1/deploys",
        &json!({"image": "isos/a.iso", "clients": [MAC], "max_wait_secs": 600}),
    );
    assert_eq!(deploy.status, 201, "{}", deploy.text);
    let deploy = deploy.body["id"].to_string();
    let fill = |name: &str| match name {
        "id" => image.clone(),
        // Users, templates, groups and secrets are named: a starter template exists.
        "name" => "starter-kickstart".into(),
        other => any_value(other),
    };
    let routes = api_routes(&admin, &fill);
    for (method, path) in &routes {
        let path = if path.starts_with("/api/v1/jobs/") {
            format!("/api/v1/jobs/{job}")
        } else if path.starts_with("/api/v1/multicast/") {
            format!("/api/v1/multicast/{session}")
        } else if path.starts_with("/api/v1/deploys/") {
            format!("/api/v1/deploys/{deploy}")
        } else {
            path.clone()
        };
        for viewer in &viewers {
            if method == "GET" {
                if path == "/api/v1/events" {
                    let line = status_line(&s, &path, viewer.token().unwrap());
                    assert_eq!(line, "HTTP/1.1 200 OK", "GET {path}");
                    continue;
                }
                let a = viewer.get(&path);
                let admins_only = ["/api/v1/users", "/api/v1/tokens", "/api/v1/secrets"];
                let want =
                    if admins_only.contains(&path.as_str()) || path.ends_with("/install/files") {
                        403
                    } else {
                        200
                    };
                assert_eq!(a.status, want, "viewer GET {path}: {}", a.text);
                if want == 403 {
                    assert_eq!(a.body["error"], "forbidden", "{}", a.text);
                }
            } else if path != "/api/v1/login" && path != "/api/v1/logout" {
                let a = call(viewer, method, &path);
                assert_eq!(a.status, 403, "viewer {method} {path}: {}", a.text);
                assert_eq!(a.body["error"], "forbidden", "{method} {path}: {}", a.text);
            }
        }
    }
    assert_eq!(viewers[0].get("/metrics").status, 200);
    // Nothing a viewer sent took effect.
    let c = admin.get(&format!("/api/v1/clients/{MAC}"));
    assert_eq!(c.body["name"], "kept", "{}", c.text);
    assert_eq!(admin.get(&format!("/api/v1/images/{image}")).status, 200);
    let waiting = admin.get(&format!("/api/v1/multicast/{session}"));
    assert_eq!(waiting.body["state"], "waiting", "{}", waiting.text);
    let running = admin.get(&format!("/api/v1/deploys/{deploy}"));
    assert_eq!(running.body["state"], "running", "{}", running.text);
    let users = admin.get("/api/v1/users");
    assert_eq!(
        users.body.as_array().map(Vec::len),
        Some(3),
        "{}",
        users.text
    );
    assert_eq!(viewers[1].get("/api/v1/me").status, 200, "w still logs in");
    // A viewer may end its own session.
    assert_eq!(viewers[0].post("/api/v1/logout", &json!({})).status, 204);
    assert_unauthorized(&viewers[0].get("/api/v1/me"), "the viewer after logout");
}

#[test]
fn failed_logins_are_refused_and_then_limited_per_source() {
    let s = Server::start_with(|_| {}, &["--login-max-failures", "3"]);
    let password = s.admin_password();
    let anonymous = s.anonymous();
    let login = |user: &str, pw: &str| {
        anonymous.post("/api/v1/login", &json!({"username": user, "password": pw}))
    };
    for (user, pw) in [("admin", "wrong"), ("nobody", "wrong"), ("admin", "")] {
        let a = login(user, pw);
        assert_unauthorized(&a, &format!("login {user}/{pw}"));
        assert!(
            a.body["detail"]
                .as_str()
                .unwrap()
                .contains("wrong user name or password"),
            "{}",
            a.text
        );
        assert!(a.header("set-cookie").is_none(), "{:?}", a.headers);
    }
    // Locked out: even the right password waits.
    for pw in ["wrong", password.as_str()] {
        let a = login("admin", pw);
        assert_eq!(a.status, 429, "{}", a.text);
        assert_eq!(a.body["error"], "rate_limited", "{}", a.text);
        let wait: u64 = a
            .header("retry-after")
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no Retry-After: {:?}", a.headers));
        assert!((1..=60).contains(&wait), "Retry-After {wait}");
    }
    // A malformed login is a 400, not a failure.
    let a = anonymous.post("/api/v1/login", &json!({"username": "admin"}));
    assert_eq!(a.status, 400, "{}", a.text);
    assert_eq!(a.body["error"], "bad_request", "{}", a.text);
    // The control socket (the CLI's way in) is not affected.
    assert!(cli(&s, &["user", "list", "--json"]).contains("admin"));
}

#[test]
fn logout_revokes_the_session_and_the_cookie_alone_authenticates() {
    let s = Server::start(&[]);
    let anonymous = s.anonymous();
    let body = json!({"username": "admin", "password": s.admin_password()});
    let login = anonymous.post("/api/v1/login", &body);
    assert_eq!(login.status, 200, "{}", login.text);
    let token = login.body["token"].as_str().unwrap().to_owned();
    assert_eq!(login.body["role"], "admin", "{}", login.text);
    assert!(login.body["expires"].as_u64().is_some(), "{}", login.text);
    let cookie = login.header("set-cookie").expect("a session cookie");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attribute), "{attribute} missing: {cookie}");
    }
    let pair = cookie.split(';').next().unwrap().trim().to_owned();
    assert_eq!(pair, format!("fleetboot_session={token}"));

    // The cookie alone, no Authorization header.
    let me = anonymous.send_with("GET", "/api/v1/me", &[("cookie", &pair)], None);
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(me.body["user"], "admin", "{}", me.text);
    let other = format!("theme=dark; {pair}; lang=en");
    let me = anonymous.send_with("GET", "/api/v1/me", &[("cookie", &other)], None);
    assert_eq!(me.status, 200, "among other cookies: {}", me.text);
    let bad = anonymous.send_with(
        "GET",
        "/api/v1/me",
        &[("cookie", "fleetboot_session=fbs_forged")],
        None,
    );
    assert_unauthorized(&bad, "a forged cookie");

    // Logout with the bearer token: the session ends for the token and the cookie alike.
    let api = anonymous.with_token(Some(&token));
    let out = api.post("/api/v1/logout", &json!({}));
    assert_eq!(out.status, 204, "{}", out.text);
    let cleared = out.header("set-cookie").expect("the cookie cleared");
    assert!(
        cleared.starts_with("fleetboot_session=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    assert_unauthorized(&api.get("/api/v1/me"), "the token after logout");
    let me = anonymous.send_with("GET", "/api/v1/me", &[("cookie", &pair)], None);
    assert_unauthorized(&me, "the cookie after logout");

    // Logout with the cookie alone ends that session too.
    let login = anonymous.post("/api/v1/login", &body);
    let pair = format!(
        "fleetboot_session={}",
        login.body["token"].as_str().unwrap()
    );
    let out = anonymous.send_with("POST", "/api/v1/logout", &[("cookie", &pair)], None);
    assert_eq!(out.status, 204, "{}", out.text);
    let me = anonymous.send_with("GET", "/api/v1/me", &[("cookie", &pair)], None);
    assert_unauthorized(&me, "the cookie after its logout");
    // Other sessions live on.
    assert_eq!(s.admin_api().get("/api/v1/me").status, 200);
}

#[test]
fn a_session_expires_after_its_lifetime() {
    // Expiry is kept in whole seconds, so a session lives between TTL - 1 and TTL seconds:
    // 2 s leaves a second in which it surely works.
    let s = Server::start_with(|_| {}, &["--session-ttl-secs", "2"]);
    let login = s.anonymous().post(
        "/api/v1/login",
        &json!({"username": "admin", "password": s.admin_password()}),
    );
    let logged_in = Instant::now();
    assert_eq!(login.status, 200, "{}", login.text);
    assert!(
        login.header("set-cookie").unwrap().contains("Max-Age=2"),
        "{:?}",
        login.headers
    );
    let api = s.anonymous().with_token(login.body["token"].as_str());
    let first = api.get("/api/v1/me");
    if logged_in.elapsed() < Duration::from_millis(900) {
        assert_eq!(first.status, 200, "{}", first.text);
    }
    eventually(Duration::from_secs(5), "expired", || {
        api.get("/api/v1/me").status == 401
    });
    assert!(
        logged_in.elapsed() >= Duration::from_millis(900),
        "{:?}",
        logged_in.elapsed()
    );
    assert_unauthorized(&api.get("/api/v1/clients"), "an expired session");
    // API tokens do not expire.
    let issued = s
        .admin_api()
        .post("/api/v1/tokens", &json!({"name": "ci", "role": "viewer"}));
    assert_eq!(issued.status, 201, "{}", issued.text);
    assert!(issued.body["expires"].is_null(), "{}", issued.text);
    std::thread::sleep(Duration::from_millis(2100));
    let token = s.anonymous().with_token(issued.body["token"].as_str());
    assert_eq!(token.get("/api/v1/me").status, 200);
}

/// The secret and id `token create` printed.
fn created_token(out: &str) -> (String, String) {
    let secret = out
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("fbt_"))
        .unwrap_or_else(|| panic!("no secret in {out}"));
    let id = out
        .lines()
        .find_map(|l| l.strip_prefix("id: "))
        .unwrap_or_else(|| panic!("no id in {out}"));
    (secret.to_owned(), id.trim().to_owned())
}

#[test]
fn api_tokens_from_the_cli_work_as_bearer_until_deleted() {
    let s = Server::start(&[]);
    let (secret, id) = created_token(&cli(
        &s,
        &["token", "create", "--name", "ci", "--role", "admin"],
    ));
    let (viewer_secret, _) = created_token(&cli(
        &s,
        &["token", "create", "--name", "dash", "--role", "viewer"],
    ));
    let ci = s.anonymous().with_token(Some(&secret));
    assert_eq!(ci.get("/api/v1/me").body["role"], "admin");
    assert_eq!(ci.get("/api/v1/users").status, 200);
    let patched = ci.patch(&format!("/api/v1/clients/{MAC}"), &json!({"name": "by-ci"}));
    assert_eq!(patched.status, 200, "{}", patched.text);
    let dash = s.anonymous().with_token(Some(&viewer_secret));
    assert_eq!(dash.get("/api/v1/clients").status, 200);
    let refused = dash.patch(&format!("/api/v1/clients/{MAC}"), &json!({"name": "x"}));
    assert_eq!(refused.status, 403, "{}", refused.text);

    // Listed, never with the secret.
    let table = cli(&s, &["token", "list"]);
    assert!(table.contains(&id) && table.contains("ci"), "{table}");
    let listed: Value = serde_json::from_str(&cli(&s, &["token", "list", "--json"])).unwrap();
    let api_list = s.admin_api().get("/api/v1/tokens");
    for text in [&table, &listed.to_string(), &api_list.text] {
        assert!(!text.contains(&secret[4..]), "a secret in {text}");
        assert!(!text.contains(&viewer_secret[4..]), "a secret in {text}");
    }
    let ours = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id.as_str())
        .unwrap_or_else(|| panic!("{id} not in {listed}"));
    assert_eq!(ours["name"], "ci");
    assert_eq!(ours["role"], "admin");
    assert_eq!(
        api_list.body.as_array().map(Vec::len),
        Some(2),
        "{}",
        api_list.text
    );

    let o = cli_stdin(
        &s.data,
        &["token", "create", "--name", "ci", "--role", "admin"],
        "",
    );
    assert!(!o.status.success(), "a second token named ci: {o:?}");

    cli(&s, &["token", "del", &id]);
    assert_unauthorized(&ci.get("/api/v1/me"), "a deleted token");
    assert!(!cli(&s, &["token", "list"]).contains(&id));
    assert_eq!(dash.get("/api/v1/me").status, 200, "the other token lives");
    let o = cli_stdin(&s.data, &["token", "del", &id], "");
    assert!(!o.status.success(), "deleting twice: {o:?}");
}

#[test]
fn a_changed_password_or_a_deleted_user_ends_their_sessions() {
    let s = Server::start(&[]);
    let admin = s.admin_api();
    let added = admin.post(
        "/api/v1/users",
        &json!({"name": "alice", "role": "admin", "password": "alice-pw-1"}),
    );
    assert_eq!(added.status, 201, "{}", added.text);
    let sessions = [
        s.login("alice", "alice-pw-1"),
        s.login("alice", "alice-pw-1"),
    ];
    let token = sessions[0].post(
        "/api/v1/tokens",
        &json!({"name": "alices", "role": "admin"}),
    );
    assert_eq!(token.status, 201, "{}", token.text);
    let alices_token = s.anonymous().with_token(token.body["token"].as_str());
    assert_eq!(alices_token.get("/api/v1/me").status, 200);

    // A new password through the API.
    let changed = admin.patch("/api/v1/users/alice", &json!({"password": "alice-pw-2"}));
    assert_eq!(changed.status, 200, "{}", changed.text);
    for api in &sessions {
        assert_unauthorized(&api.get("/api/v1/me"), "a session after a password change");
    }
    let old = s.anonymous().post(
        "/api/v1/login",
        &json!({"username": "alice", "password": "alice-pw-1"}),
    );
    assert_unauthorized(&old, "the old password");
    // A new password from the CLI, beside the running server.
    let session = s.login("alice", "alice-pw-2");
    let o = cli_stdin(&s.data, &["user", "passwd", "alice"], "alice-pw-3\n");
    assert!(o.status.success(), "{o:?}");
    assert_unauthorized(&session.get("/api/v1/me"), "a session after `user passwd`");
    let session = s.login("alice", "alice-pw-3");
    assert_eq!(
        admin.get("/api/v1/me").status,
        200,
        "the admin's own session lives"
    );

    // Deleted: sessions and the tokens she made end.
    let deleted = admin.delete("/api/v1/users/alice");
    assert_eq!(deleted.status, 200, "{}", deleted.text);
    assert_unauthorized(&session.get("/api/v1/me"), "a deleted user's session");
    assert_unauthorized(&alices_token.get("/api/v1/me"), "a deleted user's token");
    let again = s.anonymous().post(
        "/api/v1/login",
        &json!({"username": "alice", "password": "alice-pw-3"}),
    );
    assert_unauthorized(&again, "a deleted user's login");
    // And from the CLI.
    let o = cli_stdin(
        &s.data,
        &["user", "add", "bob", "--role", "viewer"],
        "bob-pw-1\n",
    );
    assert!(o.status.success(), "{o:?}");
    let bob = s.login("bob", "bob-pw-1");
    cli(&s, &["user", "del", "bob"]);
    assert_unauthorized(
        &bob.get("/api/v1/me"),
        "a session of a user deleted by the CLI",
    );
}

/// True when the server closed `c` (EOF or reset) within `limit`.
fn closed_within(c: &mut TcpStream, limit: Duration) -> bool {
    c.set_read_timeout(Some(limit)).unwrap();
    let mut buf = [0u8; 512];
    loop {
        match c.read(&mut buf) {
            Ok(0) => return true,
            // A 408 or similar before the close is fine; keep reading to the end.
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

#[test]
fn the_admin_listener_caps_connections() {
    let s = Server::start_with(|_| {}, &["--admin-max-connections", "2"]);
    let idle: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect(s.admin).unwrap())
        .collect();
    // The server has taken both (a request on a third would otherwise race them).
    std::thread::sleep(Duration::from_millis(200));
    let mut third = TcpStream::connect(s.admin).unwrap();
    let started = Instant::now();
    assert!(
        closed_within(&mut third, Duration::from_secs(5)),
        "a third connection was kept open"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(s.status_number("admin_refused"), 1, "{}", s.status());
    // The control socket is not capped by the TCP listener.
    assert!(cli(&s, &["token", "list", "--json"]).starts_with('['));
    // Slots come back when connections close.
    drop(idle);
    eventually(Duration::from_secs(5), "a slot freed", || {
        TcpStream::connect(s.admin)
            .and_then(|mut c| {
                c.set_read_timeout(Some(Duration::from_secs(2)))?;
                c.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
                let mut answer = String::new();
                c.read_to_string(&mut answer)?;
                Ok(answer.starts_with("HTTP/1.1 200"))
            })
            .unwrap_or(false)
    });
}

#[test]
fn a_partial_request_head_is_cut_off_after_the_request_timeout() {
    let s = Server::start_with(|_| {}, &["--admin-request-timeout-ms", "500"]);
    let mut c = TcpStream::connect(s.admin).unwrap();
    let started = Instant::now();
    c.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n").unwrap();
    assert!(
        closed_within(&mut c, Duration::from_secs(10)),
        "a partial head kept the connection"
    );
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(400) && took < Duration::from_secs(5),
        "cut off after {took:?}"
    );
    // A whole request is still answered.
    assert_eq!(s.anonymous().get("/health").status, 200);
}

#[test]
fn a_refusal_sent_before_the_body_arrives_closes_the_connection_openly() {
    // The server answers 401 without reading the body, then closes: it must say so, or a
    // client sends its next request on a dead connection.
    let s = Server::start(&[]);
    let mut c = TcpStream::connect(s.admin).unwrap();
    c.write_all(
        format!(
            "PATCH /api/v1/clients/{MAC} HTTP/1.1\r\nHost: x\r\n\
             Content-Type: application/json\r\nContent-Length: 2\r\n\r\n"
        )
        .as_bytes(),
    )
    .unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && c.read(&mut byte).unwrap() == 1 {
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_lowercase();
    assert!(head.starts_with("http/1.1 401"), "{head}");
    assert!(head.contains("connection: close"), "{head}");
    // A bodiless refusal keeps the connection.
    let mut c = TcpStream::connect(s.admin).unwrap();
    c.write_all(b"GET /api/v1/me HTTP/1.1\r\nHost: x\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answers = String::new();
    c.read_to_string(&mut answers).unwrap();
    assert!(answers.starts_with("HTTP/1.1 401"), "{answers}");
    assert!(answers.contains("HTTP/1.1 200 OK"), "{answers}");
}
