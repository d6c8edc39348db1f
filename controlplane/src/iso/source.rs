//! Where image bytes come from. The indexer only ever does bounded positioned reads of
//! metadata; it never maps the file, because touching a mapping of a file that was truncated
//! underneath us raises SIGBUS, while a positioned read just fails.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::IsoError;

/// A random-access byte source holding an image.
pub trait Source {
    /// Length of the image in bytes.
    fn len(&self) -> u64;

    /// Fills `buf` with the bytes at `offset`, or fails (reading past the end is an error).
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()>;

    /// Whether the image is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A file on disk; its length is taken once, when opened.
#[derive(Debug)]
pub struct FileSource {
    file: File,
    len: u64,
}

impl FileSource {
    /// Wraps an open file.
    pub fn new(file: File) -> io::Result<FileSource> {
        let len = file.metadata()?.len();
        Ok(FileSource { file, len })
    }

    /// Opens the file at `path` read-only.
    pub fn open(path: &Path) -> io::Result<FileSource> {
        FileSource::new(File::open(path)?)
    }
}

impl Source for FileSource {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.file.read_exact_at(buf, offset)
    }
}

impl Source for [u8] {
    fn len(&self) -> u64 {
        <[u8]>::len(self) as u64
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let end = offset.checked_add(buf.len() as u64);
        match end {
            Some(end) if end <= Source::len(self) => {
                // Both fit in usize: they are bounded by the slice length.
                buf.copy_from_slice(&self[offset as usize..end as usize]);
                Ok(())
            }
            _ => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "read past the end of the image",
            )),
        }
    }
}

impl Source for Vec<u8> {
    fn len(&self) -> u64 {
        Source::len(self.as_slice())
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.as_slice().read_at(offset, buf)
    }
}

impl<S: Source + ?Sized> Source for &S {
    fn len(&self) -> u64 {
        (**self).len()
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        (**self).read_at(offset, buf)
    }
}

/// Reads `len` bytes at `offset`, first checking the range lies inside the image (so a
/// hostile length can never make us allocate more than the image is long). `what` names the
/// structure for the [`IsoError::Truncated`] message.
pub(crate) fn read_vec(
    src: &dyn Source,
    offset: u64,
    len: usize,
    what: &'static str,
) -> Result<Vec<u8>, IsoError> {
    if !in_bounds(src, offset, len as u64) {
        return Err(IsoError::Truncated(what));
    }
    let mut buf = vec![0u8; len];
    src.read_at(offset, &mut buf)?;
    Ok(buf)
}

/// Whether `offset..offset + len` lies inside the image.
pub(crate) fn in_bounds(src: &dyn Source, offset: u64, len: u64) -> bool {
    offset.checked_add(len).is_some_and(|end| end <= src.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slice_source_reads_and_bounds() {
        let data: Vec<u8> = (0..10).collect();
        let mut buf = [0u8; 3];
        data.read_at(7, &mut buf).unwrap();
        assert_eq!(buf, [7, 8, 9]);
        assert!(data.read_at(8, &mut buf).is_err());
        assert!(data.read_at(u64::MAX, &mut buf).is_err());
        let src: &dyn Source = &data;
        assert_eq!(read_vec(src, 2, 2, "x").unwrap(), vec![2, 3]);
        assert!(matches!(
            read_vec(src, 9, 2, "x"),
            Err(IsoError::Truncated("x"))
        ));
        let slice: &[u8] = &data;
        assert_eq!(Source::len(&slice), 10);
    }

    #[test]
    fn file_source() {
        let path = std::env::temp_dir().join(format!("fleetboot-iso-src-{}", std::process::id()));
        std::fs::write(&path, b"hello world").unwrap();
        let src = FileSource::open(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(src.len(), 11);
        let mut buf = [0u8; 5];
        src.read_at(6, &mut buf).unwrap();
        assert_eq!(&buf, b"world");
        assert!(src.read_at(7, &mut buf).is_err());
    }
}
