//! `fleetboot user add|passwd|del|list` and `fleetboot token create|list|del`: requests to
//! the admin API (see [`super::remote`]). Passwords are hashed here: no password crosses the
//! socket, and the server's threads do not pay for argon2id.

use std::fmt::Write as _;
use std::io::{BufRead, IsTerminal};
use std::path::Path;

use axum::http::Method;
use serde_json::{json, Value};

use super::remote::Remote;
use super::{TokenCommand, UserCommand};
use crate::users::{self, password, User, Username};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Runs `command`; returns what to print.
///
/// # Errors
/// Refused (bad name, last admin, …) or failed (database, input, server).
pub fn run(command: UserCommand) -> Result<String, BoxError> {
    let (data_dir, method, path, body, done) = match command {
        UserCommand::List { json, data_dir } => {
            let list = call(&data_dir, Method::GET, "/api/v1/users".into(), None)?;
            return Ok(if json {
                serde_json::to_string_pretty(&list)? + "\n"
            } else {
                table(&list)
            });
        }
        UserCommand::Add {
            name,
            role,
            generate,
            data_dir,
        } => {
            let name: Username = name.parse()?;
            let (hash, shown) = new_password(&name, generate)?;
            let done = format!("user {name} added ({role}){shown}\n");
            let body = json!({ "name": name.to_string(), "role": role, "password_hash": hash });
            (
                data_dir,
                Method::POST,
                "/api/v1/users".to_owned(),
                Some(body),
                done,
            )
        }
        UserCommand::Passwd {
            name,
            generate,
            data_dir,
        } => {
            let name: Username = name.parse()?;
            let (hash, shown) = new_password(&name, generate)?;
            let done = format!("password of {name} changed{shown}\n");
            let body = json!({ "password_hash": hash });
            (
                data_dir,
                Method::PATCH,
                format!("/api/v1/users/{name}"),
                Some(body),
                done,
            )
        }
        UserCommand::Del { name, data_dir } => {
            let name: Username = name.parse()?;
            let done = format!("user {name} deleted\n");
            (
                data_dir,
                Method::DELETE,
                format!("/api/v1/users/{name}"),
                None,
                done,
            )
        }
    };
    call(&data_dir, method, path, body)?;
    Ok(done)
}

/// Sends one users request; returns every user after it.
fn call(
    data_dir: &Path,
    method: Method,
    path: String,
    body: Option<Value>,
) -> Result<Vec<User>, BoxError> {
    let answer = Remote::connect(data_dir)?.call(method, &path, body.as_ref())?;
    Ok(serde_json::from_value(answer)?)
}

/// Runs a `token` command; returns what to print.
///
/// # Errors
/// Refused (bad or taken name, no such token) or failed (database, server).
pub fn run_token(command: TokenCommand) -> Result<String, BoxError> {
    match command {
        TokenCommand::Create {
            name,
            role,
            data_dir,
        } => {
            let body = json!({ "name": name, "role": role });
            let issued =
                Remote::connect(&data_dir)?.call(Method::POST, "/api/v1/tokens", Some(&body))?;
            let token = issued.get("token").and_then(Value::as_str).unwrap_or("");
            let id = issued.get("id").and_then(Value::as_str).unwrap_or("");
            Ok(format!(
                "token {name} ({role}) created; it is shown only now:\n{token}\nid: {id}\n"
            ))
        }
        TokenCommand::List { json, data_dir } => {
            let list = Remote::connect(&data_dir)?.call(Method::GET, "/api/v1/tokens", None)?;
            if json {
                return Ok(serde_json::to_string_pretty(&list)? + "\n");
            }
            let mut out = format!(
                "{:<64}  {:<20}  {:<6}  {:<12}  CREATED\n",
                "ID", "NAME", "ROLE", "BY"
            );
            for t in list.as_array().into_iter().flatten() {
                let field = |k: &str| {
                    t.get(k).map_or_else(String::new, |v| match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                };
                let _ = writeln!(
                    out,
                    "{:<64}  {:<20}  {:<6}  {:<12}  {}",
                    field("id"),
                    field("name"),
                    field("role"),
                    field("user"),
                    field("created")
                );
            }
            Ok(out)
        }
        TokenCommand::Del { id, data_dir } => {
            if !id.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(
                    format!("{id:?} is not a token id (see `fleetboot token list`)").into(),
                );
            }
            Remote::connect(&data_dir)?.call(
                Method::DELETE,
                &format!("/api/v1/tokens/{id}"),
                None,
            )?;
            Ok(format!("token {id} revoked\n"))
        }
    }
}

/// The new password's hash, and the text that shows the password when generated (nothing
/// otherwise).
fn new_password(name: &Username, generate: bool) -> Result<(String, String), BoxError> {
    if generate {
        let password = password::generate()?;
        let shown = format!("\nuser: {name}  password: {password}");
        return Ok((users::hash_password(&password)?, shown));
    }
    let stdin = std::io::stdin();
    let password = if stdin.is_terminal() {
        let first = rpassword::prompt_password(format!("password for {name}: "))?;
        let again = rpassword::prompt_password("again: ")?;
        if first != again {
            return Err("the passwords differ".into());
        }
        first
    } else {
        // One line, as a script pipes it; its line ending is not part of the password.
        let mut line = String::new();
        stdin.lock().read_line(&mut line)?;
        let end = line.trim_end_matches(['\n', '\r']).len();
        line.truncate(end);
        line
    };
    Ok((users::hash_password(&password)?, String::new()))
}

fn table(list: &[User]) -> String {
    let mut out = format!("{:<24}  {:<6}  {:<10}  NOTE\n", "NAME", "ROLE", "CREATED");
    for u in list {
        let note = if u.legacy_password {
            "old password hash: run `fleetboot user passwd`"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "{:<24}  {:<6}  {:<10}  {note}",
            u.name, u.role, u.created
        );
    }
    out
}
