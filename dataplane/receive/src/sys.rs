//! recvmmsg with UDP GRO segment sizes, through libc: the receiver's only `unsafe`.
//!
//! nix's wrapper was tried and dropped: it sets each header's control buffer length once, and
//! the kernel overwrites that length with what it stored, so after one datagram without a
//! GRO control message (a lone datagram carries none) the slot never reports a segment size
//! again, and the next super-datagram reads as one oversized datagram.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// Messages per recvmmsg.
const BATCH: usize = 32;
/// Room for one message: a GRO super-datagram is at most 64 KiB.
const MESSAGE: usize = 64 << 10;
/// Room for one message's control data: one `UDP_GRO` message (an `int`) needs 24 bytes on
/// 64-bit Linux; more arrive only if asked for, and we ask for no other.
const CONTROL: usize = 64;

/// Buffers for one recvmmsg, and what it received.
pub(crate) struct Batch {
    buffer: Box<[u8]>,
    control: Box<[u8]>,
    iovecs: Box<[libc::iovec]>,
    headers: Box<[libc::mmsghdr]>,
    /// Per message received: its length and segment size.
    messages: Vec<(usize, usize)>,
}

impl Batch {
    pub(crate) fn new() -> Batch {
        let iovec = libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        };
        Batch {
            buffer: vec![0; BATCH * MESSAGE].into_boxed_slice(),
            control: vec![0; BATCH * CONTROL].into_boxed_slice(),
            iovecs: vec![iovec; BATCH].into_boxed_slice(),
            headers: (0..BATCH)
                .map(|_| libc::mmsghdr {
                    msg_hdr: empty_msghdr(),
                    msg_len: 0,
                })
                .collect(),
            messages: Vec::with_capacity(BATCH),
        }
    }

    /// Waits for datagrams (as long as the socket's receive timeout) and takes those that
    /// have arrived; a timeout or an interruption is an empty batch.
    pub(crate) fn receive(&mut self, socket: BorrowedFd<'_>) -> io::Result<()> {
        self.messages.clear();
        // Every header is rebuilt before each call: the kernel rewrites lengths in them.
        for (i, (header, iovec)) in self
            .headers
            .iter_mut()
            .zip(self.iovecs.iter_mut())
            .enumerate()
        {
            *iovec = libc::iovec {
                iov_base: self.buffer[i * MESSAGE..].as_mut_ptr().cast(),
                iov_len: MESSAGE,
            };
            header.msg_hdr = empty_msghdr();
            header.msg_hdr.msg_iov = std::ptr::from_mut(iovec);
            header.msg_hdr.msg_iovlen = 1;
            header.msg_hdr.msg_control = self.control[i * CONTROL..].as_mut_ptr().cast();
            header.msg_hdr.msg_controllen = CONTROL as _;
            header.msg_len = 0;
        }
        // SAFETY: `headers` holds BATCH valid `mmsghdr`s; each points to one `iovec` of
        // `iovecs` describing MESSAGE bytes of `buffer` and to CONTROL bytes of `control`
        // (slices of BATCH times that size, so every range is in bounds), and no name buffer.
        // All of them are owned by `self`, borrowed mutably for the call, and outlive it: the
        // kernel writes only within these ranges, and only during the call. A null timeout
        // is allowed (the socket's own timeout bounds the wait).
        let received = unsafe {
            libc::recvmmsg(
                socket.as_raw_fd(),
                self.headers.as_mut_ptr(),
                BATCH as _,
                libc::MSG_WAITFORONE as _,
                std::ptr::null_mut(),
            )
        };
        let received = match usize::try_from(received) {
            Ok(n) => n,
            Err(_) => {
                let e = io::Error::last_os_error();
                return match e.kind() {
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(()),
                    _ => Err(e),
                };
            }
        };
        for (i, header) in self.headers.iter().enumerate().take(received) {
            if header.msg_hdr.msg_flags & libc::MSG_TRUNC != 0 {
                continue;
            }
            let len = header.msg_len as usize;
            // `size_t` with glibc, `socklen_t` with musl: a cast fits both.
            #[allow(clippy::unnecessary_cast)]
            let control_len = (header.msg_hdr.msg_controllen as usize).min(CONTROL);
            let control = &self.control[i * CONTROL..][..control_len];
            let segment = gro_segment(control)
                .filter(|&s| s > 0)
                .unwrap_or(len.max(1));
            self.messages.push((len, segment));
        }
        Ok(())
    }

    /// The datagrams received, super-datagrams split into their segments.
    pub(crate) fn datagrams(&self) -> impl Iterator<Item = &[u8]> {
        self.messages
            .iter()
            .enumerate()
            .flat_map(|(i, &(len, segment))| self.buffer[i * MESSAGE..][..len].chunks(segment))
    }
}

/// A `msghdr` of null pointers and zero lengths.
fn empty_msghdr() -> libc::msghdr {
    // SAFETY: `msghdr` is plain data (integers and raw pointers, and on musl private padding
    // integers, which is why it is not built field by field): all zeros is a valid value,
    // and the null pointers are never dereferenced with zero lengths.
    unsafe { std::mem::zeroed() }
}

/// The segment size in a message's control data: the `UDP_GRO` control message, parsed from
/// bytes (the kernel's layout: `size_t` length, `int` level, `int` type, data aligned to
/// `size_t`), without trusting the length fields beyond the buffer.
fn gro_segment(mut control: &[u8]) -> Option<usize> {
    const WORD: usize = std::mem::size_of::<usize>();
    let align = |n: usize| n.div_ceil(WORD) * WORD;
    let header = align(WORD + 8);
    while control.len() >= header {
        let len = usize::from_ne_bytes(control[..WORD].try_into().ok()?);
        let level = i32::from_ne_bytes(control[WORD..WORD + 4].try_into().ok()?);
        let kind = i32::from_ne_bytes(control[WORD + 4..WORD + 8].try_into().ok()?);
        if len < header || len > control.len() {
            return None;
        }
        if level == libc::SOL_UDP && kind == libc::UDP_GRO && len >= header + 4 {
            let size = i32::from_ne_bytes(control[header..header + 4].try_into().ok()?);
            return usize::try_from(size).ok();
        }
        control = &control[align(len).min(control.len())..];
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmsg(level: i32, kind: i32, data: &[u8]) -> Vec<u8> {
        const WORD: usize = std::mem::size_of::<usize>();
        let header = (WORD + 8).div_ceil(WORD) * WORD;
        let mut out = (header + data.len()).to_ne_bytes().to_vec();
        out.extend_from_slice(&level.to_ne_bytes());
        out.extend_from_slice(&kind.to_ne_bytes());
        out.resize(header, 0);
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(WORD) * WORD, 0);
        out
    }

    #[test]
    fn the_gro_segment_size_is_found_among_control_messages() {
        let gro = cmsg(libc::SOL_UDP, libc::UDP_GRO, &1364i32.to_ne_bytes());
        assert_eq!(gro_segment(&gro), Some(1364));
        let mut two = cmsg(libc::SOL_IP, libc::IP_TOS, &[0]);
        two.extend_from_slice(&gro);
        assert_eq!(gro_segment(&two), Some(1364));
        assert_eq!(gro_segment(&[]), None);
        assert_eq!(gro_segment(&gro[..gro.len() - 8]), None, "cut short");
        let mut lying = gro.clone();
        lying[..std::mem::size_of::<usize>()].copy_from_slice(&usize::MAX.to_ne_bytes());
        assert_eq!(gro_segment(&lying), None);
    }
}
