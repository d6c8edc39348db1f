//! `fleetboot clients list|assign|unassign`: requests to the admin API (see [`super::remote`]).

use std::fmt::Write as _;

use axum::http::Method;
use serde_json::json;

use super::remote::Remote;
use super::ClientsCommand;
use crate::clients::Client;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Runs `command`; returns what to print.
///
/// # Errors
/// The request failed (unknown image, bad MAC, no database, no server).
pub fn run(command: ClientsCommand) -> Result<String, BoxError> {
    let (data_dir, mac, patch, json) = match command {
        ClientsCommand::List { json, data_dir } => {
            let list = Remote::connect(&data_dir)?.call(Method::GET, "/api/v1/clients", None)?;
            let clients: Vec<Client> = serde_json::from_value(list)?;
            return Ok(if json {
                serde_json::to_string_pretty(&clients)? + "\n"
            } else {
                table(&clients)
            });
        }
        ClientsCommand::Assign {
            mac,
            image_id,
            once,
            json,
            data_dir,
        } => {
            let patch = if once {
                json!({ "next_boot": image_id })
            } else {
                json!({ "assigned": image_id })
            };
            (data_dir, mac, patch, json)
        }
        ClientsCommand::Unassign {
            mac,
            json,
            data_dir,
        } => (
            data_dir,
            mac,
            json!({ "assigned": null, "next_boot": null }),
            json,
        ),
    };
    // The MAC goes into a path: only what a MAC can be.
    if !mac
        .chars()
        .all(|c| c.is_ascii_hexdigit() || matches!(c, ':' | '-'))
    {
        return Err(format!("{mac:?} is not a MAC address").into());
    }
    let path = format!("/api/v1/clients/{mac}");
    let answer = Remote::connect(&data_dir)?.call(Method::PATCH, &path, Some(&patch))?;
    let c: Client = serde_json::from_value(answer)?;
    if json {
        return Ok(serde_json::to_string_pretty(&c)? + "\n");
    }
    let then = c.assigned.as_deref().unwrap_or("the menu");
    Ok(match &c.next_boot {
        Some(next) => format!("{}: boots {next} next time, then {then}\n", c.mac),
        None => format!("{}: boots {then}\n", c.mac),
    })
}

fn table(clients: &[Client]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<17}  {:<10}  {:<15}  {:<24}  {:<20}  LAST BOOT",
        "MAC", "ARCH", "IP", "MACHINE", "ASSIGNED"
    );
    for c in clients {
        let machine = [c.manufacturer.as_deref(), c.product.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        let assigned = match (&c.next_boot, &c.assigned) {
            (Some(next), Some(i)) => format!("{next} (once), {i}"),
            (Some(next), None) => format!("{next} (once)"),
            (None, Some(i)) => i.clone(),
            (None, None) => "-".into(),
        };
        let _ = writeln!(
            out,
            "{:<17}  {:<10}  {:<15}  {:<24}  {:<20}  {}",
            c.mac.to_string(),
            c.arch.as_deref().unwrap_or("-"),
            c.ip.as_deref().unwrap_or("-"),
            if machine.is_empty() { "-" } else { &machine },
            assigned,
            c.last_boot.as_deref().unwrap_or("-")
        );
    }
    out
}
