//! `Content-Type` (RFC 9110 §8.3) of a served file, guessed from its name.
//!
//! Boot clients (iPXE, UEFI HTTP Boot, GRUB, curl) mostly ignore the type, but browsers and
//! tools do not: text must be labelled as text and everything unknown stays
//! `application/octet-stream`, which no client will try to render or decompress.

/// Unknown, and every kernel, initrd, disk image and boot loader without a better type.
const BINARY: &str = "application/octet-stream";
const TEXT: &str = "text/plain; charset=utf-8";

/// Extension (lower case) to type. Anything missing is [`BINARY`].
const BY_EXTENSION: &[(&str, &str)] = &[
    ("iso", "application/x-iso9660-image"),
    // The type UEFI HTTP Boot expects for EFI applications (registered by the UEFI Forum).
    ("efi", "application/efi"),
    ("wim", "application/x-ms-wim"),
    ("gz", "application/gzip"),
    ("tgz", "application/gzip"),
    ("xz", "application/x-xz"),
    ("zst", "application/zstd"),
    ("lz4", "application/x-lz4"),
    ("bz2", "application/x-bzip2"),
    ("tar", "application/x-tar"),
    ("zip", "application/zip"),
    ("cpio", "application/x-cpio"),
    ("rpm", "application/x-rpm"),
    ("deb", "application/vnd.debian.binary-package"),
    ("sig", "application/pgp-signature"),
    ("gpg", "application/pgp-keys"),
    ("ipxe", TEXT),
    ("cfg", TEXT),
    ("conf", TEXT),
    ("txt", TEXT),
    ("asc", TEXT),
    ("sha256sums", TEXT),
    ("sha256", TEXT),
    ("sha512", TEXT),
    ("md5", TEXT),
    ("ks", TEXT),
    ("preseed", TEXT),
    ("seed", TEXT),
    ("sh", TEXT),
    ("html", "text/html; charset=utf-8"),
    ("htm", "text/html; charset=utf-8"),
    ("css", "text/css; charset=utf-8"),
    ("js", "text/javascript; charset=utf-8"),
    ("json", "application/json"),
    ("ign", "application/json"),
    ("xml", "application/xml"),
    ("yaml", "application/yaml"),
    ("yml", "application/yaml"),
    ("svg", "image/svg+xml"),
    ("png", "image/png"),
    ("jpg", "image/jpeg"),
    ("jpeg", "image/jpeg"),
    ("ico", "image/x-icon"),
];

/// Whole names (case-insensitive) of checksum lists, which usually have no extension.
const TEXT_NAMES: &[&str] = &[
    "sha256sums",
    "sha512sums",
    "sha1sums",
    "md5sums",
    "checksums",
];

/// Name prefixes of kernels and initrds. Checked before the extension so `initrd.gz` or
/// `vmlinuz.efi` stay opaque bytes that no client will try to decompress or execute.
const BINARY_PREFIXES: &[&str] = &["vmlinuz", "vmlinux", "initrd", "initramfs"];
/// Whole names of kernels.
const BINARY_NAMES: &[&str] = &["linux", "bzimage", "kernel"];

/// The `Content-Type` for `path` (a catalog key or URL path), by the last segment's extension,
/// case-insensitively; `application/octet-stream` when unknown.
pub fn content_type(path: &str) -> &'static str {
    let name = path.rsplit('/').next().unwrap_or(path);
    let is = |n: &str| name.eq_ignore_ascii_case(n);
    if TEXT_NAMES.iter().any(|n| is(n)) {
        return TEXT;
    }
    let starts = |p: &str| {
        name.get(..p.len())
            .is_some_and(|s| s.eq_ignore_ascii_case(p))
    };
    if BINARY_PREFIXES.iter().any(|p| starts(p)) || BINARY_NAMES.iter().any(|n| is(n)) {
        return BINARY;
    }
    // A leading dot marks a hidden file, not an extension.
    let Some((_, ext)) = name.rsplit_once('.').filter(|(stem, _)| !stem.is_empty()) else {
        return BINARY;
    };
    BY_EXTENSION
        .iter()
        .find(|(e, _)| ext.eq_ignore_ascii_case(e))
        .map_or(BINARY, |(_, t)| t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_by_name() {
        let cases = [
            (
                "ubuntu-24.04-live-server-amd64.iso",
                "application/x-iso9660-image",
            ),
            ("images/DEBIAN.ISO", "application/x-iso9660-image"),
            ("ipxe.efi", "application/efi"),
            ("EFI/BOOT/BOOTX64.EFI", "application/efi"),
            ("undionly.kpxe", BINARY),
            ("pxelinux.0", BINARY),
            ("ipxe.lkrn", BINARY),
            ("sources/boot.wim", "application/x-ms-wim"),
            ("boot/boot.sdi", BINARY),
            ("disk.img", BINARY),
            ("live/filesystem.squashfs", BINARY),
            ("rootfs.sfs", BINARY),
            ("modules.tar.gz", "application/gzip"),
            ("root.cpio.xz", "application/x-xz"),
            ("a.zst", "application/zstd"),
            ("a.lz4", "application/x-lz4"),
            ("boot.ipxe", TEXT),
            ("menu.IPXE", TEXT),
            ("grub/grub.cfg", TEXT),
            ("boot.conf", TEXT),
            ("README.txt", TEXT),
            ("SHA256SUMS", TEXT),
            ("images/sha256sums", TEXT),
            ("release.sha256sums", TEXT),
            ("SHA256SUMS.asc", TEXT),
            ("index.html", "text/html; charset=utf-8"),
            ("meta.json", "application/json"),
            ("app.js", "text/javascript; charset=utf-8"),
            ("style.css", "text/css; charset=utf-8"),
            ("feed.xml", "application/xml"),
            ("casper/vmlinuz", BINARY),
            ("vmlinuz-6.8.0-31-generic", BINARY),
            ("casper/initrd", BINARY),
            ("initrd.gz", BINARY),
            ("initrd.img-6.8.0", BINARY),
            ("install.amd/linux", BINARY),
            ("bzImage", BINARY),
            ("linux.cfg", TEXT),
            ("", BINARY),
            ("dir/", BINARY),
            (".hidden", BINARY),
            ("noext", BINARY),
            ("trailing.", BINARY),
            ("ünï.cöde.iso", "application/x-iso9660-image"),
            ("ä", BINARY),
        ];
        for (path, want) in cases {
            assert_eq!(content_type(path), want, "{path}");
        }
    }
}
