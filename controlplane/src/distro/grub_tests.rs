//! GRUB parser tests on real-world config snippets.

use super::*;

// Ubuntu 24.04 desktop boot/grub/grub.cfg (abridged).
const UBUNTU_GRUB: &str = r#"set timeout=30

loadfont unicode

set menu_color_normal=white/black
set menu_color_highlight=black/light-gray

menuentry "Try or Install Ubuntu" {
	set gfxpayload=keep
	linux	/casper/vmlinuz  --- quiet splash
	initrd	/casper/initrd
}
menuentry "Ubuntu (safe graphics)" {
	set gfxpayload=keep
	linux	/casper/vmlinuz  nomodeset  --- quiet splash
	initrd	/casper/initrd
}
grub_platform
if [ "$grub_platform" = "efi" ]; then
menuentry 'Boot from next volume' {
	exit 1
}
menuentry 'UEFI Firmware Settings' {
	fwsetup
}
else
menuentry 'Test memory' {
	linux16 /boot/memtest86+x64.bin
}
fi
"#;

#[test]
fn ubuntu_grub_first_entry() {
    let entries = parse(UBUNTU_GRUB, &|_| None);
    let titles: Vec<&str> = entries.iter().map(|e| e.title.as_str()).collect();
    assert_eq!(
        titles,
        vec![
            "Try or Install Ubuntu",
            "Ubuntu (safe graphics)",
            "Test memory"
        ]
    );
    assert_eq!(entries[0].kernel, "/casper/vmlinuz");
    assert_eq!(entries[0].initrds, vec!["/casper/initrd"]);
    assert_eq!(entries[0].args, vec!["---", "quiet", "splash"]);
}

// Ubuntu's boot/grub/loopback.cfg: uses ${iso_path}, which is not defined here.
const UBUNTU_LOOPBACK: &str = r#"menuentry "Try or Install Ubuntu" {
	set gfxpayload=keep
	linux	/casper/vmlinuz  iso-scan/filename=${iso_path} --- quiet splash
	initrd	/casper/initrd
}
"#;

#[test]
fn undefined_variables_drop_the_option() {
    let entries = parse(UBUNTU_LOOPBACK, &|_| None);
    assert_eq!(entries[0].args, vec!["---", "quiet", "splash"]);
}

#[test]
fn loop_devices_isofile_and_several_initrds() {
    let text = r#"
set isofile="/isos/arch.iso"
loopback loop $isofile
menuentry 'Arch Linux' --class arch {
    set root='(loop)'
    linux (loop)/arch/boot/x86_64/vmlinuz-linux img_dev=$imgdevpath img_loop=$isofile archisobasedir=arch BOOT_IMAGE=/x
    initrd (loop)/arch/boot/intel-ucode.img (loop)/arch/boot/amd-ucode.img ($root)/arch/boot/x86_64/initramfs-linux.img
}
"#;
    let entries = parse(text, &|_| None);
    assert_eq!(entries.len(), 1);
    let e = &entries[0];
    assert_eq!(e.kernel, "/arch/boot/x86_64/vmlinuz-linux");
    assert_eq!(
        e.initrds,
        vec![
            "/arch/boot/intel-ucode.img",
            "/arch/boot/amd-ucode.img",
            "/arch/boot/x86_64/initramfs-linux.img"
        ]
    );
    // img_dev used an undefined variable; img_loop a defined one; BOOT_IMAGE is dropped.
    assert_eq!(
        e.args,
        vec!["img_loop=/isos/arch.iso", "archisobasedir=arch"]
    );
}

#[test]
fn efi_variants_submenus_default_and_continuations() {
    let text = r#"
set default="1"
function load_video {
  insmod all_video
}
submenu 'Troubleshooting -->' {
    menuentry 'Install Rocky Linux 9.3 in basic graphics mode' --class fedora --class gnu-linux --class gnu --class os {
        linuxefi /images/pxeboot/vmlinuz inst.stage2=hd:LABEL=Rocky-9-3-x86_64-dvd nomodeset quiet
        initrdefi /images/pxeboot/initrd.img
    }
}
menuentry 'Install Rocky Linux 9.3' --class fedora --class gnu-linux --class gnu --class os {
	linuxefi /images/pxeboot/vmlinuz \
	    inst.stage2=hd:LABEL=Rocky-9-3-x86_64-dvd quiet
	initrdefi /images/pxeboot/initrd.img
}
"#;
    let entries = parse(text, &|_| None);
    assert_eq!(entries.len(), 2);
    // set default="1" moves the second entry first.
    assert_eq!(entries[0].title, "Install Rocky Linux 9.3");
    assert_eq!(
        entries[0].args,
        vec!["inst.stage2=hd:LABEL=Rocky-9-3-x86_64-dvd", "quiet"]
    );
    assert_eq!(entries[1].kernel, "/images/pxeboot/vmlinuz");
}

#[test]
fn source_follows_prefix() {
    // Debian's EFI/boot/grub.cfg pattern.
    let top = "search --file --set=root /.disk/id/1234\nset prefix=($root)/boot/grub\nsource $prefix/x86_64-efi/grub.cfg\n";
    let inner = "menuentry 'Graphical install' {\n  linux /install.amd/vmlinuz vga=788 --- quiet\n  initrd /install.amd/gtk/initrd.gz\n}\n";
    let entries = parse(top, &|p| {
        (p == "/boot/grub/x86_64-efi/grub.cfg").then(|| inner.to_string())
    });
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].initrds, vec!["/install.amd/gtk/initrd.gz"]);
}

#[test]
fn source_depth_is_bounded() {
    let looped = "source /a.cfg\nmenuentry x { linux /k }\n";
    let entries = parse(looped, &|_| Some(looped.to_string()));
    assert_eq!(entries.len(), MAX_INCLUDE_DEPTH + 1);
}

#[test]
fn one_line_entries_and_quotes() {
    let text =
        "menuentry \"A {weird} title\" { linux /vmlinuz 'quoted arg' \"x=a b\"; initrd /initrd }";
    let entries = parse(text, &|_| None);
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].title, "A {weird} title");
    assert_eq!(entries[0].args, vec!["quoted arg", "x=a b"]);
    assert_eq!(entries[0].initrds, vec!["/initrd"]);
}

#[test]
fn garbage_never_panics() {
    let samples = [
        "",
        "{",
        "}",
        "}}}{{{",
        "menuentry",
        "menuentry {",
        "linux",
        "initrd",
        "$",
        "${",
        "${x",
        "\\",
        "'",
        "\"",
        "set",
        "set =",
        "set default=99999999999999999999",
        "source",
        "menuentry x { linux ($root",
        "menuentry é { linux /ü \\\n",
        "(",
    ];
    for s in samples {
        let _ = parse(s, &|_| Some("menuentry y { linux /z }".into()));
    }
    let deep = "submenu x {".repeat(10_000);
    let _ = parse(&deep, &|_| None);
    let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
    for _ in 0..300 {
        let mut s = String::new();
        for _ in 0..200 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let pick = [
                "menuentry ",
                "linux ",
                "initrd ",
                "{",
                "}",
                "\n",
                " ",
                "'",
                "\"",
                "$",
                "${a}",
                "set a=b",
                "\\",
                "(loop)",
                "/",
                "é",
                ";",
                "#",
                "source x",
            ];
            s.push_str(pick[(seed % pick.len() as u64) as usize]);
        }
        let _ = parse(&s, &|_| Some(s.clone()));
    }
}
