//! Client records: every machine seen (by proxyDHCP or `/boot.ipxe`) with what it told us,
//! and its assignment. Records are created on first sight and updated from boot events; the
//! assignments (permanent, and next-boot-once) are set by the `clients` commands.

pub mod once;
pub mod table;

use dataplane::{BootEvent, Detail, Mac, ScriptServed};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use table::Source;

/// One machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Client {
    /// Hardware address.
    #[serde(with = "mac_text")]
    #[schema(value_type = String, example = "52:54:00:12:34:56")]
    pub mac: Mac,
    /// The operator's name for it.
    #[serde(default)]
    pub name: Option<String>,
    /// The operator's notes.
    #[serde(default)]
    pub notes: Option<String>,
    /// Images it may be assigned; empty: any.
    #[serde(default)]
    pub allowed_images: Vec<String>,
    /// Appended to the kernel command line of whatever it boots.
    #[serde(default)]
    pub extra_args: Option<String>,
    /// Its own unattended-install template (over its group's and its image's).
    #[serde(default)]
    pub template: Option<String>,
    /// The group it belongs to (template and metadata).
    #[serde(default)]
    pub group: Option<String>,
    /// Free key/value for its templates (over its group's).
    #[serde(default)]
    pub metadata: std::collections::BTreeMap<String, String>,
    /// Its last unattended install.
    #[serde(default)]
    pub install: Option<Install>,
    /// Boots its local disk (set when an install reports done; an assignment clears it).
    #[serde(default)]
    pub local_boot: bool,
    /// First seen, seconds since the epoch.
    pub first_seen: u64,
    /// Last seen, seconds since the epoch.
    pub last_seen: u64,
    /// Last address it used, when known.
    pub ip: Option<String>,
    /// Firmware from DHCP option 93 (`bios`, `efi-x64`, …).
    pub arch: Option<String>,
    /// DHCP option 60.
    pub vendor_class: Option<String>,
    /// SMBIOS UUID (from iPXE) or DHCP option 97.
    pub uuid: Option<String>,
    /// iPXE platform (`pcbios`, `efi`).
    pub platform: Option<String>,
    /// SMBIOS manufacturer.
    pub manufacturer: Option<String>,
    /// SMBIOS product.
    pub product: Option<String>,
    /// SMBIOS serial.
    pub serial: Option<String>,
    /// SMBIOS asset tag.
    pub asset: Option<String>,
    /// Memory, MiB.
    pub memsize: Option<String>,
    /// Image id it boots instead of the menu.
    pub assigned: Option<String>,
    /// Image id it boots next time only (before `assigned`); cleared once served.
    pub next_boot: Option<String>,
    /// What `/boot.ipxe` last gave it: `menu` or an image id.
    pub last_boot: Option<String>,
    /// Where it was first seen: the budget it counts against while unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub seen_via: Option<Source>,
}

/// Where an unattended install is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum InstallState {
    /// Its boot script was served; no word of the end yet.
    Running,
    /// The installer reported done.
    Done,
    /// No report within the install timeout.
    Failed,
}

/// A machine's last unattended install.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Install {
    /// The image installed.
    pub image: String,
    /// The template used.
    pub template: String,
    /// Where it is.
    pub state: InstallState,
    /// When its boot script was served, seconds since the epoch.
    pub started: u64,
    /// When it ended.
    pub finished: Option<u64>,
    /// The installer's last progress message.
    pub progress: Option<String>,
}

impl Client {
    /// A record for a machine seen now for the first time.
    pub fn new(mac: Mac, now: u64) -> Client {
        Client {
            mac,
            name: None,
            notes: None,
            allowed_images: Vec::new(),
            extra_args: None,
            template: None,
            group: None,
            metadata: std::collections::BTreeMap::new(),
            install: None,
            local_boot: false,
            first_seen: now,
            last_seen: now,
            ip: None,
            arch: None,
            vendor_class: None,
            uuid: None,
            platform: None,
            manufacturer: None,
            product: None,
            serial: None,
            asset: None,
            memsize: None,
            assigned: None,
            next_boot: None,
            last_boot: None,
            seen_via: None,
        }
    }

    /// Its disk now holds its system (an install or a deploy reported done): it boots the
    /// disk from its next boot on, until it is assigned an image again.
    pub fn boots_its_disk(&mut self) {
        self.assigned = None;
        self.next_boot = None;
        self.local_boot = true;
    }
}

/// The MAC an event is about, if it names one. A `/boot.ipxe` request whose MAC was not
/// believed is about the machine the neighbour table saw, if any, never the claimed one.
pub fn mac_of(event: &BootEvent) -> Option<Mac> {
    match &event.detail {
        Detail::Dhcp(d) => Some(d.mac),
        Detail::BootScript(b) => b.inventory.mac.or(b.refused.and_then(|r| r.seen)),
        Detail::Install(r) => Some(r.mac),
        Detail::Transfer => None,
    }
}

/// Applies `event` to `client`'s record. A used next-boot-once is not cleared here: events
/// can be lost, so the coordinator learns of it from the assignment's token.
pub fn apply(client: &mut Client, event: &BootEvent, now: u64) {
    client.last_seen = now;
    // A relay's address is not the client's.
    if let Source::Host(ip) = Source::of(event) {
        if !ip.is_unspecified() {
            client.ip = Some(ip.to_string());
        }
    }
    match &event.detail {
        Detail::Transfer | Detail::Install(_) => {}
        Detail::Dhcp(d) => {
            // iPXE reports its own build, not the firmware; keep the firmware's word.
            if !d.ipxe || client.arch.is_none() {
                client.arch = Some(d.firmware.clone());
            }
            client.vendor_class = Some(d.vendor_class.clone());
            if client.uuid.is_none() {
                client.uuid.clone_from(&d.guid);
            }
        }
        Detail::BootScript(b) => {
            let inv = &b.inventory;
            let update = |slot: &mut Option<String>, value: &Option<String>| {
                if value.is_some() {
                    slot.clone_from(value);
                }
            };
            update(&mut client.uuid, &inv.uuid);
            update(&mut client.platform, &inv.platform);
            update(&mut client.manufacturer, &inv.manufacturer);
            update(&mut client.product, &inv.product);
            update(&mut client.serial, &inv.serial);
            update(&mut client.asset, &inv.asset);
            update(&mut client.memsize, &inv.memsize);
            match &b.served {
                ScriptServed::Chain => {}
                ScriptServed::Menu => client.last_boot = Some("menu".into()),
                ScriptServed::Image { id, .. } => client.last_boot = Some(id.clone()),
            }
        }
    }
}

/// Serde as `52:54:00:12:34:56`.
pub(crate) mod mac_text {
    use dataplane::Mac;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(mac: &Mac, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(mac)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Mac, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Events as the data plane reports them, for the client table's and the coordinator's tests.
#[cfg(test)]
pub(crate) mod tests_support {
    use std::time::Duration;

    use dataplane::{BootEvent, Detail, DhcpSeen, Mac, Outcome, Protocol};

    /// A BIOS PXE DISCOVER from `mac`, received from `from` (IP:port).
    pub(crate) fn dhcp(mac: Mac, from: &str) -> BootEvent {
        BootEvent {
            protocol: Protocol::Dhcp,
            client: from.parse().unwrap(),
            object: String::new(),
            bytes: 0,
            duration: Duration::ZERO,
            outcome: Outcome::Complete,
            detail: Detail::Dhcp(DhcpSeen {
                mac,
                firmware: "bios".into(),
                vendor_class: "PXEClient".into(),
                xid: 1,
                ipxe: false,
                guid: None,
                port: 67,
            }),
        }
    }
}
