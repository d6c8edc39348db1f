//! `/t/<token>/…`: an installing client's rendered files (`GET`, `HEAD`) and its callbacks
//! (`POST …/done`, `POST …/progress`), from the boot policy's [`Installs`]. Routing and
//! answers only; the server reads the callback's body (bounded by [`MAX_BODY`]).
//!
//! A wrong token and a wrong name are answered alike (the caller sends the ordinary 404), and
//! the token never appears in what is reported: events name `t/…/<file>`.

use std::net::SocketAddr;

use super::boot_script::{fill_server, server_name};
use crate::events::Detail;
use crate::install::{message, InstallReport, InstallStage, Installs};

/// The first segment of every install path.
pub const SEGMENT: &str = "t";

/// Largest callback body read, in bytes; a larger one gets 413.
pub const MAX_BODY: u64 = 4096;

/// Whether a normalised key is an install path (`t` or under `t/`).
pub fn is_install_path(key: &str) -> bool {
    key.strip_prefix(SEGMENT)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// `(token, name)` of a normalised key `t/<token>/<name>`; the name may have segments of its
/// own.
fn split(key: &str) -> Option<(&str, &str)> {
    let rest = key.strip_prefix(SEGMENT)?.strip_prefix('/')?;
    let (token, name) = rest.split_once('/')?;
    (!token.is_empty() && !name.is_empty()).then_some((token, name))
}

/// How an event names a normalised key: install paths lose their token (`t/…/<name>`), every
/// other key is itself.
pub fn reported(key: &str) -> String {
    if !is_install_path(key) {
        return key.to_owned();
    }
    match key
        .split_once('/')
        .and_then(|(_, rest)| rest.split_once('/'))
    {
        Some((_, name)) => format!("{SEGMENT}/…/{name}"),
        None => format!("{SEGMENT}/…"),
    }
}

/// How an event names a raw request target that could not be routed (bad path, refused
/// method or body): any segment after a `t` segment is replaced by `…`, so a token in a
/// malformed or refused request is not reported either.
pub fn reported_target(target: &[u8]) -> String {
    let text = String::from_utf8_lossy(target);
    let (path, query) = match text.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (text.as_ref(), None),
    };
    let mut out = String::with_capacity(text.len());
    let mut after_t = false;
    for (i, segment) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        if after_t && !segment.is_empty() {
            out.push('…');
        } else {
            out.push_str(segment);
        }
        after_t = segment == SEGMENT;
    }
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// `Content-Type` of a rendered file, by its extension: XML (autounattend, AutoYaST), JSON
/// (Ignition), else text (kickstart, preseed, cloud-init YAML).
pub fn content_type(name: &str) -> &'static str {
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "xml" => "application/xml; charset=utf-8",
        "json" | "ign" => "application/json; charset=utf-8",
        _ => "text/plain; charset=utf-8",
    }
}

/// A file to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The content, with the server's name filled in.
    pub body: String,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// The event's detail: [`InstallStage::Fetched`].
    pub detail: Detail,
}

/// The file at the normalised `key`, for a client that reached us with `host` (the `Host`
/// header) on `local` (see [`super::boot_script`]); `None` when the token or the name is
/// unknown.
pub fn fetch(
    installs: &Installs,
    key: &str,
    host: Option<&[u8]>,
    local: Option<SocketAddr>,
) -> Option<Fetched> {
    let (token, name) = split(key)?;
    let (mac, content) = installs.file(token, name)?;
    let server = server_name(host, local);
    Some(Fetched {
        body: fill_server(content, server.as_deref()),
        content_type: content_type(name),
        detail: Detail::Install(InstallReport {
            mac,
            stage: InstallStage::Fetched {
                file: name.to_owned(),
            },
            message: String::new(),
        }),
    })
}

/// The event detail of a `POST` to the normalised `key` with `body` (already bounded by
/// [`MAX_BODY`]); `None` when the token is unknown or the name is not a callback.
pub fn callback(installs: &Installs, key: &str, body: &[u8]) -> Option<Detail> {
    let (token, name) = split(key)?;
    let stage = InstallStage::callback(name)?;
    let mac = installs.client(token)?;
    Some(Detail::Install(InstallReport {
        mac,
        stage,
        message: message(body),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::boot::SERVER_TOKEN;
    use crate::mac::Mac;

    const TOKEN: &str = "0123456789abcdef0123456789abcdef";

    fn mac() -> Mac {
        "52:54:00:00:00:07".parse().unwrap()
    }

    fn installs() -> Installs {
        let mut i = Installs::default();
        let files = [
            (
                "user-data",
                format!("#cloud-config\nurl: http://{SERVER_TOKEN}/x\n"),
            ),
            ("autounattend.xml", "<unattend/>".into()),
            ("config.ign", "{}".into()),
            ("d/preseed.cfg", "d-i x".into()),
        ];
        let files = files.into_iter().map(|(n, c)| (n.to_owned(), c)).collect();
        i.insert(TOKEN.into(), mac(), files);
        i
    }

    #[test]
    fn paths_split_into_token_and_name() {
        assert_eq!(split("t/abc/user-data"), Some(("abc", "user-data")));
        assert_eq!(split("t/abc/d/preseed.cfg"), Some(("abc", "d/preseed.cfg")));
        for no in ["t", "t/abc", "t/abc/", "tt/abc/x", "x/t/abc/y", "boot.ipxe"] {
            assert_eq!(split(no), None, "{no}");
        }
        assert!(is_install_path("t") && is_install_path("t/abc"));
        assert!(!is_install_path("tftp/x") && !is_install_path("ipxe/t/x"));
    }

    #[test]
    fn reported_names_never_carry_the_token() {
        assert_eq!(reported(&format!("t/{TOKEN}/user-data")), "t/…/user-data");
        assert_eq!(reported(&format!("t/{TOKEN}")), "t/…");
        assert_eq!(reported("t"), "t/…");
        assert_eq!(reported("images/x.iso"), "images/x.iso");
        assert_eq!(reported("tftp/x"), "tftp/x");
        let raw = |s: &str| reported_target(s.as_bytes());
        assert_eq!(raw(&format!("/t/{TOKEN}/done")), "/t/…/done");
        assert_eq!(raw(&format!("//./t/{TOKEN}/../x?q=1")), "//./t/…/../x?q=1");
        assert_eq!(raw(&format!("/a/t/{TOKEN}")), "/a/t/…");
        assert_eq!(raw("/boot.ipxe?mac=t/x"), "/boot.ipxe?mac=t/x");
        assert_eq!(raw("*"), "*");
    }

    #[test]
    fn files_are_served_with_the_server_filled_in() {
        let i = installs();
        let local: SocketAddr = "192.168.50.1:8080".parse().unwrap();
        let key = format!("t/{TOKEN}/user-data");
        let got = fetch(&i, &key, Some(b"10.0.0.2:8080"), Some(local)).unwrap();
        assert_eq!(got.body, "#cloud-config\nurl: http://10.0.0.2:8080/x\n");
        assert_eq!(got.content_type, "text/plain; charset=utf-8");
        let Detail::Install(report) = got.detail else {
            panic!("{:?}", got.detail)
        };
        assert_eq!(report.mac, mac());
        assert_eq!(
            report.stage,
            InstallStage::Fetched {
                file: "user-data".into()
            }
        );
        // A Host that could inject something: the connection's own address instead.
        let got = fetch(&i, &key, Some(b"a b"), Some(local)).unwrap();
        assert!(got.body.contains("http://192.168.50.1:8080/x"));
        let ct = |name: &str| fetch(&i, &format!("t/{TOKEN}/{name}"), None, None).unwrap();
        assert_eq!(
            ct("autounattend.xml").content_type,
            "application/xml; charset=utf-8"
        );
        assert_eq!(
            ct("config.ign").content_type,
            "application/json; charset=utf-8"
        );
        assert_eq!(ct("d/preseed.cfg").body, "d-i x");
        assert_eq!(content_type("A.JSON"), "application/json; charset=utf-8");
    }

    #[test]
    fn a_wrong_token_and_a_wrong_name_look_alike() {
        let i = installs();
        let other = "fedcba9876543210fedcba9876543210";
        assert_eq!(fetch(&i, &format!("t/{other}/user-data"), None, None), None);
        assert_eq!(fetch(&i, &format!("t/{TOKEN}/meta-data"), None, None), None);
        assert_eq!(fetch(&i, &format!("t/{TOKEN}"), None, None), None);
        // Callbacks are no files, and files take no callbacks.
        assert_eq!(fetch(&i, &format!("t/{TOKEN}/done"), None, None), None);
        assert_eq!(callback(&i, &format!("t/{TOKEN}/user-data"), b""), None);
        assert_eq!(callback(&i, &format!("t/{other}/done"), b"ok"), None);
    }

    #[test]
    fn callbacks_report_the_client_and_its_message() {
        let i = installs();
        let done = callback(&i, &format!("t/{TOKEN}/done"), b"ok\n").unwrap();
        assert_eq!(
            done,
            Detail::Install(InstallReport {
                mac: mac(),
                stage: InstallStage::Done,
                message: "ok".into(),
            })
        );
        let progress = callback(&i, &format!("t/{TOKEN}/progress"), b"50%\x07").unwrap();
        assert!(matches!(
            progress,
            Detail::Install(InstallReport { stage: InstallStage::Progress, ref message, .. })
                if message == "50%"
        ));
    }
}
