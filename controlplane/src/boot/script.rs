//! iPXE scripts from boot recipes: one image's boot lines, and the menu nested by folder.
//! Every URL is absolute and carries the port; every word of user text goes through
//! [`super::ipxe::quote`] or [`super::ipxe::url_path`].

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use dataplane::Mac;

use super::ipxe::{label, quote, url_path};
use crate::distro::{BootRecipe, Method};
use crate::images::Image;

/// Where this server is and what every kernel gets.
#[derive(Debug, Clone)]
pub struct Site {
    /// `http://<server>:<port>`, no trailing slash.
    pub base: String,
    /// Appended to every kernel command line (e.g. `console=ttyS0,115200`).
    pub kernel_args: String,
    /// `wimboot` is among the bootloaders.
    pub has_wimboot: bool,
    /// Whether syslinux's `memdisk` is among the bootloaders.
    pub has_memdisk: bool,
}

/// The menu's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MenuSettings {
    /// Title line.
    pub title: String,
    /// Time before the default is booted; zero waits forever.
    pub timeout: Duration,
    /// Image id booted on timeout; `None` (or an unknown id) boots the local disk.
    pub default: Option<String>,
}

/// How the client's MAC appears in command lines: known (assignments) or left to iPXE (menu).
fn mac_text(mac: Option<Mac>) -> String {
    mac.map_or_else(|| "${netX/mac}".to_owned(), |m| m.to_string())
}

/// The lines that boot `image`, ending with `boot` (or `sanboot`), each failure jumping to
/// `on_error`.
pub fn boot_lines(image: &Image, site: &Site, mac: Option<Mac>, on_error: &str) -> String {
    let mut s = String::new();
    let name = display_name(image);
    let _ = writeln!(s, "echo Booting {} from fleetboot", quote(&name));
    let iso_url = format!(
        "{}/{}",
        site.base,
        url_path(&format!("isos/{}", image.path))
    );
    let sanboot = format!("sanboot --no-describe {iso_url} || goto {on_error}\n");
    let Some(recipe) = &image.recipe else {
        s.push_str(&sanboot);
        return s;
    };
    let image_url = format!(
        "{}/{}",
        site.base,
        url_path(&format!("images/{}", image.id))
    );
    match (recipe.method, &recipe.kernel) {
        (Method::Kernel | Method::NeedsNetboot, Some(kernel)) => {
            let initrds = initrd_names(&recipe.initrds);
            let vars = Vars {
                site,
                image,
                image_url: &image_url,
                iso_url: &iso_url,
                mac: &mac_text(mac),
                initrd_names: &initrds.join(","),
            };
            let mut cmdline = vars.fill(&recipe.cmdline);
            // EFI-stub kernels take initrds by name from the command line (older iPXE needs it).
            for n in &initrds {
                let _ = write!(cmdline, " initrd={n}");
            }
            if !site.kernel_args.is_empty() {
                cmdline.push(' ');
                cmdline.push_str(&site.kernel_args);
            }
            let _ = writeln!(
                s,
                "kernel {} {} || goto {on_error}",
                file_url(site, &image_url, kernel),
                cmdline.trim()
            );
            for (path, n) in recipe.initrds.iter().zip(&initrds) {
                let _ = writeln!(
                    s,
                    "initrd --name {n} {} || goto {on_error}",
                    file_url(site, &image_url, path)
                );
            }
            let _ = writeln!(s, "boot || goto {on_error}");
        }
        (Method::Wimboot, _) if site.has_wimboot => {
            let _ = writeln!(s, "kernel {}/ipxe/wimboot || goto {on_error}", site.base);
            for path in &recipe.initrds {
                let file = path.rsplit('/').next().unwrap_or(path);
                let _ = writeln!(
                    s,
                    "initrd --name {} {} || goto {on_error}",
                    safe_name(file),
                    file_url(site, &image_url, path)
                );
            }
            let _ = writeln!(s, "boot || goto {on_error}");
        }
        (Method::Wimboot, _) => {
            s.push_str(
                "echo wimboot is not installed (put it in data/bootloaders/); trying sanboot\n",
            );
            s.push_str(&sanboot);
        }
        (Method::Memdisk, _) if site.has_memdisk => {
            let _ = writeln!(
                s,
                "kernel {}/ipxe/memdisk iso raw || goto {on_error}",
                site.base
            );
            let _ = writeln!(s, "initrd {iso_url} || goto {on_error}");
            let _ = writeln!(s, "boot || goto {on_error}");
        }
        (Method::Memdisk, _) => {
            s.push_str("echo memdisk is not installed (tools/fetch-ipxe.sh); trying sanboot\n");
            s.push_str(&sanboot);
        }
        _ => s.push_str(&sanboot),
    }
    s
}

/// The URL of a recipe's kernel or initrd: a path inside the ISO, or, with a leading `/`, a
/// path on this server (a fetched netboot tree, see [`crate::netboot`]).
fn file_url(site: &Site, image_url: &str, path: &str) -> String {
    match path.strip_prefix('/') {
        Some(served) => format!("{}/{}", site.base, url_path(served)),
        None => format!("{image_url}/{}", url_path(path)),
    }
}

/// A whole script booting one image (an assignment).
pub fn image_script(image: &Image, site: &Site, mac: Mac) -> String {
    let mut s = String::from("#!ipxe\n");
    s.push_str(&boot_lines(image, site, Some(mac), "failed"));
    s.push_str(
        ":failed\necho fleetboot: boot failed; back to firmware in 10 s\nsleep 10\nexit 1\n",
    );
    s
}

/// The script of a machine that boots its local disk: iPXE returns to the firmware, which
/// tries the next boot device (the menu's "local disk" does the same).
pub fn local_disk() -> String {
    "#!ipxe\necho fleetboot: booting from local disk\nexit 1\n".to_owned()
}

/// The menu: one submenu per folder, images tagged with their method, then local disk,
/// iPXE shell and reboot. Images are numbered by position in `images`.
pub fn menu(images: &[Image], site: &Site, settings: &MenuSettings) -> String {
    let mut groups: BTreeMap<&[String], Vec<usize>> = BTreeMap::new();
    for (n, image) in images.iter().enumerate() {
        groups.entry(&image.group).or_default().push(n);
        // Every ancestor folder exists as a menu even when it holds no image of its own.
        for depth in 0..image.group.len() {
            groups.entry(&image.group[..depth]).or_default();
        }
    }
    let group_ids: BTreeMap<&[String], usize> =
        groups.keys().enumerate().map(|(i, g)| (*g, i)).collect();
    let default = settings
        .default
        .as_deref()
        .and_then(|id| images.iter().position(|i| i.id == id));
    let mut s = String::from("#!ipxe\n");
    let _ = writeln!(s, "goto {}", label("menu", 0));
    for (group, members) in &groups {
        let gid = group_ids[group];
        let _ = writeln!(s, ":{}", label("menu", gid));
        let title = if group.is_empty() {
            settings.title.clone()
        } else {
            format!("{} > {}", settings.title, group.join(" > "))
        };
        let _ = writeln!(s, "menu {}", quote(&title));
        if let Some(parent) = group.len().checked_sub(1).map(|d| &group[..d]) {
            let _ = writeln!(
                s,
                "item {} {}",
                label("menu", group_ids[parent]),
                quote("< back")
            );
        }
        let children = groups
            .keys()
            .filter(|g| g.len() == group.len() + 1 && g.starts_with(group));
        for child in children {
            let name = format!("{}/", child[child.len() - 1]);
            let _ = writeln!(
                s,
                "item {} {}",
                label("menu", group_ids[child]),
                quote(&name)
            );
        }
        if group.is_empty() {
            if let Some(d) = default.filter(|d| !images[*d].group.is_empty()) {
                let text = format!("Default: {}", item_text(&images[d]));
                let _ = writeln!(s, "item {} {}", label("img", d), quote(&text));
            }
        }
        for n in members {
            let _ = writeln!(
                s,
                "item {} {}",
                label("img", *n),
                quote(&item_text(&images[*n]))
            );
        }
        if group.is_empty() {
            s.push_str("item --gap --\n");
            s.push_str("item local \"Boot from local disk\"\n");
            s.push_str("item shell \"iPXE shell\"\n");
            s.push_str("item reboot Reboot\n");
            let chosen = default.map_or("local".to_owned(), |d| label("img", d));
            let timeout = settings.timeout.as_millis();
            if timeout > 0 {
                let _ = writeln!(
                    s,
                    "choose --timeout {timeout} --default {chosen} target || goto local"
                );
            } else {
                let _ = writeln!(s, "choose --default {chosen} target || goto local");
            }
        } else {
            let _ = writeln!(s, "choose target || goto {}", label("menu", 0));
        }
        s.push_str("goto ${target}\n");
    }
    s.push_str(":local\necho Booting from local disk\nexit 1\n");
    s.push_str(":shell\necho Type exit to return to the menu\nshell\ngoto menu0\n");
    s.push_str(":reboot\nreboot\n");
    for (n, image) in images.iter().enumerate() {
        let _ = writeln!(s, ":{}", label("img", n));
        s.push_str(&boot_lines(image, site, None, "failed"));
    }
    s.push_str(":failed\necho Boot failed; back to the menu in 10 s\nsleep 10\ngoto menu0\n");
    s
}

fn display_name(image: &Image) -> String {
    let file = image.path.rsplit('/').next().unwrap_or(&image.path);
    match &image.recipe {
        Some(r) if !r.distro.is_empty() => format!("{} ({file})", r.distro),
        _ => file.to_owned(),
    }
}

fn item_text(image: &Image) -> String {
    let method = match image.recipe.as_ref().map(|r| r.method) {
        Some(Method::Kernel) => "kernel",
        Some(Method::Wimboot) => "wimboot",
        Some(Method::Memdisk) => "memdisk",
        Some(Method::NeedsNetboot) => "netboot",
        Some(Method::Sanboot) | None => "sanboot",
    };
    format!("{} [{method}]", display_name(image))
}

/// Names for the initrds (iPXE image names, and `initrd=` arguments): the file names,
/// made unique and safe.
fn initrd_names(paths: &[String]) -> Vec<String> {
    let mut names: Vec<String> = Vec::with_capacity(paths.len());
    for (i, path) in paths.iter().enumerate() {
        let base = safe_name(path.rsplit('/').next().unwrap_or(path));
        let name = if names.contains(&base) {
            format!("{i}-{base}")
        } else {
            base
        };
        names.push(name);
    }
    names
}

fn safe_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if cleaned.is_empty() {
        "initrd".into()
    } else {
        cleaned
    }
}

/// The renderer's command-line variables (see [`crate::distro`]).
struct Vars<'a> {
    site: &'a Site,
    image: &'a Image,
    image_url: &'a str,
    iso_url: &'a str,
    mac: &'a str,
    initrd_names: &'a str,
}

impl Vars<'_> {
    fn fill(&self, template: &str) -> String {
        let server = self
            .site
            .base
            .strip_prefix("http://")
            .unwrap_or(&self.site.base);
        let volume_id = self
            .image
            .index
            .as_ref()
            .map(|i| i.volume_id.as_str())
            .unwrap_or_default();
        let kernel_name = self
            .image
            .recipe
            .as_ref()
            .and_then(|r: &BootRecipe| r.kernel.as_deref())
            .and_then(|k| k.rsplit('/').next())
            .unwrap_or_default();
        template
            .replace("{server}", server)
            .replace("{image_url}", self.image_url)
            .replace("{iso_url}", self.iso_url)
            .replace("{mac}", self.mac)
            .replace("{volume_id}", &url_path(volume_id))
            .replace("{kernel_name}", kernel_name)
            .replace("{initrd_names}", self.initrd_names)
    }
}

#[cfg(test)]
#[path = "script_tests.rs"]
mod tests;
