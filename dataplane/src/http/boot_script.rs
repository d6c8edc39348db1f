//! `/boot.ipxe`: a generated object the data plane serves (with the install files of
//! [`super::install`], which share its naming of the server). The script comes from the
//! catalog's boot policy; the client's query becomes an inventory report for the control plane.

use std::net::SocketAddr;

use super::mac_check::Requester;
use crate::boot::{BootPolicy, Inventory, Use, SERVER_TOKEN};
use crate::events::{BootScriptSeen, Detail};

/// The path (normalised, no leading slash).
pub const PATH: &str = "boot.ipxe";

/// The script for the client that sent `query` with `host` (the `Host` header) over a
/// connection from `requester` to `local`, and what it told us. The address in its URLs is
/// the one the client reached us at: `host` when it is a plain `host[:port]`, else the
/// connection's local address. A MAC that is not believed is moved from the inventory to the
/// refusal, so nothing is recorded under it.
pub fn respond(
    policy: &BootPolicy,
    query: &[u8],
    host: Option<&[u8]>,
    local: Option<SocketAddr>,
    requester: &Requester,
    usage: Use,
) -> (String, Detail) {
    let mut inventory = Inventory::from_query(query);
    let server = server_name(host, local);
    let url = server.as_ref().map(|s| format!("http://{s}/{PATH}"));
    let (asker, refused) = requester.asker(inventory.mac);
    if refused.is_some() {
        inventory.mac = None;
    }
    let (script, served) = policy.script_for(asker, url.as_deref(), usage);
    let script = fill_server(&script, server.as_deref());
    let seen = BootScriptSeen {
        inventory,
        served,
        refused,
    };
    (script, Detail::BootScript(Box::new(seen)))
}

/// `host:port` of this server as the client reached it: `host` (the `Host` header) when it
/// is a plain `host[:port]`, else the connection's local address.
pub(crate) fn server_name(host: Option<&[u8]>, local: Option<SocketAddr>) -> Option<String> {
    host.and_then(plain_host)
        .or_else(|| local.map(|a| a.to_string()))
}

/// `text` with every [`SERVER_TOKEN`] replaced by `server`; unchanged when the server is
/// not known.
pub(crate) fn fill_server(text: &str, server: Option<&str>) -> String {
    match server {
        Some(s) if text.contains(SERVER_TOKEN) => text.replace(SERVER_TOKEN, s),
        _ => text.to_owned(),
    }
}

/// `host` when it is a plain `host[:port]` (it goes into a script, so nothing that iPXE would
/// expand or split is let through).
fn plain_host(host: &[u8]) -> Option<String> {
    let plain = !host.is_empty()
        && host.len() <= 255
        && host
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    plain.then(|| String::from_utf8_lossy(host).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_hosts_are_used() {
        assert_eq!(
            plain_host(b"10.0.0.2:8080").as_deref(),
            Some("10.0.0.2:8080")
        );
        assert_eq!(
            plain_host(b"[fd00::2]:8080").as_deref(),
            Some("[fd00::2]:8080")
        );
        for bad in [&b""[..], b"a b", b"${evil}", b"x\ny", b"h/p"] {
            assert_eq!(plain_host(bad), None);
        }
    }

    #[test]
    fn scripts_name_the_address_the_client_reached() {
        let menu = format!("#!ipxe\nkernel http://{SERVER_TOKEN}/k url=http://{SERVER_TOKEN}/i\n");
        let policy = BootPolicy::new(menu);
        let local: SocketAddr = "192.168.50.1:8080".parse().unwrap();
        let requester = Requester {
            peer: [192, 168, 50, 7].into(),
            check: super::super::mac_check::MacCheck::Off,
        };
        let respond = |query: &[u8], host: Option<&[u8]>, local| {
            respond(&policy, query, host, local, &requester, Use::Peek)
        };
        let (script, _) = respond(b"mac=52:54:00:00:00:09", Some(b"10.0.0.2:81"), Some(local));
        assert_eq!(
            script,
            "#!ipxe\nkernel http://10.0.0.2:81/k url=http://10.0.0.2:81/i\n"
        );
        // No usable Host header: the address the connection came in on.
        let (script, _) = respond(b"mac=52:54:00:00:00:09", Some(b"${x}"), Some(local));
        assert_eq!(
            script,
            "#!ipxe\nkernel http://192.168.50.1:8080/k url=http://192.168.50.1:8080/i\n"
        );
        let (chain, _) = respond(b"", None, Some(local));
        assert!(chain.contains("chain --autofree http://192.168.50.1:8080/boot.ipxe?mac="));
    }
}
