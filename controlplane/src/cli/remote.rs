//! How CLI commands reach the admin API: over the control socket of a running server, or,
//! with none running, through the same router served in-process on the database, so that
//! both paths apply the same rules ([`crate::service`]).

use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Method, Request, Response};
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tower::ServiceExt;

use crate::api::{self, AppState, Backend};
use clap::Parser as _;

use crate::config::Settings;
use crate::control::socket_path;
use crate::coordinator::{Coordinator, Message};
use crate::service::access::Grants;
use crate::service::Service;
use crate::store::Store;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A connection to the API.
pub struct Remote {
    runtime: tokio::runtime::Runtime,
    target: Target,
}

enum Target {
    Socket(std::path::PathBuf),
    /// The router on a coordinator of our own; the thread hands the store back at the end.
    Offline {
        router: axum::Router,
        stop: crossbeam_channel::Sender<Message>,
        thread: Option<std::thread::JoinHandle<Store>>,
    },
}

impl Remote {
    /// The running server's API, else one on the database in `data_dir`.
    ///
    /// # Errors
    /// No server and no database, or the database cannot be opened.
    pub fn connect(data_dir: &Path) -> Result<Remote, BoxError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let socket = socket_path(data_dir);
        match std::os::unix::net::UnixStream::connect(&socket) {
            Ok(_) => {
                return Ok(Remote {
                    runtime,
                    target: Target::Socket(socket),
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                return Err(format!(
                    "{} belongs to the server's user: run this command as that user (or root)",
                    socket.display()
                )
                .into())
            }
            // No server (no socket, or one left by a crash): the database itself.
            Err(_) => {}
        }
        if !data_dir.join("fleetboot.redb").is_file() {
            return Err(format!(
                "no server running and no database in {} (run `fleetboot serve` once)",
                data_dir.display()
            )
            .into());
        }
        // The settings the server would start with (its config file and environment).
        let data = data_dir.to_str().ok_or("the data dir is not UTF-8")?;
        let crate::cli::Command::Serve(args) =
            crate::cli::Cli::try_parse_from(["fleetboot", "serve", "--data-dir", data])?.command
        else {
            return Err("cannot read the settings".into());
        };
        let settings = Settings::resolve(&args)?;
        let store = Store::open(data_dir)?;
        let grants = Arc::new(Grants::default());
        let site = crate::boot::Site {
            base: String::new(),
            kernel_args: String::new(),
            has_wimboot: false,
            has_memdisk: false,
        };
        let service = Service::new(&settings, store, site, Arc::default(), grants.clone())?;
        let (tx, rx) = crossbeam_channel::unbounded();
        let (_events, event_rx) = crossbeam_channel::bounded(1);
        let to_self = tx.clone();
        let thread = std::thread::Builder::new()
            .name("fleetboot-cli-coordinator".into())
            .spawn(move || {
                // The event sender stays alive with the thread: only `Stop` ends it.
                let _keep = _events;
                Coordinator::offline(service).run(event_rx, rx, to_self)
            })?;
        let state = AppState {
            backend: Backend::new(tx.clone()),
            grants,
            hub: crate::live::Hub::new(),
            logins: Arc::new(api::auth::LoginLimiter::new(5)),
            session_ttl: settings.admin.session_ttl,
            data_dir: data_dir.to_owned(),
            ca_file: None,
            catalog: dataplane::CatalogHandle::new(dataplane::Catalog::default()),
            stats: Arc::default(),
            events_dropped: dataplane::EventSink::bounded(1).0.drops(),
            driver: "none",
            clients: Arc::default(),
            admin_refused: Arc::default(),
            jobs: crate::transfer::Jobs::new(data_dir, Default::default()),
            upload_max: settings.admin.upload_max_bytes,
            metrics: Arc::default(),
            wol: settings.wol,
            server: Arc::default(),
            multicast: None,
        };
        Ok(Remote {
            runtime,
            target: Target::Offline {
                router: api::app(state, true),
                stop: tx,
                thread: Some(thread),
            },
        })
    }

    /// Sends `method path` with a JSON `body`; returns the JSON answer, or the API's error as
    /// the error.
    ///
    /// # Errors
    /// The API refused (its `detail`), or the server could not be reached.
    pub fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, BoxError> {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, "localhost");
        let body = match body {
            Some(v) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Body::from(serde_json::to_vec(v)?)
            }
            None => Body::empty(),
        };
        let request = request.body(body)?;
        let response = self.runtime.block_on(async {
            match &self.target {
                Target::Socket(path) => send(path, request).await,
                Target::Offline { router, .. } => Ok(router.clone().oneshot(request).await?),
            }
        })?;
        let status = response.status();
        let bytes = self
            .runtime
            .block_on(response.into_body().collect())?
            .to_bytes();
        let value: Value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .map_err(|e| format!("the server's answer is not JSON ({status}): {e}"))?
        };
        if status.is_success() {
            Ok(value)
        } else {
            Err(value
                .get("detail")
                .and_then(Value::as_str)
                .map_or_else(|| format!("the server answered {status}"), str::to_owned)
                .into())
        }
    }
}

impl Drop for Remote {
    fn drop(&mut self) {
        if let Target::Offline { stop, thread, .. } = &mut self.target {
            let _ = stop.send(Message::Stop);
            // Joining closes the database cleanly before the process exits.
            if let Some(t) = thread.take() {
                let _ = t.join();
            }
        }
    }
}

/// One request over the control socket (HTTP/1.1, one connection per request).
async fn send(path: &Path, request: Request<Body>) -> Result<Response<Body>, BoxError> {
    let stream = tokio::net::UnixStream::connect(path).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let response = sender.send_request(request).await?;
    let (parts, body) = response.into_parts();
    Ok(Response::from_parts(parts, Body::new(body)))
}
