//! Distro detection: given what is inside an ISO (file list, volume label, small text files),
//! pick its layout and produce a [`BootRecipe`] (kernel, initrds, cmdline template) for
//! network-booting it. Pure code: every byte comes in through an [`IsoView`].
//!
//! Detection is data-driven. `layouts.toml` (compiled in) holds one entry per known layout:
//! match rules (paths that must / may / must not exist, with case-insensitive `*` globs
//! within a segment; volume-label substrings; text-file substrings) and a recipe. Users can
//! add or replace layouts with their own TOML ([`Layouts::with_overrides`]). [`Layouts::detect`]
//! tries layouts by priority; if none applies it reads the ISO's own syslinux/GRUB menus
//! (layout ids `config-isolinux` / `config-grub`); failing that it answers
//! [`Method::Sanboot`] (layout id `sanboot`). It never fails and never panics.
//!
//! # Cmdline templates
//! `cmdline` strings keep the renderer's variables for later: `{server}`, `{image_url}`
//! (root of the extracted tree: `{image_url}/<path in iso>`), `{iso_url}`, `{mac}`,
//! `{volume_id}`, `{kernel_name}`, `{initrd_names}`. Variables that depend on what detection
//! found are filled in here: `{squashfs_url}` becomes `{image_url}/<squashfs path>` (so the
//! renderer needs no extra field), and `{squashfs_path}`, `{squashfs_dir}`, `{squashfs_top}`,
//! `{kernel_path}`, `{kernel_dir}`, `{kernel_top}` and capture variables (e.g. NixOS `{init}`)
//! become literal text. `initrd=` is never added here: the renderer does that.
//!
//! # Table format (`[[layout]]` entries)
//! - `id`, `distro`, `priority` (higher first; default 0).
//! - Rules: `all` (every pattern exists), `any` (at least one does), `none` (none does);
//!   identity: `label_any` (volume id contains one of them) and `text_any = [{ path,
//!   contains = [...] }]`. If a layout has identity rules, at least one of them must hold
//!   (a label hit *or* a text hit). Patterns are ISO paths, case-insensitive, `*` within one
//!   segment.
//! - Recipe: `method` (`kernel`, `sanboot`, `wimboot`, `needs-netboot`); `kernel` (pattern
//!   or list of candidates, first match); `initrds` (each pattern's first match, in order; a
//!   leading `?` marks it optional; `{kernel_dir}`/`{kernel_top}` allowed); `cmdline`;
//!   `squashfs` (pattern or candidates); `append_if = [{ any = [...], args = "..." }]`;
//!   `capture = [{ var, files, prefix }]` (the token after `prefix` in the first file that
//!   has it becomes `{var}`); `netboot_url` with `{suite}` (from `.disk/info` or `dists/`)
//!   and `netboot_by_suite = { suite = url }`; `note` (appended to the reason).
//!
//! A layout only applies if its recipe can be completed (kernel, required initrds, squashfs
//! when the cmdline uses it, captures); otherwise detection moves on.

mod fallback;
pub(crate) mod glob;
mod grub;
mod matcher;
mod syslinux;
mod table;

use serde::{Deserialize, Serialize};

pub use table::LayoutError;

/// The built-in layout table.
const BUILTIN_TOML: &str = include_str!("layouts.toml");

/// What detection may look at in one ISO.
pub struct IsoView<'a> {
    /// The primary volume's label.
    pub volume_id: &'a str,
    /// Every file and directory path in the ISO: `/`-separated, no leading slash, original
    /// case.
    pub paths: &'a [String],
    /// Reads a small file (configs) by exact path; `None` if missing or too big.
    pub read_text: &'a dyn Fn(&str) -> Option<String>,
}

/// How a recipe boots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Method {
    /// Load `kernel` + `initrds` with `cmdline`.
    Kernel,
    /// Boot the whole ISO as a SAN disk (iPXE `sanboot`); no kernel of ours.
    Sanboot,
    /// Windows PE via wimboot; `initrds` are the files wimboot needs (bootmgr, BCD, boot.sdi,
    /// boot.wim).
    Wimboot,
    /// The ISO's installer kernel can't install over the network; fetch the release's
    /// netboot kernel from `netboot_url` instead.
    NeedsNetboot,
    /// The whole ISO loaded into RAM by syslinux's memdisk (BIOS clients only): for small
    /// ISOs that sanboot cannot start.
    Memdisk,
}

/// How to network-boot one ISO.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootRecipe {
    /// Layout id from the table (e.g. `ubuntu-desktop`), or `config-isolinux`,
    /// `config-grub`, `sanboot`.
    pub layout: String,
    /// Human name, e.g. "Ubuntu".
    pub distro: String,
    pub method: Method,
    /// Path inside the ISO.
    pub kernel: Option<String>,
    /// Paths inside the ISO, in load order (microcode first where present).
    pub initrds: Vec<String>,
    /// Template with `{variables}` (see the module docs).
    pub cmdline: String,
    /// Why it matched.
    pub reason: String,
    /// For [`Method::NeedsNetboot`]: the release's `netboot.tar.gz`, when known.
    pub netboot_url: Option<String>,
}

/// An ordered, validated layout table.
#[derive(Debug, Clone)]
pub struct Layouts {
    /// In the order they are tried.
    layouts: Vec<table::Layout>,
}

impl Layouts {
    /// The built-in table (`layouts.toml`).
    pub fn builtin() -> Layouts {
        static BUILTIN: std::sync::OnceLock<Layouts> = std::sync::OnceLock::new();
        BUILTIN
            .get_or_init(|| {
                let parsed = table::parse(BUILTIN_TOML)
                    .unwrap_or_else(|e| panic!("built-in layouts.toml is invalid: {e}"));
                Layouts::ordered(Vec::new(), parsed)
            })
            .clone()
    }

    /// The built-in table plus a user's layouts. A user layout with a built-in's id replaces
    /// it (taking the user's priority among the built-ins); user layouts with new ids are
    /// tried before every built-in.
    pub fn with_overrides(toml_text: &str) -> Result<Layouts, LayoutError> {
        let user = table::parse(toml_text)?;
        let builtin = table::parse(BUILTIN_TOML)?;
        let (replacing, new): (Vec<_>, Vec<_>) = user
            .into_iter()
            .partition(|u| builtin.iter().any(|b| b.id == u.id));
        let mut rest: Vec<table::Layout> = builtin
            .into_iter()
            .filter(|b| !replacing.iter().any(|r| r.id == b.id))
            .collect();
        rest.extend(replacing);
        Ok(Layouts::ordered(new, rest))
    }

    /// `first` (by priority) before `rest` (by priority); ties keep table order.
    fn ordered(mut first: Vec<table::Layout>, mut rest: Vec<table::Layout>) -> Layouts {
        first.sort_by_key(|l| std::cmp::Reverse(l.priority));
        rest.sort_by_key(|l| std::cmp::Reverse(l.priority));
        first.extend(rest);
        Layouts { layouts: first }
    }

    /// Layout ids in the order they are tried.
    pub fn ids(&self) -> Vec<&str> {
        self.layouts.iter().map(|l| l.id.as_str()).collect()
    }

    /// Number of layouts.
    pub fn len(&self) -> usize {
        self.layouts.len()
    }

    /// True if the table is empty (never for the built-in one).
    pub fn is_empty(&self) -> bool {
        self.layouts.is_empty()
    }

    /// Picks a recipe for one ISO: first applicable table layout, else the ISO's own boot
    /// menu, else [`Method::Sanboot`].
    pub fn detect(&self, iso: &IsoView<'_>) -> BootRecipe {
        let ctx = matcher::Ctx::new(iso);
        for layout in &self.layouts {
            match matcher::try_layout(layout, &ctx) {
                Ok(recipe) => return recipe,
                Err(why) => tracing::trace!(layout = %layout.id, %why, "layout does not apply"),
            }
        }
        if let Some(recipe) = fallback::from_configs(&ctx) {
            return recipe;
        }
        let mut reason = "no known layout and no usable boot config".to_string();
        if !iso.volume_id.is_empty() {
            reason.push_str(&format!("; volume label '{}'", iso.volume_id));
        }
        BootRecipe {
            layout: "sanboot".into(),
            distro: "Unknown".into(),
            method: Method::Sanboot,
            kernel: None,
            initrds: Vec::new(),
            cmdline: String::new(),
            reason,
            netboot_url: None,
        }
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
