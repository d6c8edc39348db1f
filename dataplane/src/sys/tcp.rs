//! TCP connection state read from the kernel.

use std::io;
use std::os::fd::RawFd;

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
