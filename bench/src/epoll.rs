//! A minimal level-triggered epoll: the TFTP storm drives thousands of UDP sockets from a few
//! threads, and std has no readiness API.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// Readiness events fetched per [`Epoll::wait`].
const BATCH: usize = 1024;

/// An epoll instance; closing a registered descriptor removes it.
pub struct Epoll {
    fd: OwnedFd,
    events: Vec<libc::epoll_event>,
}

impl Epoll {
    /// A new instance.
    ///
    /// # Errors
    /// `epoll_create1` failed (descriptor limit).
    pub fn new() -> io::Result<Epoll> {
        // SAFETY: epoll_create1 takes no pointers; a non-negative result is a fresh descriptor
        // that nothing else owns, so OwnedFd may take it.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Epoll {
            // SAFETY: see above.
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
            events: vec![libc::epoll_event { events: 0, u64: 0 }; BATCH],
        })
    }

    /// Watches `fd` for readability; [`Epoll::wait`] reports it as `token`.
    ///
    /// # Errors
    /// `epoll_ctl` failed.
    pub fn add(&self, fd: RawFd, token: u64) -> io::Result<()> {
        let mut event = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: token,
        };
        // SAFETY: `event` is a valid epoll_event the kernel only reads during the call.
        let rc =
            unsafe { libc::epoll_ctl(self.fd.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut event) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Waits up to `timeout` and replaces `tokens` with those of readable descriptors (at most
    /// 1024 per call).
    ///
    /// # Errors
    /// `epoll_wait` failed other than by a signal.
    pub fn wait(&mut self, tokens: &mut Vec<u64>, timeout: Duration) -> io::Result<()> {
        tokens.clear();
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        let (fd, events) = (self.fd.as_raw_fd(), &mut self.events);
        // SAFETY: `events` has room for BATCH entries, which is what the kernel is told.
        let n = unsafe { libc::epoll_wait(fd, events.as_mut_ptr(), BATCH as i32, ms) };
        if n < 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::Interrupted {
                Ok(())
            } else {
                Err(e)
            };
        }
        tokens.extend(self.events[..n as usize].iter().map(|e| e.u64));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;

    #[test]
    fn reports_readable_socket_by_token() {
        let mut ep = Epoll::new().unwrap();
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        ep.add(a.as_raw_fd(), 7).unwrap();
        ep.add(b.as_raw_fd(), 9).unwrap();
        let mut tokens = Vec::new();
        ep.wait(&mut tokens, Duration::ZERO).unwrap();
        assert!(tokens.is_empty());
        a.send_to(b"x", b.local_addr().unwrap()).unwrap();
        ep.wait(&mut tokens, Duration::from_secs(1)).unwrap();
        assert_eq!(tokens, [9]);
    }
}
