//! The boot policy: which iPXE script `/boot.ipxe` returns to which client. The control plane
//! renders every script (menu, per-client assignments) and publishes them in the catalog; the
//! data plane only picks one by MAC, so a request costs a hash lookup.
//!
//! A next-boot-once assignment is used up right here, where its script is chosen: it carries a
//! [`OnceToken`] that the first request marks, so exactly one request ever gets it, whatever the
//! core count, and later ones get what the client would get without it (its permanent
//! assignment, else the menu). The control plane reads the mark from the token rather than
//! from the lossy event channel.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::install::Installs;
use crate::mac::Mac;

/// Stands in a published script for `host:port` of this server as the client reached it
/// (`/boot.ipxe`'s Host, else the connection's local address), filled in per request: one
/// catalog serves every interface of a multi-homed server.
pub const SERVER_TOKEN: &str = "@fleetboot-server@";

/// The scripts on offer, by client.
#[derive(Debug, Clone, Default)]
pub struct BootPolicy {
    menu: String,
    clients: HashMap<Mac, Assigned>,
    installs: Installs,
}

/// What one client gets instead of the menu.
#[derive(Debug, Clone, Default)]
struct Assigned {
    permanent: Option<ClientScript>,
    once: Option<(ClientScript, OnceToken)>,
    /// A menu of its own (only the images it may boot), instead of everyone's.
    menu: Option<String>,
}

/// The script one client gets instead of the menu.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientScript {
    /// The whole iPXE script.
    pub script: String,
    /// The image it boots.
    pub image: String,
}

/// Whether a next-boot-once assignment was served. Clones share the mark: the control plane
/// gives every policy it builds the same token until it has recorded the use, so neither a
/// second core nor a republished catalog can serve the assignment again.
#[derive(Debug, Clone, Default)]
pub struct OnceToken(Arc<AtomicBool>);

impl OnceToken {
    /// A token not used yet.
    pub fn new() -> OnceToken {
        OnceToken::default()
    }

    /// Whether a request got the assignment.
    pub fn is_used(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    /// Marks the token used; true only for the one caller that did so first.
    fn take(&self) -> bool {
        !self.0.swap(true, Ordering::AcqRel)
    }
}

/// Who asks for a script, as far as the server can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asker {
    /// No MAC in the query: iPXE's first request.
    Unnamed,
    /// A MAC the server could not confirm: treated like a machine without an assignment.
    Unconfirmed,
    /// This machine.
    Machine(Mac),
}

/// Whether serving a once-assignment's script uses it up (`HEAD` only looks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// A `GET`: the client boots what it gets.
    Consume,
    /// A `HEAD`: nothing is booted.
    Peek,
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
            installs: Installs::default(),
        }
    }

    /// Serves `files` (name, rendered content) of the client `mac` at `/t/<token>/<name>` and
    /// accepts its install callbacks at `/t/<token>/done` and `/t/<token>/progress`. `token`
    /// is the client's secret (one path segment, unguessable); names are normalised relative
    /// paths. `@fleetboot-server@` ([`SERVER_TOKEN`]) in a file becomes the host the client
    /// reached, as in scripts. A second call for the same token replaces the files.
    pub fn install(&mut self, token: String, mac: Mac, files: Vec<(String, String)>) {
        self.installs.insert(token, mac, files);
    }

    /// The clients being installed, by token.
    pub fn installs(&self) -> &Installs {
        &self.installs
    }

    /// Gives `mac` its own script, every boot.
    pub fn assign(&mut self, mac: Mac, script: ClientScript) {
        self.clients.entry(mac).or_default().permanent = Some(script);
    }

    /// Gives `mac` a menu of its own, served when it has no assignment to boot.
    pub fn menu_for(&mut self, mac: Mac, menu: String) {
        self.clients.entry(mac).or_default().menu = Some(menu);
    }

    /// Gives `mac` `script` for the one boot that uses `token` first (before its permanent
    /// assignment).
    pub fn assign_once(&mut self, mac: Mac, script: ClientScript, token: OnceToken) {
        self.clients.entry(mac).or_default().once = Some((script, token));
    }

    /// The script for `asker`, asking at `url` (this script's own absolute URL,
    /// `http://host:port/boot.ipxe`, or `None` when the request did not say).
    pub fn script_for(
        &self,
        asker: Asker,
        url: Option<&str>,
        usage: Use,
    ) -> (Cow<'_, str>, ScriptServed) {
        // Older iPXE (Debian's 2019 build) cannot chain a relative URI and leaves `${cwuri}`
        // empty: scripts that come back here use the absolute URL, else the DHCP filename.
        let own = url.unwrap_or("${filename}");
        let assigned = match asker {
            Asker::Unnamed => return (Cow::Owned(chain_script(own)), ScriptServed::Chain),
            Asker::Unconfirmed => None,
            Asker::Machine(mac) => self.clients.get(&mac),
        };
        let once = assigned
            .and_then(|a| a.once.as_ref())
            .filter(|(_, token)| match usage {
                Use::Consume => token.take(),
                Use::Peek => !token.is_used(),
            })
            .map(|(script, _)| (script, true));
        let chosen = once.or_else(|| Some((assigned?.permanent.as_ref()?, false)));
        match chosen {
            Some((c, once)) => (
                Cow::Borrowed(&c.script),
                ScriptServed::Image {
                    id: c.image.clone(),
                    once,
                },
            ),
            None if assigned.is_some_and(|a| a.menu.is_some()) => {
                let menu = assigned.and_then(|a| a.menu.as_deref()).unwrap_or_default();
                (Cow::Borrowed(menu), ScriptServed::Menu)
            }
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

    fn script(body: &str, image: &str) -> ClientScript {
        ClientScript {
            script: body.into(),
            image: image.into(),
        }
    }

    fn image(id: &str, once: bool) -> ScriptServed {
        ScriptServed::Image {
            id: id.into(),
            once,
        }
    }

    #[test]
    fn a_client_with_a_menu_of_its_own_gets_it_until_assigned() {
        let mut policy = BootPolicy::new("#!ipxe\nmenu\n".into());
        let mac: Mac = "52:54:00:00:00:01".parse().unwrap();
        policy.menu_for(mac, "#!ipxe\nsome\n".into());
        let url = Some("http://10.0.0.2:8080/boot.ipxe");
        let (s, served) = policy.script_for(Asker::Machine(mac), url, Use::Consume);
        assert_eq!((s.as_ref(), served), ("#!ipxe\nsome\n", ScriptServed::Menu));
        // Someone else, and a MAC not confirmed, get everyone's menu.
        let (s, _) = policy.script_for(Asker::Unconfirmed, url, Use::Consume);
        assert_eq!(s, "#!ipxe\nmenu\n");
        policy.assign(mac, script("#!ipxe\nimage\n", "debian"));
        let (s, served) = policy.script_for(Asker::Machine(mac), url, Use::Consume);
        assert_eq!(
            (s.as_ref(), served),
            ("#!ipxe\nimage\n", image("debian", false))
        );
    }

    #[test]
    fn policy_picks_assignment_then_menu_then_chain() {
        let mut policy = BootPolicy::new("#!ipxe\nmenu\n".into());
        let mac: Mac = "52:54:00:00:00:01".parse().unwrap();
        policy.assign(mac, script("#!ipxe\nimage\n", "debian"));
        let url = Some("http://10.0.0.2:8080/boot.ipxe");
        let (s, served) = policy.script_for(Asker::Machine(mac), url, Use::Consume);
        assert_eq!(s, "#!ipxe\nimage\n");
        assert_eq!(served, image("debian", false));
        let other = Asker::Machine("52:54:00:00:00:02".parse().unwrap());
        assert_eq!(
            policy.script_for(other, url, Use::Consume).1,
            ScriptServed::Menu
        );
        // A MAC the server could not confirm gets what a stranger gets.
        let (s, served) = policy.script_for(Asker::Unconfirmed, url, Use::Consume);
        assert_eq!((s.as_ref(), served), ("#!ipxe\nmenu\n", ScriptServed::Menu));
        let (chain, served) = policy.script_for(Asker::Unnamed, url, Use::Consume);
        assert_eq!(served, ScriptServed::Chain);
        assert!(chain.contains(
            "chain --autofree http://10.0.0.2:8080/boot.ipxe?mac=${netX/mac}&uuid=${uuid}&"
        ));
        let (fallback, _) = policy.script_for(Asker::Unnamed, None, Use::Consume);
        assert!(fallback.contains("chain --autofree ${filename}?mac="));
    }

    #[test]
    fn a_once_assignment_is_served_once_across_clones() {
        let mac: Mac = "52:54:00:00:00:01".parse().unwrap();
        let me = Asker::Machine(mac);
        let token = OnceToken::new();
        let mut policy = BootPolicy::new("#!ipxe\nmenu\n".into());
        policy.assign_once(mac, script("#!ipxe\nonce\n", "fedora"), token.clone());
        // HEAD looks without using it up.
        assert_eq!(
            policy.script_for(me, None, Use::Peek).1,
            image("fedora", true)
        );
        assert!(!token.is_used());
        // Every core holds its own clone of the snapshot; the token is shared.
        let cores = [policy.clone(), policy.clone()];
        let (s, served) = cores[0].script_for(me, None, Use::Consume);
        assert_eq!(
            (s.as_ref(), served),
            ("#!ipxe\nonce\n", image("fedora", true))
        );
        assert!(token.is_used());
        assert_eq!(
            cores[1].script_for(me, None, Use::Consume).1,
            ScriptServed::Menu
        );
        assert_eq!(
            cores[0].script_for(me, None, Use::Peek).1,
            ScriptServed::Menu
        );
        // A republish before the control plane recorded the use carries the same token.
        let mut republished = BootPolicy::new("#!ipxe\nmenu\n".into());
        republished.assign_once(mac, script("#!ipxe\nonce\n", "fedora"), token);
        republished.assign(mac, script("#!ipxe\nimage\n", "debian"));
        assert_eq!(
            republished.script_for(me, None, Use::Consume).1,
            image("debian", false)
        );
        // A stranger claiming the MAC spends nothing.
        let fresh = OnceToken::new();
        let mut policy = BootPolicy::new("#!ipxe\nmenu\n".into());
        policy.assign_once(mac, script("#!ipxe\nonce\n", "fedora"), fresh.clone());
        policy.script_for(Asker::Unconfirmed, None, Use::Consume);
        assert!(!fresh.is_used());
    }
}
