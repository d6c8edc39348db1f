//! The local control socket (`<data dir>/control.sock`, mode 0600: file permissions are the
//! authentication) through which `fleetboot clients …` and `fleetboot user …` talk to a
//! running server, since `serve` holds the database. One JSON request line, one JSON response
//! line.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::clients::Client;
use crate::users::{User, UserRequest};

/// A request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Every client.
    List,
    /// Boot `image` on `mac` (next boot only with `once`).
    Assign {
        /// MAC address.
        mac: String,
        /// Image id.
        image: String,
        /// Next boot only.
        once: bool,
    },
    /// Back to the menu.
    Unassign {
        /// MAC address.
        mac: String,
    },
    /// A user query or change.
    User(UserRequest),
}

/// A response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Response {
    /// The clients.
    Clients(Vec<Client>),
    /// The changed client.
    Client(Box<Client>),
    /// Every user, after the change asked for.
    Users(Vec<User>),
    /// Why the request failed.
    Error(String),
}

/// The socket's path.
pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join("control.sock")
}

/// Longest request line accepted.
const MAX_REQUEST: u64 = 64 << 10;

/// Listens on the socket in a thread of its own; `handle` answers each request.
///
/// # Errors
/// The socket cannot be created.
pub fn listen(
    data_dir: &Path,
    handle: impl Fn(Request) -> Response + Send + 'static,
) -> std::io::Result<()> {
    let path = socket_path(data_dir);
    // A socket left by a crashed server is stale: nothing can be listening on it now that we
    // hold the database.
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    std::thread::Builder::new()
        .name("fleetboot-control-socket".into())
        .spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                if let Err(e) = answer(stream, &handle) {
                    tracing::debug!(error = %e, "control socket request failed");
                }
            }
        })?;
    Ok(())
}

fn answer(stream: UnixStream, handle: &impl Fn(Request) -> Response) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut line = String::new();
    BufReader::new((&stream).take(MAX_REQUEST)).read_line(&mut line)?;
    let response = match serde_json::from_str::<Request>(&line) {
        Ok(request) => handle(request),
        Err(e) => Response::Error(format!("bad request: {e}")),
    };
    let mut out = serde_json::to_vec(&response).map_err(std::io::Error::other)?;
    out.push(b'\n');
    (&stream).write_all(&out)
}

/// Sends `request` to a running server. `Ok(None)` when no server is listening.
///
/// # Errors
/// The server answered nothing usable.
pub fn call(data_dir: &Path, request: &Request) -> std::io::Result<Option<Response>> {
    let stream = match UnixStream::connect(socket_path(data_dir)) {
        Ok(s) => s,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Ok(None)
        }
        Err(e) => return Err(e),
    };
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut out = serde_json::to_vec(request).map_err(std::io::Error::other)?;
    out.push(b'\n');
    (&stream).write_all(&out)?;
    let mut line = String::new();
    BufReader::new(&stream).read_line(&mut line)?;
    serde_json::from_str(&line)
        .map(Some)
        .map_err(|e| std::io::Error::other(format!("bad answer from the server: {e}")))
}
