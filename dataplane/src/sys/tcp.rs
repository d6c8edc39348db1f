//! TCP connection state read from the kernel, and the non-blocking sends beside the ring
//! that hand file pages to a socket without a user-space copy.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, RawFd};

/// Bytes of this connection the peer has acknowledged so far (`TCP_INFO`'s
/// `tcpi_bytes_acked`, Linux 4.1+): what a client really read, whatever sits in our send
/// buffer.
///
/// # Errors
/// `getsockopt` failed, or the kernel's `tcp_info` is too old to carry the field.
pub(crate) fn bytes_acked(fd: RawFd) -> io::Result<u64> {
    // SAFETY: tcp_info is a struct of plain integers, for which all-zero is a valid value.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `info`, which is exactly that large
    // and lives across the call; `len` is a valid in/out length. A bad descriptor is an error
    // return, not undefined behaviour.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    let needed = std::mem::offset_of!(libc::tcp_info, tcpi_bytes_acked) + 8;
    if (len as usize) < needed {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "kernel TCP_INFO has no tcpi_bytes_acked",
        ));
    }
    Ok(info.tcpi_bytes_acked)
}

/// Sends up to `len` bytes of `file` from `offset` to the socket `fd` with `sendfile(2)`: the
/// page-cache pages go into the socket by reference, never through user space. Never blocks:
/// `WouldBlock` when the send buffer is full (the socket must be non-blocking, see
/// [`set_nonblocking`]). Returns the bytes queued; 0 means the file ends before `offset`.
///
/// # Errors
/// The kernel's error (`WouldBlock` included).
pub(crate) fn sendfile(fd: RawFd, file: &File, offset: u64, len: usize) -> io::Result<usize> {
    let mut off = libc::off_t::try_from(offset)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "offset out of range"))?;
    // SAFETY: both descriptors are plain integers the kernel validates (a bad one is EBADF);
    // `off` is a live, exclusively borrowed off_t (64 bits on 64-bit Linux) the kernel reads
    // and updates in place, so the file's own position is untouched and concurrent senders of
    // the same file do not interfere.
    let n = unsafe { libc::sendfile(fd, file.as_raw_fd(), &mut off, len) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

/// Sends `bytes` on the socket `fd` without blocking, with `MSG_MORE`: a response head held
/// back to leave in the same segment as the body that [`sendfile`] queues next.
///
/// # Errors
/// The kernel's error (`WouldBlock` when the send buffer is full).
pub(crate) fn send_more(fd: RawFd, bytes: &[u8]) -> io::Result<usize> {
    // SAFETY: the pointer and length describe `bytes`, borrowed for the call; the kernel only
    // reads them. MSG_DONTWAIT makes the call non-blocking whatever the socket's mode.
    let n = unsafe {
        libc::send(
            fd,
            bytes.as_ptr().cast(),
            bytes.len(),
            libc::MSG_MORE | libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

/// Corks or uncorks the socket `fd` (`TCP_CORK`): while corked, only full segments leave, so
/// a `sendfile` call that ends mid-segment does not push a short one; uncorking sends the rest.
///
/// # Errors
/// `setsockopt` failed.
pub(crate) fn set_cork(fd: RawFd, on: bool) -> io::Result<()> {
    // SAFETY: the caller's stream owns `fd` for the duration of the call; the borrow ends
    // before this function returns, and a closed descriptor is an error return, not UB.
    let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    socket2::SockRef::from(&fd).set_tcp_cork(on)
}

/// Makes the socket `fd` non-blocking (what [`sendfile`] needs to return rather than wait;
/// the runtime's own operations do not care).
///
/// # Errors
/// `fcntl` failed.
pub(crate) fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: F_GETFL/F_SETFL take and return plain flags; a bad descriptor is EBADF.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    if flags & libc::O_NONBLOCK != 0 {
        return Ok(());
    }
    // SAFETY: as above.
    if unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
