//! The install families (`families.toml`): which layouts take which kind of unattended-install
//! file, the files a template of that family holds, and the kernel parameters or extra
//! wimboot files that hand them to the installer.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::distro::glob;

/// One family.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Family {
    /// `nocloud`, `preseed`, `kickstart`, `autoyast`, `agama`, `ignition`, `windows`.
    pub id: String,
    /// For people.
    pub name: String,
    /// Layout ids (globs) whose installers read this family's files.
    pub layouts: Vec<String>,
    /// The files a template of this family holds.
    pub files: Vec<String>,
    /// Kernel parameters; `{url}` is the client's template URL.
    pub args: String,
    /// Files handed to wimboot as extra initrds.
    #[serde(default)]
    pub initrds: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FamilyFile {
    family: Vec<Family>,
}

/// Every family, from the built-in table.
pub fn all() -> &'static [Family] {
    static TABLE: std::sync::OnceLock<Vec<Family>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let file: FamilyFile = toml::from_str(include_str!("families.toml"))
            .expect("the built-in families table parses (checked by a test)");
        file.family
    })
}

/// The family `id`.
pub fn by_id(id: &str) -> Option<&'static Family> {
    all().iter().find(|f| f.id == id)
}

/// The family whose installers boot from `layout`.
pub fn for_layout(layout: &str) -> Option<&'static Family> {
    all()
        .iter()
        .find(|f| f.layouts.iter().any(|g| glob::segment_matches(g, layout)))
}

impl Family {
    /// The kernel parameters for a client whose templates are at `url`.
    pub fn args_for(&self, url: &str) -> String {
        self.args.replace("{url}", url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_parses_and_names_known_layouts_only() {
        let ids: Vec<&str> = all().iter().map(|f| f.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "nocloud",
                "preseed",
                "kickstart",
                "autoyast",
                "agama",
                "ignition",
                "windows"
            ]
        );
        let table = crate::distro::Layouts::builtin();
        let layouts = table.ids();
        for f in all() {
            assert!(!f.files.is_empty(), "{}", f.id);
            for g in &f.layouts {
                assert!(
                    layouts.iter().any(|l| glob::segment_matches(g, l)),
                    "{}: {g} names no layout",
                    f.id
                );
            }
        }
    }

    #[test]
    fn layouts_map_to_their_family_and_args_name_the_url() {
        assert_eq!(for_layout("ubuntu-desktop").unwrap().id, "nocloud");
        assert_eq!(for_layout("debian-installer").unwrap().id, "preseed");
        assert_eq!(for_layout("rocky-minimal").unwrap().id, "kickstart");
        assert_eq!(for_layout("arch"), None);
        assert_eq!(
            by_id("kickstart").unwrap().args_for("http://h/t/x"),
            "inst.ks=http://h/t/x/ks.cfg"
        );
    }
}
