//! Blobs: the bytes the data plane serves. A [`Blob`] is a whole memory-mapped file or bytes
//! held in memory (embedded bootloaders, generated scripts); a [`BlobSlice`] is a
//! `(blob, offset, len)` window of one — a file inside an ISO is a slice of the ISO's blob.
//! Serving a slice hands the kernel a pointer into the blob: no copy in user space.

use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use memmap2::Mmap;

/// Immutable bytes plus the validators HTTP needs. Cheap to share: always behind an `Arc`.
pub struct Blob {
    source: Source,
    len: u64,
    modified: u64,
    etag: String,
}

enum Source {
    /// A mapped file. `map` is `None` for an empty file. `file` stays open so user-space reads
    /// (netascii conversion) use `pread`, never the mapping.
    Mapped {
        map: Option<Mmap>,
        file: File,
    },
    Static(&'static [u8]),
    Owned(Box<[u8]>),
}

impl Blob {
    /// Maps `path` read-only.
    ///
    /// # Errors
    /// Any error opening, stating or mapping the file.
    pub fn map_file(path: &Path) -> io::Result<Arc<Blob>> {
        let file = File::open(path)?;
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a regular file",
            ));
        }
        let len = meta.len();
        let modified = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs());
        let map = crate::sys::map_file(&file, len)?;
        // Inode, size and mtime identify a version of a file: a replaced file gets a new ETag.
        let etag = format!(
            "\"{:x}-{:x}-{:x}.{:x}\"",
            meta.ino(),
            len,
            modified,
            meta.mtime_nsec()
        );
        Ok(Arc::new(Blob {
            source: Source::Mapped { map, file },
            len,
            modified,
            etag,
        }))
    }

    /// Wraps bytes compiled into the binary.
    pub fn from_static(bytes: &'static [u8], modified: u64) -> Arc<Blob> {
        Arc::new(Blob::in_memory(
            Source::Static(bytes),
            bytes.len(),
            modified,
        ))
    }

    /// Wraps bytes made at run time (a rendered boot script, a netascii conversion).
    pub fn from_vec(bytes: Vec<u8>, modified: u64) -> Arc<Blob> {
        let len = bytes.len();
        Arc::new(Blob::in_memory(
            Source::Owned(bytes.into_boxed_slice()),
            len,
            modified,
        ))
    }

    fn in_memory(source: Source, len: usize, modified: u64) -> Blob {
        let etag = format!("\"m{:x}-{:x}\"", len, modified);
        Blob {
            source,
            len: len as u64,
            modified,
            etag,
        }
    }

    /// Length in bytes at the time the blob was made.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True for an empty blob.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Last modification, seconds since the Unix epoch.
    pub fn modified(&self) -> u64 {
        self.modified
    }

    /// Strong entity tag, quoted.
    pub fn etag(&self) -> &str {
        &self.etag
    }

    /// Reads bytes into `buf` through the file descriptor (or a memory copy for in-memory
    /// blobs): for the rare user-space consumers (netascii), which must never touch the mapping.
    ///
    /// # Errors
    /// I/O errors from `pread`.
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        match &self.source {
            Source::Mapped { file, .. } => file.read_at(buf, offset),
            Source::Static(bytes) => Ok(copy_from(bytes, offset, buf)),
            Source::Owned(bytes) => Ok(copy_from(bytes, offset, buf)),
        }
    }

    /// The open file behind a mapped blob (for `sendfile`); `None` for bytes in memory.
    pub(crate) fn file(&self) -> Option<&File> {
        match &self.source {
            Source::Mapped { file, .. } => Some(file),
            Source::Static(_) | Source::Owned(_) => None,
        }
    }

    /// Is the file behind this blob still as long as when it was mapped? A shorter file means
    /// it was truncated under us: new transfers are refused rather than failing half-way.
    pub fn still_intact(&self) -> bool {
        match &self.source {
            Source::Mapped { file, .. } => file
                .metadata()
                .map(|m| m.len() >= self.len)
                .unwrap_or(false),
            Source::Static(_) | Source::Owned(_) => true,
        }
    }

    fn base_ptr(&self) -> *const u8 {
        match &self.source {
            Source::Mapped { map: Some(map), .. } => map.as_ptr(),
            Source::Mapped { map: None, .. } => std::ptr::NonNull::<u8>::dangling().as_ptr(),
            Source::Static(bytes) => bytes.as_ptr(),
            Source::Owned(bytes) => bytes.as_ptr(),
        }
    }
}

fn copy_from(bytes: &[u8], offset: u64, buf: &mut [u8]) -> usize {
    let Ok(start) = usize::try_from(offset) else {
        return 0;
    };
    let Some(src) = bytes.get(start..) else {
        return 0;
    };
    let n = src.len().min(buf.len());
    buf[..n].copy_from_slice(&src[..n]);
    n
}

/// A window of a blob. Cloning is an `Arc` increment.
#[derive(Clone)]
pub struct BlobSlice {
    blob: Arc<Blob>,
    offset: u64,
    len: usize,
}

impl BlobSlice {
    /// A window `[offset, offset + len)` of `blob`; `None` if it does not fit inside.
    pub fn new(blob: Arc<Blob>, offset: u64, len: u64) -> Option<BlobSlice> {
        let end = offset.checked_add(len)?;
        if end > blob.len() {
            return None;
        }
        Some(BlobSlice {
            blob,
            offset,
            len: usize::try_from(len).ok()?,
        })
    }

    /// The whole blob.
    pub fn whole(blob: Arc<Blob>) -> BlobSlice {
        let len = blob.len() as usize;
        BlobSlice {
            blob,
            offset: 0,
            len,
        }
    }

    /// A sub-window relative to this slice; `None` if out of bounds.
    pub fn sub(&self, offset: u64, len: u64) -> Option<BlobSlice> {
        let end = offset.checked_add(len)?;
        if end > self.len as u64 {
            return None;
        }
        BlobSlice::new(self.blob.clone(), self.offset + offset, len)
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True for an empty window.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The blob this is a window of.
    pub fn blob(&self) -> &Arc<Blob> {
        &self.blob
    }

    /// Offset inside the blob.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Pointer for the kernel. Never dereference it in user space (see `sys`).
    pub(crate) fn as_ptr(&self) -> *const u8 {
        self.blob.base_ptr().wrapping_add(self.offset as usize)
    }

    /// Tells the kernel this process is done with the window's mapped pages for now (see
    /// `sys::release_pages`); in-memory blobs are left as they are. Servers call it once the
    /// bytes have been sent, so serving a 4 GiB ISO does not leave 4 GiB mapped in.
    pub fn release_pages(&self) {
        if let Source::Mapped { map: Some(map), .. } = &self.blob.source {
            crate::sys::release_pages(map, self.offset as usize, self.len);
        }
    }

    /// Reads the window's bytes through `Blob::read_at` (pread for files) one `buf` at a
    /// time, handing each filled part to `each`: user space never holds more than `buf`.
    ///
    /// # Errors
    /// I/O errors, or `UnexpectedEof` if the file shrank.
    pub fn read_in_chunks(&self, buf: &mut [u8], mut each: impl FnMut(&[u8])) -> io::Result<()> {
        let mut done = 0;
        while done < self.len {
            let want = (self.len - done).min(buf.len());
            let n = self
                .blob
                .read_at(self.offset + done as u64, &mut buf[..want])?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            each(&buf[..n]);
            done += n;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_to_vec(s: &BlobSlice) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        s.read_in_chunks(&mut [0; 4], |part| out.extend_from_slice(part))?;
        Ok(out)
    }

    #[test]
    fn slices_stay_in_bounds() {
        let blob = Blob::from_static(b"0123456789", 0);
        assert!(BlobSlice::new(blob.clone(), 0, 10).is_some());
        assert!(BlobSlice::new(blob.clone(), 5, 6).is_none());
        assert!(BlobSlice::new(blob.clone(), u64::MAX, 2).is_none());
        let s = BlobSlice::new(blob, 2, 6).unwrap();
        assert_eq!(read_to_vec(&s.sub(1, 3).unwrap()).unwrap(), b"345");
        assert!(s.sub(4, 3).is_none());
    }

    #[test]
    fn mapped_file_reads_and_detects_truncation() {
        let dir = std::env::temp_dir().join(format!("fleetboot-blob-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f");
        std::fs::write(&path, b"hello world").unwrap();
        let blob = Blob::map_file(&path).unwrap();
        assert_eq!(blob.len(), 11);
        assert!(blob.still_intact());
        assert_eq!(
            read_to_vec(&BlobSlice::whole(blob.clone())).unwrap(),
            b"hello world"
        );
        std::fs::write(&path, b"hi").unwrap();
        assert!(!blob.still_intact());
        assert!(read_to_vec(&BlobSlice::whole(blob)).is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
