//! `fleetboot clients list|assign|unassign`: through the control socket of a running server,
//! or straight on the database when none runs (the change is then picked up at next start).

use std::fmt::Write as _;
use std::path::Path;

use super::Client;
use crate::control::{self, Request, Response};
use crate::store::Store;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Runs `request` and renders its answer (`json`: machine-readable).
///
/// # Errors
/// The request failed (unknown image, bad MAC, no database).
pub fn run(data_dir: &Path, request: Request, json: bool) -> Result<String, BoxError> {
    let response = match control::call(data_dir, &request)? {
        Some(r) => r,
        None => offline(data_dir, request)?,
    };
    match response {
        Response::Error(e) => Err(e.into()),
        Response::Users(_) => Err("the server answered with users".into()),
        Response::Clients(list) if json => Ok(serde_json::to_string_pretty(&list)? + "\n"),
        Response::Clients(list) => Ok(table(&list)),
        Response::Client(c) if json => Ok(serde_json::to_string_pretty(&c)? + "\n"),
        Response::Client(c) => {
            let then = c.assigned.as_deref().unwrap_or("the menu");
            Ok(match &c.next_boot {
                Some(next) => format!("{}: boots {next} next time, then {then}\n", c.mac),
                None => format!("{}: boots {then}\n", c.mac),
            })
        }
    }
}

/// The same requests against the database, when no server holds it.
fn offline(data_dir: &Path, request: Request) -> Result<Response, BoxError> {
    if !data_dir.join("fleetboot.redb").is_file() {
        return Err(format!(
            "no database in {} (run `fleetboot serve` once)",
            data_dir.display()
        )
        .into());
    }
    let store = Store::open(data_dir)?;
    let clients = store.clients()?;
    let (mac, assigned, once) = match &request {
        Request::List => return Ok(Response::Clients(clients)),
        Request::Assign { mac, image, once } => {
            if !store.images()?.iter().any(|i| &i.id == image) {
                return Ok(Response::Error(format!(
                    "no image {image:?} (see `fleetboot images list`)"
                )));
            }
            (mac, Some(image.clone()), *once)
        }
        Request::Unassign { mac } => (mac, None, false),
        Request::User(_) => return Err("not a clients request".into()),
    };
    let mac = mac.parse()?;
    let mut client = clients
        .into_iter()
        .find(|c| c.mac == mac)
        .unwrap_or_else(|| Client::new(mac, crate::coordinator::unix_now()));
    match (assigned, once) {
        (Some(image), true) => client.next_boot = Some(image),
        (assigned, _) => {
            client.assigned = assigned;
            client.next_boot = None;
        }
    }
    store.save_clients([&client], &std::collections::BTreeSet::new())?;
    Ok(Response::Client(Box::new(client)))
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
