//! HTTP boot serving checked with curl, byte for byte: whole files, every Range form,
//! multipart/byteranges, validators, HEAD, keep-alive reuse, files past 4 GiB, and path escapes.

use std::process::Command;

use fleetboot_tests::{random_bytes, run, Server};

fn curl(args: &[&str]) -> std::process::Output {
    run(
        Command::new("curl")
            .args(["-sS", "--max-time", "60"])
            .args(args),
        90,
    )
}

/// Status code and body of a GET with extra curl args.
fn get(s: &Server, path: &str, args: &[&str]) -> (u16, Vec<u8>, String) {
    let hdr = s.scratch.join(format!("h{}", std::process::id()));
    let mut all = vec!["-D", hdr.to_str().unwrap(), "--path-as-is"];
    all.extend_from_slice(args);
    let url = s.url(path);
    all.push(&url);
    let o = curl(&all);
    assert!(o.status.success(), "curl {args:?} {path}: {o:?}");
    let headers = std::fs::read_to_string(&hdr).unwrap();
    let code = headers.split_whitespace().nth(1).unwrap().parse().unwrap();
    (code, o.stdout, headers.to_lowercase())
}

#[test]
fn whole_file_and_every_range_form() {
    let data = random_bytes(1 << 20, 10);
    let s = Server::start(&[("f.bin", &data)]);
    let (code, body, headers) = get(&s, "files/f.bin", &[]);
    assert_eq!((code, body.as_slice()), (200, data.as_slice()));
    assert!(headers.contains("accept-ranges: bytes"), "{headers}");
    assert!(headers.contains("etag: \""), "{headers}");
    assert!(headers.contains("last-modified: "), "{headers}");

    let (code, body, headers) = get(&s, "files/f.bin", &["-r", "0-0"]);
    assert_eq!((code, body.as_slice()), (206, &data[..1]));
    assert!(
        headers.contains(&format!("content-range: bytes 0-0/{}", data.len())),
        "{headers}"
    );

    let (code, body, headers) = get(&s, "files/f.bin", &["-r", "-1"]);
    assert_eq!((code, body.as_slice()), (206, &data[data.len() - 1..]));
    assert!(
        headers.contains(&format!(
            "content-range: bytes {0}-{0}/{1}",
            data.len() - 1,
            data.len()
        )),
        "{headers}"
    );

    let (code, body, _) = get(&s, "files/f.bin", &["-r", "100-"]);
    assert_eq!((code, body.as_slice()), (206, &data[100..]));

    let (code, body, _) = get(&s, "files/f.bin", &["-r", "1000-2000000"]);
    assert_eq!(
        (code, body.as_slice()),
        (206, &data[1000..]),
        "range clipped to the end"
    );

    let (code, body, headers) = get(&s, "files/f.bin", &["-r", &format!("{}-", data.len())]);
    assert_eq!(code, 416);
    assert!(body.is_empty());
    assert!(
        headers.contains(&format!("content-range: bytes */{}", data.len())),
        "{headers}"
    );
}

#[test]
fn multipart_byteranges() {
    let data = random_bytes(100_000, 11);
    let s = Server::start(&[("f.bin", &data)]);
    let (code, body, headers) = get(&s, "files/f.bin", &["-r", "0-9,500-599,-50"]);
    assert_eq!(code, 206);
    let ct = headers
        .lines()
        .find(|l| l.starts_with("content-type:"))
        .unwrap();
    assert!(ct.contains("multipart/byteranges"), "{ct}");
    let boundary = ct.split("boundary=").nth(1).unwrap().trim().to_string();
    // Each part: --boundary CRLF headers CRLF CRLF bytes CRLF
    let marker = format!("--{boundary}");
    let text = body.clone();
    let mut parts = Vec::new();
    let mut rest: &[u8] = &text;
    while let Some(pos) = find(rest, marker.as_bytes()) {
        rest = &rest[pos + marker.len()..];
        if rest.starts_with(b"--") {
            break;
        }
        let head_end = find(rest, b"\r\n\r\n").unwrap();
        let head = String::from_utf8_lossy(&rest[..head_end]).to_lowercase();
        let range = head
            .lines()
            .find(|l| l.starts_with("content-range:"))
            .unwrap()
            .to_string();
        let spec = range
            .split("bytes ")
            .nth(1)
            .unwrap()
            .split('/')
            .next()
            .unwrap()
            .to_string();
        let (a, b) = spec.split_once('-').unwrap();
        let (a, b): (usize, usize) = (a.parse().unwrap(), b.parse().unwrap());
        let bytes = &rest[head_end + 4..head_end + 4 + (b - a + 1)];
        assert_eq!(bytes, &data[a..=b], "part {spec}");
        parts.push((a, b));
        rest = &rest[head_end + 4 + (b - a + 1)..];
    }
    assert_eq!(
        parts,
        vec![(0, 9), (500, 599), (data.len() - 50, data.len() - 1)]
    );
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[test]
fn validators_and_head() {
    let data = random_bytes(5000, 12);
    let s = Server::start(&[("f.bin", &data)]);
    let (_, _, headers) = get(&s, "files/f.bin", &[]);
    let etag = headers
        .lines()
        .find_map(|l| l.strip_prefix("etag: "))
        .unwrap()
        .trim()
        .to_string();
    // Dates are case-sensitive (RFC 9110 §5.6.7): take this one from the raw headers.
    let o = curl(&["-I", &s.url("files/f.bin")]);
    let raw = String::from_utf8_lossy(&o.stdout).into_owned();
    let lm = raw
        .lines()
        .find_map(|l| l.strip_prefix("Last-Modified: "))
        .unwrap()
        .trim()
        .to_string();

    // If-Range with a stale tag: the whole file, 200.
    let (code, body, _) = get(
        &s,
        "files/f.bin",
        &["-r", "0-9", "-H", "If-Range: \"stale\""],
    );
    assert_eq!((code, body.len()), (200, data.len()));
    assert_eq!(body, data);
    // If-Range with the current tag: the range.
    let (code, body, _) = get(
        &s,
        "files/f.bin",
        &["-r", "0-9", "-H", &format!("If-Range: {etag}")],
    );
    assert_eq!((code, body.as_slice()), (206, &data[..10]));
    // Conditional GETs.
    let (code, body, _) = get(
        &s,
        "files/f.bin",
        &["-H", &format!("If-None-Match: {etag}")],
    );
    assert_eq!((code, body.len()), (304, 0));
    let (code, _, _) = get(
        &s,
        "files/f.bin",
        &["-H", &format!("If-Modified-Since: {lm}")],
    );
    assert_eq!(code, 304);
    let (code, body, _) = get(&s, "files/f.bin", &["-H", "If-None-Match: \"other\""]);
    assert_eq!((code, body.len()), (200, data.len()));

    // HEAD: the same headers, no body.
    let o = curl(&["-I", &s.url("files/f.bin")]);
    let head = String::from_utf8_lossy(&o.stdout).to_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(
        head.contains(&format!("content-length: {}", data.len())),
        "{head}"
    );
    assert!(
        head.ends_with("\r\n\r\n"),
        "HEAD must carry no body: {head:?}"
    );
}

#[test]
fn head_answers_carry_no_body_even_when_refused() {
    // RFC 9110 §9.3.2: no content after a HEAD's head, whatever the status. On a kept-alive
    // connection a body would be read as the start of the next answer; curl notices and says
    // "Excess found", other clients take it for the next status line.
    let s = Server::start(&[("a.txt", b"aaa")]);
    let o = curl(&[
        "-v",
        "-I",
        &s.url("files/missing.txt"),
        &s.url("files/..%2f..%2fetc%2fpasswd"),
        &s.url("files/a.txt"),
    ]);
    assert!(o.status.success(), "{o:?}");
    let out = String::from_utf8_lossy(&o.stdout).to_lowercase();
    let statuses: Vec<&str> = out.lines().filter(|l| l.starts_with("http/")).collect();
    assert_eq!(
        statuses,
        [
            "http/1.1 404 not found",
            "http/1.1 400 bad request",
            "http/1.1 200 ok"
        ],
        "{out}"
    );
    let verbose = String::from_utf8_lossy(&o.stderr);
    assert!(!verbose.contains("Excess found"), "{verbose}");
    assert_eq!(
        verbose.matches("Re-using existing connection").count(),
        2,
        "{verbose}"
    );
}

#[test]
fn keep_alive_reuses_one_connection() {
    let s = Server::start(&[("a.txt", b"aaa"), ("b.txt", b"bbbb")]);
    let o = curl(&[
        "-v",
        &s.url("files/a.txt"),
        &s.url("files/b.txt"),
        &s.url("files/a.txt"),
    ]);
    assert!(o.status.success());
    assert_eq!(o.stdout, b"aaabbbbaaa");
    let verbose = String::from_utf8_lossy(&o.stderr);
    let reused = verbose.matches("Re-using existing connection").count()
        + verbose.matches("Reusing existing").count();
    assert_eq!(reused, 2, "{verbose}");
}

#[test]
fn a_range_past_four_gib_of_a_sparse_file() {
    let marker = random_bytes(4096, 13);
    let offset: u64 = (4 << 30) + 123_456_789;
    let s = Server::start_with(
        |data| {
            use std::io::{Seek, SeekFrom, Write};
            let mut f = std::fs::File::create(data.join("isos/huge.iso")).unwrap();
            f.set_len(5 << 30).unwrap();
            f.seek(SeekFrom::Start(offset)).unwrap();
            f.write_all(&marker).unwrap();
        },
        &[],
    );
    let (code, body, headers) = get(
        &s,
        "isos/huge.iso",
        &["-r", &format!("{}-{}", offset, offset + 4095)],
    );
    assert_eq!(code, 206);
    assert_eq!(body, marker);
    assert!(
        headers.contains(&format!(
            "content-range: bytes {}-{}/{}",
            offset,
            offset + 4095,
            5u64 << 30
        )),
        "{headers}"
    );
    let o = curl(&["-I", &s.url("isos/huge.iso")]);
    assert!(String::from_utf8_lossy(&o.stdout).contains(&format!("Content-Length: {}", 5u64 << 30)));
}

#[test]
fn path_escapes_never_leave_the_root() {
    let s = Server::start(&[("ok.txt", b"ok")]);
    std::fs::write(s.data.join("secret.txt"), b"secret").unwrap();
    for path in [
        "../../etc/passwd",
        "files/../secret.txt",
        "files/%2e%2e/secret.txt",
        "%2e%2e/%2e%2e/etc/passwd",
        "files/..%2f..%2fetc%2fpasswd",
        "files/..%5c..%5csecret.txt",
        "files/ok.txt%00.iso",
    ] {
        let (code, body, _) = get(&s, path, &[]);
        assert_eq!(code, 400, "{path}");
        assert!(!String::from_utf8_lossy(&body).contains("secret"), "{path}");
    }
    for path in [
        "//etc/passwd",
        "secret.txt",
        "fleetboot.redb",
        "files/missing",
    ] {
        let (code, _, _) = get(&s, path, &[]);
        assert_eq!(code, 404, "{path}");
    }
    let (code, body, _) = get(&s, "files/%6fk.txt", &[]);
    assert_eq!(
        (code, body.as_slice()),
        (200, b"ok".as_slice()),
        "percent-decoding of ordinary names"
    );
}
