//! Which file bytes leave without a user-space copy. Both ways keep user space off the
//! mapped bytes: `writev` hands the kernel pointers into the mapping and it copies them into
//! socket buffers; `sendfile(2)` queues the page-cache pages themselves (nginx's `sendfile
//! on`), so a NIC with scatter-gather DMA sends them with no CPU copy at all.
//!
//! `auto` sends every file body of [`AUTO_THRESHOLD`] bytes or more by `sendfile`, on any
//! interface, as nginx does; smaller bodies go by `writev`, where a second system call costs
//! more than the copy it saves. Measured on this project's machine (bench/RESULTS.md): on
//! loopback with wrk, the two interleaved run by run, `sendfile` gave 1.14× the MB/s of
//! `writev` at 0.58× its CPU per byte; in the boot storm across a veth, `writev` kept
//! the server's one core 95–99 % busy where `sendfile` left it half idle and served more
//! machines a second. (An earlier loopback measurement had `writev` ahead, and `auto` then
//! kept `sendfile` for NICs; it did not hold up.)
//!
//! Why `sendfile` beside the ring and not `IORING_OP_SPLICE` or `IORING_OP_SEND_ZC`: monoio
//! exposes neither with an offset (its splice reads at the file position, shared by every
//! connection of a blob), and a non-blocking `sendfile` on a socket whose buffer has room
//! never sleeps on a page-cache hit; when the buffer is full it returns at once and the core
//! waits for writability through the ring like any other operation.

use std::str::FromStr;

/// Bodies from this size up may go by `sendfile`: below it, a second system call costs more
/// than the copy it saves.
pub const AUTO_THRESHOLD: usize = 64 << 10;

/// `--zero-copy`: how file bytes reach the socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ZeroCopy {
    /// `sendfile` for file bodies of [`AUTO_THRESHOLD`] bytes or more; gathered writes for
    /// smaller ones.
    #[default]
    Auto,
    /// `sendfile` for every file body.
    On,
    /// Gathered writes (`writev`) from the mapping only.
    Off,
}

impl ZeroCopy {
    /// Whether a file body of `len` bytes goes by `sendfile`.
    pub fn sends_file(self, len: usize) -> bool {
        match self {
            ZeroCopy::Auto => len >= AUTO_THRESHOLD,
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
    fn auto_sends_large_bodies_and_modes_parse_back() {
        assert!(!ZeroCopy::Auto.sends_file(AUTO_THRESHOLD - 1));
        assert!(ZeroCopy::Auto.sends_file(AUTO_THRESHOLD));
        assert!(ZeroCopy::On.sends_file(1));
        assert!(!ZeroCopy::On.sends_file(0));
        assert!(!ZeroCopy::Off.sends_file(1 << 30));
        for mode in [ZeroCopy::Auto, ZeroCopy::On, ZeroCopy::Off] {
            assert_eq!(mode.to_string().parse::<ZeroCopy>(), Ok(mode));
        }
        assert!("yes".parse::<ZeroCopy>().is_err());
    }
}
