//! `/boot.ipxe`: the one generated object the data plane serves. The script comes from the
//! catalog's boot policy; the client's query becomes an inventory report for the control plane.

use super::mac_check::Requester;
use crate::boot::{BootPolicy, Inventory, Use};
use crate::events::{BootScriptSeen, Detail};

/// The path (normalised, no leading slash).
pub const PATH: &str = "boot.ipxe";

/// The script for the client that sent `query` with `host` (the `Host` header) over a
/// connection from `requester`, and what it told us. A MAC that is not believed is moved from
/// the inventory to the refusal, so nothing is recorded under it.
pub fn respond(
    policy: &BootPolicy,
    query: &[u8],
    host: Option<&[u8]>,
    requester: &Requester,
    usage: Use,
) -> (String, Detail) {
    let mut inventory = Inventory::from_query(query);
    let url = host.and_then(own_url);
    let (asker, refused) = requester.asker(inventory.mac);
    if refused.is_some() {
        inventory.mac = None;
    }
    let (script, served) = policy.script_for(asker, url.as_deref(), usage);
    let seen = BootScriptSeen {
        inventory,
        served,
        refused,
    };
    (script.into_owned(), Detail::BootScript(Box::new(seen)))
}

/// `http://<host>/boot.ipxe` when `host` is a plain host[:port] (it goes into a script, so
/// nothing that iPXE would expand or split is let through).
fn own_url(host: &[u8]) -> Option<String> {
    let plain = !host.is_empty()
        && host.len() <= 255
        && host
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    plain.then(|| format!("http://{}/{PATH}", String::from_utf8_lossy(host)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_hosts_make_the_url() {
        assert_eq!(
            own_url(b"10.0.0.2:8080").as_deref(),
            Some("http://10.0.0.2:8080/boot.ipxe")
        );
        assert_eq!(
            own_url(b"[fd00::2]:8080").as_deref(),
            Some("http://[fd00::2]:8080/boot.ipxe")
        );
        for bad in [&b""[..], b"a b", b"${evil}", b"x\ny", b"h/p"] {
            assert_eq!(own_url(bad), None);
        }
    }
}
