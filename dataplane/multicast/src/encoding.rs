//! How the sent file is stored: as it goes onto the disk, or compressed.
//!
//! A compressed image crosses the network compressed (a disk image is mostly zeros and
//! text, often a third of its size in zstd) and the receiver unpacks it onto the output.

use serde::{Deserialize, Serialize};

/// The first four bytes of a zstd frame (RFC 8878 §3.1.1: 0xFD2FB528, little-endian).
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];

/// What the receiver does with the file once it is verified.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// The file is what goes onto the output.
    #[default]
    Raw,
    /// The file is zstd frames (RFC 8878); their content goes onto the output.
    Zstd,
}

impl Encoding {
    /// The encoding of a file that starts with `head`, by its magic number: a `.zst` name
    /// alone is not trusted (nor needed).
    pub fn sniff(head: &[u8]) -> Encoding {
        if head.starts_with(&ZSTD_MAGIC) {
            Encoding::Zstd
        } else {
            Encoding::Raw
        }
    }

    /// `true` for [`Encoding::Raw`], to leave it out of a manifest (older receivers).
    pub fn is_raw(&self) -> bool {
        *self == Encoding::Raw
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zstd_frames_are_known_by_their_magic() {
        // The start of `printf abc | zstd` as zstd 1.5 writes it.
        let frame = [
            0x28, 0xb5, 0x2f, 0xfd, 0x04, 0x58, 0x19, 0x00, 0x00, 0x61, 0x62, 0x63,
        ];
        assert_eq!(Encoding::sniff(&frame), Encoding::Zstd);
        assert_eq!(Encoding::sniff(b"\x28\xb5\x2f"), Encoding::Raw);
        assert_eq!(Encoding::sniff(b"hsqs"), Encoding::Raw);
        assert_eq!(Encoding::sniff(b""), Encoding::Raw);
    }
}
