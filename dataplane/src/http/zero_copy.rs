//! Which file bytes leave without a user-space copy. Both ways keep user space off the
//! mapped bytes: `writev` hands the kernel pointers into the mapping and it copies them into
//! socket buffers; `sendfile(2)` queues the page-cache pages themselves (nginx's `sendfile
//! on`), so a NIC with scatter-gather DMA sends them with no CPU copy at all.
//!
//! Measured on loopback (bench/http-wrk.sh, RESULTS.md), `sendfile` is the *slower* of the two
//! (0.76× the MB/s at 1.4× the CPU per byte): the receiving socket copies the bytes anyway,
//! and page-referencing skbs cost more than one bulk copy. Everywhere else `sendfile` wins or
//! is the only sane choice: through a NIC it sends with no CPU copy, and a veth or a bridge
//! usually leads to one (a container's network, a VM's tap). Even to a client on the same
//! host across a veth (bench/peers.sh's boot storm, RESULTS.md), `writev` kept the server's
//! one core 95–99 % busy with the copy, where `sendfile` left it half idle and served more
//! machines a second. So `auto` writes by `writev` only on loopback, where the reader is a
//! process of this host by construction, and for bodies under [`AUTO_THRESHOLD`], where a
//! second system call costs more than the copy it saves.
//!
//! Why `sendfile` beside the ring and not `IORING_OP_SPLICE` or `IORING_OP_SEND_ZC`: monoio
//! exposes neither with an offset (its splice reads at the file position, shared by every
//! connection of a blob), and a non-blocking `sendfile` on a socket whose buffer has room
//! never sleeps on a page-cache hit; when the buffer is full it returns at once and the core
//! waits for writability through the ring like any other operation.

use std::net::IpAddr;
use std::str::FromStr;

/// Bodies from this size up may go by `sendfile`: below it, a second system call costs more
/// than the copy it saves.
pub const AUTO_THRESHOLD: usize = 64 << 10;

/// `--zero-copy`: how file bytes reach the socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ZeroCopy {
    /// `sendfile` for file bodies of [`AUTO_THRESHOLD`] bytes or more, except on loopback;
    /// gathered writes otherwise.
    #[default]
    Auto,
    /// `sendfile` for every file body.
    On,
    /// Gathered writes (`writev`) from the mapping only.
    Off,
}

impl ZeroCopy {
    /// Whether a file body of `len` bytes, on a connection whose local address is `local`,
    /// goes by `sendfile`.
    pub fn sends_file(self, len: usize, local: Option<IpAddr>) -> bool {
        match self {
            ZeroCopy::Auto => {
                len >= AUTO_THRESHOLD && local.is_some_and(|ip| !ip.to_canonical().is_loopback())
            }
            ZeroCopy::On => len > 0,
            ZeroCopy::Off => false,
        }
    }
}

impl FromStr for ZeroCopy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(ZeroCopy::Auto),
            "on" => Ok(ZeroCopy::On),
            "off" => Ok(ZeroCopy::Off),
            other => Err(format!("unknown zero-copy mode {other:?} (auto, on, off)")),
        }
    }
}

impl std::fmt::Display for ZeroCopy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ZeroCopy::Auto => "auto",
            ZeroCopy::On => "on",
            ZeroCopy::Off => "off",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_sends_large_bodies_off_loopback_and_modes_parse_back() {
        let lo = Some(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));
        let lo6 = Some(IpAddr::V6(std::net::Ipv6Addr::LOCALHOST));
        let link = Some(IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1)));
        // Loopback (measured slower by sendfile), small bodies, an unknown address: writev.
        assert!(!ZeroCopy::Auto.sends_file(1 << 20, lo));
        assert!(!ZeroCopy::Auto.sends_file(1 << 20, lo6));
        let mapped = "::ffff:127.0.0.1".parse().ok();
        assert!(!ZeroCopy::Auto.sends_file(1 << 20, mapped));
        assert!(!ZeroCopy::Auto.sends_file(AUTO_THRESHOLD - 1, link));
        assert!(!ZeroCopy::Auto.sends_file(1 << 20, None));
        assert!(ZeroCopy::Auto.sends_file(AUTO_THRESHOLD, link));
        assert!(ZeroCopy::On.sends_file(1, lo));
        assert!(!ZeroCopy::On.sends_file(0, lo));
        assert!(!ZeroCopy::Off.sends_file(1 << 30, lo));
        for mode in [ZeroCopy::Auto, ZeroCopy::On, ZeroCopy::Off] {
            assert_eq!(mode.to_string().parse::<ZeroCopy>(), Ok(mode));
        }
        assert!("yes".parse::<ZeroCopy>().is_err());
    }
}
