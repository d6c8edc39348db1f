//! `fleetboot user add|passwd|del|list`, straight on the database. A running server holds the
//! database, so changes refuse with a message saying so; `list` reads beside it.

use std::fmt::Write as _;
use std::io::{BufRead, IsTerminal};
use std::path::Path;

use super::UserCommand;
use crate::clients::control::socket_path;
use crate::store::{ReadOnlyStore, Store};
use crate::users::{self, password, User, Username};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Runs `command`; returns what to print.
///
/// # Errors
/// Refused (bad name, last admin, server running) or failed (database, input).
pub fn run(command: UserCommand) -> Result<String, BoxError> {
    match command {
        UserCommand::List { json, data_dir } => {
            existing_database(&data_dir)?;
            let list = ReadOnlyStore::open(&data_dir)?.users()?;
            Ok(if json {
                serde_json::to_string_pretty(&list)? + "\n"
            } else {
                table(&list)
            })
        }
        UserCommand::Add {
            name,
            role,
            generate,
            data_dir,
        } => {
            let name: Username = name.parse()?;
            let store = writable(&data_dir)?;
            let (password, shown) = new_password(&name, generate)?;
            users::add(&store, &name, role, &password)?;
            Ok(format!("user {name} added ({role}){shown}\n"))
        }
        UserCommand::Passwd {
            name,
            generate,
            data_dir,
        } => {
            let name: Username = name.parse()?;
            let store = writable(&data_dir)?;
            let (password, shown) = new_password(&name, generate)?;
            users::set_password(&store, &name, &password)?;
            Ok(format!("password of {name} changed{shown}\n"))
        }
        UserCommand::Del { name, data_dir } => {
            let name: Username = name.parse()?;
            writable(&data_dir)?.delete_user(&name)?;
            Ok(format!("user {name} deleted\n"))
        }
    }
}

fn existing_database(data_dir: &Path) -> Result<(), BoxError> {
    if data_dir.join("fleetboot.redb").is_file() {
        Ok(())
    } else {
        Err(format!(
            "no database in {} (run `fleetboot serve` once)",
            data_dir.display()
        )
        .into())
    }
}

/// The store for a change. The running server holds the database (and would not see a change
/// made under it), and user changes do not travel over the control socket yet: they will with
/// the admin API; until then the server must be stopped.
fn writable(data_dir: &Path) -> Result<Store, BoxError> {
    existing_database(data_dir)?;
    if std::os::unix::net::UnixStream::connect(socket_path(data_dir)).is_ok() {
        return Err(format!(
            "a fleetboot server is running on {} and holds the database: stop it to change \
             users (changing them while it runs comes with the admin API)",
            data_dir.display()
        )
        .into());
    }
    Ok(Store::open(data_dir)?)
}

/// The new password, and the text that shows it when generated (nothing otherwise).
fn new_password(name: &Username, generate: bool) -> Result<(String, String), BoxError> {
    if generate {
        let password = password::generate()?;
        let shown = format!("\nuser: {name}  password: {password}");
        return Ok((password, shown));
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
    Ok((password, String::new()))
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
