//! Names that come from the network (an upload's file name and folder, a download's path or
//! URL), checked once at the edge and then carried as types: an [`IsoPath`] can only name a
//! visible `.iso` file below `data/isos/`, never anything outside it.

use std::fmt;
use std::path::{Path, PathBuf};

use super::TransferError;

/// Longest single name, in bytes (the common file-system limit).
const MAX_NAME: usize = 255;
/// Most folder levels below `data/isos/` (the scanner walks 32 deep).
const MAX_DEPTH: usize = 16;

/// One visible path component: not empty, no `/`, no leading `.` (hidden names are skipped by
/// the scanner, and `.`/`..` are refused with them), no control characters, at most 255 bytes.
fn check_component(name: &str, what: &str) -> Result<(), TransferError> {
    let bad = |why: &str| TransferError::BadInput(format!("{what} {name:?}: {why}"));
    if name.is_empty() {
        return Err(bad("empty name"));
    }
    if name.len() > MAX_NAME {
        return Err(bad("longer than 255 bytes"));
    }
    if name.starts_with('.') {
        return Err(bad("must not start with '.'"));
    }
    if name.contains('/') {
        return Err(bad("must not contain '/'"));
    }
    if name.chars().any(char::is_control) {
        return Err(bad("must not contain control characters"));
    }
    Ok(())
}

/// A file name for an ISO: a visible component ending in `.iso` (any case).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsoName(String);

impl IsoName {
    /// Checks `name`.
    ///
    /// # Errors
    /// [`TransferError::BadInput`] saying what is wrong with it.
    pub fn parse(name: &str) -> Result<IsoName, TransferError> {
        check_component(name, "file name")?;
        let is_iso = name.len() > 4
            && name
                .get(name.len() - 4..)
                .is_some_and(|ext| ext.eq_ignore_ascii_case(".iso"));
        if !is_iso {
            return Err(TransferError::BadInput(format!(
                "file name {name:?}: must end with .iso"
            )));
        }
        Ok(IsoName(name.to_owned()))
    }
}

/// A folder below `data/isos/`: zero or more visible components (`a/b`); empty means the top.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Folder(Vec<String>);

impl Folder {
    /// Checks `folder`: relative, no `..`, no hidden component, at most 16 levels. Empty
    /// components (`a//b`, a trailing `/`) are ignored; a leading `/` is refused.
    ///
    /// # Errors
    /// [`TransferError::BadInput`] saying what is wrong with it.
    pub fn parse(folder: &str) -> Result<Folder, TransferError> {
        if folder.starts_with('/') {
            return Err(TransferError::BadInput(format!(
                "folder {folder:?}: must be relative to the ISO folder"
            )));
        }
        let parts: Vec<String> = folder
            .split('/')
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect();
        for part in &parts {
            check_component(part, "folder")?;
        }
        if parts.len() > MAX_DEPTH {
            return Err(TransferError::BadInput(format!(
                "folder {folder:?}: more than {MAX_DEPTH} levels"
            )));
        }
        Ok(Folder(parts))
    }
}

/// Where an ISO goes, relative to `data/isos/`: a [`Folder`] and an [`IsoName`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsoPath {
    folder: Folder,
    name: IsoName,
}

impl IsoPath {
    /// Joins a checked folder and name.
    pub fn new(folder: Folder, name: IsoName) -> IsoPath {
        IsoPath { folder, name }
    }

    /// Checks a whole relative path, `a/b/x.iso`: its folders like [`Folder::parse`], its
    /// last part like [`IsoName::parse`].
    ///
    /// # Errors
    /// [`TransferError::BadInput`] saying what is wrong with it.
    pub fn parse(path: &str) -> Result<IsoPath, TransferError> {
        if path.starts_with('/') {
            return Err(TransferError::BadInput(format!(
                "path {path:?}: must be relative to the ISO folder"
            )));
        }
        let (folder, name) = path.rsplit_once('/').unwrap_or(("", path));
        Ok(IsoPath::new(Folder::parse(folder)?, IsoName::parse(name)?))
    }

    /// The last part of `url`'s path, percent-decoded, as an ISO path at the top.
    ///
    /// # Errors
    /// [`TransferError::BadInput`] when that part is not a usable ISO file name.
    pub fn from_url(url: &str) -> Result<IsoPath, TransferError> {
        let uri: ureq::http::Uri = url
            .parse()
            .map_err(|e| TransferError::BadInput(format!("{url}: {e}")))?;
        let last = uri.path().rsplit('/').next().unwrap_or("");
        let name = percent_decode(last).ok_or_else(|| {
            TransferError::BadInput(format!("{url}: the file name is not valid UTF-8"))
        })?;
        let name = IsoName::parse(&name).map_err(|e| {
            TransferError::BadInput(format!("{e} (taken from the URL; pass a path)"))
        })?;
        Ok(IsoPath::new(Folder::default(), name))
    }

    /// The folder part, relative to `data/isos/` (empty at the top).
    pub fn folder(&self) -> PathBuf {
        self.folder.0.iter().collect()
    }

    /// The file name.
    pub fn name(&self) -> &str {
        &self.name.0
    }

    /// This path below `isos` (the `data/isos` folder).
    pub fn under(&self, isos: &Path) -> PathBuf {
        isos.join(self.folder()).join(self.name())
    }
}

/// `a/b/x.iso`, as the API shows it.
impl fmt::Display for IsoPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for part in &self.folder.0 {
            write!(f, "{part}/")?;
        }
        f.write_str(self.name())
    }
}

/// `%XX` sequences decoded; `None` if the result is not UTF-8. A `%` not followed by two hex
/// digits stays as it is.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_names() {
        assert!(IsoName::parse("debian-12.ISO").is_ok());
        assert!(IsoName::parse("a b.iso").is_ok());
        for bad in [
            "",
            ".iso",
            ".hidden.iso",
            "x.img",
            "a/b.iso",
            "x\n.iso",
            "iso",
            "é.is",
        ] {
            assert!(IsoName::parse(bad).is_err(), "{bad:?}");
        }
        assert!(IsoName::parse(&format!("{}.iso", "a".repeat(251))).is_ok());
        assert!(IsoName::parse(&format!("{}.iso", "a".repeat(252))).is_err());
    }

    #[test]
    fn folders_and_paths_stay_below_isos() {
        assert_eq!(Folder::parse("a//b/").unwrap().0, ["a", "b"]);
        assert_eq!(Folder::parse("").unwrap(), Folder::default());
        for bad in ["/etc", "..", "a/../..", "a/.git", "./a", "a/\u{7f}b"] {
            assert!(Folder::parse(bad).is_err(), "{bad:?}");
        }
        assert!(Folder::parse(&["a"; 17].join("/")).is_err());
        let p = IsoPath::parse("a/b/x.iso").unwrap();
        assert_eq!(p.to_string(), "a/b/x.iso");
        assert_eq!(
            p.under(Path::new("/d/isos")),
            Path::new("/d/isos/a/b/x.iso")
        );
        assert!(IsoPath::parse("../x.iso").is_err());
        assert!(IsoPath::parse("/x.iso").is_err());
    }

    #[test]
    fn names_from_urls() {
        let p = IsoPath::from_url("https://h/dl/debian%2012.iso?x=1").unwrap();
        assert_eq!(p.to_string(), "debian 12.iso");
        assert!(IsoPath::from_url("https://h/dl/").is_err());
        assert!(IsoPath::from_url("https://h/dl/x.tar").is_err());
        // An encoded slash does not make a folder.
        assert!(IsoPath::from_url("https://h/..%2Fx.iso").is_err());
        assert_eq!(percent_decode("a%zz%41").as_deref(), Some("a%zzA"));
        assert_eq!(percent_decode("%ff"), None);
    }
}
