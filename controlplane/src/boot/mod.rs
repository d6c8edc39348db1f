//! The boot policy the data plane serves at `/boot.ipxe`: the menu for everyone, and a script
//! of its own for each client with an assignment. Rebuilt whenever images or assignments
//! change.

pub mod ipxe;
pub mod script;

use dataplane::{BootPolicy, ClientScript, Mac, OnceToken};

use crate::clients::Client;
use crate::images::Image;
pub use script::{MenuSettings, Site};

/// What an unattended install adds to a client's boot of an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extra {
    /// Kernel parameters (they point the installer at its files).
    pub args: String,
    /// Server paths handed to wimboot besides the image's own files.
    pub initrds: Vec<String>,
}

/// The id reported when a client is sent to its local disk.
pub const LOCAL: &str = "local";

/// Builds the policy: the menu lists `public`, assignments may name any of `images`;
/// `once_token` gives each next-boot-once assignment (mac, image) its token. Assignments
/// naming an image that no longer exists fall back to the menu (and are logged), rather than
/// leaving a machine unable to boot. `extra` adds a client's unattended install to the boot
/// of an image; a client whose install is done boots its disk. A client's extra kernel
/// arguments follow its assignments; a client with allowed images gets a menu of those alone (hidden ones too:
/// they were allowed by name).
pub fn policy<'a>(
    images: &[Image],
    public: &[Image],
    clients: impl IntoIterator<Item = &'a Client>,
    site: &Site,
    menu: &MenuSettings,
    mut once_token: impl FnMut(Mac, &str) -> OnceToken,
    mut extra: impl FnMut(&Client, &Image) -> Option<Extra>,
) -> BootPolicy {
    let mut policy = BootPolicy::new(script::menu(public, site, menu));
    for client in clients {
        // An install reported done: the disk now holds the system, until reassigned.
        if client.local_boot {
            policy.assign(
                client.mac,
                ClientScript {
                    script: script::local_disk(),
                    image: LOCAL.into(),
                },
            );
            continue;
        }
        let mut script = |id: &String| {
            let Some(image) = images.iter().find(|i| &i.id == id) else {
                tracing::warn!(mac = %client.mac, image = %id, "assigned image not found; client gets the menu");
                return None;
            };
            let mut image = image.clone();
            let install = extra(client, &image);
            if let Some(recipe) = image.recipe.as_mut() {
                let args = [
                    install.as_ref().map(|i| i.args.as_str()),
                    client.extra_args.as_deref(),
                ];
                for a in args.into_iter().flatten().filter(|a| !a.is_empty()) {
                    recipe.cmdline = format!("{} {a}", recipe.cmdline).trim().to_owned();
                }
                if let Some(i) = install {
                    recipe.initrds.extend(i.initrds);
                }
            }
            Some(ClientScript {
                script: script::image_script(&image, site, client.mac),
                image: id.clone(),
            })
        };
        // The next-boot-once image comes before the permanent assignment, which it falls back
        // to once used.
        if let Some(s) = client.next_boot.as_ref().and_then(&mut script) {
            let token = once_token(client.mac, &s.image);
            policy.assign_once(client.mac, s, token);
        }
        if let Some(s) = client.assigned.as_ref().and_then(&mut script) {
            policy.assign(client.mac, s);
        }
        // A machine limited to some images sees only those in its menu.
        if !client.allowed_images.is_empty() {
            let allowed: Vec<Image> = images
                .iter()
                .filter(|i| client.allowed_images.contains(&i.id))
                .cloned()
                .collect();
            policy.menu_for(client.mac, script::menu(&allowed, site, menu));
        }
    }
    policy
}
