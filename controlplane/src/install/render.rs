//! Rendering with minijinja: the variables a template sees (`hostname`, `mac`, `ip`, `arch`,
//! `server`, `image`, `inventory`, `metadata`, `url`, `done_url`, `progress_url`) and the
//! functions `secret(name)` / `has_secret(name)`, whose values stay on the server (never in
//! menus, boot scripts, logs or the API's views).

use std::collections::BTreeMap;

use minijinja::{Environment, Error, ErrorKind, Value};
use serde::Serialize;

use super::Template;

/// What a machine's templates know about it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Vars {
    /// Its name, else `host-<mac without colons>`.
    pub hostname: String,
    /// `52:54:00:12:34:56`.
    pub mac: String,
    /// Last address, when known.
    pub ip: Option<String>,
    /// Firmware (`bios`, `efi-x64`, …).
    pub arch: Option<String>,
    /// `host:port` the installer reaches the boot HTTP server at (filled per request).
    pub server: String,
    /// `{id, distro, layout}` of the image it installs.
    pub image: BTreeMap<String, String>,
    /// `{uuid, serial, product, manufacturer}` as reported.
    pub inventory: BTreeMap<String, String>,
    /// The group's key/values under the machine's own.
    pub metadata: BTreeMap<String, String>,
    /// Its template URL (`http://server/t/<token>`).
    pub url: String,
    /// Where the installer reports it is done (POST).
    pub done_url: String,
    /// Where the installer may report progress (POST).
    pub progress_url: String,
}

/// Parses `text` (for a check when a template is stored).
///
/// # Errors
/// A syntax error, with its line.
pub fn compile(text: &str) -> Result<(), String> {
    let mut env = Environment::new();
    env.add_template("t", text).map_err(|e| describe(&e))?;
    Ok(())
}

/// Renders every file of `template` for `vars`; `secrets` are reachable by name only.
///
/// # Errors
/// A file that does not render (a missing secret, a template error), named.
pub fn render(
    template: &Template,
    vars: &Vars,
    secrets: &BTreeMap<String, String>,
) -> Result<Vec<(String, String)>, String> {
    let mut env = Environment::new();
    let known = secrets.clone();
    env.add_function("secret", move |name: String| -> Result<Value, Error> {
        known
            .get(&name)
            .map(|v| Value::from(v.as_str()))
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::InvalidOperation,
                    format!("no secret {name:?} (POST /api/v1/secrets)"),
                )
            })
    });
    let names: Vec<String> = secrets.keys().cloned().collect();
    env.add_function("has_secret", move |name: String| names.contains(&name));
    let context = Value::from_serialize(vars);
    template
        .files
        .iter()
        .map(|(file, text)| {
            env.render_str(text, &context)
                .map(|out| (file.clone(), out))
                .map_err(|e| format!("{file}: {}", describe(&e)))
        })
        .collect()
}

fn describe(e: &Error) -> String {
    match e.line() {
        Some(line) => format!(
            "{} (line {line})",
            e.detail().unwrap_or(&e.kind().to_string())
        ),
        None => e.to_string(),
    }
}
