//! The boot policy the data plane serves at `/boot.ipxe`: the menu for everyone, and a script
//! of its own for each client with an assignment. Rebuilt whenever images or assignments
//! change.

pub mod ipxe;
pub mod script;

use dataplane::{BootPolicy, ClientScript};

use crate::clients::Client;
use crate::images::Image;
pub use script::{MenuSettings, Site};

/// Builds the policy. Assignments naming an image that no longer exists fall back to the
/// menu (and are logged), rather than leaving a machine unable to boot.
pub fn policy<'a>(
    images: &[Image],
    clients: impl IntoIterator<Item = &'a Client>,
    site: &Site,
    menu: &MenuSettings,
) -> BootPolicy {
    let mut policy = BootPolicy::new(script::menu(images, site, menu));
    for client in clients {
        // The next-boot-once image comes before the permanent assignment.
        let wanted = [(&client.next_boot, true), (&client.assigned, false)];
        let Some((id, once)) = wanted
            .into_iter()
            .find_map(|(id, once)| id.as_ref().map(|id| (id, once)))
        else {
            continue;
        };
        let Some(image) = images.iter().find(|i| &i.id == id) else {
            tracing::warn!(mac = %client.mac, image = %id, "assigned image not found; client gets the menu");
            continue;
        };
        policy.assign(
            client.mac,
            ClientScript {
                script: script::image_script(image, site, client.mac),
                image: id.clone(),
                once,
            },
        );
    }
    policy
}
