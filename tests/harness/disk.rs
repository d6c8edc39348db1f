//! A bootable test disk: a raw image whose MBR boot sector prints
//! `FLEETBOOT-DISK-BOOTED <tag>` to COM1 and halts, followed by pseudo-random bytes so a
//! byte-for-byte comparison of a deployed disk means something.

use crate::random_bytes;

/// The boot sector's code, hand-assembled 16-bit real mode, loaded by the BIOS at 0x7c00:
///
/// ```text
/// 7c00  fa        cli
/// 7c01  fc        cld
/// 7c02  31 c0     xor  ax, ax
/// 7c04  8e d8     mov  ds, ax
/// 7c06  be 17 7c  mov  si, message      ; 0x7c17, right after the code
/// 7c09  ba f8 03  mov  dx, 0x3f8        ; COM1's data register
/// 7c0c  ac        next: lodsb
/// 7c0d  84 c0     test al, al
/// 7c0f  74 03     jz   halt
/// 7c11  ee        out  dx, al           ; QEMU's UART needs no set-up and drops nothing
/// 7c12  eb f8     jmp  next
/// 7c14  f4        halt: hlt
/// 7c15  eb fd     jmp  halt
/// 7c17            message: db "FLEETBOOT-DISK-BOOTED <tag>", 13, 10, 0
/// ```
const CODE: [u8; 23] = [
    0xfa, 0xfc, 0x31, 0xc0, 0x8e, 0xd8, 0xbe, 0x17, 0x7c, 0xba, 0xf8, 0x03, 0xac, 0x84, 0xc0, 0x74,
    0x03, 0xee, 0xeb, 0xf8, 0xf4, 0xeb, 0xfd,
];

/// Where the partition table would start: code and message must end before it.
const PARTITION_TABLE: usize = 446;

/// What the boot sector prints for `tag`.
pub fn boot_line(tag: &str) -> String {
    format!("FLEETBOOT-DISK-BOOTED {tag}")
}

/// A raw disk image of `len` bytes (at least one sector) whose boot sector prints
/// [`boot_line`]`(tag)`; the rest is pseudo-random from `seed`. No partitions: the BIOS runs
/// the boot sector of any disk that ends it with 0x55 0xaa.
///
/// # Panics
/// When `len` is under 512 bytes or the tag is too long for the sector.
pub fn boot_image(tag: &str, len: usize, seed: u64) -> Vec<u8> {
    assert!(len >= 512, "a disk image holds at least its boot sector");
    let message = format!("{}\r\n\0", boot_line(tag));
    assert!(
        CODE.len() + message.len() <= PARTITION_TABLE,
        "tag {tag:?} too long for a boot sector"
    );
    let mut image = random_bytes(len, seed);
    image[..CODE.len()].copy_from_slice(&CODE);
    image[CODE.len()..CODE.len() + message.len()].copy_from_slice(message.as_bytes());
    // No partition entries: random bytes there could look like one to a firmware or kernel.
    image[PARTITION_TABLE..510].fill(0);
    image[510..512].copy_from_slice(&[0x55, 0xaa]);
    image
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_follows_the_code_where_it_points() {
        let image = boot_image("t1", 4096, 7);
        assert_eq!(image.len(), 4096);
        // `mov si, imm16` points at the message: 0x7c00 + its offset in the sector.
        let si = u16::from_le_bytes([image[7], image[8]]);
        let at = usize::from(si - 0x7c00);
        assert_eq!(at, CODE.len());
        assert!(image[at..].starts_with(b"FLEETBOOT-DISK-BOOTED t1\r\n\0"));
        assert_eq!(&image[510..512], &[0x55, 0xaa]);
        // The rest is the seed's, and another seed gives other bytes.
        assert_eq!(image[512..], random_bytes(4096, 7)[512..]);
        assert_ne!(boot_image("t1", 4096, 8)[512..], image[512..]);
    }

    #[test]
    fn jumps_land_on_their_labels() {
        // Short jumps are relative to the next instruction.
        let target = |at: usize| (at as isize + 2 + isize::from(CODE[at + 1] as i8)) as usize;
        assert_eq!(target(0x0f), 0x14, "jz halt");
        assert_eq!(target(0x12), 0x0c, "jmp next");
        assert_eq!(target(0x15), 0x14, "jmp halt");
    }
}
