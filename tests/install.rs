//! Unattended installs on the wire, through the real data-plane HTTP server with a hand-built
//! catalog: a client's rendered files at `/t/<token>/<file>`, its callbacks (`POST …/done`,
//! `…/progress`), and that a wrong token looks like any unknown path and never reaches an
//! event. (The control plane's side — templates, tokens, the client's install state — is
//! tested with the API.)

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crossbeam_channel::Receiver;
use dataplane::{
    BootEvent, BootPolicy, Catalog, CatalogHandle, Config, DataPlane, Detail, EventSink,
    InstallReport, InstallStage, Mac, Outcome,
};

const TOKEN: &str = "0123456789abcdef0123456789abcdef";
const OTHER: &str = "fedcba9876543210fedcba9876543210";

struct Lab {
    plane: Option<DataPlane>,
    http: SocketAddr,
    events: Receiver<BootEvent>,
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Some(p) = self.plane.take() {
            p.shutdown(Duration::from_secs(1));
        }
    }
}

fn mac() -> Mac {
    "52:54:00:12:34:56".parse().unwrap()
}

fn start() -> Lab {
    let mut policy = BootPolicy::new("#!ipxe\nexit\n".into());
    let files = [
        (
            "user-data",
            "#cloud-config\nhostname: web1\nphone_home: http://@fleetboot-server@/t/x/done\n",
        ),
        ("autounattend.xml", "<unattend/>"),
    ];
    let files = files
        .iter()
        .map(|(n, c)| ((*n).to_owned(), (*c).to_owned()))
        .collect();
    policy.install(TOKEN.into(), mac(), files);
    let mut catalog = Catalog::builder();
    catalog.boot_policy(policy);
    let (sink, events) = EventSink::bounded(256);
    let config = Config {
        tftp_listen: None,
        http_listen: Some("127.0.0.1:0".parse().unwrap()),
        cores: 1,
        driver: fleetboot_tests::driver().parse().unwrap(),
        tftp: Default::default(),
        http: dataplane::http::Config {
            head_timeout: Duration::from_millis(600),
            ..Default::default()
        },
        dhcp: None,
    };
    let plane = DataPlane::start(config, CatalogHandle::new(catalog.build()), sink).unwrap();
    let http = plane.http_addr().unwrap();
    Lab {
        plane: Some(plane),
        http,
        events,
    }
}

impl Lab {
    /// Sends `request` in the given pieces on one connection, reads until the server closes.
    fn exchange(&self, pieces: &[&[u8]]) -> String {
        let mut c = TcpStream::connect(self.http).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        for p in pieces {
            c.write_all(p).unwrap();
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut out = Vec::new();
        let _ = c.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    fn event(&self) -> BootEvent {
        self.events.recv_timeout(Duration::from_secs(5)).unwrap()
    }
}

fn close(request: &str) -> Vec<u8> {
    request
        .replace("\n", "\r\n")
        .replace("\r\n\r\n", "\r\nConnection: close\r\n\r\n")
        .into_bytes()
}

#[test]
fn a_client_fetches_its_file_with_the_server_filled_in() {
    let lab = start();
    let got = lab.exchange(&[&close(&format!(
        "GET /t/{TOKEN}/user-data HTTP/1.1\nHost: 10.9.8.7:8080\n\n"
    ))]);
    assert!(got.starts_with("HTTP/1.1 200 OK\r\n"), "{got}");
    assert!(
        got.contains("Content-Type: text/plain; charset=utf-8\r\n"),
        "{got}"
    );
    assert!(got.contains("Cache-Control: no-store\r\n"), "{got}");
    assert!(
        !got.contains("ETag") && !got.contains("Last-Modified"),
        "{got}"
    );
    assert!(got.ends_with(
        "\r\n\r\n#cloud-config\nhostname: web1\nphone_home: http://10.9.8.7:8080/t/x/done\n"
    ));
    let e = lab.event();
    assert_eq!(
        (e.object.as_str(), &e.outcome),
        ("t/…/user-data", &Outcome::Complete)
    );
    assert_eq!(
        e.detail,
        Detail::Install(InstallReport {
            mac: mac(),
            stage: InstallStage::Fetched {
                file: "user-data".into()
            },
            message: String::new(),
        })
    );
    let head = lab.exchange(&[&close(&format!(
        "HEAD /t/{TOKEN}/autounattend.xml HTTP/1.1\nHost: h\n\n"
    ))]);
    assert!(head.contains("Content-Type: application/xml; charset=utf-8\r\n"));
    assert!(head.contains("Content-Length: 11\r\n") && head.ends_with("\r\n\r\n"));
    assert_eq!(lab.event().outcome, Outcome::NoBody);
}

#[test]
fn a_wrong_token_and_a_wrong_file_look_like_any_unknown_path() {
    let lab = start();
    let get = |path: &str| lab.exchange(&[&close(&format!("GET {path} HTTP/1.1\nHost: h\n\n"))]);
    let wrong_token = get(&format!("/t/{OTHER}/user-data"));
    let wrong_file = get(&format!("/t/{TOKEN}/meta-data"));
    let unknown = get("/no/such/file");
    let no_file = get(&format!("/t/{TOKEN}"));
    assert!(wrong_token.starts_with("HTTP/1.1 404 "), "{wrong_token}");
    for other in [&wrong_file, &unknown, &no_file] {
        assert_eq!(&wrong_token, other);
    }
    let post = |path: &str| {
        lab.exchange(&[&close(&format!(
            "POST {path} HTTP/1.1\nHost: h\nContent-Length: 2\n\nok"
        ))])
    };
    assert_eq!(post(&format!("/t/{OTHER}/done")), wrong_token);
    assert_eq!(post(&format!("/t/{TOKEN}/user-data")), wrong_token);
    // Malformed or refused requests on install paths: reported without the token either.
    let odd = [
        format!("/t/{TOKEN}/../x"),
        format!("/./t/{TOKEN}/user-data"),
    ];
    for path in &odd {
        get(path);
    }
    lab.exchange(&[&close(&format!(
        "PUT /t/{TOKEN}/done HTTP/1.1\nHost: h\n\n"
    ))]);
    let mut objects = Vec::new();
    while let Ok(e) = lab.events.recv_timeout(Duration::from_millis(500)) {
        if let Detail::Install(r) = &e.detail {
            assert_eq!(r.mac, mac());
        }
        objects.push(e.object);
    }
    assert_eq!(objects.len(), 9, "{objects:?}");
    for o in &objects {
        assert!(!o.contains(TOKEN) && !o.contains(OTHER), "{o}");
    }
}

#[test]
fn callbacks_are_read_answered_and_reported() {
    let lab = start();
    // Keep-alive: the body is consumed exactly, so the pipelined GET after it is answered.
    let first = format!(
        "POST /t/{TOKEN}/progress HTTP/1.1\r\nHost: h\r\nContent-Length: 22\r\n\r\nstep 3/7\r\npartitioning"
    );
    let second = format!("POST /t/{TOKEN}/done HTTP/1.1\r\nHost: h\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 2\r\n\r\nok");
    let third =
        format!("GET /t/{TOKEN}/autounattend.xml HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    // The body arrives in pieces, apart from its head.
    let (a, b) = first.split_at(first.len() - 10);
    let got = lab.exchange(&[
        a.as_bytes(),
        b.as_bytes(),
        format!("{second}{third}").as_bytes(),
    ]);
    assert_eq!(
        got.matches("HTTP/1.1 204 No Content\r\n").count(),
        2,
        "{got}"
    );
    assert!(!got.contains("Content-Length: 0"), "{got}");
    assert!(got.ends_with("<unattend/>"), "{got}");
    let progress = lab.event();
    assert_eq!(progress.object, "t/…/progress");
    assert_eq!(
        progress.detail,
        Detail::Install(InstallReport {
            mac: mac(),
            stage: InstallStage::Progress,
            message: "step 3/7  partitioning".into(),
        })
    );
    let done = lab.event();
    assert_eq!(
        (done.object.as_str(), &done.outcome),
        ("t/…/done", &Outcome::Complete)
    );
    assert!(matches!(
        done.detail,
        Detail::Install(InstallReport { stage: InstallStage::Done, ref message, .. }) if message == "ok"
    ));
    // No body at all is a callback too.
    let got = lab.exchange(&[&close(&format!(
        "POST /t/{TOKEN}/done HTTP/1.1\nHost: h\n\n"
    ))]);
    assert!(got.starts_with("HTTP/1.1 204 "), "{got}");
}

#[test]
fn callback_bodies_are_bounded_and_framed_by_length() {
    let lab = start();
    let big = format!(
        "POST /t/{TOKEN}/done HTTP/1.1\r\nHost: h\r\nContent-Length: 4097\r\n\r\n{}",
        "x".repeat(4097)
    );
    let got = lab.exchange(&[big.as_bytes()]);
    assert!(got.starts_with("HTTP/1.1 413 "), "{got}");
    assert!(got.contains("Connection: close"), "{got}");
    let chunked = format!(
        "POST /t/{TOKEN}/done HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"
    );
    let got = lab.exchange(&[chunked.as_bytes()]);
    assert!(got.starts_with("HTTP/1.1 411 "), "{got}");
    // A body that never comes: the head's time limit covers it, and nothing is reported.
    let slow = format!("POST /t/{TOKEN}/done HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\nok");
    let started = std::time::Instant::now();
    let got = lab.exchange(&[slow.as_bytes()]);
    assert_eq!(got, "");
    assert!(started.elapsed() < Duration::from_secs(5));
    // POST outside /t/ is refused as before.
    let got = lab.exchange(&[&close("POST /boot.ipxe HTTP/1.1\nHost: h\n\n")]);
    assert!(got.starts_with("HTTP/1.1 405 "), "{got}");
    let got = lab.exchange(&[b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nok"]);
    assert!(got.starts_with("HTTP/1.1 400 "), "{got}");
    let mut kinds = Vec::new();
    while let Ok(e) = lab.events.recv_timeout(Duration::from_millis(500)) {
        kinds.push((e.object, e.outcome));
    }
    assert_eq!(
        kinds,
        [
            ("t/…/done".to_owned(), Outcome::Refused("body too large")),
            ("t/…/done".to_owned(), Outcome::Refused("no length")),
            ("/boot.ipxe".to_owned(), Outcome::Refused("method")),
            ("/x".to_owned(), Outcome::Refused("body")),
        ]
    );
}

/// The test ISOs' installer side is busybox's wget: it must fetch a file and call back
/// against the real server, as their /init does (`tools/build-test-isos.sh`).
#[test]
fn busybox_wget_fetches_and_calls_back() {
    let lab = start();
    let busybox = |args: &[&str]| {
        let out = std::process::Command::new("busybox")
            .args(args)
            .output()
            .expect("busybox (package busybox-static)");
        assert!(out.status.success(), "{args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let base = format!("http://{}/t/{TOKEN}", lab.http);
    let got = busybox(&["wget", "-q", "-O", "-", &format!("{base}/user-data")]);
    assert!(
        got.contains(&format!("phone_home: http://{}/t/x/done", lab.http)),
        "{got}"
    );
    busybox(&[
        "wget",
        "-q",
        "-O",
        "/dev/null",
        "--post-data=ok",
        &format!("{base}/done"),
    ]);
    assert!(matches!(
        lab.event().detail,
        Detail::Install(InstallReport {
            stage: InstallStage::Fetched { .. },
            ..
        })
    ));
    assert_eq!(
        lab.event().detail,
        Detail::Install(InstallReport {
            mac: mac(),
            stage: InstallStage::Done,
            message: "ok".into(),
        })
    );
}
