//! Store failures, and telling a corrupt file (only moving it aside helps) from the rest.

use std::path::{Path, PathBuf};

/// A store failure.
#[derive(Debug)]
pub enum StoreError {
    /// The database file cannot be read as a database: only moving it aside helps.
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What redb said.
        detail: String,
    },
    /// The database was written by a newer fleetboot, in a schema this build cannot read:
    /// only that version (or a newer one) can use it.
    NewerSchema {
        /// The file.
        path: PathBuf,
        /// The schema it has.
        schema: u32,
    },
    /// An operation failed.
    Failed {
        /// The operation.
        op: &'static str,
        /// Why.
        detail: String,
    },
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Corrupt { path, detail } => write!(
                f,
                "the database {path} is corrupt ({detail}). Move it aside (`mv {path} \
                 {path}.corrupt`) and start again: the image index is rebuilt from the ISOs, \
                 but client records, their assignments and the users are lost",
                path = path.display()
            ),
            StoreError::NewerSchema { path, schema } => write!(
                f,
                "the database {path} was written by a newer fleetboot (schema {schema}; this \
                 one knows up to schema {current}). Run that version or a newer one, or move \
                 the file aside to start empty",
                path = path.display(),
                current = super::schema::CURRENT,
            ),
            StoreError::Failed { op, detail } => write!(f, "database {op}: {detail}"),
        }
    }
}

impl std::error::Error for StoreError {}

pub(super) fn err<E: std::fmt::Display>(op: &'static str) -> impl FnOnce(E) -> StoreError {
    move |e| StoreError::Failed {
        op,
        detail: e.to_string(),
    }
}

/// Runs `open`, which opens the database at `path` and reads it through, so that a damaged file
/// stops the start with [`StoreError::Corrupt`]: redb reports some damage as errors and, in
/// debug builds, panics on other damage, so a panic is caught (quietly: this runs before any
/// other thread exists) and reported the same way.
pub(super) fn guard_open<T>(
    path: &Path,
    open: impl FnOnce() -> Result<T, redb::Error>,
) -> Result<T, StoreError> {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(open));
    std::panic::set_hook(hook);
    match outcome {
        Ok(result) => result.map_err(|e| open_error(path, e)),
        Err(panic) => Err(StoreError::Corrupt {
            path: path.to_owned(),
            detail: panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unreadable structure".into()),
        }),
    }
}

/// Why opening `path` failed: corruption, or anything else.
pub(super) fn open_error(path: &Path, e: redb::Error) -> StoreError {
    let corrupt = |detail: String| StoreError::Corrupt {
        path: path.to_owned(),
        detail,
    };
    match e {
        redb::Error::Corrupted(detail) => corrupt(detail),
        redb::Error::Io(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::InvalidData | std::io::ErrorKind::UnexpectedEof
            ) =>
        {
            corrupt(e.to_string())
        }
        e => err("open")(format!("{}: {e}", path.display())),
    }
}
