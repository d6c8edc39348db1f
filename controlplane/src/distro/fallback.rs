//! The config-file fallback: when no table layout matches, boot what the ISO's own menu
//! boots. Syslinux configs are tried before GRUB ones (they name the BIOS entry, which is
//! usually the plain one); within a config, the menu's default entry first. An entry is used
//! only if its kernel and every initrd it names exist in the ISO.

use super::glob::{join, normalize, parent};
use super::matcher::Ctx;
use super::{grub, syslinux, BootRecipe, Method};

/// Where syslinux/isolinux configs live, in the order they are tried.
const SYSLINUX_CFGS: &[&str] = &[
    "isolinux/isolinux.cfg",
    "isolinux/txt.cfg",
    "syslinux.cfg",
    "syslinux/syslinux.cfg",
    "boot/isolinux/isolinux.cfg",
    "boot/syslinux/syslinux.cfg",
    "isolinux.cfg",
];

/// Where GRUB configs live, in the order they are tried.
const GRUB_CFGS: &[&str] = &[
    "boot/grub/grub.cfg",
    "boot/grub/loopback.cfg",
    "EFI/BOOT/grub.cfg",
    "boot/grub2/grub.cfg",
];

/// A menu entry as both parsers report it: label, kernel, initrds, arguments.
type MenuEntry = (String, String, Vec<String>, Vec<String>);
/// Parses a config's text (with a loader for included files) into menu entries.
type Parser = fn(&str, &dyn Fn(&str) -> Option<String>) -> Vec<MenuEntry>;

fn syslinux_entries(text: &str, load: &dyn Fn(&str) -> Option<String>) -> Vec<MenuEntry> {
    syslinux::parse(text, load)
        .into_iter()
        .map(|e| (e.label, e.kernel, e.initrds, e.append))
        .collect()
}

fn grub_entries(text: &str, load: &dyn Fn(&str) -> Option<String>) -> Vec<MenuEntry> {
    grub::parse(text, load)
        .into_iter()
        .map(|e| (e.title, e.kernel, e.initrds, e.args))
        .collect()
}

/// Config families in the order they are tried.
const FAMILIES: [(&str, &[&str], Parser); 2] = [
    ("config-isolinux", SYSLINUX_CFGS, syslinux_entries),
    ("config-grub", GRUB_CFGS, grub_entries),
];

/// A recipe from the ISO's own boot configs, or `None` if none names a usable kernel.
pub(crate) fn from_configs(ctx: &Ctx<'_, '_>) -> Option<BootRecipe> {
    for (layout, cfgs, parse) in FAMILIES {
        for cfg in cfgs {
            let Some(real) = ctx.index.resolve(cfg).map(str::to_string) else {
                continue;
            };
            let Some(text) = ctx.text(&real) else {
                continue;
            };
            // Boot loaders resolve relative names against the config's directory.
            let base = parent(&real).to_string();
            let load = |p: &str| locate(ctx, &base, p).and_then(|f| ctx.text(&f));
            for (entry, kernel, initrds, args) in parse(&text, &load) {
                let found = Candidate {
                    layout,
                    cfg: &real,
                    base: &base,
                    entry: &entry,
                    kernel: &kernel,
                    initrds: &initrds,
                    args: &args,
                };
                if let Some(r) = recipe(ctx, &found) {
                    return Some(r);
                }
            }
        }
    }
    None
}

/// Finds a file named in a config: relative to the config's directory first, then to the
/// ISO root. Returns the ISO's spelling.
fn locate(ctx: &Ctx<'_, '_>, base: &str, raw: &str) -> Option<String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return None;
    }
    [join(base, raw), normalize(raw)]
        .iter()
        .find_map(|p| ctx.index.resolve(p))
        .map(str::to_string)
}

/// Images a menu may "boot" that are not Linux kernels we can hand to the renderer.
fn is_not_a_kernel(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    let name = lower.rsplit('/').next().unwrap_or("");
    [".c32", ".com", ".cbt", ".bss", ".0", ".bin", ".sys", ".img"]
        .iter()
        .any(|ext| name.ends_with(ext))
        || name.contains("memtest")
        || name == "memdisk"
}

/// One menu entry found in a config, as written.
struct Candidate<'c> {
    layout: &'c str,
    /// The config file (ISO spelling) and its directory.
    cfg: &'c str,
    base: &'c str,
    entry: &'c str,
    kernel: &'c str,
    initrds: &'c [String],
    args: &'c [String],
}

fn recipe(ctx: &Ctx<'_, '_>, c: &Candidate<'_>) -> Option<BootRecipe> {
    let (base, cfg) = (c.base, c.cfg);
    let kernel = locate(ctx, base, c.kernel)?;
    if is_not_a_kernel(&kernel) {
        return None;
    }
    let mut found = Vec::new();
    for i in c.initrds {
        found.push(locate(ctx, base, i)?);
    }
    let label = ctx.iso.volume_id;
    let mut reason = format!(
        "no table layout matched; using entry '{}' of {cfg} (kernel {kernel})",
        c.entry.trim()
    );
    if !label.is_empty() {
        reason.push_str(&format!("; volume label '{label}'"));
    }
    reason.push_str("; note: options copied from the ISO's own menu may expect local media");
    Some(BootRecipe {
        layout: c.layout.to_string(),
        distro: if label.trim().is_empty() {
            "Unknown".to_string()
        } else {
            label.trim().to_string()
        },
        method: Method::Kernel,
        kernel: Some(kernel),
        initrds: found,
        cmdline: c.args.join(" "),
        reason,
        netboot_url: None,
    })
}
