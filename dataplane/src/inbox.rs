//! A UDP listener's datagrams, a burst per wake-up: wait for readiness (not a ring receive:
//! several cores may read one socket, and the one that reads first takes the datagram), then
//! read what is queued without waiting, up to a batch, before the core turns to its other
//! tasks. proxyDHCP and the TFTP listener both read this way.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use monoio::net::udp::UdpSocket;

use crate::runtime::Drain;

/// Datagrams read per wake-up.
const BATCH: usize = 64;

/// Where a listener is in its current burst.
#[derive(Debug, Default)]
pub(crate) struct Inbox {
    left: usize,
}

impl Inbox {
    /// The next datagram `recv` reads from `socket` into `buf`; `None` once the data plane
    /// drains. Receive errors are logged and end the burst.
    pub(crate) async fn next<T>(
        &mut self,
        socket: &UdpSocket,
        drain: &Drain,
        buf: &mut [u8],
        recv: fn(RawFd, &mut [u8]) -> io::Result<Option<T>>,
    ) -> Option<T> {
        loop {
            if self.left > 0 {
                self.left -= 1;
                match recv(socket.as_raw_fd(), buf) {
                    Ok(Some(datagram)) => return Some(datagram),
                    Ok(None) => self.left = 0,
                    Err(e) => {
                        tracing::debug!(error = %e, "udp: receive failed");
                        self.left = 0;
                    }
                }
            }
            let ready = monoio::select! {
                r = socket.readable(false) => r,
                _ = drain.started() => return None,
            };
            match ready {
                Ok(()) => self.left = BATCH,
                Err(e) => {
                    // Not a busy loop if the error persists.
                    tracing::debug!(error = %e, "udp: waiting for datagrams failed");
                    monoio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    }
}
