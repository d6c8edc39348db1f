//! Embeds the iPXE bootloaders when they are present at build time. `tools/fetch-ipxe.sh`
//! copies them from Debian's `ipxe` package into `.bootloaders/` at the workspace root; set
//! `FLEETBOOT_BOOTLOADERS_DIR` to embed from elsewhere. Missing files are simply not embedded:
//! the server then loads them from `<data dir>/bootloaders/` and says so at start.

use std::path::PathBuf;

const NAMES: [&str; 4] = ["undionly.kpxe", "ipxe.efi", "snponly.efi", "memdisk"];

fn main() {
    println!("cargo:rerun-if-env-changed=FLEETBOOT_BOOTLOADERS_DIR");
    let dir = std::env::var_os("FLEETBOOT_BOOTLOADERS_DIR").map_or_else(
        || PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("../.bootloaders"),
        PathBuf::from,
    );
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut entries = String::new();
    for name in NAMES {
        let path = dir.join(name);
        println!("cargo:rerun-if-changed={}", path.display());
        if let Ok(abs) = path.canonicalize() {
            if abs.is_file() {
                entries.push_str(&format!(
                    "    ({name:?}, include_bytes!({:?})),\n",
                    abs.display().to_string()
                ));
            }
        }
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("bootloaders.rs");
    std::fs::write(
        out,
        format!("/// Bootloaders embedded at build time: (name, bytes).\npub(super) static EMBEDDED: &[(&str, &[u8])] = &[\n{entries}];\n"),
    )
    .unwrap();
}
