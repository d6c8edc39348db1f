//! Which file bytes leave without a user-space copy. Both ways keep user space off the
//! mapped bytes: `writev` hands the kernel pointers into the mapping and it copies them into
//! socket buffers; `sendfile(2)` queues the page-cache pages themselves (nginx's `sendfile
//! on`), so a NIC with scatter-gather DMA sends them with no CPU copy at all.
//!
//! Measured on loopback (bench/http-wrk.sh, RESULTS.md), `sendfile` is the *slower* of the two
//! (0.76× the MB/s at 1.4× the CPU per byte): the receiving socket copies the bytes anyway,
//! and page-referencing skbs cost more than one bulk copy. So `auto` sends by `sendfile` only
//! what leaves through a device-backed interface (a NIC: `/sys/class/net/<if>/device`), and
//! by `writev` on loopback, veth and bridges, and for bodies under [`AUTO_THRESHOLD`], where
//! a second system call costs more than the copy it saves.
//!
//! Why `sendfile` beside the ring and not `IORING_OP_SPLICE` or `IORING_OP_SEND_ZC`: monoio
//! exposes neither with an offset (its splice reads at the file position, shared by every
//! connection of a blob), and a non-blocking `sendfile` on a socket whose buffer has room
//! never sleeps on a page-cache hit; when the buffer is full it returns at once and the core
//! waits for writability through the ring like any other operation.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::IpAddr;
use std::str::FromStr;

/// Bodies from this size up may go by `sendfile`: below it, a second system call costs more
/// than the copy it saves.
pub const AUTO_THRESHOLD: usize = 64 << 10;

/// `--zero-copy`: how file bytes reach the socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ZeroCopy {
    /// `sendfile` for file bodies of [`AUTO_THRESHOLD`] bytes or more leaving by a NIC;
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
            ZeroCopy::Auto => len >= AUTO_THRESHOLD && local.is_some_and(on_a_nic),
            ZeroCopy::On => len > 0,
            ZeroCopy::Off => false,
        }
    }
}

thread_local! {
    /// Per core: whether a local address sits on a device-backed interface. Addresses do not
    /// move between interfaces often; a restart forgets.
    static ON_A_NIC: RefCell<HashMap<IpAddr, bool>> = RefCell::new(HashMap::new());
}

/// Whether the interface holding `local` is backed by a device (a NIC, physical or
/// virtio), not loopback, veth, a bridge or a tunnel.
fn on_a_nic(local: IpAddr) -> bool {
    if local.is_loopback() {
        return false;
    }
    ON_A_NIC.with(|cache| {
        *cache.borrow_mut().entry(local).or_insert_with(|| {
            crate::sys::interface_of(local).is_some_and(|name| has_device(&name))
        })
    })
}

fn has_device(interface: &str) -> bool {
    !interface.contains('/')
        && std::path::Path::new("/sys/class/net")
            .join(interface)
            .join("device")
            .exists()
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
    fn auto_sends_large_bodies_to_nics_only_and_modes_parse_back() {
        let lo = Some(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));
        let nowhere = Some(IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 250)));
        // Loopback (measured slower by sendfile) and addresses of no interface: writev.
        assert!(!ZeroCopy::Auto.sends_file(1 << 20, lo));
        assert!(!ZeroCopy::Auto.sends_file(1 << 20, nowhere));
        assert!(!ZeroCopy::Auto.sends_file(1 << 20, None));
        assert!(ZeroCopy::On.sends_file(1, lo));
        assert!(!ZeroCopy::On.sends_file(0, lo));
        assert!(!ZeroCopy::Off.sends_file(1 << 30, lo));
        assert!(!has_device("lo"));
        assert!(!has_device("../../x"));
        for mode in [ZeroCopy::Auto, ZeroCopy::On, ZeroCopy::Off] {
            assert_eq!(mode.to_string().parse::<ZeroCopy>(), Ok(mode));
        }
        assert!("yes".parse::<ZeroCopy>().is_err());
    }
}
