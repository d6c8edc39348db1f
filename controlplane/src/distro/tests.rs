//! Unit tests for the detection pipeline: ordering, overrides, fallbacks, robustness.

use std::collections::HashMap;

use super::*;

fn paths(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn detect_with(
    layouts: &Layouts,
    label: &str,
    list: &[&str],
    texts: &[(&str, &str)],
) -> BootRecipe {
    let owned = paths(list);
    let texts: HashMap<String, String> = texts
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let read = |p: &str| texts.get(p).cloned();
    layouts.detect(&IsoView {
        volume_id: label,
        paths: &owned,
        read_text: &read,
    })
}

const ARCH: &[&str] = &[
    "arch/boot/x86_64/vmlinuz-linux",
    "arch/boot/x86_64/initramfs-linux.img",
    "arch/boot/intel-ucode.img",
    "arch/boot/amd-ucode.img",
    "arch/x86_64/airootfs.sfs",
];

#[test]
fn builtin_table_is_valid_and_big() {
    let l = Layouts::builtin();
    assert!(l.len() >= 50, "only {} layouts", l.len());
    assert!(!l.is_empty());
    let ids = l.ids();
    let unique: std::collections::HashSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len());
}

#[test]
fn higher_priority_is_tried_first() {
    let builtin = Layouts::builtin();
    let ids = builtin.ids();
    let pos = |id: &str| ids.iter().position(|x| *x == id).unwrap();
    // Specific before family before generic.
    assert!(pos("windows-installer") < pos("winpe"));
    assert!(pos("kubuntu") < pos("ubuntu-desktop"));
    assert!(pos("ubuntu-desktop") < pos("generic-casper"));
    assert!(pos("endeavouros") < pos("arch"));
    assert!(pos("arch") < pos("generic-archiso"));

    // And detection follows that order: same files, label decides.
    let l = Layouts::builtin();
    assert_eq!(detect_with(&l, "ARCH_202405", ARCH, &[]).layout, "arch");
    assert_eq!(
        detect_with(&l, "EOS_202405", ARCH, &[]).layout,
        "endeavouros"
    );
    assert_eq!(
        detect_with(&l, "MYSPIN_1", ARCH, &[]).layout,
        "generic-archiso"
    );
}

#[test]
fn ties_keep_table_order_and_user_layouts_sort_by_priority() {
    let user = r#"
[[layout]]
id = "low"
distro = "Low"
priority = 1
all = ["arch"]
method = "sanboot"

[[layout]]
id = "high"
distro = "High"
priority = 2
all = ["arch"]
method = "sanboot"
"#;
    let l = Layouts::with_overrides(user).unwrap();
    assert_eq!(&l.ids()[..2], &["high", "low"]);
    // New user ids are tried before every built-in, whatever their priority.
    assert_eq!(detect_with(&l, "ARCH_202405", ARCH, &[]).layout, "high");
}

#[test]
fn overrides_replace_builtins_in_place() {
    let user = r#"
[[layout]]
id = "arch"
distro = "Arch Linux (local mirror)"
priority = 600
all = ["arch/boot/x86_64/vmlinuz-linux"]
label_any = ["ARCH_"]
method = "kernel"
kernel = "arch/boot/x86_64/vmlinuz-linux"
initrds = ["arch/boot/x86_64/initramfs-linux.img"]
cmdline = "archisobasedir=arch archiso_http_srv=http://{server}/mirror/ ip=dhcp"
"#;
    let builtin = Layouts::builtin();
    let l = Layouts::with_overrides(user).unwrap();
    assert_eq!(l.len(), builtin.len());
    let r = detect_with(&l, "ARCH_202405", ARCH, &[]);
    assert_eq!(r.distro, "Arch Linux (local mirror)");
    assert_eq!(r.initrds, vec!["arch/boot/x86_64/initramfs-linux.img"]);
    assert!(r.cmdline.contains("{server}/mirror/"));
    // Other built-ins are untouched and still win for their ISOs.
    assert_eq!(
        detect_with(&l, "EOS_202405", ARCH, &[]).layout,
        "endeavouros"
    );
}

#[test]
fn bad_override_names_the_line() {
    let err = Layouts::with_overrides(
        "[[layout]]\nid = \"x\"\ndistro = \"X\"\nmethod = \"kernel\"\nkernal = \"a\"\n",
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("line 5") && msg.contains("kernal"), "{msg}");
    let err = Layouts::with_overrides("[[layout]\n").unwrap_err();
    assert!(err.to_string().contains("line 1"), "{err}");
    assert!(Layouts::with_overrides("").unwrap().len() == Layouts::builtin().len());
}

#[test]
fn recipe_incomplete_moves_on() {
    // Arch label and kernel, but no initramfs: `arch` can't complete, nor can the generic
    // archiso layout, so detection falls through to sanboot.
    let l = Layouts::builtin();
    let r = detect_with(&l, "ARCH_202405", &["arch/boot/x86_64/vmlinuz-linux"], &[]);
    assert_eq!(r.layout, "sanboot");
    assert_eq!(r.method, Method::Sanboot);
    assert!(
        r.reason
            .starts_with("no known layout and no usable boot config"),
        "{}",
        r.reason
    );
}

#[test]
fn reason_explains_the_match() {
    let l = Layouts::builtin();
    let r = detect_with(&l, "ARCH_202405", ARCH, &[]);
    assert!(
        r.reason.contains(
            "arch/boot/x86_64/vmlinuz-linux and arch/boot/x86_64/initramfs-linux.img present"
        ),
        "{}",
        r.reason
    );
    assert!(
        r.reason
            .contains("volume label 'ARCH_202405' contains 'arch_'"),
        "{}",
        r.reason
    );
    // Microcode first, then the initramfs.
    assert_eq!(
        r.initrds,
        vec![
            "arch/boot/intel-ucode.img",
            "arch/boot/amd-ucode.img",
            "arch/boot/x86_64/initramfs-linux.img"
        ]
    );
}

#[test]
fn text_identity_and_squashfs_url() {
    let l = Layouts::builtin();
    let list = [
        "casper/vmlinuz",
        "casper/initrd",
        "casper/filesystem.squashfs",
        ".disk/info",
    ];
    let info = "Kubuntu 22.04.4 LTS \"Jammy Jellyfish\" - Release amd64 (20240220)";
    // A label that says nothing: .disk/info decides.
    let r = detect_with(&l, "CDROM", &list, &[(".disk/info", info)]);
    assert_eq!(r.layout, "kubuntu");
    assert!(
        r.reason.contains(".disk/info mentions 'Kubuntu'"),
        "{}",
        r.reason
    );
    assert_eq!(
        r.cmdline,
        "boot=casper ip=dhcp fetch={image_url}/casper/filesystem.squashfs"
    );
}

#[test]
fn netboot_url_from_dists_when_no_info() {
    let l = Layouts::builtin();
    let list = [
        "install.amd/vmlinuz",
        "install.amd/initrd.gz",
        "dists/stable",
        "dists/trixie/Release",
    ];
    let r = detect_with(&l, "Debian 13.0.0 amd64 n", &list, &[]);
    assert_eq!(r.method, Method::NeedsNetboot);
    assert_eq!(r.kernel, None);
    assert_eq!(
        r.netboot_url.as_deref(),
        Some("https://deb.debian.org/debian/dists/trixie/main/installer-amd64/current/images/netboot/netboot.tar.gz")
    );
    // Without any release hint the layout still applies, without a URL.
    let r = detect_with(&l, "Debian 13.0.0 amd64 n", &list[..2], &[]);
    assert_eq!(r.layout, "debian-installer");
    assert_eq!(r.netboot_url, None);
    assert!(r.reason.contains("release unknown"), "{}", r.reason);
}

#[test]
fn config_fallback_prefers_isolinux_then_grub() {
    let l = Layouts::builtin();
    let list = [
        "isolinux/isolinux.cfg",
        "isolinux/txt.cfg",
        "kernel/bzImage",
        "kernel/ramdisk.gz",
        "boot/grub/grub.cfg",
    ];
    let iso = "include txt.cfg\ndefault vesamenu.c32\n";
    let txt = "label go\n kernel ../kernel/bzImage\n append initrd=/kernel/ramdisk.gz root=/dev/ram0 BOOT_IMAGE=x\n";
    let grub = "menuentry 'x' { linux /kernel/bzImage grub=1\n initrd /kernel/ramdisk.gz }";
    let r = detect_with(
        &l,
        "MYOS",
        &list,
        &[
            ("isolinux/isolinux.cfg", iso),
            ("isolinux/txt.cfg", txt),
            ("boot/grub/grub.cfg", grub),
        ],
    );
    assert_eq!(r.layout, "config-isolinux");
    assert_eq!(r.kernel.as_deref(), Some("kernel/bzImage"));
    assert_eq!(r.initrds, vec!["kernel/ramdisk.gz"]);
    assert_eq!(r.cmdline, "root=/dev/ram0");
    assert_eq!(r.distro, "MYOS");
    // Without the isolinux configs, GRUB's entry is used.
    let r = detect_with(&l, "MYOS", &list[2..], &[("boot/grub/grub.cfg", grub)]);
    assert_eq!(r.layout, "config-grub");
    assert_eq!(r.cmdline, "grub=1");
}

#[test]
fn config_fallback_requires_existing_files() {
    let l = Layouts::builtin();
    let grub = "menuentry 'a' { linux /missing/vmlinuz\n initrd /x }\nmenuentry 'b' { linux /k/vmlinuz\n initrd /k/missing.img }\n";
    let r = detect_with(
        &l,
        "",
        &["boot/grub/grub.cfg", "k/vmlinuz"],
        &[("boot/grub/grub.cfg", grub)],
    );
    assert_eq!(r.layout, "sanboot");
    assert_eq!(r.reason, "no known layout and no usable boot config");
}

#[test]
fn hostile_inputs_never_panic() {
    let l = Layouts::builtin();
    let weird = [
        "",
        "/",
        "//",
        "..",
        "../../etc/passwd",
        "é/ü/ß",
        "*",
        "casper/*",
        "{image_url}",
        "a\\b",
    ];
    let huge = "x".repeat(5 << 20);
    let cfg_names = [
        "isolinux/isolinux.cfg",
        "boot/grub/grub.cfg",
        ".disk/info",
        ".treeinfo",
        "boot/grub/loopback.cfg",
    ];
    let mut list: Vec<&str> = weird.to_vec();
    list.extend(cfg_names);
    for text in [
        "",
        "\u{0}\u{ffff}",
        "{{{{",
        "}}}}",
        "label\nkernel",
        huge.as_str(),
    ] {
        let pairs: Vec<(&str, &str)> = cfg_names.iter().map(|n| (*n, text)).collect();
        let r = detect_with(&l, "\u{0}weird\u{202e}", &list, &pairs);
        assert_eq!(r.method, Method::Sanboot);
    }
    // Empty ISO.
    let r = detect_with(&l, "", &[], &[]);
    assert_eq!(r.layout, "sanboot");
}

#[test]
fn recipe_round_trips_through_json() {
    let r = detect_with(&Layouts::builtin(), "ARCH_202405", ARCH, &[]);
    let json = serde_json::to_string(&r).unwrap();
    let back: BootRecipe = serde_json::from_str(&json).unwrap();
    assert_eq!(back, r);
}
