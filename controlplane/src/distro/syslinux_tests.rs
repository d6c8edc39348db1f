//! Syslinux parser tests on real-world config snippets.

use std::collections::HashMap;

use super::*;

fn files(list: &[(&str, &str)]) -> HashMap<String, String> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

// Debian 12 netinst: isolinux.cfg → menu.cfg → gtk.cfg / txt.cfg (+ advanced submenu).
const DEBIAN_ISOLINUX: &str = "# D-I config version 2.0
# search path for the c32 support libraries (libcom32, libutil etc.)
path 
include menu.cfg
default vesamenu.c32
prompt 0
timeout 0
";

const DEBIAN_MENU: &str = "menu hshift 4
menu width 70

menu title Debian GNU/Linux installer menu (BIOS mode)
include stdmenu.cfg
include gtk.cfg
include txt.cfg
menu begin advanced
    menu label ^Advanced options
\tmenu title Advanced options
\tinclude stdmenu.cfg
\tlabel mainmenu
\t\tmenu label ^Back..
\t\tmenu exit
\tinclude adtxt.cfg
\tlabel help
\t\tmenu label ^Help
\t\ttext help
   Display help screens; type 'menu' at boot prompt to return to this menu
\t\tendtext
\t\tconfig prompt.cfg
menu end
";

const DEBIAN_GTK: &str = "default installgui
label installgui
\tmenu label ^Graphical install
\tmenu default
\tkernel /install.amd/vmlinuz
\tappend vga=788 initrd=/install.amd/gtk/initrd.gz --- quiet 
";

const DEBIAN_TXT: &str = "label install
\tmenu label ^Install
\tkernel /install.amd/vmlinuz
\tappend vga=788 initrd=/install.amd/initrd.gz --- quiet 
";

const DEBIAN_ADTXT: &str = "label expert
\tmenu label E^xpert install
\tkernel /install.amd/vmlinuz
\tappend priority=low vga=788 initrd=/install.amd/initrd.gz --- 
label rescue
\tmenu label ^Rescue mode
\tkernel /install.amd/vmlinuz
\tappend vga=788 initrd=/install.amd/initrd.gz rescue/enable=true --- quiet 
";

#[test]
fn debian_menu_tree_prefers_menu_default() {
    let fs = files(&[
        ("menu.cfg", DEBIAN_MENU),
        ("gtk.cfg", DEBIAN_GTK),
        ("txt.cfg", DEBIAN_TXT),
        ("adtxt.cfg", DEBIAN_ADTXT),
        (
            "stdmenu.cfg",
            "menu background splash.png\nmenu color title * #FFFFFFFF *\n",
        ),
    ]);
    let entries = parse(DEBIAN_ISOLINUX, &|p| fs.get(p).cloned());
    let labels: Vec<&str> = entries.iter().map(|e| e.label.as_str()).collect();
    assert_eq!(labels, vec!["installgui", "install", "expert", "rescue"]);
    let first = &entries[0];
    assert_eq!(first.kernel, "/install.amd/vmlinuz");
    assert_eq!(first.initrds, vec!["/install.amd/gtk/initrd.gz"]);
    assert_eq!(first.append, vec!["vga=788", "---", "quiet"]);
}

#[test]
fn debian_txt_cfg_alone() {
    let entries = parse(DEBIAN_TXT, &|_| None);
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].initrds, vec!["/install.amd/initrd.gz"]);
}

// archiso's BIOS syslinux entries (after %INSTALL_DIR% substitution), reached through the
// whichsys CONFIG dispatch.
const ARCH_SYSLINUX: &str = "DEFAULT select

LABEL select
COM32 boot/syslinux/whichsys.c32
APPEND -pxe- pxe -sys- sys -iso- sys

LABEL sys
CONFIG boot/syslinux/archiso_sys.cfg
";

const ARCH_SYS: &str = "INCLUDE boot/syslinux/archiso_head.cfg

DEFAULT arch64
TIMEOUT 150

INCLUDE boot/syslinux/archiso_sys-linux.cfg

INCLUDE boot/syslinux/archiso_tail.cfg
";

const ARCH_SYS_LINUX: &str = "LABEL arch64
TEXT HELP
Boot the Arch Linux install medium on BIOS.
It allows you to install Arch Linux or perform system maintenance.
ENDTEXT
MENU LABEL Arch Linux install medium (x86_64, BIOS)
LINUX /arch/boot/x86_64/vmlinuz-linux
INITRD /arch/boot/intel-ucode.img,/arch/boot/amd-ucode.img,/arch/boot/x86_64/initramfs-linux.img
APPEND archisobasedir=arch archisosearchuuid=2024-05-01-10-20-30-00

# Accessibility boot option
LABEL arch64speech
MENU LABEL Arch Linux install medium (x86_64, BIOS) with ^speech
LINUX /arch/boot/x86_64/vmlinuz-linux
INITRD /arch/boot/intel-ucode.img,/arch/boot/amd-ucode.img,/arch/boot/x86_64/initramfs-linux.img
APPEND archisobasedir=arch archisosearchuuid=2024-05-01-10-20-30-00 accessibility=on
";

const ARCH_TAIL: &str = "LABEL existing
TEXT HELP
Boot an existing operating system.
ENDTEXT
MENU LABEL Boot existing OS
COM32 boot/syslinux/chain.c32
APPEND hd0 0

LABEL memtest
MENU LABEL Run Memtest86+ (RAM test)
LINUX /boot/memtest86+/memtest.bin

LABEL reboot
MENU LABEL Reboot
COM32 boot/syslinux/reboot.c32
";

#[test]
fn arch_whichsys_config_and_comma_initrds() {
    let fs = files(&[
        ("boot/syslinux/archiso_sys.cfg", ARCH_SYS),
        (
            "boot/syslinux/archiso_head.cfg",
            "SERIAL 0 115200\nUI vesamenu.c32\n",
        ),
        ("boot/syslinux/archiso_sys-linux.cfg", ARCH_SYS_LINUX),
        ("boot/syslinux/archiso_tail.cfg", ARCH_TAIL),
    ]);
    let entries = parse(ARCH_SYSLINUX, &|p| fs.get(p).cloned());
    let labels: Vec<&str> = entries.iter().map(|e| e.label.as_str()).collect();
    // COM32 labels and the memtest .bin are dropped; DEFAULT arch64 comes first.
    assert_eq!(labels, vec!["arch64", "arch64speech"]);
    assert_eq!(
        entries[0].initrds,
        vec![
            "/arch/boot/intel-ucode.img",
            "/arch/boot/amd-ucode.img",
            "/arch/boot/x86_64/initramfs-linux.img"
        ]
    );
    assert_eq!(
        entries[0].append,
        vec![
            "archisobasedir=arch",
            "archisosearchuuid=2024-05-01-10-20-30-00"
        ]
    );
}

#[test]
fn ubuntu_legacy_txt_cfg_with_boot_image_and_default() {
    let text = "default live
label live
  menu label ^Try Ubuntu without installing
  kernel /casper/vmlinuz
  append  file=/cdrom/preseed/ubuntu.seed boot=casper initrd=/casper/initrd quiet splash BOOT_IMAGE=/casper/vmlinuz ---
label live-install
  menu label ^Install Ubuntu
  kernel /casper/vmlinuz
  append  file=/cdrom/preseed/ubuntu.seed boot=casper only-ubiquity initrd=/casper/initrd quiet splash ---
label memtest
  menu label Test ^memory
  kernel /install/mt86plus
label hd
  menu label ^Boot from first hard disk
  localboot 0x80
";
    let entries = parse(text, &|_| None);
    // memtest is a plain KERNEL line: the parser keeps it, the caller filters non-kernels.
    assert_eq!(entries.len(), 3);
    assert_eq!(entries[0].label, "live");
    assert_eq!(entries[0].initrds, vec!["/casper/initrd"]);
    assert_eq!(
        entries[0].append.join(" "),
        "file=/cdrom/preseed/ubuntu.seed boot=casper quiet splash ---"
    );
}

#[test]
fn global_append_and_legacy_default_line() {
    let text =
        "DEFAULT vmlinuz initrd=core.gz quiet\nAPPEND loglevel=3\nLABEL other\nKERNEL other\n";
    let entries = parse(text, &|_| None);
    let by_label: HashMap<&str, &Entry> = entries.iter().map(|e| (e.label.as_str(), e)).collect();
    let d = by_label["default"];
    assert_eq!(d.kernel, "vmlinuz");
    assert_eq!(d.initrds, vec!["core.gz"]);
    assert_eq!(d.append, vec!["quiet", "loglevel=3"]);
    assert_eq!(by_label["other"].append, vec!["loglevel=3"]);
    assert_eq!(entries[0].label, "default");
}

#[test]
fn include_depth_is_bounded() {
    // a.cfg includes itself forever; parsing must stop.
    let looped = "label x\nkernel /k\ninclude a.cfg\n";
    let entries = parse(looped, &|_| Some(looped.to_string()));
    assert_eq!(entries.len(), MAX_INCLUDE_DEPTH + 1);
}

#[test]
fn garbage_never_panics() {
    let samples = [
        "",
        "\u{0}\u{1}\u{2}",
        "label",
        "kernel",
        "append initrd=,,,",
        "menu",
        "include",
        "default",
        "LABEL é\nKERNEL ü\nAPPEND initrdé=ä",
        "text help\nno end",
        "label x\ninitrd\nappend -\n",
    ];
    for s in samples {
        let _ = parse(s, &|_| Some("label y\nkernel z\n".into()));
    }
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..300 {
        let mut s = String::new();
        for _ in 0..200 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let pick = [
                "label ",
                "kernel ",
                "append ",
                "initrd=",
                ",",
                "\n",
                " ",
                "menu default",
                "include ",
                "/",
                "é",
                "\t",
                "text help",
                "endtext",
                "default ",
                "x",
            ];
            s.push_str(pick[(seed % pick.len() as u64) as usize]);
        }
        let _ = parse(&s, &|_| Some(s.clone()));
    }
}
