//! `/boot.ipxe`: the one generated object the data plane serves. The script comes from the
//! catalog's boot policy; the client's query becomes an inventory report for the control plane.

use crate::boot::{BootPolicy, Inventory};
use crate::events::{BootScriptSeen, Detail};

/// The path (normalised, no leading slash).
pub const PATH: &str = "boot.ipxe";

/// The script for the client that sent `query`, and what it told us.
pub fn respond(policy: &BootPolicy, query: &[u8]) -> (String, Detail) {
    let inventory = Inventory::from_query(query);
    let (script, served) = policy.script_for(&inventory);
    let seen = BootScriptSeen { inventory, served };
    (script.to_owned(), Detail::BootScript(Box::new(seen)))
}
