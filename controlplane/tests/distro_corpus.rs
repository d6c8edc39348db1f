//! Distro detection against a corpus of real-world ISO file lists.
//!
//! `tests/data/isolists/<name>.txt` is one ISO as `find` lists it (relative paths; a leading
//! `./` and the `.` line are tolerated). Header comments: `# volume_id: <label>` and
//! `# file <path>: <line>` (repeatable; the lines form that file's text for `read_text`).
//! Other `#` lines are comments. `expected.toml` holds the expected recipe per list.
//! Config-fallback cases need multi-line configs, so they live in this file. Each list is also
//! mastered into a tiny real ISO (xorriso, from `tools/setup.sh test`) and detected from the
//! indexed image.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use controlplane::distro::{BootRecipe, IsoView, Layouts, Method};
use controlplane::iso::{FileSource, IsoIndex, Kind, Source};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expected {
    layout: String,
    distro: Option<String>,
    method: Method,
    kernel: Option<String>,
    #[serde(default)]
    initrds: Vec<String>,
    /// Must appear in the cmdline.
    cmdline: Option<String>,
    /// Must not appear in the cmdline.
    cmdline_lacks: Option<String>,
    netboot_url: Option<String>,
}

/// One ISO as the detector sees it.
struct Iso {
    volume_id: String,
    paths: Vec<String>,
    files: HashMap<String, String>,
}

impl Iso {
    fn detect(&self, layouts: &Layouts) -> BootRecipe {
        let read = |p: &str| self.files.get(p).cloned();
        layouts.detect(&IsoView {
            volume_id: &self.volume_id,
            paths: &self.paths,
            read_text: &read,
        })
    }
}

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/isolists")
}

fn load_list(text: &str) -> Iso {
    let mut iso = Iso {
        volume_id: String::new(),
        paths: Vec::new(),
        files: HashMap::new(),
    };
    for line in text.lines() {
        if let Some(label) = line.strip_prefix("# volume_id:") {
            iso.volume_id = label.trim().to_string();
        } else if let Some(rest) = line.strip_prefix("# file ") {
            let (path, content) = rest
                .split_once(": ")
                .unwrap_or((rest.trim_end_matches(':'), ""));
            let text = iso.files.entry(path.to_string()).or_default();
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(content);
        } else if line.starts_with('#') || line.trim().is_empty() {
            continue;
        } else {
            let p = line.trim().trim_start_matches("./");
            if !p.is_empty() && p != "." {
                iso.paths.push(p.to_string());
            }
        }
    }
    // A file given content must exist in the listing too.
    for path in iso.files.keys() {
        assert!(
            iso.paths.contains(path),
            "{path} has content but is not listed"
        );
    }
    iso
}

fn check(name: &str, got: &BootRecipe, want: &Expected) -> Vec<String> {
    let mut errs = Vec::new();
    let mut eq = |what: &str, g: String, w: String| {
        if g != w {
            errs.push(format!("{name}: {what}: got {g}, want {w}"));
        }
    };
    eq("layout", got.layout.clone(), want.layout.clone());
    eq(
        "method",
        format!("{:?}", got.method),
        format!("{:?}", want.method),
    );
    eq(
        "kernel",
        format!("{:?}", got.kernel),
        format!("{:?}", want.kernel),
    );
    eq(
        "initrds",
        format!("{:?}", got.initrds),
        format!("{:?}", want.initrds),
    );
    if let Some(d) = &want.distro {
        eq("distro", got.distro.clone(), d.clone());
    }
    if want.method == Method::NeedsNetboot || want.netboot_url.is_some() {
        eq(
            "netboot_url",
            format!("{:?}", got.netboot_url),
            format!("{:?}", want.netboot_url),
        );
    }
    if let Some(sub) = &want.cmdline {
        if !got.cmdline.contains(sub.as_str()) {
            errs.push(format!("{name}: cmdline {:?} lacks {sub:?}", got.cmdline));
        }
    }
    if let Some(sub) = &want.cmdline_lacks {
        if got.cmdline.contains(sub.as_str()) {
            errs.push(format!(
                "{name}: cmdline {:?} contains {sub:?}",
                got.cmdline
            ));
        }
    }
    // Invariants every recipe keeps.
    if got.reason.trim().is_empty() {
        errs.push(format!("{name}: empty reason"));
    }
    if got.cmdline.contains("initrd=") {
        errs.push(format!(
            "{name}: cmdline carries initrd= (the renderer adds it)"
        ));
    }
    match got.method {
        Method::Kernel => {
            if got.kernel.is_none() {
                errs.push(format!("{name}: kernel method without kernel"));
            }
        }
        // Memdisk is an operator's override, never a layout's detection.
        Method::Memdisk => errs.push(format!("{name}: detected as memdisk")),
        Method::Sanboot | Method::NeedsNetboot => {
            if got.kernel.is_some() || !got.initrds.is_empty() {
                errs.push(format!("{name}: {:?} with kernel/initrds", got.method));
            }
        }
        Method::Wimboot => {
            if got.kernel.is_some()
                || !got
                    .initrds
                    .iter()
                    .any(|i| i.to_lowercase().ends_with("boot.wim"))
            {
                errs.push(format!(
                    "{name}: wimboot recipe without boot.wim or with a kernel"
                ));
            }
        }
    }
    errs
}

/// Every list by name, and what each must be detected as.
fn corpus() -> (BTreeMap<String, Iso>, BTreeMap<String, Expected>) {
    let dir = data_dir();
    let expected: BTreeMap<String, Expected> =
        toml::from_str(&std::fs::read_to_string(dir.join("expected.toml")).unwrap()).unwrap();
    let mut lists = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "txt") {
            let stem = path.file_stem().unwrap().to_string_lossy().to_string();
            lists.insert(stem, load_list(&std::fs::read_to_string(&path).unwrap()));
        }
    }
    assert!(lists.len() >= 50, "only {} ISO lists", lists.len());
    let listed: BTreeSet<&String> = lists.keys().collect();
    let described: BTreeSet<&String> = expected.keys().collect();
    assert_eq!(
        listed, described,
        "every list needs an expected entry and vice versa"
    );
    (lists, expected)
}

#[test]
fn corpus_lists_detect_as_expected() {
    let (lists, expected) = corpus();
    let layouts = Layouts::builtin();
    let mut errors = Vec::new();
    let mut hit: BTreeSet<String> = BTreeSet::new();
    for (name, iso) in &lists {
        assert!(
            !iso.volume_id.is_empty(),
            "{name}: missing '# volume_id:' header"
        );
        let got = iso.detect(&layouts);
        errors.extend(check(name, &got, &expected[name]));
        hit.insert(got.layout.clone());
    }
    assert!(
        errors.is_empty(),
        "{} mismatches:\n{}",
        errors.len(),
        errors.join("\n")
    );

    // Every built-in layout is exercised by at least one real-shaped ISO.
    let missing: Vec<&str> = layouts
        .ids()
        .into_iter()
        .filter(|id| !hit.contains(*id))
        .collect();
    assert!(
        missing.is_empty(),
        "layouts without a corpus ISO: {missing:?}"
    );
}

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Iso {
    /// Masters the list as a real Rock Ridge image at `iso` with xorriso, building the tree
    /// in `tree`: a path with entries below it is a directory, any other is a file holding
    /// its `# file` text (or nothing).
    fn master(&self, tree: &Path, iso: &Path) {
        let dirs: BTreeSet<&str> = self
            .paths
            .iter()
            .flat_map(|p| p.match_indices('/').map(move |(i, _)| &p[..i]))
            .collect();
        for p in &self.paths {
            let at = tree.join(p);
            if dirs.contains(p.as_str()) {
                std::fs::create_dir_all(&at).unwrap();
            } else {
                std::fs::create_dir_all(at.parent().unwrap()).unwrap();
                let text = self.files.get(p).map_or("", String::as_str);
                std::fs::write(&at, text).unwrap();
            }
        }
        let out = std::process::Command::new("xorriso")
            .args([
                "-as",
                "mkisofs",
                "-quiet",
                "-R",
                "-V",
                &self.volume_id,
                "-o",
            ])
            .arg(iso)
            .arg(tree)
            .output()
            .expect("xorriso is not installed: run `tools/setup.sh test`");
        assert!(
            out.status.success(),
            "xorriso: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Indexes an image and detects its layout as the server does, reading text through the
/// index's extents.
fn detect_image(iso: &Path, layouts: &Layouts) -> BootRecipe {
    let src = FileSource::open(iso).unwrap();
    let index = IsoIndex::read(&src).unwrap();
    let paths: Vec<String> = index.entries.iter().map(|e| e.path.clone()).collect();
    let read_text = |path: &str| -> Option<String> {
        let entry = index.get(path).filter(|e| e.kind == Kind::File)?;
        let mut bytes = Vec::new();
        for x in &entry.extents {
            let start = bytes.len();
            bytes.resize(start + x.len as usize, 0);
            src.read_at(x.offset, &mut bytes[start..]).ok()?;
        }
        Some(String::from_utf8_lossy(&bytes).into_owned())
    };
    layouts.detect(&IsoView {
        volume_id: &index.volume_id,
        paths: &paths,
        read_text: &read_text,
    })
}

/// The corpus as real images: each list mastered by xorriso (empty files, config texts as
/// given), read back by the ISO indexer and detected from the index. Same expectations, and
/// the very recipe the bare list gives.
#[test]
fn corpus_lists_mastered_as_isos_detect_as_expected() {
    let (lists, expected) = corpus();
    let layouts = Layouts::builtin();
    let scratch =
        Scratch(std::env::temp_dir().join(format!("fleetboot-corpus-isos-{}", std::process::id())));
    let mut errors = Vec::new();
    for (name, list) in &lists {
        let dir = scratch.0.join(name);
        let iso = dir.join("image.iso");
        list.master(&dir.join("tree"), &iso);
        let got = detect_image(&iso, &layouts);
        errors.extend(check(name, &got, &expected[name]));
        let from_list = list.detect(&layouts);
        if got != from_list {
            errors.push(format!(
                "{name}: the image gives {got:?}, its list {from_list:?}"
            ));
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
    assert!(
        errors.is_empty(),
        "{} mismatches:\n{}",
        errors.len(),
        errors.join("\n")
    );
}

#[test]
fn corpus_detection_ignores_path_case() {
    // Same ISOs with every path upper-cased (plain ISO 9660 names): same layouts.
    let dir = data_dir();
    let layouts = Layouts::builtin();
    for name in [
        "ubuntu-22.04-desktop",
        "archlinux-2024.05.01",
        "windows-11-23h2",
        "fedora-40-server-dvd",
    ] {
        let iso = load_list(&std::fs::read_to_string(dir.join(format!("{name}.txt"))).unwrap());
        let want = iso.detect(&layouts);
        let upper = Iso {
            volume_id: iso.volume_id.clone(),
            paths: iso.paths.iter().map(|p| p.to_uppercase()).collect(),
            files: iso
                .files
                .iter()
                .map(|(k, v)| (k.to_uppercase(), v.clone()))
                .collect(),
        };
        let got = upper.detect(&layouts);
        assert_eq!(got.layout, want.layout, "{name}");
        assert_eq!(got.kernel, want.kernel.map(|k| k.to_uppercase()), "{name}");
    }
}

fn iso(label: &str, paths: &[&str], files: &[(&str, &str)]) -> Iso {
    Iso {
        volume_id: label.to_string(),
        paths: paths.iter().map(|s| s.to_string()).collect(),
        files: files
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

// grml: live-boot with its own squashfs location, so no table layout fits; its isolinux
// menu does.
const GRML_ISOLINUX: &str = "## main syslinux configuration - generated by grml-live
# use this to control the bootup via a serial port
# SERIAL 0 9600
DEFAULT grml
TIMEOUT 300
PROMPT 1
DISPLAY boot.msg
F1 boot.msg
UI vesamenu.c32
INCLUDE default.cfg
INCLUDE grml.cfg
INCLUDE hd.cfg
";

const GRML_DEFAULT: &str = "menu hshift 9
menu width 60
menu title Grml - Live Linux
include grmlmain.cfg
";

const GRML_MAIN: &str = "label grml
menu label ^grml64-full (default)
kernel /boot/grml64full/vmlinuz
append apm=power-off boot=live live-media-path=/live/grml64-full/ bootid=grml64full202402 nomce net.ifnames=0 initrd=/boot/grml64full/initrd.img BOOT_IMAGE=grml
";

const GRML_HD: &str = "label hd
menu label Boot from ^hard disk
localboot 0x80
";

#[test]
fn config_fallback_follows_isolinux_includes() {
    let iso = iso(
        "grml64-full 2024.02",
        &[
            "boot",
            "boot/isolinux",
            "boot/isolinux/isolinux.cfg",
            "boot/isolinux/default.cfg",
            "boot/isolinux/grmlmain.cfg",
            "boot/isolinux/hd.cfg",
            "boot/grml64full",
            "boot/grml64full/vmlinuz",
            "boot/grml64full/initrd.img",
            "live",
            "live/grml64-full",
            "live/grml64-full/grml64-full.squashfs",
        ],
        &[
            ("boot/isolinux/isolinux.cfg", GRML_ISOLINUX),
            ("boot/isolinux/default.cfg", GRML_DEFAULT),
            ("boot/isolinux/grmlmain.cfg", GRML_MAIN),
            ("boot/isolinux/hd.cfg", GRML_HD),
        ],
    );
    let r = iso.detect(&Layouts::builtin());
    assert_eq!(r.layout, "config-isolinux");
    assert_eq!(r.method, Method::Kernel);
    assert_eq!(r.kernel.as_deref(), Some("boot/grml64full/vmlinuz"));
    assert_eq!(r.initrds, vec!["boot/grml64full/initrd.img"]);
    assert_eq!(
        r.cmdline,
        "apm=power-off boot=live live-media-path=/live/grml64-full/ bootid=grml64full202402 nomce net.ifnames=0"
    );
    assert_eq!(r.distro, "grml64-full 2024.02");
    assert!(
        r.reason.contains("boot/isolinux/isolinux.cfg"),
        "{}",
        r.reason
    );
}

#[test]
fn config_fallback_reads_grub_with_several_initrds() {
    let grub = r#"
set default=0
set timeout=5
insmod all_video
menuentry "MyOS live" --class myos {
    linux ($root)/boot/kernel-6.8 root=live:CDLABEL=MYOS rd.live.image quiet
    initrd /boot/ucode.cpio /boot/initramfs-6.8.img
}
menuentry "MyOS (safe)" {
    linux /boot/kernel-6.8 nomodeset
    initrd /boot/initramfs-6.8.img
}
"#;
    let iso = iso(
        "MYOS",
        &[
            "boot",
            "boot/grub",
            "boot/grub/grub.cfg",
            "boot/kernel-6.8",
            "boot/ucode.cpio",
            "boot/initramfs-6.8.img",
            "myos.sqfs",
        ],
        &[("boot/grub/grub.cfg", grub)],
    );
    let r = iso.detect(&Layouts::builtin());
    assert_eq!(r.layout, "config-grub");
    assert_eq!(r.kernel.as_deref(), Some("boot/kernel-6.8"));
    assert_eq!(r.initrds, vec!["boot/ucode.cpio", "boot/initramfs-6.8.img"]);
    assert_eq!(r.cmdline, "root=live:CDLABEL=MYOS rd.live.image quiet");
}

#[test]
fn config_fallback_uses_loopback_cfg_and_efi_grub() {
    // loopback.cfg only: ${iso_path} options are dropped.
    let loopback = "menuentry \"Start Remix\" {\n\tlinux\t/remix/vmlinuz boot=remix iso-scan/filename=${iso_path} quiet\n\tinitrd\t/remix/initrd\n}\n";
    let a = iso(
        "REMIX",
        &["boot/grub/loopback.cfg", "remix/vmlinuz", "remix/initrd"],
        &[("boot/grub/loopback.cfg", loopback)],
    );
    let r = a.detect(&Layouts::builtin());
    assert_eq!(r.layout, "config-grub");
    assert_eq!(r.cmdline, "boot=remix quiet");
    assert!(r.reason.contains("boot/grub/loopback.cfg"), "{}", r.reason);

    // EFI/BOOT/grub.cfg that sources the real menu, upper-case names on the ISO.
    let efi = "search --file --set=root /.disk/id/abc\nset prefix=($root)/boot/grub\nsource $prefix/x86_64-efi/grub.cfg\n";
    let inner =
        "menuentry 'Install' {\n linux /inst/vmlinuz priority=low\n initrd /inst/initrd.gz\n}\n";
    let b = iso(
        "OTHER",
        &[
            "EFI/BOOT/GRUB.CFG",
            "BOOT/GRUB/X86_64-EFI/GRUB.CFG",
            "INST/VMLINUZ",
            "INST/INITRD.GZ",
        ],
        &[
            ("EFI/BOOT/GRUB.CFG", efi),
            ("BOOT/GRUB/X86_64-EFI/GRUB.CFG", inner),
        ],
    );
    let r = b.detect(&Layouts::builtin());
    assert_eq!(r.layout, "config-grub");
    assert_eq!(r.kernel.as_deref(), Some("INST/VMLINUZ"));
    assert_eq!(r.initrds, vec!["INST/INITRD.GZ"]);
    assert_eq!(r.cmdline, "priority=low");
}

#[test]
fn unreadable_or_garbage_configs_end_in_sanboot() {
    // NixOS whose configs can't be read: no init= to capture, so no table match; the
    // fallback can't read the menus either.
    let dir = data_dir();
    let mut nixos =
        load_list(&std::fs::read_to_string(dir.join("nixos-minimal-24.05.txt")).unwrap());
    nixos.files.clear();
    let r = nixos.detect(&Layouts::builtin());
    assert_eq!(r.method, Method::Sanboot);
    assert_eq!(r.layout, "sanboot");
    assert!(
        r.reason
            .contains("no known layout and no usable boot config"),
        "{}",
        r.reason
    );

    let garbage = "\u{0}\u{1}label\nkernel\nappend initrd=\nmenuentry { linux }}}}{{{ ${";
    let g = iso(
        "JUNK",
        &[
            "isolinux/isolinux.cfg",
            "boot/grub/grub.cfg",
            "syslinux.cfg",
        ],
        &[
            ("isolinux/isolinux.cfg", garbage),
            ("boot/grub/grub.cfg", garbage),
            ("syslinux.cfg", garbage),
        ],
    );
    assert_eq!(g.detect(&Layouts::builtin()).method, Method::Sanboot);
}

#[test]
fn user_override_beats_builtin_on_a_corpus_iso() {
    let dir = data_dir();
    let iso = load_list(&std::fs::read_to_string(dir.join("debian-12.5-netinst.txt")).unwrap());
    let user = r#"
# Boot the CD installer kernel anyway, with the ISO as its mirror.
[[layout]]
id = "debian-installer"
distro = "Debian (local mirror)"
priority = 500
all = ["install.amd/vmlinuz", "install.amd/initrd.gz"]
method = "kernel"
kernel = "install.amd/vmlinuz"
initrds = ["install.amd/initrd.gz"]
cmdline = "auto=true priority=critical url={server}/preseed.cfg"
"#;
    let layouts = Layouts::with_overrides(user).unwrap();
    let r = iso.detect(&layouts);
    assert_eq!(r.layout, "debian-installer");
    assert_eq!(r.method, Method::Kernel);
    assert_eq!(r.distro, "Debian (local mirror)");
    assert_eq!(r.kernel.as_deref(), Some("install.amd/vmlinuz"));
}
