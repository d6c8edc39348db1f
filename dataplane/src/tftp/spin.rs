//! Waiting for a lone client's ACK by polling its socket a moment before sleeping.
//!
//! One client with a window is round-trip bound: the core sends a window, sleeps in the ring,
//! and is woken by the ACK — a wake-up that costs more than the window's sends in a VM. When
//! the transfer is the core's only work ([`crate::busy`]), the task first tries non-blocking
//! reads for up to [`SPIN`]: a nearby client's ACK is usually there by then, and no sleep
//! happens. With other transfers or HTTP requests on the core it never spins: they need the
//! core more than one client needs the microseconds.

use std::io;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use crate::sys;

/// Longest poll for an ACK before sleeping: a few of this machine's loopback round trips.
pub(crate) const SPIN: Duration = Duration::from_micros(200);

/// Reads by polling before the task waits in the ring once anyway: the wait is where the
/// runtime runs other tasks (a new request on the listener) and timeouts fire, so a peer
/// that keeps datagrams coming cannot keep the core to itself.
pub(crate) const MAX_READS: u32 = 64;

/// Reads one datagram from `fd` if one arrives within [`SPIN`] (or by `deadline`, if
/// sooner); `None` when none did.
pub(crate) fn poll(fd: RawFd, buf: &mut [u8], deadline: Instant) -> Option<io::Result<usize>> {
    let until = deadline.min(Instant::now() + SPIN);
    loop {
        match sys::recv_nowait(fd, buf) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if Instant::now() >= until {
                    return None;
                }
                std::hint::spin_loop();
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            other => return Some(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::UdpSocket;
    use std::os::fd::AsRawFd;

    use super::*;

    #[test]
    fn a_queued_datagram_is_read_and_silence_gives_up_after_the_spin() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        tx.connect(rx.local_addr().unwrap()).unwrap();
        rx.connect(tx.local_addr().unwrap()).unwrap();
        let mut buf = [0u8; 16];
        let far = Instant::now() + Duration::from_secs(5);
        let started = Instant::now();
        assert!(poll(rx.as_raw_fd(), &mut buf, far).is_none());
        assert!(started.elapsed() >= SPIN, "gave up before the spin");
        tx.send(&[0, 4, 0, 1]).unwrap();
        let got = poll(rx.as_raw_fd(), &mut buf, far).expect("the queued ACK");
        assert_eq!(&buf[..got.unwrap()], &[0, 4, 0, 1]);
        // A deadline already past: one try, no spin.
        let past = Instant::now();
        assert!(poll(rx.as_raw_fd(), &mut buf, past).is_none());
    }
}
