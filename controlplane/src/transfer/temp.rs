//! Files on their way in: written under `data/isos/.incoming/` (a hidden folder, so the scanner
//! never registers half a file), removed when dropped unless persisted, and persisted with
//! fsync + a rename that never replaces an existing ISO + fsync of the folder, so a crash
//! leaves either the whole file under its name or nothing but a temp file that
//! [`cleanup_incoming`] removes at the next start.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::names::IsoPath;
use super::TransferError;

/// The temp folder, relative to the data dir.
const INCOMING: &str = "isos/.incoming";

/// Told apart temp files of one process; the pid tells processes apart.
static NEXT: AtomicU64 = AtomicU64::new(0);

/// Removes every file left in `data/isos/.incoming/` (by a crash or a kill during a
/// transfer); returns how many. Call it at server start, before any transfer begins.
pub fn cleanup_incoming(data_dir: &Path) -> usize {
    let Ok(entries) = fs::read_dir(data_dir.join(INCOMING)) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter(|e| fs::remove_file(e.path()).is_ok())
        .count()
}

/// Fails early with [`TransferError::Exists`] when `dest` is already taken below
/// `data_dir/isos/` ([`TempFile::persist`] checks again, atomically).
pub(crate) fn check_free(data_dir: &Path, dest: &IsoPath) -> Result<(), TransferError> {
    let target = dest.under(&data_dir.join("isos"));
    match fs::symlink_metadata(&target) {
        Ok(_) => Err(TransferError::Exists(dest.to_string())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(TransferError::Internal(format!(
            "{}: {e}",
            target.display()
        ))),
    }
}

/// A temp file in `data/isos/.incoming/`, removed on drop unless [`TempFile::persist`] moved
/// it into place.
#[derive(Debug)]
pub(crate) struct TempFile {
    path: PathBuf,
    file: File,
    isos: PathBuf,
}

impl TempFile {
    /// Creates a new empty temp file; `kind` ("upload", "download") only names it.
    pub(crate) fn create(data_dir: &Path, kind: &str) -> io::Result<TempFile> {
        let dir = data_dir.join(INCOMING);
        fs::create_dir_all(&dir)?;
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!("{kind}-{}-{n}.part", std::process::id()));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)?;
        Ok(TempFile {
            path,
            file,
            isos: data_dir.join("isos"),
        })
    }

    /// The open file.
    pub(crate) fn file(&mut self) -> &mut File {
        &mut self.file
    }

    /// Flushes the data to disk and moves the file to `dest` below `data/isos/`, creating its
    /// folders; never replaces an existing file. On error the temp file is removed.
    ///
    /// # Errors
    /// [`TransferError::Exists`] when `dest` is taken, [`TransferError::BadInput`] when its
    /// folder resolves (through a link) outside `data/isos/`, [`TransferError::Internal`] for
    /// file-system failures.
    pub(crate) fn persist(self, dest: &IsoPath) -> Result<(), TransferError> {
        let internal =
            |what: &Path, e: io::Error| TransferError::Internal(format!("{}: {e}", what.display()));
        self.file.sync_all().map_err(|e| internal(&self.path, e))?;
        let folder = self.isos.join(dest.folder());
        fs::create_dir_all(&folder).map_err(|e| internal(&folder, e))?;
        // Names are checked, but a folder may be a link: the real place must still be in isos.
        let real_isos = self
            .isos
            .canonicalize()
            .map_err(|e| internal(&self.isos, e))?;
        let real_folder = folder.canonicalize().map_err(|e| internal(&folder, e))?;
        if !real_folder.starts_with(&real_isos) {
            return Err(TransferError::BadInput(format!(
                "folder {:?} leads outside the ISO folder",
                dest.folder()
            )));
        }
        let target = real_folder.join(dest.name());
        // A hard link fails when the name exists, where rename would replace it; the temp
        // name is removed afterwards (a crash in between leaves it to cleanup_incoming).
        match fs::hard_link(&self.path, &target) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return Err(TransferError::Exists(dest.to_string()));
            }
            Err(e) => return Err(internal(&target, e)),
        }
        // Once linked the file is in place: failing to tidy up the temp name or to sync the
        // folders is logged, not reported as a failed transfer.
        if let Err(e) = fs::remove_file(&self.path) {
            tracing::warn!(path = %self.path.display(), "transfer: temp file not removed: {e}");
        }
        // The new name, any folders created for it, and the temp name's removal.
        let incoming = self.isos.join(".incoming");
        let folders = real_folder
            .ancestors()
            .take_while(|d| d.starts_with(&real_isos));
        for dir in folders.chain([incoming.as_path()]) {
            if let Err(e) = File::open(dir).and_then(|d| d.sync_all()) {
                tracing::warn!(dir = %dir.display(), "transfer: folder not synced: {e}");
            }
        }
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        // After persist this name is gone already; NotFound is the expected answer then.
        let _ = fs::remove_file(&self.path);
    }
}
