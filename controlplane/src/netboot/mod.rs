//! Netboot trees for installer ISOs that cannot install over the network
//! ([`Method::NeedsNetboot`]): `fetch` downloads the release's `netboot.tar.gz` over HTTP
//! or HTTPS, checks its SHA-256, and unpacks it into `data/files/netboot/<image-id>/`, where the
//! scan serves it like any other file; [`apply`] then turns the image's recipe into a kernel
//! recipe pointing at that tree.
//!
//! The tarball comes from the network, so unpacking trusts nothing: only regular files and
//! directories, no absolute or `..` paths, capped sizes and count. The tree is built in a
//! hidden folder (never scanned) and renamed into place, so an interrupted fetch leaves no
//! half tree behind.

pub(crate) mod fetch;

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use crate::distro::{BootRecipe, Method};
use crate::images::Image;
use crate::scan::Found;
use crate::store::ReadOnlyStore;
use fetch::download_to;
pub use fetch::Trust;

/// Where trees live, relative to the data dir (inside the served `files/`).
pub const TREES: &str = "files/netboot";

/// Known (kernel, initrd) paths inside netboot tarballs: Debian (and derivatives), Ubuntu's
/// d-i images, Ubuntu's newer netboot.
const LAYOUTS: [(&str, &str); 3] = [
    (
        "debian-installer/amd64/linux",
        "debian-installer/amd64/initrd.gz",
    ),
    (
        "ubuntu-installer/amd64/linux",
        "ubuntu-installer/amd64/initrd.gz",
    ),
    ("amd64/linux", "amd64/initrd"),
];

/// Limits on what a download and its tree may take.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest download, in bytes.
    pub download: u64,
    /// Largest unpacked total, in bytes.
    pub unpacked: u64,
    /// Most files and directories in the tree.
    pub entries: usize,
    /// Whole download, including redirects.
    pub deadline: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            download: 512 << 20,
            unpacked: 2 << 30,
            entries: 20_000,
            deadline: Duration::from_secs(30 * 60),
        }
    }
}

/// A tree in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unpacked {
    /// The tree's folder.
    pub dir: PathBuf,
    /// Kernel path relative to `dir`.
    pub kernel: String,
    /// Initrd path relative to `dir`.
    pub initrd: String,
}

/// Why a fetch failed. Nothing is left in the destination after an error.
#[derive(Debug)]
pub enum NetbootError {
    /// Not a URL this client can fetch.
    Url(String),
    /// Network or HTTP-level failure.
    Http(String),
    /// TLS failure (an untrusted certificate, most often) or an unusable CA file.
    Tls(String),
    /// The download's SHA-256 differs from the one expected.
    Checksum { expected: String, actual: String },
    /// The tarball is damaged, hostile or too big.
    Archive(String),
    /// No known kernel/initrd pair in the tree.
    NoKernel,
    /// Local file system.
    Io(io::Error),
}

impl std::fmt::Display for NetbootError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NetbootError::Url(m) | NetbootError::Http(m) | NetbootError::Tls(m) => f.write_str(m),
            NetbootError::Checksum { expected, actual } => {
                write!(f, "SHA-256 mismatch: expected {expected}, got {actual}")
            }
            NetbootError::Archive(m) => write!(f, "bad netboot tarball: {m}"),
            NetbootError::NoKernel => {
                let known: Vec<&str> = LAYOUTS.iter().map(|l| l.0).collect();
                write!(
                    f,
                    "no kernel in the tarball (looked for {})",
                    known.join(", ")
                )
            }
            NetbootError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for NetbootError {}

impl From<io::Error> for NetbootError {
    fn from(e: io::Error) -> Self {
        NetbootError::Io(e)
    }
}

/// Downloads `url` into `dest_dir/<name>/` (replacing a previous tree), checking
/// `expected_sha256` (hex) when given; `trust` says which CAs an https URL may use.
///
/// # Errors
/// See [`NetbootError`]; the destination is untouched on error.
pub fn fetch(
    url: &str,
    expected_sha256: Option<&str>,
    trust: &Trust,
    dest_dir: &Path,
    name: &str,
    limits: &Limits,
) -> Result<Unpacked, NetbootError> {
    fs::create_dir_all(dest_dir)?;
    let download = dest_dir.join(format!(".{name}.tar.gz.{}", std::process::id()));
    let result =
        download_to(url, &download, trust, limits).and_then(|actual| {
            match expected_sha256.map(str::to_ascii_lowercase) {
                Some(expected) if expected != actual => {
                    Err(NetbootError::Checksum { expected, actual })
                }
                _ => install(&download, dest_dir, name, limits),
            }
        });
    let _ = fs::remove_file(&download);
    result
}

/// Unpacks the tarball at `archive` into `dest_dir/<name>/`, via a hidden folder.
fn install(
    archive: &Path,
    dest_dir: &Path,
    name: &str,
    limits: &Limits,
) -> Result<Unpacked, NetbootError> {
    let partial = dest_dir.join(format!(".{name}.partial.{}", std::process::id()));
    let _ = fs::remove_dir_all(&partial);
    fs::create_dir(&partial)?;
    let found = unpack(File::open(archive)?, &partial, limits).and_then(|()| {
        LAYOUTS
            .iter()
            .find(|(k, i)| partial.join(k).is_file() && partial.join(i).is_file())
            .ok_or(NetbootError::NoKernel)
    });
    let (kernel, initrd) = match found {
        Ok(pair) => *pair,
        Err(e) => {
            let _ = fs::remove_dir_all(&partial);
            return Err(e);
        }
    };
    let dir = dest_dir.join(name);
    let old = dest_dir.join(format!(".{name}.old.{}", std::process::id()));
    let had_old = fs::rename(&dir, &old).is_ok();
    if let Err(e) = fs::rename(&partial, &dir) {
        if had_old {
            let _ = fs::rename(&old, &dir);
        }
        let _ = fs::remove_dir_all(&partial);
        return Err(e.into());
    }
    if had_old {
        let _ = fs::remove_dir_all(&old);
    }
    Ok(Unpacked {
        dir,
        kernel: kernel.to_owned(),
        initrd: initrd.to_owned(),
    })
}

/// Unpacks a gzip tar into `into`: regular files and directories only (links and devices are
/// skipped), paths refused if absolute or climbing out, total size and count capped.
pub fn unpack(gz: impl Read, into: &Path, limits: &Limits) -> Result<(), NetbootError> {
    let bad = |e: io::Error| NetbootError::Archive(e.to_string());
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(gz));
    let (mut total, mut count) = (0u64, 0usize);
    for entry in archive.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let kind = entry.header().entry_type();
        if !kind.is_file() && !kind.is_dir() {
            continue;
        }
        let raw = entry.path().map_err(bad)?.into_owned();
        let Some(rel) = safe_relative(&raw) else {
            return Err(NetbootError::Archive(format!(
                "unsafe path {}",
                raw.display()
            )));
        };
        count += 1;
        if count > limits.entries {
            return Err(NetbootError::Archive(format!(
                "more than {} entries",
                limits.entries
            )));
        }
        if rel.as_os_str().is_empty() {
            continue;
        }
        let target = into.join(&rel);
        if kind.is_dir() {
            fs::create_dir_all(&target)?;
            continue;
        }
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent)?;
        }
        let room = limits.unpacked - total;
        let mut out = File::create(&target)?;
        let written = io::copy(&mut (&mut entry).take(room + 1), &mut out).map_err(bad)?;
        if written > room {
            return Err(NetbootError::Archive(format!(
                "unpacks to more than {} bytes",
                limits.unpacked
            )));
        }
        total += written;
    }
    Ok(())
}

/// `path` without `.` parts, or `None` if it is absolute or has a `..`.
fn safe_relative(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// `fleetboot images netboot ID`: fetches the tree of a needs-netboot image from `url`, else
/// from its recipe's `netboot_url`; `ca_file` adds a CA to those https trusts.
///
/// # Errors
/// No such image, not a needs-netboot image, no URL, an unusable CA file, or the fetch
/// failed.
pub fn command(
    data_dir: &Path,
    id: &str,
    url: Option<&str>,
    sha256: Option<&str>,
    ca_file: Option<&Path>,
) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    let images = ReadOnlyStore::open(data_dir)?.images()?;
    let image = images
        .iter()
        .find(|i| i.id == id)
        .ok_or_else(|| format!("no image {id:?} (see `fleetboot images list`)"))?;
    let trust = ca_file.map_or(Ok(Trust::default()), Trust::with_ca_file)?;
    let (url, tree) = fetch_for(data_dir, image, url, sha256, &trust)?;
    Ok(format!(
        "fetched {url} into {}: kernel {}, initrd {}\n",
        tree.dir.display(),
        tree.kernel,
        tree.initrd
    ))
}

/// Fetches the netboot tree of `image` from `url`, else from its recipe's `netboot_url`;
/// returns the URL used and what was unpacked.
///
/// # Errors
/// Not a needs-netboot image, no URL, or the fetch failed.
pub fn fetch_for(
    data_dir: &Path,
    image: &Image,
    url: Option<&str>,
    sha256: Option<&str>,
    trust: &Trust,
) -> Result<(String, Unpacked), Box<dyn std::error::Error + Send + Sync>> {
    let id = &image.id;
    let recipe = image.recipe.as_ref();
    if !recipe.is_some_and(|r| r.method == Method::NeedsNetboot) && !is_applied(recipe) {
        return Err(format!("image {id:?} does not need a netboot tree").into());
    }
    let url = url
        .or_else(|| recipe.and_then(|r| r.netboot_url.as_deref()))
        .ok_or_else(|| format!("image {id:?} has no known netboot URL; pass a URL"))?;
    let tree = fetch(
        url,
        sha256,
        trust,
        &data_dir.join(TREES),
        id,
        &Limits::default(),
    )?;
    Ok((url.to_owned(), tree))
}

/// The recipe for image `id`: a [`Method::NeedsNetboot`] recipe becomes a kernel recipe when
/// `found` holds an unpacked tree for it; anything else is returned unchanged. Paths of tree
/// files start with `/` (server paths, not paths inside the ISO).
pub fn apply(id: &str, recipe: Option<BootRecipe>, found: &[Found]) -> Option<BootRecipe> {
    let mut recipe = recipe?;
    if recipe.method != Method::NeedsNetboot {
        return Some(recipe);
    }
    let tree = format!("{TREES}/{id}");
    let has = |rel: &str| {
        found
            .iter()
            .any(|f| f.record.path == format!("{tree}/{rel}"))
    };
    if let Some((kernel, initrd)) = LAYOUTS.iter().find(|(k, i)| has(k) && has(i)) {
        recipe.method = Method::Kernel;
        recipe.kernel = Some(format!("/{tree}/{kernel}"));
        recipe.initrds = vec![format!("/{tree}/{initrd}")];
        recipe
            .reason
            .push_str(&format!("; netboot tree in {tree}/"));
    }
    Some(recipe)
}

/// Whether [`apply`] made `recipe` (it must be worked out again when the tree changes).
pub fn is_applied(recipe: Option<&BootRecipe>) -> bool {
    recipe.is_some_and(|r| r.kernel.as_deref().is_some_and(|k| k.starts_with('/')))
}

#[cfg(test)]
mod tests;
