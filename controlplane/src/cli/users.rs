//! `fleetboot user add|passwd|del|list`: through the control socket of a running server, or
//! straight on the database when none runs, like `fleetboot clients`. Passwords are hashed
//! here, before either.

use std::fmt::Write as _;
use std::io::{BufRead, IsTerminal};
use std::path::Path;

use super::UserCommand;
use crate::control::{self, Request, Response};
use crate::store::Store;
use crate::users::{self, password, User, UserRequest, Username};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Runs `command`; returns what to print.
///
/// # Errors
/// Refused (bad name, last admin, …) or failed (database, input, server).
pub fn run(command: UserCommand) -> Result<String, BoxError> {
    let (data_dir, request, done) = match command {
        UserCommand::List { json, data_dir } => {
            let list = call(&data_dir, UserRequest::List)?;
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
            let name = name.to_string();
            (data_dir, UserRequest::Add { name, role, hash }, done)
        }
        UserCommand::Passwd {
            name,
            generate,
            data_dir,
        } => {
            let name: Username = name.parse()?;
            let (hash, shown) = new_password(&name, generate)?;
            let done = format!("password of {name} changed{shown}\n");
            let name = name.to_string();
            (data_dir, UserRequest::SetPassword { name, hash }, done)
        }
        UserCommand::Del { name, data_dir } => {
            let name: Username = name.parse()?;
            let done = format!("user {name} deleted\n");
            let name = name.to_string();
            (data_dir, UserRequest::Delete { name }, done)
        }
    };
    call(&data_dir, request)?;
    Ok(done)
}

/// Applies `request` in the running server, else on the database; returns every user.
fn call(data_dir: &Path, request: UserRequest) -> Result<Vec<User>, BoxError> {
    match control::call(data_dir, &Request::User(request.clone()))? {
        Some(Response::Users(list)) => Ok(list),
        Some(Response::Error(e)) => Err(e.into()),
        Some(_) => Err("the server answered something else than users".into()),
        None => {
            if !data_dir.join("fleetboot.redb").is_file() {
                return Err(format!(
                    "no database in {} (run `fleetboot serve` once)",
                    data_dir.display()
                )
                .into());
            }
            Ok(users::apply(&Store::open(data_dir)?, request)?)
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
