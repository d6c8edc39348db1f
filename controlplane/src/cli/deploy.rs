//! `fleetboot deploy create|list|show|cancel`: requests to the admin API (see
//! [`super::remote`]) and their printing.

use std::fmt::Write as _;

use axum::http::Method;
use serde_json::{json, Value};

use super::remote::Remote;
use super::DeployCommand;
use crate::deploy::Deploy;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Runs `command`; returns what to print.
///
/// # Errors
/// The request failed (bad image, machine or disk, no agent, no server).
pub fn run(command: DeployCommand) -> Result<String, BoxError> {
    match command {
        DeployCommand::Create {
            image,
            clients,
            group,
            disk,
            rate,
            min_receivers,
            max_wait,
            timeout,
            json,
            data_dir,
        } => {
            let body = json!({
                "image": image,
                "clients": clients,
                "group": group,
                "disk": disk,
                "rate_mbit": rate,
                "min_receivers": min_receivers,
                "max_wait_secs": max_wait,
                "timeout_secs": timeout,
            });
            let view =
                Remote::connect(&data_dir)?.call(Method::POST, "/api/v1/deploys", Some(&body))?;
            if json {
                return Ok(serde_json::to_string_pretty(&view)? + "\n");
            }
            let d: Deploy = serde_json::from_value(view)?;
            Ok(format!(
                "deploy {} started: {} to {} on {} machine(s); they boot the deploy agent next time \
                 (watch with `fleetboot deploy show {}`)\n",
                d.id,
                d.image,
                d.disk,
                d.clients.len(),
                d.id
            ))
        }
        DeployCommand::List { json, data_dir } => {
            let list = Remote::connect(&data_dir)?.call(Method::GET, "/api/v1/deploys", None)?;
            if json {
                return Ok(serde_json::to_string_pretty(&list)? + "\n");
            }
            table(list.as_array().map_or(&[][..], Vec::as_slice))
        }
        DeployCommand::Show { id, json, data_dir } => {
            let path = format!("/api/v1/deploys/{id}");
            let view = Remote::connect(&data_dir)?.call(Method::GET, &path, None)?;
            if json {
                return Ok(serde_json::to_string_pretty(&view)? + "\n");
            }
            show(&view)
        }
        DeployCommand::Cancel { id, data_dir } => {
            let path = format!("/api/v1/deploys/{id}");
            let view = Remote::connect(&data_dir)?.call(Method::DELETE, &path, None)?;
            let d: Deploy = serde_json::from_value(view)?;
            Ok(format!(
                "deploy {} cancelled: machines not done boot what they booted before\n",
                d.id
            ))
        }
    }
}

/// `pending/receiving/done/failed` of a view.
fn counts(view: &Value) -> String {
    let c = &view["counts"];
    format!(
        "{}/{}/{}/{}",
        c["pending"], c["receiving"], c["done"], c["failed"]
    )
}

fn table(views: &[Value]) -> Result<String, BoxError> {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>4}  {:<9}  {:<28}  {:<12}  {:<8}  PENDING/RECEIVING/DONE/FAILED",
        "ID", "STATE", "IMAGE", "DISK", "SESSION"
    );
    for view in views {
        let d: Deploy = serde_json::from_value(view.clone())?;
        let session = d.session.unwrap_or_else(|| "-".to_owned());
        let _ = writeln!(
            out,
            "{:>4}  {:<9}  {:<28}  {:<12}  {:<8}  {}",
            d.id,
            view["state"].as_str().unwrap_or("?"),
            d.image,
            d.disk,
            session,
            counts(view)
        );
    }
    Ok(out)
}

fn show(view: &Value) -> Result<String, BoxError> {
    let d: Deploy = serde_json::from_value(view.clone())?;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "deploy {}: {}",
        d.id,
        view["state"].as_str().unwrap_or("?")
    );
    let _ = writeln!(out, "image:    {}", d.image);
    let _ = writeln!(out, "disk:     {}", d.disk);
    if let Some(g) = &d.group {
        let _ = writeln!(out, "group:    {g}");
    }
    let _ = writeln!(
        out,
        "machines: {} (pending/receiving/done/failed)",
        counts(view)
    );
    let _ = writeln!(out, "session:  {}", d.session.as_deref().unwrap_or("-"));
    if let Some(session) = view["multicast"].as_object() {
        for (k, v) in session {
            if !v.is_array() && !v.is_object() && k != "id" {
                let _ = writeln!(out, "  {k}: {v}");
            }
        }
    }
    out.push('\n');
    let _ = writeln!(out, "{:<17}  {:<9}  MESSAGE", "MAC", "STATE");
    for c in &d.clients {
        let state = serde_json::to_value(c.state)?;
        let _ = writeln!(
            out,
            "{:<17}  {:<9}  {}",
            c.mac.to_string(),
            state.as_str().unwrap_or("?"),
            c.message.as_deref().unwrap_or("")
        );
    }
    Ok(out)
}
