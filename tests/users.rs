//! Users from the command line: the first start shows the admin password once, in the form
//! scripts read, and never in the log; `fleetboot user …` works beside a running server and on
//! a stopped one's database, and never deletes the last admin.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use fleetboot_tests::{binary, Server};

/// `fleetboot user ARGS --data-dir DATA`, with `stdin` piped in.
fn user(data: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(binary())
        .arg("user")
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn fleetboot user");
    // A command refused before it reads its password may exit first: a broken pipe is fine.
    let written = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    if let Err(e) = written {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
    }
    child.wait_with_output().unwrap()
}

fn ok(o: Output) -> String {
    assert!(o.status.success(), "{o:?}");
    String::from_utf8(o.stdout).unwrap()
}

fn refused(o: Output, why: &str) {
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains(why), "wanted {why:?}: {stderr}");
}

/// (name, role) of every user, from `user list --json`.
fn list(data: &Path) -> Vec<(String, String)> {
    let users: Vec<serde_json::Value> =
        serde_json::from_str(&ok(user(data, &["list", "--json"], ""))).unwrap();
    users
        .iter()
        .map(|u| {
            (
                u["name"].as_str().unwrap().into(),
                u["role"].as_str().unwrap().into(),
            )
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, r)| ((*n).into(), (*r).into()))
        .collect()
}

#[test]
fn the_first_start_prints_the_admin_password_once() {
    let mut first = Server::start(&[]);
    let shown: Vec<_> = first
        .startup
        .iter()
        .filter(|l| l.starts_with("admin user: admin  password: "))
        .collect();
    assert_eq!(shown.len(), 1, "{:?}", first.startup);
    let password = shown[0]
        .strip_prefix("admin user: admin  password: ")
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap();
    assert_eq!(password.len(), 36, "{password}");
    assert!(!first.log().contains(password), "password in the log");
    assert_eq!(list(&first.data), pairs(&[("admin", "admin")]));
    assert_eq!(first.stop(), Some(0));

    let db = first.data.join("fleetboot.redb");
    let second = Server::start_with(
        |data| {
            std::fs::copy(&db, data.join("fleetboot.redb")).unwrap();
        },
        &[],
    );
    assert!(
        !second.startup.iter().any(|l| l.contains("password")),
        "{:?}",
        second.startup
    );
    assert_eq!(list(&second.data), pairs(&[("admin", "admin")]));
}

#[test]
fn users_are_managed_beside_a_running_server_and_offline() {
    let mut s = Server::start(&[]);
    let out = ok(user(
        &s.data,
        &["add", "alice", "--role", "viewer"],
        "s3cret\n",
    ));
    assert!(out.contains("user alice added (viewer)"), "{out}");
    assert!(!out.contains("s3cret"), "{out}");
    assert_eq!(
        list(&s.data),
        pairs(&[("admin", "admin"), ("alice", "viewer")])
    );
    refused(user(&s.data, &["del", "admin"], ""), "last admin");
    refused(user(&s.data, &["add", "alice"], "x\n"), "already exists");
    refused(
        user(&s.data, &["add", "bad/name"], "x\n"),
        "invalid user name",
    );
    refused(user(&s.data, &["add", "bob"], "\n"), "empty password");
    assert_eq!(s.stop(), Some(0));

    // The same on the database of a stopped server.
    let out = ok(user(
        &s.data,
        &["add", "bob", "--role", "admin", "--generate"],
        "",
    ));
    let generated = out
        .lines()
        .find_map(|l| l.strip_prefix("user: bob  password: "))
        .unwrap_or_else(|| panic!("no generated password: {out}"));
    assert_eq!(generated.len(), 36, "{out}");
    ok(user(&s.data, &["passwd", "alice"], "n3w\n"));
    refused(user(&s.data, &["passwd", "carol"], "x\n"), "no user carol");
    ok(user(&s.data, &["del", "admin"], ""));
    refused(user(&s.data, &["del", "bob"], ""), "last admin");
    assert_eq!(
        list(&s.data),
        pairs(&[("alice", "viewer"), ("bob", "admin")])
    );
}
