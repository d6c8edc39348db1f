//! The iPXE bootloaders served at the TFTP root and over HTTP (`/<name>` and `/ipxe/<name>`):
//! embedded at build time when they were available, overridden by any file in
//! `<data dir>/bootloaders/` (custom builds, arm64 binaries in `arm64/`).

use std::path::Path;
use std::sync::Arc;

use dataplane::Blob;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/bootloaders.rs"));
}

/// The bootloaders fleetboot knows by name and the firmware that asks for each.
pub const KNOWN: [(&str, &str); 3] = [
    ("undionly.kpxe", "BIOS PXE"),
    ("ipxe.efi", "x86-64 UEFI"),
    ("snponly.efi", "x86-64 UEFI (SNP only)"),
];

/// Where a bootloader came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Compiled into the binary.
    Embedded,
    /// A file in the data dir's `bootloaders/` folder.
    Override(String),
}

/// A bootloader ready to serve.
pub struct Bootloader {
    /// Name relative to the TFTP root (`ipxe.efi`, `arm64/ipxe.efi`).
    pub name: String,
    /// Its bytes.
    pub blob: Arc<Blob>,
    /// Where they came from.
    pub origin: Origin,
}

/// Collects the embedded bootloaders, then every file under `<data dir>/bootloaders/` (which
/// replaces an embedded one of the same name). Unreadable override files are logged and
/// skipped.
pub fn load(data_dir: &Path) -> Vec<Bootloader> {
    let mut out: Vec<Bootloader> = embedded::EMBEDDED
        .iter()
        .map(|(name, bytes)| Bootloader {
            name: (*name).to_owned(),
            blob: Blob::from_static(bytes, build_time()),
            origin: Origin::Embedded,
        })
        .collect();
    let dir = data_dir.join("bootloaders");
    let mut overrides = Vec::new();
    collect_files(&dir, "", 0, &mut overrides);
    for (name, path) in overrides {
        match Blob::map_file(&path) {
            Ok(blob) => {
                out.retain(|b| b.name != name);
                out.push(Bootloader {
                    name,
                    blob,
                    origin: Origin::Override(path.display().to_string()),
                });
            }
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "bootloader override unreadable, skipped")
            }
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

fn collect_files(
    dir: &Path,
    prefix: &str,
    depth: usize,
    out: &mut Vec<(String, std::path::PathBuf)>,
) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let rel = format!("{prefix}{name}");
        if kind.is_dir() && depth < 2 {
            collect_files(&entry.path(), &format!("{rel}/"), depth + 1, out);
        } else if kind.is_file() {
            out.push((rel, entry.path()));
        }
    }
}

/// Describes what is served, one line per bootloader, and what is missing — printed at start
/// so an operator never wonders which binary a machine got.
pub fn describe(loaded: &[Bootloader]) -> Vec<String> {
    let mut lines: Vec<String> = loaded
        .iter()
        .map(|b| {
            let origin = match &b.origin {
                Origin::Embedded => "embedded in the binary".to_owned(),
                Origin::Override(p) => format!("override {p}"),
            };
            format!("bootloader {} ({} bytes): {origin}", b.name, b.blob.len())
        })
        .collect();
    for (name, firmware) in KNOWN {
        if !loaded.iter().any(|b| b.name == name) {
            lines.push(format!(
                "bootloader {name} MISSING: {firmware} clients cannot boot; run tools/fetch-ipxe.sh and rebuild, or put it in data/bootloaders/"
            ));
        }
    }
    lines
}

fn build_time() -> u64 {
    // Embedded bytes change only with the binary: its mtime is an honest Last-Modified.
    std::env::current_exe()
        .and_then(|p| p.metadata())
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs())
}
