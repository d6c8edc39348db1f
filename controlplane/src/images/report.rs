//! `fleetboot images list|show`: what the store knows about each ISO, as a table, text or
//! JSON. Reads the database read-only, so it works beside a running server.

use std::path::Path;

use serde::Serialize;

use super::Image;
use crate::distro::Method;
use crate::iso::{BootEntry, Platform};
use crate::store::ReadOnlyStore;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// One image as scripts see it (`--json`).
#[derive(Debug, Serialize)]
pub struct Summary<'a> {
    /// Stable, URL-safe id.
    pub id: &'a str,
    /// Path relative to `data/isos/`.
    pub path: &'a str,
    /// Nested group from the folders.
    pub group: &'a [String],
    /// Size in bytes.
    pub size: u64,
    /// Volume label, when indexed.
    pub volume_id: Option<&'a str>,
    /// Files and directories inside, when indexed.
    pub entries: Option<usize>,
    /// Why the image could not be indexed.
    pub error: Option<&'a str>,
    /// Layout id that matched.
    pub layout: Option<&'a str>,
    /// Distribution name.
    pub distro: Option<&'a str>,
    /// kernel | sanboot | wimboot | needs-netboot.
    pub method: Option<&'static str>,
    /// Kernel path inside the ISO.
    pub kernel: Option<&'a str>,
    /// Initrd paths inside the ISO, in order.
    pub initrds: &'a [String],
    /// Kernel command line template.
    pub cmdline: Option<&'a str>,
}

impl<'a> Summary<'a> {
    fn of(image: &'a Image) -> Summary<'a> {
        Summary {
            id: &image.id,
            path: &image.path,
            group: &image.group,
            size: image.size,
            volume_id: image.index.as_ref().ok().map(|i| i.volume_id.as_str()),
            entries: image.index.as_ref().ok().map(|i| i.entries.len()),
            error: image.index.as_ref().err().map(String::as_str),
            layout: image.recipe.as_ref().map(|r| r.layout.as_str()),
            distro: image.recipe.as_ref().map(|r| r.distro.as_str()),
            method: image.recipe.as_ref().map(|r| method_name(&r.method)),
            kernel: image.recipe.as_ref().and_then(|r| r.kernel.as_deref()),
            initrds: image.recipe.as_ref().map_or(&[], |r| r.initrds.as_slice()),
            cmdline: image.recipe.as_ref().map(|r| r.cmdline.as_str()),
        }
    }
}

/// The method's name as the CLI and the API show it.
pub fn method_name(method: &Method) -> &'static str {
    match method {
        Method::Kernel => "kernel",
        Method::Sanboot => "sanboot",
        Method::Wimboot => "wimboot",
        Method::NeedsNetboot => "needs-netboot",
        Method::Memdisk => "memdisk",
    }
}

/// `images list`.
///
/// # Errors
/// No database, or it cannot be read.
pub fn list(data_dir: &Path, json: bool) -> Result<String, BoxError> {
    let images = ReadOnlyStore::open(data_dir)?.images()?;
    let summaries: Vec<Summary<'_>> = images.iter().map(Summary::of).collect();
    if json {
        return Ok(serde_json::to_string_pretty(&summaries)? + "\n");
    }
    let mut out = format!(
        "{:<40} {:>12}  {:<24} {}\n",
        "ID", "SIZE", "GROUP", "PATH / STATUS"
    );
    for s in &summaries {
        let status = s.error.map_or(String::new(), |e| format!("  [error: {e}]"));
        out.push_str(&format!(
            "{:<40} {:>12}  {:<24} {}{status}\n",
            s.id,
            s.size,
            s.group.join(" › "),
            s.path
        ));
    }
    Ok(out)
}

/// `images show ID`.
///
/// # Errors
/// No database, no such image, or it cannot be read.
pub fn show(data_dir: &Path, id: &str, json: bool) -> Result<String, BoxError> {
    let images = ReadOnlyStore::open(data_dir)?.images()?;
    let image = images
        .iter()
        .find(|i| i.id == id)
        .ok_or_else(|| format!("no image {id:?} (see `fleetboot images list`)"))?;
    let boot: &[BootEntry] = image.index.as_ref().map_or(&[], |i| i.boot.as_slice());
    if json {
        #[derive(Serialize)]
        struct Detail<'a> {
            #[serde(flatten)]
            summary: Summary<'a>,
            reason: Option<&'a str>,
            netboot_url: Option<&'a str>,
            boot: &'a [BootEntry],
        }
        let detail = Detail {
            summary: Summary::of(image),
            reason: image.recipe.as_ref().map(|r| r.reason.as_str()),
            netboot_url: image.recipe.as_ref().and_then(|r| r.netboot_url.as_deref()),
            boot,
        };
        return Ok(serde_json::to_string_pretty(&detail)? + "\n");
    }
    let s = Summary::of(image);
    let mut out = format!(
        "id:        {}\npath:      {}\ngroup:     {}\nsize:      {}\n",
        s.id,
        s.path,
        s.group.join(" › "),
        s.size
    );
    match (&image.index, s.volume_id) {
        (Ok(index), Some(label)) => {
            out.push_str(&format!(
                "volume:    {label}\nnames:     {:?}\nentries:   {}\n",
                index.names,
                index.entries.len()
            ));
        }
        (Err(e), _) => out.push_str(&format!("error:     {e}\n")),
        _ => {}
    }
    if let Some(r) = &image.recipe {
        out.push_str(&format!(
            "distro:    {} (layout {})\nmethod:    {}\nkernel:    {}\ninitrds:   {}\ncmdline:   {}\nwhy:       {}\n",
            r.distro,
            r.layout,
            method_name(&r.method),
            r.kernel.as_deref().unwrap_or("-"),
            r.initrds.join(" "),
            r.cmdline,
            r.reason
        ));
        if let Some(url) = &r.netboot_url {
            out.push_str(&format!("netboot:   {url}\n"));
        }
    }
    out.push_str("el torito:");
    if boot.is_empty() {
        out.push_str(" none (not bootable from optical media)\n");
    } else {
        out.push('\n');
        for b in boot {
            let platform = match b.platform {
                Platform::Bios => "BIOS".to_owned(),
                Platform::Efi => "UEFI".to_owned(),
                Platform::Other(n) => format!("platform {n:#x}"),
            };
            out.push_str(&format!(
                "  {platform:<6} {} media={} rba={} sectors={} file={}\n",
                if b.bootable {
                    "bootable"
                } else {
                    "not-bootable"
                },
                b.media,
                b.load_rba,
                b.sector_count,
                b.file.as_deref().unwrap_or("-")
            ));
        }
    }
    Ok(out)
}
