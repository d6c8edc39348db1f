//! `POST /images` uploads: a `multipart/form-data` body with a `file` field (its file name
//! names the ISO) and an optional `folder` field, in either order. The file is streamed to a
//! temp file by a blocking writer (hash and disk writes stay off the async workers), then
//! persisted below `data/isos/`.
//!
//! The route must lift axum's default body limit (2 MB), e.g. with
//! `DefaultBodyLimit::max(max_bytes + 64 KiB)` or `DefaultBodyLimit::disable()`: the cap on
//! the file itself is `max_bytes`, enforced here while streaming.

use std::io::Write;
use std::path::Path;

use axum::body::Bytes;
use axum::extract::multipart::{Field, MultipartError};
use axum::extract::Multipart;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use super::names::{Folder, IsoName, IsoPath};
use super::temp::{check_free, TempFile};
use super::{hex_digest, TransferError};

/// Longest `folder` field, in bytes.
const MAX_FOLDER_FIELD: usize = 4096;
/// Chunks waiting for the writer; bounds memory to a few hundred kilobytes.
const QUEUE: usize = 16;

/// An upload in place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Uploaded {
    /// Where it is, relative to `data/isos/` (`a/b/x.iso`).
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-256, lowercase hex.
    pub sha256: String,
}

/// Receives an upload into `data_dir/isos/<folder>/<file name>`.
///
/// # Errors
/// [`TransferError::BadInput`] for a bad form or name (no `file` field, a repeated or unknown
/// field, a name that is not a visible `.iso`, a folder that climbs out),
/// [`TransferError::TooLarge`] past `max_bytes`, [`TransferError::Exists`] when the name is
/// taken, [`TransferError::Internal`] for disk failures. Nothing is left behind on error, nor
/// when the request is dropped half-way.
pub async fn receive_multipart(
    mut multipart: Multipart,
    data_dir: &Path,
    max_bytes: u64,
) -> Result<Uploaded, TransferError> {
    let mut folder: Option<Folder> = None;
    let mut file: Option<(IsoName, Written)> = None;
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| form_error(e, max_bytes))?
    {
        match field.name() {
            Some("folder") if folder.is_none() => {
                folder = Some(Folder::parse(&small_text(field, max_bytes).await?)?);
            }
            Some("file") if file.is_none() => {
                let raw = field.file_name().ok_or_else(|| {
                    TransferError::BadInput("the file field has no file name".into())
                })?;
                let name = IsoName::parse(raw)?;
                // A name already taken at the top is refused before any byte is stored.
                if let Some(f) = &folder {
                    check_free(data_dir, &IsoPath::new(f.clone(), name.clone()))?;
                }
                let written = stream_to_temp(field, data_dir, max_bytes).await?;
                file = Some((name, written));
            }
            Some(other) => {
                return Err(TransferError::BadInput(format!(
                    "unexpected or repeated form field {other:?} (expected file and folder)"
                )));
            }
            None => return Err(TransferError::BadInput("a form field has no name".into())),
        }
    }
    let Some((name, written)) = file else {
        return Err(TransferError::BadInput("no file field in the form".into()));
    };
    let dest = IsoPath::new(folder.unwrap_or_default(), name);
    let Written { temp, size, sha256 } = written;
    let path = dest.to_string();
    let place = move || temp.persist(&dest);
    tokio::task::spawn_blocking(place)
        .await
        .map_err(|e| TransferError::Internal(format!("upload writer: {e}")))??;
    Ok(Uploaded { path, size, sha256 })
}

/// A file field stored in a temp file.
#[derive(Debug)]
struct Written {
    temp: TempFile,
    size: u64,
    sha256: String,
}

/// Streams a field's chunks to a blocking writer that hashes and writes them. If this future
/// is dropped (the client went away), the channel closes and the writer drops its temp file.
async fn stream_to_temp(
    mut field: Field<'_>,
    data_dir: &Path,
    max_bytes: u64,
) -> Result<Written, TransferError> {
    let (tx, rx) = mpsc::channel::<Bytes>(QUEUE);
    let dir = data_dir.to_path_buf();
    let writer = tokio::task::spawn_blocking(move || write_chunks(&dir, rx));
    let mut size = 0u64;
    while let Some(chunk) = field.chunk().await.map_err(|e| form_error(e, max_bytes))? {
        size += chunk.len() as u64;
        if size > max_bytes {
            return Err(TransferError::TooLarge(max_bytes));
        }
        if tx.send(chunk).await.is_err() {
            // The writer stopped on an error; it says which below.
            break;
        }
    }
    drop(tx);
    let (temp, sha256) = writer
        .await
        .map_err(|e| TransferError::Internal(format!("upload writer: {e}")))??;
    Ok(Written { temp, size, sha256 })
}

/// The blocking half: creates the temp file, writes and hashes every chunk until the sender
/// closes. Returns the temp file (removed when dropped) and its SHA-256.
fn write_chunks(
    data_dir: &Path,
    mut rx: mpsc::Receiver<Bytes>,
) -> Result<(TempFile, String), TransferError> {
    let internal = |e: std::io::Error| TransferError::Internal(format!("upload temp file: {e}"));
    let mut temp = TempFile::create(data_dir, "upload").map_err(internal)?;
    let mut hash = Sha256::new();
    while let Some(chunk) = rx.blocking_recv() {
        hash.update(&chunk);
        temp.file().write_all(&chunk).map_err(internal)?;
    }
    Ok((temp, hex_digest(hash)))
}

/// A short text field (the folder), refused past [`MAX_FOLDER_FIELD`] bytes.
async fn small_text(mut field: Field<'_>, max_bytes: u64) -> Result<String, TransferError> {
    let mut text = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(|e| form_error(e, max_bytes))? {
        if text.len() + chunk.len() > MAX_FOLDER_FIELD {
            return Err(TransferError::BadInput(format!(
                "the folder field is longer than {MAX_FOLDER_FIELD} bytes"
            )));
        }
        text.extend_from_slice(&chunk);
    }
    String::from_utf8(text)
        .map_err(|_| TransferError::BadInput("the folder field is not UTF-8".into()))
}

/// A malformed or cut body is bad input; the route's body limit (set near `max_bytes`) is
/// too large.
fn form_error(e: MultipartError, max_bytes: u64) -> TransferError {
    if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        TransferError::TooLarge(max_bytes)
    } else {
        TransferError::BadInput(format!("upload form: {}", e.body_text()))
    }
}
