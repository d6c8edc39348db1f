//! `fleetboot multicast send|list|show|cancel`: requests to the admin API (see
//! [`super::remote`]); a session needs a running server (its data plane sends).

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use axum::http::Method;

use super::remote::Remote;
use super::MulticastCommand;
use crate::service::multicast::{SendSpec, SessionView};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How often `send --wait` asks how the session goes.
const POLL: Duration = Duration::from_secs(1);

/// Runs `command`, printing as it goes (`send --wait` follows the session to its end).
///
/// # Errors
/// The request failed (bad path, no server, unknown id), or the session followed failed.
pub fn run(command: MulticastCommand) -> Result<(), BoxError> {
    match command {
        MulticastCommand::Send {
            file,
            group,
            port,
            rate,
            ttl,
            interface,
            min_receivers,
            max_wait,
            slow,
            wait,
            data_dir,
        } => {
            let spec = SendSpec {
                path: relative_to(&data_dir, &file)?,
                group,
                port,
                rate_mbit: rate,
                ttl,
                interface,
                min_receivers,
                max_wait_secs: max_wait,
                slow,
            };
            let remote = Remote::connect(&data_dir)?;
            let answer = remote.call(
                Method::POST,
                "/api/v1/multicast",
                Some(&serde_json::to_value(&spec)?),
            )?;
            let view: SessionView = serde_json::from_value(answer)?;
            println!("{}", view.url);
            if wait {
                follow(&remote, &view.id)?;
            }
            Ok(())
        }
        MulticastCommand::List { json, data_dir } => {
            let list = Remote::connect(&data_dir)?.call(Method::GET, "/api/v1/multicast", None)?;
            let views: Vec<SessionView> = serde_json::from_value(list)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&views)?);
            } else {
                print!("{}", table(&views));
            }
            Ok(())
        }
        MulticastCommand::Show { id, json, data_dir } => {
            let view = show(&Remote::connect(&data_dir)?, &id)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&view)?);
            } else {
                print!("{}", details(&view));
            }
            Ok(())
        }
        MulticastCommand::Cancel { id, data_dir } => {
            check_id(&id)?;
            let path = format!("/api/v1/multicast/{id}");
            let answer = Remote::connect(&data_dir)?.call(Method::DELETE, &path, None)?;
            let view: SessionView = serde_json::from_value(answer)?;
            println!("{} {}", view.id, view.state);
            Ok(())
        }
    }
}

/// `file` as the API wants it: relative to the data dir. An existing path (relative to the
/// working directory, or absolute) is made relative; anything else is taken as relative to
/// the data dir already (the server checks it stays inside).
fn relative_to(data_dir: &Path, file: &str) -> Result<String, BoxError> {
    let path = Path::new(file);
    if !path.exists() {
        return Ok(file.to_owned());
    }
    let real = path.canonicalize()?;
    let root = data_dir
        .canonicalize()
        .map_err(|e| format!("data dir {}: {e}", data_dir.display()))?;
    let inside = real.strip_prefix(&root).map_err(|_| {
        format!(
            "{file} is not inside the data dir {} (sessions send files of the data dir)",
            root.display()
        )
    })?;
    Ok(inside.to_string_lossy().into_owned())
}

/// The id goes into a path: hex only.
fn check_id(id: &str) -> Result<(), BoxError> {
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("{id:?} is not a session id (hex, see `multicast list`)").into());
    }
    Ok(())
}

fn show(remote: &Remote, id: &str) -> Result<SessionView, BoxError> {
    check_id(id)?;
    let answer = remote.call(Method::GET, &format!("/api/v1/multicast/{id}"), None)?;
    Ok(serde_json::from_value(answer)?)
}

/// Prints a line whenever the session moves, until it is over; an error unless it finished.
fn follow(remote: &Remote, id: &str) -> Result<(), BoxError> {
    let mut last = String::new();
    loop {
        let view = show(remote, id)?;
        let line = progress(&view);
        if line != last {
            eprintln!("{line}");
            last = line;
        }
        match view.state.as_str() {
            "finished" => return Ok(()),
            "cancelled" | "failed" => {
                let why = view.error.unwrap_or_else(|| view.state.clone());
                return Err(format!("session {id}: {why}").into());
            }
            _ => std::thread::sleep(POLL),
        }
    }
}

fn done_count(view: &SessionView) -> usize {
    view.receivers
        .iter()
        .filter(|r| r.verdict == "done")
        .count()
}

fn progress(view: &SessionView) -> String {
    format!(
        "{} {}: {:.0} Mbit/s, {} MiB sent, {} repair rounds, {}/{} receivers done",
        view.id,
        view.state,
        view.rate_mbit,
        view.bytes_sent >> 20,
        view.repair_rounds,
        done_count(view),
        view.receivers.len()
    )
}

fn table(views: &[SessionView]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<8}  {:<9}  {:>8}  {:>7}  {:<22}  {:<9}  URL",
        "ID", "STATE", "MIB", "MBIT/S", "GROUP", "RECEIVERS"
    );
    for v in views {
        let group = format!("{}:{}", v.group, v.port);
        let receivers = format!("{}/{}", done_count(v), v.receivers.len());
        let _ = writeln!(
            out,
            "{:<8}  {:<9}  {:>8}  {:>7.0}  {:<22}  {:<9}  {}",
            v.id,
            v.state,
            v.size >> 20,
            v.rate_mbit,
            group,
            receivers,
            v.url
        );
    }
    out
}

fn details(v: &SessionView) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "session   {} ({})", v.id, v.state);
    if let Some(e) = &v.error {
        let _ = writeln!(out, "error     {e}");
    }
    let _ = writeln!(out, "manifest  {}", v.url);
    let _ = writeln!(
        out,
        "file      {} ({} bytes, {} chunks)",
        v.path, v.size, v.chunks
    );
    let _ = writeln!(
        out,
        "group     {}:{} via {} (ttl {})",
        v.group, v.port, v.interface, v.ttl
    );
    let _ = writeln!(
        out,
        "policy    {} receivers, {} s wait, slow: {}",
        v.min_receivers, v.max_wait_secs, v.slow
    );
    let _ = writeln!(out, "progress  {}", progress(v));
    for r in &v.receivers {
        let _ = writeln!(
            out,
            "  {:<24} {:<15} {:<9} {:>6} chunks  loss {:>5.1}%{}  {:.1} s ago",
            r.name,
            r.address,
            r.verdict,
            r.chunks_done,
            r.loss * 100.0,
            if r.unicast { "  (unicast)" } else { "" },
            r.last_report_secs
        );
    }
    out
}
