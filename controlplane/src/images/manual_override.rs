//! Manual override (Bootimus's convention): for `isos/<dir>/<stem>.iso`, the files
//! `isos/<dir>/<stem>/vmlinuz` and, optionally, `<stem>/initrd` and `<stem>/cmdline` (a text
//! file holding the kernel command line) win over detection. They are ordinary scanned files,
//! so the catalog also serves them under the image as `images/<id>/fleetboot-override/<name>`:
//! the recipe then names paths relative to the image like every other recipe, and the boot
//! script needs no special case.
//!
//! Only those exact names count. Anything else in `<stem>/` (other ISOs included: the folder is
//! also a group folder) is left to the scan as usual.

use super::{is_iso, Image, ISOS};
use crate::distro::{BootRecipe, Method};
use crate::scan::Found;

/// Layout id of an overridden recipe.
pub const LAYOUT: &str = "manual-override";

/// Folder under `images/<id>/` the override files are served from.
const SERVED_DIR: &str = "fleetboot-override";
const KERNEL: &str = "vmlinuz";
const INITRD: &str = "initrd";
const CMDLINE: &str = "cmdline";

/// Largest `cmdline` file read; kernels take a few KiB at most.
const MAX_CMDLINE: u64 = 16 << 10;

/// The scanned path (relative to the data dir) of override file `name` for the ISO at
/// `iso_rel` (relative to `data/isos/`).
fn beside(iso_rel: &str, name: &str) -> String {
    let stem = if is_iso(iso_rel) {
        &iso_rel[..iso_rel.len() - 4]
    } else {
        iso_rel
    };
    format!("{ISOS}{stem}/{name}")
}

/// Whether `recipe` came from an override (so the detected one has to be worked out again
/// when the override changes or goes away).
pub fn is_applied(recipe: Option<&BootRecipe>) -> bool {
    recipe.is_some_and(|r| r.layout == LAYOUT)
}

/// The recipe for the ISO at `iso_rel`: an override built from the files beside it in `found`
/// when `<stem>/vmlinuz` is there (the cmdline from `<stem>/cmdline`, else the detected one),
/// otherwise `detected` unchanged.
pub fn apply(iso_rel: &str, detected: Option<BootRecipe>, found: &[Found]) -> Option<BootRecipe> {
    let find = |name: &str| {
        let path = beside(iso_rel, name);
        found.iter().find(|f| f.record.path == path)
    };
    if find(KERNEL).is_none() {
        return detected;
    }
    let cmdline = find(CMDLINE)
        .and_then(read_cmdline)
        .or_else(|| detected.as_ref().map(|r| r.cmdline.clone()))
        .unwrap_or_default();
    let stem = beside(iso_rel, KERNEL);
    let stem = stem.rsplit('/').nth(1).unwrap_or_default();
    Some(BootRecipe {
        layout: LAYOUT.to_owned(),
        distro: detected.map_or_else(|| "Unknown".to_owned(), |r| r.distro),
        method: Method::Kernel,
        kernel: Some(format!("{SERVED_DIR}/{KERNEL}")),
        initrds: find(INITRD)
            .map(|_| format!("{SERVED_DIR}/{INITRD}"))
            .into_iter()
            .collect(),
        cmdline,
        reason: format!("manual override: {stem}/{KERNEL} beside the ISO"),
        netboot_url: None,
    })
}

/// The command line in a `cmdline` file, its lines joined by spaces (a line break would end
/// the iPXE `kernel` line). A file that is too big or unreadable is reported and ignored.
fn read_cmdline(file: &Found) -> Option<String> {
    if file.record.size > MAX_CMDLINE {
        tracing::warn!(file = %file.record.path, size = file.record.size, "override cmdline too big, ignored");
        return None;
    }
    match std::fs::read_to_string(&file.abs) {
        Ok(text) => Some(text.split_whitespace().collect::<Vec<_>>().join(" ")),
        Err(e) => {
            tracing::warn!(file = %file.record.path, error = %e, "cannot read override cmdline, ignored");
            None
        }
    }
}

/// What the catalog serves for an overridden image: (path under `images/<id>/`, scanned path
/// of the file it is). Empty when no override applies.
pub fn served_files(image: &Image) -> Vec<(String, String)> {
    let Some(recipe) = image.recipe.as_ref().filter(|r| r.layout == LAYOUT) else {
        return Vec::new();
    };
    recipe
        .kernel
        .iter()
        .chain(&recipe.initrds)
        .filter_map(|served| {
            let name = served.strip_prefix(SERVED_DIR)?.strip_prefix('/')?;
            Some((served.clone(), beside(&image.path, name)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::FileRecord;

    /// A data dir with `files` (relative to it) and their scan.
    struct Tree(std::path::PathBuf);

    impl Tree {
        fn new(tag: &str, files: &[(&str, &str)]) -> Tree {
            let dir = std::env::temp_dir()
                .join(format!("fleetboot-override-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            for (path, text) in files {
                let p = dir.join(path);
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                std::fs::write(p, text).unwrap();
            }
            Tree(dir)
        }

        fn scan(&self) -> Vec<Found> {
            crate::scan::scan(&self.0)
        }
    }

    impl Drop for Tree {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn detected() -> BootRecipe {
        BootRecipe {
            layout: "ubuntu-desktop".into(),
            distro: "Ubuntu".into(),
            method: Method::Kernel,
            kernel: Some("casper/vmlinuz".into()),
            initrds: vec!["casper/initrd".into()],
            cmdline: "boot=casper ip=dhcp".into(),
            reason: "casper".into(),
            netboot_url: None,
        }
    }

    fn image(path: &str, recipe: Option<BootRecipe>) -> Image {
        Image {
            id: super::super::image_id(path),
            path: path.into(),
            group: super::super::group_of(path),
            size: 1,
            stamp: FileRecord {
                path: format!("isos/{path}"),
                size: 1,
                mtime_ns: 0,
                inode: 0,
            },
            index: Err("not indexed".into()),
            recipe,
        }
    }

    #[test]
    fn kernel_and_initrd_beside_the_iso_win() {
        let t = Tree::new(
            "both",
            &[
                ("isos/linux/Ubuntu.ISO", "iso"),
                ("isos/linux/Ubuntu/vmlinuz", "k"),
                ("isos/linux/Ubuntu/initrd", "i"),
            ],
        );
        let r = apply("linux/Ubuntu.ISO", Some(detected()), &t.scan()).unwrap();
        assert_eq!(r.layout, LAYOUT);
        assert_eq!(r.method, Method::Kernel);
        assert_eq!(r.distro, "Ubuntu");
        assert_eq!(r.kernel.as_deref(), Some("fleetboot-override/vmlinuz"));
        assert_eq!(r.initrds, ["fleetboot-override/initrd"]);
        assert_eq!(r.cmdline, "boot=casper ip=dhcp");
        assert_eq!(r.reason, "manual override: Ubuntu/vmlinuz beside the ISO");
        let served = served_files(&image("linux/Ubuntu.ISO", Some(r)));
        assert_eq!(
            served,
            [
                (
                    "fleetboot-override/vmlinuz".to_owned(),
                    "isos/linux/Ubuntu/vmlinuz".to_owned()
                ),
                (
                    "fleetboot-override/initrd".to_owned(),
                    "isos/linux/Ubuntu/initrd".to_owned()
                ),
            ]
        );
    }

    #[test]
    fn cmdline_file_wins_and_initrd_is_optional() {
        let t = Tree::new(
            "cmdline",
            &[
                ("isos/x.iso", "iso"),
                ("isos/x/vmlinuz", "k"),
                ("isos/x/cmdline", "  console=ttyS0\nquiet  \n"),
            ],
        );
        let r = apply("x.iso", Some(detected()), &t.scan()).unwrap();
        assert_eq!(r.cmdline, "console=ttyS0 quiet");
        assert!(r.initrds.is_empty());
        // Without a detected recipe (an ISO that cannot be indexed) the override still boots.
        let r = apply("x.iso", None, &t.scan()).unwrap();
        assert_eq!((r.layout.as_str(), r.distro.as_str()), (LAYOUT, "Unknown"));
        assert_eq!(r.cmdline, "console=ttyS0 quiet");
    }

    #[test]
    fn no_kernel_no_override() {
        let t = Tree::new(
            "none",
            &[
                ("isos/x.iso", "iso"),
                ("isos/x/initrd", "i"),
                ("isos/x/cmdline", "quiet"),
                // Names must be exact, and only the ISO's own folder counts.
                ("isos/x/VMLINUZ", "k"),
                ("isos/x/sub/vmlinuz", "k"),
                ("isos/y/vmlinuz", "k"),
            ],
        );
        assert_eq!(
            apply("x.iso", Some(detected()), &t.scan()),
            Some(detected())
        );
        assert_eq!(apply("x.iso", None, &t.scan()), None);
        assert!(served_files(&image("x.iso", Some(detected()))).is_empty());
        assert!(!is_applied(Some(&detected())) && !is_applied(None));
    }

    #[test]
    fn stem_folder_still_holds_isos_and_its_files_are_not_isos() {
        let t = Tree::new(
            "group",
            &[
                ("isos/linux/ubuntu.iso", "iso"),
                ("isos/linux/ubuntu/vmlinuz", "k"),
                ("isos/linux/ubuntu/initrd", "i"),
                ("isos/linux/ubuntu/nested.iso", "another iso"),
            ],
        );
        let found = t.scan();
        let images = super::super::refresh(&found, &[], &crate::distro::Layouts::builtin(), true);
        let paths: Vec<(&str, &[String])> = images
            .iter()
            .map(|i| (i.path.as_str(), i.group.as_slice()))
            .collect();
        assert_eq!(
            paths,
            [
                ("linux/ubuntu.iso", &["linux".to_owned()][..]),
                (
                    "linux/ubuntu/nested.iso",
                    &["linux".to_owned(), "ubuntu".to_owned()][..]
                ),
            ]
        );
        // Garbage ISOs: no index, no detected recipe; the override alone applies.
        assert!(is_applied(images[0].recipe.as_ref()));
        assert_eq!(images[1].recipe, None);
    }
}
