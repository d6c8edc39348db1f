//! The one place the data plane talks to the kernel below the runtime's safe API: mapping
//! files, handing mapped bytes to io_uring as buffers, thread and descriptor limits; UDP
//! beside the ring (batched and segmented sends) in `udp`, datagrams that know their
//! interface in [`pktinfo`], TCP progress in `tcp`.
//!
//! Rule of the house: **mapped file bytes are never read by user space.** They are only
//! passed by pointer to the kernel, which copies them into socket buffers. If the file is
//! truncated underneath us the kernel returns `EFAULT` for that send instead of the process
//! taking a `SIGBUS`; the transfer fails, the server lives on.
#![allow(unsafe_code)]

use std::fs::File;
pub mod pktinfo;
mod tcp;
mod udp;

use std::io;

use memmap2::{Mmap, MmapOptions};

use crate::blob::BlobSlice;

pub(crate) use tcp::{bytes_acked, send_more, sendfile, set_cork, set_nonblocking};
pub use udp::{
    recv_nowait, segments_per_send, send_datagrams, send_segmented, set_multicast_if_v4,
    take_error, MAX_BATCH, MAX_SEGMENTS,
};

/// Maps a whole file read-only. Returns `None` for an empty file (mmap of length 0 fails).
pub(crate) fn map_file(file: &File, len: u64) -> io::Result<Option<Mmap>> {
    if len == 0 {
        return Ok(None);
    }
    let len = usize::try_from(len)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "file too large to map"))?;
    // SAFETY: the mapping is private and read-only, so we never write through it. The usual
    // hazard of a file mapping, another process truncating or rewriting the file, cannot make
    // this process read undefined memory: by the module rule the mapped bytes are only ever
    // handed to the kernel by pointer (send/sendmsg/writev), which reports EFAULT for pages
    // beyond a truncated end instead of faulting, and is never dereferenced in user space.
    let map = unsafe { MmapOptions::new().len(len).map(file)? };
    // Boot files are read front to back by most clients.
    let _ = map.advise(memmap2::Advice::Sequential);
    Ok(Some(map))
}

/// Drops this process's page-table entries for `len` bytes at `offset` of `map` (rounded out
/// to whole pages), so bytes already handed to the kernel stop counting in our RSS. The page
/// cache keeps them: the next send of the same range maps them again with a minor fault.
pub(crate) fn release_pages(map: &Mmap, offset: usize, len: usize) {
    // SAFETY: the mapping is private, read-only and never written (see `map_file`), so it has
    // no private copy-on-write pages for MADV_DONTNEED to discard: a later access reads the
    // file's page again, the same bytes. No reference to mapped bytes exists in user space (the
    // module rule), so none can observe the pages going away; a kernel send in flight on
    // another thread just refaults them. memmap2 checks the range lies inside the mapping.
    let _ = unsafe { map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, offset, len) };
}

// SAFETY: `read_ptr` points into memory owned by the `Arc`'d blob inside the slice; the slice
// is moved into the runtime for the duration of the operation, so the mapping (or static
// bytes) outlives the kernel's use of the pointer, and the address never changes because the
// mapping is never remapped. `bytes_init` is the slice length, within the mapping by
// construction (`BlobSlice::new` checks bounds).
unsafe impl monoio::buf::IoBuf for BlobSlice {
    fn read_ptr(&self) -> *const u8 {
        self.as_ptr()
    }

    fn bytes_init(&self) -> usize {
        self.len()
    }
}

/// An HTTP response head followed by up to 33 body slices (a multipart body interleaves part
/// headers with slices), written with one `writev` so header and body leave in as few
/// segments as possible, and the body is never copied by user space.
pub struct GatherBuf {
    iovecs: Vec<libc::iovec>,
    /// First iovec not yet fully written.
    start: usize,
    _owned: Vec<Vec<u8>>,
    slices: Vec<BlobSlice>,
}

/// A piece of a gathered write: bytes we own (headers) or a slice of a blob (body).
pub enum Piece {
    /// Small owned bytes: a response head, a multipart part header.
    Owned(Vec<u8>),
    /// File bytes, sent straight from the mapping.
    Blob(BlobSlice),
}

impl GatherBuf {
    /// Builds the iovec list. Empty pieces are skipped.
    pub fn new(pieces: Vec<Piece>) -> Self {
        let mut owned = Vec::new();
        let mut slices = Vec::new();
        let mut iovecs = Vec::with_capacity(pieces.len());
        for piece in pieces {
            match piece {
                Piece::Owned(bytes) if !bytes.is_empty() => {
                    iovecs.push(libc::iovec {
                        iov_base: bytes.as_ptr() as *mut libc::c_void,
                        iov_len: bytes.len(),
                    });
                    // Moving a Vec moves its header, not its heap buffer: the pointer stays valid.
                    owned.push(bytes);
                }
                Piece::Blob(slice) if !slice.is_empty() => {
                    iovecs.push(libc::iovec {
                        iov_base: slice.as_ptr() as *mut libc::c_void,
                        iov_len: slice.len(),
                    });
                    slices.push(slice);
                }
                _ => {}
            }
        }
        Self {
            iovecs,
            start: 0,
            _owned: owned,
            slices,
        }
    }

    /// Releases the mapped pages of the blob bytes in this batch once it has been written.
    pub fn release_pages(&self) {
        for slice in &self.slices {
            slice.release_pages();
        }
    }

    /// Bytes not yet written.
    pub fn len(&self) -> usize {
        self.iovecs[self.start..].iter().map(|v| v.iov_len).sum()
    }

    /// True when everything has been written.
    pub fn is_empty(&self) -> bool {
        self.start == self.iovecs.len()
    }

    /// Marks `n` more bytes as written (after a short `writev`). Written by hand because
    /// monoio 0.2.4's `write_vectored_all` does not advance a partially written iovec's base.
    pub fn advance(&mut self, mut n: usize) {
        while n > 0 && self.start < self.iovecs.len() {
            let v = &mut self.iovecs[self.start];
            if n >= v.iov_len {
                n -= v.iov_len;
                self.start += 1;
            } else {
                v.iov_base = (v.iov_base as *mut u8).wrapping_add(n) as *mut libc::c_void;
                v.iov_len -= n;
                n = 0;
            }
        }
    }
}

// SAFETY: every iovec from `start` on points into a heap buffer owned by `_owned` or into a
// blob kept alive by `slices` (`advance` only moves a base forward within its own buffer and
// shrinks its length to match); neither is mutated or dropped while the GatherBuf lives. The
// runtime owns the GatherBuf, unmoved, while the kernel uses the pointers.
unsafe impl monoio::buf::IoVecBuf for GatherBuf {
    fn read_iovec_ptr(&self) -> *const libc::iovec {
        self.iovecs[self.start..].as_ptr()
    }

    fn read_iovec_len(&self) -> usize {
        self.iovecs.len() - self.start
    }
}

/// Pins the calling thread to one CPU. Failure (e.g. a restricted cpuset) is reported, not fatal.
pub fn pin_to_cpu(cpu: usize) -> io::Result<()> {
    // SAFETY: cpu_set_t is a plain bit set; all-zero is the empty set. CPU_SET bounds-checks
    // nothing, so we check `cpu` against the set's capacity first.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if cpu >= 8 * std::mem::size_of::<libc::cpu_set_t>() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cpu index out of range",
            ));
        }
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Raises the soft open-file limit to the hard limit: every TFTP transfer and HTTP connection
/// holds a descriptor, and the usual soft limit of 1024 is far below a rack booting at once.
/// Returns the soft limit now in force.
pub fn raise_fd_limit() -> io::Result<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit struct, which `limit` is.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if limit.rlim_cur < limit.rlim_max {
        limit.rlim_cur = limit.rlim_max;
        // SAFETY: setrlimit reads one valid rlimit struct; raising the soft limit up to the hard
        // limit is always permitted.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(limit.rlim_cur)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blob::Blob;
    use monoio::buf::IoVecBuf;

    fn described(g: &GatherBuf) -> Vec<u8> {
        let iovecs = &g.iovecs[g.start..];
        let mut out = Vec::new();
        for v in iovecs {
            // SAFETY: each iovec points into `_owned` or a static blob (never a file mapping),
            // both alive for this borrow of `g`.
            let part = unsafe { std::slice::from_raw_parts(v.iov_base as *const u8, v.iov_len) };
            out.extend_from_slice(part);
        }
        out
    }

    #[test]
    fn gather_buf_advances_through_partial_writes() {
        let blob = Blob::from_static(b"0123456789", 0);
        let mut g = GatherBuf::new(vec![
            Piece::Owned(b"head:".to_vec()),
            Piece::Owned(Vec::new()),
            Piece::Blob(BlobSlice::new(blob, 2, 5).unwrap()),
            Piece::Owned(b":tail".to_vec()),
        ]);
        assert_eq!(g.read_iovec_len(), 3, "empty pieces are skipped");
        assert_eq!(described(&g), b"head:23456:tail");
        g.advance(3);
        assert_eq!(described(&g), b"d:23456:tail");
        g.advance(2);
        assert_eq!(described(&g), b"23456:tail");
        g.advance(6);
        assert_eq!(described(&g), b"tail");
        assert_eq!(g.len(), 4);
        g.advance(4);
        assert!(g.is_empty());
        assert_eq!(g.read_iovec_len(), 0);
    }
}
