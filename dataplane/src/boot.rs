//! The boot policy: which iPXE script `/boot.ipxe` returns to which client. The control plane
//! renders every script (menu, per-client assignments) and publishes them in the catalog; the
//! data plane only picks one by MAC, so a request costs a hash lookup.

use std::borrow::Cow;
use std::collections::HashMap;

use crate::mac::Mac;

/// Stands in a published script for `host:port` of this server as the client reached it
/// (`/boot.ipxe`'s Host, else the connection's local address), filled in per request: one
/// catalog serves every interface of a multi-homed server.
pub const SERVER_TOKEN: &str = "@fleetboot-server@";

/// The scripts on offer, by client.
#[derive(Debug, Clone, Default)]
pub struct BootPolicy {
    menu: String,
    clients: HashMap<Mac, ClientScript>,
}

/// The script one client gets instead of the menu.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientScript {
    /// The whole iPXE script.
    pub script: String,
    /// The image it boots.
    pub image: String,
    /// A next-boot-once assignment: the control plane clears it once served.
    pub once: bool,
}

/// What `/boot.ipxe` served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScriptServed {
    /// The first request, without a MAC: a chain to itself carrying the client's inventory.
    Chain,
    /// The menu.
    Menu,
    /// A client's assigned image.
    Image {
        /// Image id.
        id: String,
        /// It was a next-boot-once assignment.
        once: bool,
    },
}

impl BootPolicy {
    /// A policy serving `menu` to every client not assigned.
    pub fn new(menu: String) -> BootPolicy {
        BootPolicy {
            menu,
            clients: HashMap::new(),
        }
    }

    /// Gives `mac` its own script.
    pub fn assign(&mut self, mac: Mac, script: ClientScript) {
        self.clients.insert(mac, script);
    }

    /// The script for a client that reported `inventory`, asking at `url` (this script's own
    /// absolute URL, `http://host:port/boot.ipxe`, or `None` when the request did not say).
    pub fn script_for(
        &self,
        inventory: &Inventory,
        url: Option<&str>,
    ) -> (Cow<'_, str>, ScriptServed) {
        // Older iPXE (Debian's 2019 build) cannot chain a relative URI and leaves `${cwuri}`
        // empty: scripts that come back here use the absolute URL, else the DHCP filename.
        let own = url.unwrap_or("${filename}");
        let Some(mac) = inventory.mac else {
            return (Cow::Owned(chain_script(own)), ScriptServed::Chain);
        };
        match self.clients.get(&mac) {
            Some(c) => (
                Cow::Borrowed(&c.script),
                ScriptServed::Image {
                    id: c.image.clone(),
                    once: c.once,
                },
            ),
            None if self.menu.is_empty() => (
                Cow::Owned(format!(
                    "#!ipxe\necho fleetboot is starting; retrying in 5 s\nsleep 5\nchain --autofree --replace {own} || exit 1\n"
                )),
                ScriptServed::Menu,
            ),
            None => (Cow::Borrowed(&self.menu), ScriptServed::Menu),
        }
    }
}

/// Re-requests this script with the MAC and inventory iPXE knows. `netX` is the interface
/// iPXE booted from; `uristring` percent-encodes vendors' free text.
fn chain_script(own: &str) -> String {
    format!(
        "#!ipxe\n\
chain --autofree {own}?mac=${{netX/mac}}&uuid=${{uuid}}&arch=${{buildarch}}&platform=${{platform}}\
&manufacturer=${{manufacturer:uristring}}&product=${{product:uristring}}&serial=${{serial:uristring}}\
&asset=${{asset:uristring}}&memsize=${{memsize}} || goto failed\n\
exit\n\
:failed\n\
echo fleetboot: chaining the boot script failed; local boot in 10 s\n\
sleep 10\n\
exit 1\n"
    )
}

/// What a client reports in `/boot.ipxe`'s query. Unknown keys are ignored, repeated keys keep
/// the first value, empty values count as absent (iPXE expands unset settings to "").
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inventory {
    /// `mac`.
    pub mac: Option<Mac>,
    /// `uuid` (SMBIOS system UUID).
    pub uuid: Option<String>,
    /// `arch` (iPXE's build architecture: i386, x86_64, arm64).
    pub arch: Option<String>,
    /// `platform` (pcbios, efi).
    pub platform: Option<String>,
    /// `manufacturer`.
    pub manufacturer: Option<String>,
    /// `product`.
    pub product: Option<String>,
    /// `serial`.
    pub serial: Option<String>,
    /// `asset`.
    pub asset: Option<String>,
    /// `memsize` (MiB).
    pub memsize: Option<String>,
}

/// Longest value kept; vendor strings are short, anything longer is noise or abuse.
const MAX_VALUE: usize = 128;

impl Inventory {
    /// Parses a query string (`a=b&c=d`, percent-encoded). `+` stays `+`: iPXE's `uristring`
    /// leaves it unescaped in vendor strings ("i440FX + PIIX").
    pub fn from_query(query: &[u8]) -> Inventory {
        let mut inv = Inventory::default();
        for pair in query.split(|b| *b == b'&') {
            let mut kv = pair.splitn(2, |b| *b == b'=');
            let (Some(key), Some(value)) = (kv.next(), kv.next()) else {
                continue;
            };
            let value = decode_component(value);
            if value.is_empty() {
                continue;
            }
            let slot = match key {
                b"mac" => {
                    inv.mac = inv.mac.or_else(|| value.parse().ok());
                    continue;
                }
                b"uuid" => &mut inv.uuid,
                b"arch" => &mut inv.arch,
                b"platform" => &mut inv.platform,
                b"manufacturer" => &mut inv.manufacturer,
                b"product" => &mut inv.product,
                b"serial" => &mut inv.serial,
                b"asset" => &mut inv.asset,
                b"memsize" => &mut inv.memsize,
                _ => continue,
            };
            slot.get_or_insert(value);
        }
        inv
    }
}

/// Percent-decodes one query component into printable text: bad escapes stay literal,
/// control characters are dropped, the length is capped.
fn decode_component(raw: &[u8]) -> String {
    let mut out = Vec::with_capacity(raw.len().min(MAX_VALUE));
    let mut i = 0;
    while i < raw.len() && out.len() < MAX_VALUE {
        let byte = match raw[i] {
            b'%' => match raw.get(i + 1..i + 3).and_then(|h| {
                std::str::from_utf8(h)
                    .ok()
                    .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
            }) {
                Some(b) => {
                    i += 2;
                    b
                }
                None => b'%',
            },
            b => b,
        };
        i += 1;
        if !byte.is_ascii_control() {
            out.push(byte);
        }
    }
    String::from_utf8_lossy(&out).trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parses_into_inventory() {
        let q = b"mac=52%3a54%3a00%3a12%3a34%3a56&uuid=0f1e&arch=x86_64&platform=pcbios\
&manufacturer=QEMU%20Corp&product=i440FX%20+%20PIIX&serial=&asset=%zz&memsize=512&mac=00:00:00:00:00:01";
        let inv = Inventory::from_query(q);
        assert_eq!(inv.mac, Some("52:54:00:12:34:56".parse().unwrap()));
        assert_eq!(inv.manufacturer.as_deref(), Some("QEMU Corp"));
        assert_eq!(inv.product.as_deref(), Some("i440FX + PIIX"));
        assert_eq!(inv.serial, None);
        assert_eq!(inv.asset.as_deref(), Some("%zz"));
        assert_eq!(inv.memsize.as_deref(), Some("512"));
    }

    #[test]
    fn hostile_values_are_tamed() {
        let long = "A".repeat(10_000);
        let q = format!("product=a%0d%0aInjected%00&serial={long}&mac=not-a-mac");
        let inv = Inventory::from_query(q.as_bytes());
        assert_eq!(inv.product.as_deref(), Some("aInjected"));
        assert_eq!(inv.serial.map(|s| s.len()), Some(MAX_VALUE));
        assert_eq!(inv.mac, None);
    }

    #[test]
    fn policy_picks_assignment_then_menu_then_chain() {
        let mut policy = BootPolicy::new("#!ipxe\nmenu\n".into());
        let mac: Mac = "52:54:00:00:00:01".parse().unwrap();
        policy.assign(
            mac,
            ClientScript {
                script: "#!ipxe\nimage\n".into(),
                image: "debian".into(),
                once: true,
            },
        );
        let with = |m: Option<Mac>| Inventory {
            mac: m,
            ..Inventory::default()
        };
        let url = Some("http://10.0.0.2:8080/boot.ipxe");
        let (s, served) = policy.script_for(&with(Some(mac)), url);
        assert_eq!(s, "#!ipxe\nimage\n");
        assert_eq!(
            served,
            ScriptServed::Image {
                id: "debian".into(),
                once: true
            }
        );
        let other = "52:54:00:00:00:02".parse().ok();
        assert_eq!(policy.script_for(&with(other), url).1, ScriptServed::Menu);
        let (chain, served) = policy.script_for(&with(None), url);
        assert_eq!(served, ScriptServed::Chain);
        assert!(chain.contains(
            "chain --autofree http://10.0.0.2:8080/boot.ipxe?mac=${netX/mac}&uuid=${uuid}&"
        ));
        let (fallback, _) = policy.script_for(&with(None), None);
        assert!(fallback.contains("chain --autofree ${filename}?mac="));
    }
}
