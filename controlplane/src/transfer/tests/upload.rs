//! `receive_multipart` behind a real axum server on 127.0.0.1, fed by curl and raw sockets.

use std::fs;
use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};

use super::{content, incoming, scratch, sha256_hex, wait_until};
use crate::transfer::receive_multipart;

/// Serves `POST /images` over `data` with a `max_bytes` cap; returns its address.
fn server(data: &Path, max_bytes: u64) -> String {
    async fn upload(State(s): State<Arc<(PathBuf, u64)>>, multipart: Multipart) -> Response {
        match receive_multipart(multipart, &s.0, s.1).await {
            Ok(u) => Json(u).into_response(),
            Err(e) => (e.status(), e.to_string()).into_response(),
        }
    }
    let app = Router::new()
        .route("/images", post(upload))
        .layer(DefaultBodyLimit::disable())
        .with_state(Arc::new((data.to_path_buf(), max_bytes)));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    addr
}

/// curl with `form` (`-F` arguments); returns (status, body).
fn curl(addr: &str, form: &[&str]) -> (u16, String) {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "-o", "-", "-w", "\n%{http_code}"]);
    for f in form {
        cmd.args(["-F", f]);
    }
    let out = cmd.arg(format!("http://{addr}/images")).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let (body, code) = text.rsplit_once('\n').unwrap();
    (code.parse().unwrap(), body.to_owned())
}

/// A local file to upload.
fn local_iso(data: &Path, name: &str, bytes: &[u8]) -> String {
    let dir = data.join("local");
    fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    fs::write(&path, bytes).unwrap();
    path.display().to_string()
}

#[test]
fn an_upload_lands_in_its_folder_with_its_hash() {
    let data = scratch("upload-ok");
    let addr = server(&data, 1 << 30);
    let bytes = content(3 << 20);
    let local = local_iso(&data, "x.iso", &bytes);

    let (code, body) = curl(&addr, &[&format!("file=@{local}"), "folder=a/b"]);
    assert_eq!(code, 200, "{body}");
    let got: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(got["path"], "a/b/x.iso");
    assert_eq!(got["size"], bytes.len());
    assert_eq!(got["sha256"], sha256_hex(&bytes));
    assert_eq!(fs::read(data.join("isos/a/b/x.iso")).unwrap(), bytes);

    // The folder may come first; the name must be free.
    let (code, body) = curl(
        &addr,
        &["folder=c", &format!("file=@{local};filename=Y.ISO")],
    );
    assert_eq!((code, body.contains("c/Y.ISO")), (200, true), "{body}");
    let (code, body) = curl(&addr, &[&format!("file=@{local}"), "folder=a/b"]);
    assert_eq!(code, 409, "{body}");
    let (code, _) = curl(
        &addr,
        &["folder=c", &format!("file=@{local};filename=Y.ISO")],
    );
    assert_eq!(code, 409);
    assert_eq!(fs::read(data.join("isos/a/b/x.iso")).unwrap(), bytes);
    wait_until("no temp files", || incoming(&data).is_empty());
}

#[test]
fn bad_names_escapes_and_oversized_files_are_refused() {
    let data = scratch("upload-bad");
    let addr = server(&data, 10_000);
    let local = local_iso(&data, "x.iso", &content(5_000));
    let file = format!("file=@{local}");
    for (form, code) in [
        (vec![file.as_str(), "folder=../../etc"], 400),
        (vec![file.as_str(), "folder=/tmp"], 400),
        (vec![file.as_str(), "folder=a/.hidden"], 400),
        (vec![&format!("file=@{local};filename=../x.iso")], 400),
        (vec![&format!("file=@{local};filename=.x.iso")], 400),
        (vec![&format!("file=@{local};filename=x.img")], 400),
        (vec!["folder=a"], 400),
        (vec![file.as_str(), "other=1"], 400),
        (vec![file.as_str(), &format!("file=@{local}")], 400),
    ] {
        let (got, body) = curl(&addr, &form);
        assert_eq!(got, code, "{form:?}: {body}");
    }
    let big = local_iso(&data, "big.iso", &content(20_000));
    let (code, body) = curl(&addr, &[&format!("file=@{big}")]);
    assert_eq!(code, 413, "{body}");

    // A folder that is a link to outside the ISO folder.
    let outside = data.join("outside");
    fs::create_dir_all(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, data.join("isos/link")).unwrap();
    let (code, body) = curl(&addr, &[file.as_str(), "folder=link"]);
    assert_eq!(code, 400, "{body}");
    assert_eq!(fs::read_dir(&outside).unwrap().count(), 0);

    let mut left: Vec<String> = fs::read_dir(data.join("isos"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, [".incoming", "link"]);
    wait_until("no temp files", || incoming(&data).is_empty());
}

#[test]
fn a_body_cut_mid_way_leaves_nothing() {
    let data = scratch("upload-cut");
    let addr = server(&data, 1 << 30);
    let boundary = "XyZzY";
    let head = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"cut.iso\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    );
    let length = head.len() + (8 << 20) + 64;
    let mut s = TcpStream::connect(&addr).unwrap();
    write!(
        s,
        "POST /images HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {length}\r\n\
         Content-Type: multipart/form-data; boundary={boundary}\r\n\r\n{head}"
    )
    .unwrap();
    let chunk = content(64 << 10);
    // Send until the server has a temp file going, then hang up half-way.
    for _ in 0..32 {
        s.write_all(&chunk).unwrap();
    }
    wait_until("a temp file", || !incoming(&data).is_empty());
    drop(s);
    wait_until("the temp file removed", || incoming(&data).is_empty());
    assert!(!data.join("isos/cut.iso").exists());
}
