//! Unattended installs: templates (kickstart, preseed, cloud-init, AutoYaST, Agama, Ignition,
//! autounattend) rendered per machine and served to its installer at an unguessable URL on the
//! boot HTTP port, `/t/<token>/<file>`; the kernel parameters that point the installer there,
//! per install family ([`families`]); and which template a machine gets: its own, else its
//! group's, else its image's.

pub mod families;
pub mod render;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use dataplane::Mac;

use crate::users::password;

/// A template: a file per name its family expects, each a minijinja template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Template {
    /// 1 to 64 characters of `A-Z a-z 0-9 . _ -`.
    pub name: String,
    /// The install family (`nocloud`, `preseed`, `kickstart`, …).
    pub family: String,
    /// For people.
    #[serde(default)]
    pub description: String,
    /// File name → template text.
    pub files: BTreeMap<String, String>,
    /// Built into fleetboot (read-only; copy it to change it).
    #[serde(default)]
    pub builtin: bool,
}

/// A group of machines: a template and metadata its members share.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Group {
    /// The group's name.
    pub name: String,
    /// Template for its members (unless a member has its own).
    #[serde(default)]
    pub template: Option<String>,
    /// Free key/value, under each member's own.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

/// Where a machine's template comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(tag = "from", content = "name", rename_all = "lowercase")]
pub enum Source {
    /// Set on the client itself.
    Client,
    /// Its group's (named).
    Group(String),
    /// Its image's default (the image id).
    Image(String),
}

/// The built-in starter templates, one per family, named `starter-<family>`.
pub fn starters() -> Vec<Template> {
    const FILES: &[(&str, &str, &str)] = &[
        (
            "nocloud",
            "user-data",
            include_str!("starters/nocloud.user-data.j2"),
        ),
        (
            "nocloud",
            "meta-data",
            include_str!("starters/nocloud.meta-data.j2"),
        ),
        (
            "nocloud",
            "vendor-data",
            include_str!("starters/nocloud.vendor-data.j2"),
        ),
        (
            "preseed",
            "preseed.cfg",
            include_str!("starters/preseed.preseed.cfg.j2"),
        ),
        (
            "kickstart",
            "ks.cfg",
            include_str!("starters/kickstart.ks.cfg.j2"),
        ),
        (
            "autoyast",
            "autoinst.xml",
            include_str!("starters/autoyast.autoinst.xml.j2"),
        ),
        (
            "agama",
            "agama.json",
            include_str!("starters/agama.agama.json.j2"),
        ),
        (
            "ignition",
            "config.ign",
            include_str!("starters/ignition.config.ign.j2"),
        ),
        (
            "windows",
            "autounattend.xml",
            include_str!("starters/windows.autounattend.xml.j2"),
        ),
    ];
    families::all()
        .iter()
        .map(|f| Template {
            name: format!("starter-{}", f.id),
            family: f.id.clone(),
            description: format!("fleetboot's minimal {}", f.name),
            files: FILES
                .iter()
                .filter(|(family, _, _)| *family == f.id)
                .map(|(_, file, text)| ((*file).to_owned(), (*text).to_owned()))
                .collect(),
            builtin: true,
        })
        .collect()
}

/// A machine's token: unguessable without the server's install key, stable for the machine,
/// so nothing per machine needs storing; a new key (`DELETE /api/v1/install-key`) changes
/// every token.
pub fn token(key: &[u8], mac: Mac) -> String {
    let mut h = Sha256::new();
    h.update(b"fleetboot-install-token\0");
    h.update(key);
    h.update(mac.to_string().as_bytes());
    password::hex(&h.finalize()[..16])
}

/// Checks a template's name, family and files.
///
/// # Errors
/// Why it cannot be stored.
pub fn check(t: &Template) -> Result<(), String> {
    let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if !(1..=64).contains(&t.name.len()) || !t.name.chars().all(valid) {
        return Err("name: 1 to 64 characters of A-Z a-z 0-9 . _ -".into());
    }
    if t.name.starts_with("starter-") {
        return Err("names starting with `starter-` are fleetboot's own".into());
    }
    let Some(family) = families::by_id(&t.family) else {
        let ids: Vec<&str> = families::all().iter().map(|f| f.id.as_str()).collect();
        return Err(format!("family: one of {}", ids.join(", ")));
    };
    for name in t.files.keys() {
        if !family.files.contains(name) {
            return Err(format!(
                "file {name:?}: a {} template has {}",
                family.id,
                family.files.join(", ")
            ));
        }
    }
    if t.files.values().map(String::len).sum::<usize>() > 1 << 20 {
        return Err("files: 1 MiB in all at most".into());
    }
    for (name, text) in &t.files {
        render::compile(text).map_err(|e| format!("{name}: {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
