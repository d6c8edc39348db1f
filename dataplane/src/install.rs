//! Unattended installs: the files rendered for one client (kickstart, preseed, cloud-init's
//! `user-data`, …), found by an unguessable per-client token, and what an installer reports
//! back. The control plane renders and names everything; the data plane only looks files up
//! by token and name, and turns callbacks into events.
//!
//! The token is a capability: whoever knows it may read the client's files, which can hold
//! password hashes. So it never leaves this module's tables in anything the data plane reports
//! (events name `t/…/<file>`), and the table's `Debug` shows neither tokens nor contents.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use crate::mac::Mac;

/// Longest message kept from a callback's body, in characters.
pub const MAX_MESSAGE: usize = 256;

/// The rendered files of every client being installed, by token.
#[derive(Clone, Default)]
pub struct Installs {
    by_token: HashMap<String, Arc<ClientFiles>>,
}

/// One client's files.
struct ClientFiles {
    mac: Mac,
    files: HashMap<String, String>,
}

impl Installs {
    /// Serves `files` (name, content) to whoever presents `token`, on behalf of `mac`. A second
    /// call with the same token replaces the first. Names are matched exactly against the
    /// normalised request path after `t/<token>/` (see [`crate::path`]), so a name must be a
    /// normalised relative path itself (`user-data`, `ks.cfg`); the token must be one path
    /// segment (no `/`).
    pub fn insert(&mut self, token: String, mac: Mac, files: Vec<(String, String)>) {
        debug_assert!(
            !token.is_empty() && !token.contains('/'),
            "token is one segment"
        );
        let files = files.into_iter().collect();
        self.by_token
            .insert(token, Arc::new(ClientFiles { mac, files }));
    }

    /// The client that holds `token`, when any.
    pub fn client(&self, token: &str) -> Option<Mac> {
        self.by_token.get(token).map(|c| c.mac)
    }

    /// The file `name` of the client holding `token`, and that client. `None` for an unknown
    /// token and for an unknown name alike.
    pub fn file(&self, token: &str, name: &str) -> Option<(Mac, &str)> {
        let client = self.by_token.get(token)?;
        let content = client.files.get(name)?;
        Some((client.mac, content))
    }

    /// Number of clients with files.
    pub fn len(&self) -> usize {
        self.by_token.len()
    }

    /// True when no client has files.
    pub fn is_empty(&self) -> bool {
        self.by_token.is_empty()
    }
}

impl fmt::Debug for Installs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Tokens and contents are secrets: a stray `{:?}` in a log must not print them.
        f.debug_struct("Installs")
            .field("clients", &self.by_token.len())
            .finish_non_exhaustive()
    }
}

/// What an installing client did, as its event reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallReport {
    /// The client the token belongs to (not the address it came from).
    pub mac: Mac,
    /// What happened.
    pub stage: InstallStage,
    /// For callbacks, the body as text: lossy UTF-8, control characters dropped (line breaks
    /// and tabs become spaces), trimmed, at most [`MAX_MESSAGE`] characters. Empty for fetches.
    pub message: String,
}

/// The step of an install an event reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstallStage {
    /// `GET` or `HEAD` of one of its files (the event's outcome tells which: `Complete` or
    /// `NoBody`).
    Fetched {
        /// The file's name.
        file: String,
    },
    /// `POST /t/<token>/progress`.
    Progress,
    /// `POST /t/<token>/done`.
    Done,
}

impl InstallStage {
    /// The stage a `POST` to `name` (after `t/<token>/`) reports, when it is a callback.
    pub fn callback(name: &str) -> Option<InstallStage> {
        match name {
            "done" => Some(InstallStage::Done),
            "progress" => Some(InstallStage::Progress),
            _ => None,
        }
    }
}

/// A callback body as a message for [`InstallReport::message`].
pub fn message(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let kept: String = text
        .chars()
        .filter_map(|c| match c {
            '\t' | '\n' | '\r' => Some(' '),
            c if c.is_control() => None,
            c => Some(c),
        })
        .collect();
    kept.trim().chars().take(MAX_MESSAGE).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mac(n: u8) -> Mac {
        format!("52:54:00:00:00:{n:02x}").parse().unwrap()
    }

    fn files(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, c)| ((*n).to_owned(), (*c).to_owned()))
            .collect()
    }

    #[test]
    fn files_are_found_by_token_and_name_only() {
        let mut installs = Installs::default();
        let a = "0123456789abcdef0123456789abcdef";
        let b = "fedcba9876543210fedcba9876543210";
        installs.insert(a.into(), mac(1), files(&[("user-data", "#cloud-config\n")]));
        installs.insert(b.into(), mac(2), files(&[("ks.cfg", "text\n")]));
        assert_eq!(
            installs.file(a, "user-data"),
            Some((mac(1), "#cloud-config\n"))
        );
        assert_eq!(installs.file(b, "ks.cfg"), Some((mac(2), "text\n")));
        // Another client's file, a wrong token, a prefix of a token: all simply absent.
        assert_eq!(installs.file(a, "ks.cfg"), None);
        assert_eq!(installs.file(b, "user-data"), None);
        assert_eq!(installs.file(&a.to_uppercase(), "user-data"), None);
        assert_eq!(installs.file(&a[..31], "user-data"), None);
        assert_eq!(installs.file("", "user-data"), None);
        assert_eq!(installs.client(a), Some(mac(1)));
        assert_eq!(installs.client("nope"), None);
        // A new render replaces the old one.
        installs.insert(a.into(), mac(1), files(&[("meta-data", "x")]));
        assert_eq!(installs.file(a, "user-data"), None);
        assert_eq!(installs.len(), 2);
    }

    #[test]
    fn debug_shows_no_secrets() {
        let mut installs = Installs::default();
        installs.insert(
            "0123456789abcdef0123456789abcdef".into(),
            mac(1),
            files(&[("ks.cfg", "rootpw --iscrypted $6$secret")]),
        );
        let shown = format!("{installs:?}");
        assert!(!shown.contains("0123456789abcdef") && !shown.contains("secret"));
        assert!(shown.contains("clients: 1"), "{shown}");
    }

    #[test]
    fn callback_bodies_become_tame_messages() {
        assert_eq!(message(b"ok"), "ok");
        assert_eq!(
            message(b"  step 3/7:\tpartitioning\r\n\x1b[31mred\x00\x7f "),
            "step 3/7: partitioning  [31mred"
        );
        assert_eq!(message(b"caf\xc3\xa9 \xff"), "caf\u{e9} \u{fffd}");
        let long = "\u{e9}".repeat(4096);
        assert_eq!(message(long.as_bytes()).chars().count(), MAX_MESSAGE);
        assert_eq!(message(b""), "");
        assert_eq!(InstallStage::callback("done"), Some(InstallStage::Done));
        assert_eq!(
            InstallStage::callback("progress"),
            Some(InstallStage::Progress)
        );
        assert_eq!(InstallStage::callback("user-data"), None);
    }
}
