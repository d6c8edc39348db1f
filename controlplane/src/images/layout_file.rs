//! `<data dir>/layouts.toml`: the user's additions to the layout table, re-read on every scan
//! so that editing it re-detects every image (from the stored indexes: no ISO is indexed
//! again). The file is small, so its whole text is the fingerprint: exact, whatever the
//! editor does to mtimes and inodes.

use std::io;
use std::path::Path;

use crate::distro::Layouts;

/// Name of the user's table inside the data dir.
const FILE: &str = "layouts.toml";

/// The table in force and what the file held when last read.
#[derive(Debug)]
pub struct LayoutFile {
    /// Last read outcome: the text (`None`: no file) or why it could not be read. `None`
    /// before the first read.
    seen: Option<Result<Option<String>, String>>,
    table: Layouts,
}

impl Default for LayoutFile {
    fn default() -> Self {
        LayoutFile {
            seen: None,
            table: Layouts::builtin(),
        }
    }
}

impl LayoutFile {
    /// The table in force.
    pub fn table(&self) -> &Layouts {
        &self.table
    }

    /// Reads the file in `data_dir` again. True when images must be detected again: on the
    /// first read (a stored recipe may come from another table, or another fleetboot
    /// version's built-ins) and whenever the table in force changed. A file that cannot be
    /// read or is invalid keeps the table in force, logged once per version of the file.
    pub fn reload(&mut self, data_dir: &Path) -> bool {
        let path = data_dir.join(FILE);
        let now = match std::fs::read_to_string(&path) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.to_string()),
        };
        let first = self.seen.is_none();
        if self.seen.as_ref() == Some(&now) {
            return false;
        }
        self.seen = Some(now.clone());
        let table = match now {
            Ok(None) => Ok(Layouts::builtin()),
            Ok(Some(text)) => Layouts::with_overrides(&text).map_err(|e| e.to_string()),
            Err(e) => Err(format!("cannot read: {e}")),
        };
        match table {
            Ok(table) => {
                tracing::info!(file = %path.display(), layouts = table.len(), "layout table loaded");
                self.table = table;
                true
            }
            Err(e) => {
                tracing::error!(
                    file = %path.display(),
                    error = %e,
                    "user layouts rejected; keeping the table in force ({} layouts)",
                    self.table.len()
                );
                first
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const USER: &str = r#"
[[layout]]
id = "my-distro"
distro = "Mine"
all = ["boot/mine/linux"]
method = "kernel"
kernel = "boot/mine/linux"
cmdline = "quiet"
"#;

    #[test]
    fn reloads_on_change_and_keeps_the_table_when_invalid() {
        let dir = std::env::temp_dir().join(format!("fleetboot-layoutfile-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let builtin = Layouts::builtin().len();
        let mut f = LayoutFile::default();
        assert!(f.reload(&dir), "first read always re-detects");
        assert!(!f.reload(&dir));
        assert_eq!(f.table().len(), builtin);

        std::fs::write(dir.join(FILE), USER).unwrap();
        assert!(f.reload(&dir));
        assert_eq!(f.table().len(), builtin + 1);
        assert_eq!(f.table().ids()[0], "my-distro");
        assert!(!f.reload(&dir), "unchanged text");

        std::fs::write(dir.join(FILE), "[[layout]]\nid = ").unwrap();
        assert!(!f.reload(&dir), "an invalid file changes nothing");
        assert_eq!(f.table().ids()[0], "my-distro");

        std::fs::remove_file(dir.join(FILE)).unwrap();
        assert!(f.reload(&dir));
        assert_eq!(f.table().len(), builtin);

        // Invalid from the start: built-ins, and the first read still re-detects.
        std::fs::write(dir.join(FILE), "not toml [").unwrap();
        let mut f = LayoutFile::default();
        assert!(f.reload(&dir));
        assert_eq!(f.table().len(), builtin);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
