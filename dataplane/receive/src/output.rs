//! Where the file goes: a regular file (created and sized) or a block device (large enough).
//!
//! Chunks are written with one positioned write each at their chunk offset, which the
//! default geometry keeps page-aligned; the page cache absorbs them and one fsync at the end
//! makes them durable.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::{FileExt, FileTypeExt};
use std::path::{Path, PathBuf};

use nix::fcntl::{posix_fadvise, PosixFadviseAdvice};
use sha2::{Digest, Sha256};

/// Whether `path` is a block device (a disk) rather than a file, or nothing yet.
pub(crate) fn is_block_device(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.file_type().is_block_device())
}

/// The output, open for reading and writing.
pub(crate) struct Disk {
    file: File,
    path: PathBuf,
    block_device: bool,
}

impl Disk {
    /// Opens `path` for a file of `size` bytes: a block device must hold it, anything else
    /// is created if need be and sized to it (keeping what a previous run wrote).
    pub(crate) fn open(path: &Path, size: u64) -> Result<Disk, String> {
        let shown = path.display();
        let block_device = is_block_device(path);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(!block_device)
            .truncate(false)
            .open(path)
            .map_err(|e| format!("cannot open output {shown}: {e}"))?;
        if block_device {
            let capacity = file
                .seek(SeekFrom::End(0))
                .map_err(|e| format!("cannot size {shown}: {e}"))?;
            if capacity < size {
                return Err(format!(
                    "output {shown} too small: {capacity} bytes, the image has {size}"
                ));
            }
        } else {
            let meta = file
                .metadata()
                .map_err(|e| format!("cannot stat {shown}: {e}"))?;
            if !meta.is_file() {
                return Err(format!(
                    "output {shown} is neither a regular file nor a block device"
                ));
            }
            file.set_len(size)
                .map_err(|e| format!("cannot size output {shown} to {size} bytes: {e}"))?;
        }
        Ok(Disk {
            file,
            path: path.to_path_buf(),
            block_device,
        })
    }

    pub(crate) fn is_block_device(&self) -> bool {
        self.block_device
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Another handle on the same output, to flush it from another thread.
    pub(crate) fn try_clone(&self) -> io::Result<File> {
        self.file.try_clone()
    }

    /// Makes everything written durable.
    pub(crate) fn sync(&self) -> io::Result<()> {
        self.file.sync_all()
    }

    /// SHA-256 of the first `size` bytes, read back from the device: the output's cached
    /// pages are dropped first (call [`Disk::sync`] before, or dirty pages stay cached).
    pub(crate) fn sha256(&self, size: u64) -> io::Result<[u8; 32]> {
        posix_fadvise(&self.file, 0, 0, PosixFadviseAdvice::POSIX_FADV_DONTNEED)?;
        let mut file = &self.file;
        file.seek(SeekFrom::Start(0))?;
        let mut reader = file.take(size);
        let mut hash = Sha256::new();
        let mut buf = vec![0u8; 4 << 20];
        loop {
            let n = reader.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hash.update(&buf[..n]);
        }
        if reader.limit() != 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "output shorter than the file",
            ));
        }
        Ok(hash.finalize().into())
    }
}

impl multicast::Output for Disk {
    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> io::Result<()> {
        self.file.write_all_at(bytes, offset)
    }

    fn read_at(&mut self, offset: u64, bytes: &mut [u8]) -> io::Result<()> {
        self.file.read_exact_at(bytes, offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use multicast::Output;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("fleetboot-receive-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    #[test]
    fn a_regular_file_is_created_sized_and_kept_on_reopen() {
        let path = scratch("out.img");
        let _ = std::fs::remove_file(&path);
        let mut disk = Disk::open(&path, 10_000).unwrap();
        assert!(!disk.is_block_device());
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 10_000);
        disk.write_at(4096, b"kept").unwrap();
        drop(disk);
        let mut disk = Disk::open(&path, 10_000).unwrap();
        let mut back = [0u8; 4];
        disk.read_at(4096, &mut back).unwrap();
        assert_eq!(&back, b"kept");
        let mut expected = vec![0u8; 10_000];
        expected[4096..4100].copy_from_slice(b"kept");
        assert_eq!(
            disk.sha256(10_000).unwrap(),
            <[u8; 32]>::from(Sha256::digest(&expected))
        );
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn a_directory_is_refused() {
        let dir = scratch("a-directory");
        std::fs::create_dir_all(&dir).unwrap();
        let err = Disk::open(&dir, 1).err().unwrap();
        assert!(err.contains("cannot open output"), "{err}");
    }
}
