//! The web console: static files embedded in the binary (`controlplane/ui/`, plain HTML, CSS
//! and JavaScript modules: no build step), served at `/` and `/ui/…` to anyone — they hold no
//! data; the page logs in through `POST /api/v1/login` and reads everything else from the
//! API with the session cookie. Every answer carries an ETag (a conditional request gets
//! 304) and a Content-Security-Policy that allows only this origin's scripts, styles and
//! connections: no inline script, no framing.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use sha2::{Digest, Sha256};

use super::error::ApiError;
use super::AppState;
use crate::service::ErrorKind;

/// What the console's pages may load and connect to.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// One embedded file.
struct Asset {
    /// Path under `/ui/`.
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $type:expr) => {
        Asset {
            name: $name,
            content_type: $type,
            bytes: include_bytes!(concat!("../../ui/", $name)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file of the console.
const ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("style.css", "text/css; charset=utf-8"),
    asset!("icon.svg", "image/svg+xml"),
    asset!("app.js", JS),
    asset!("api.js", JS),
    asset!("dom.js", JS),
    asset!("install.js", JS),
    asset!("sessions.js", JS),
    asset!("pages/login.js", JS),
    asset!("pages/dashboard.js", JS),
    asset!("pages/images.js", JS),
    asset!("pages/clients.js", JS),
    asset!("pages/installs.js", JS),
    asset!("pages/deploys.js", JS),
    asset!("pages/live.js", JS),
    asset!("pages/settings.js", JS),
    asset!("pages/users.js", JS),
];

/// The ETags, computed once: a hash of the bytes.
fn etags() -> &'static [HeaderValue] {
    static ETAGS: OnceLock<Vec<HeaderValue>> = OnceLock::new();
    ETAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| {
                let digest = Sha256::digest(a.bytes);
                let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
                HeaderValue::from_str(&format!("\"{hex}\"")).expect("hex is a valid header")
            })
            .collect()
    })
}

/// `/` and `/ui/…`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/ui/", get(index))
        .route("/ui/{*path}", get(file))
}

/// Whether `path` is one of the console's (open to anyone).
pub fn is_console(path: &str) -> bool {
    path == "/" || path.starts_with("/ui/")
}

async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

async fn file(Path(path): Path<String>, headers: HeaderMap) -> Response {
    serve(&path, &headers)
}

fn serve(name: &str, headers: &HeaderMap) -> Response {
    let Some(i) = ASSETS.iter().position(|a| a.name == name) else {
        return ApiError::new(ErrorKind::NotFound, format!("no file /ui/{name}")).into_response();
    };
    let asset = &ASSETS[i];
    let etag = etags()[i].clone();
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim() == etag.to_str().unwrap_or(""))
        });
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            )],
            asset.bytes,
        )
            .into_response()
    };
    let h = response.headers_mut();
    h.insert(header::ETAG, etag);
    // Always revalidated: a new binary serves new files at once.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_module_the_pages_import_is_embedded() {
        // An import of a file not in ASSETS would 404 in the browser: check the table
        // against every `from './…'` / `import('./…')` in the embedded scripts.
        for asset in ASSETS.iter().filter(|a| a.name.ends_with(".js")) {
            let text = std::str::from_utf8(asset.bytes).unwrap();
            let dir = asset.name.rsplit_once('/').map_or("", |(d, _)| d);
            for part in text
                .split(['\'', '"'])
                .filter(|p| p.starts_with("./") || p.starts_with("../"))
            {
                if !part.ends_with(".js") {
                    continue;
                }
                let mut path: Vec<&str> = dir.split('/').filter(|s| !s.is_empty()).collect();
                for seg in part.split('/') {
                    match seg {
                        "." => {}
                        ".." => {
                            path.pop();
                        }
                        s => path.push(s),
                    }
                }
                let wanted = path.join("/");
                assert!(
                    ASSETS.iter().any(|a| a.name == wanted),
                    "{} imports {part} ({wanted}), which is not embedded",
                    asset.name
                );
            }
        }
    }

    #[test]
    fn no_inline_script_or_style_in_the_page() {
        let index = std::str::from_utf8(ASSETS[0].bytes).unwrap();
        assert!(
            !index.contains("<script>"),
            "inline script: the CSP forbids it"
        );
        assert!(
            !index.contains("<style"),
            "inline style: the CSP forbids it"
        );
        assert!(
            !index.contains(" style="),
            "inline style: the CSP forbids it"
        );
        assert!(
            !index.contains("onclick"),
            "inline handler: the CSP forbids it"
        );
    }
}
