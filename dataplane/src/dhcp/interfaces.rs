//! Which interfaces proxyDHCP answers on. By default every one: a request is answered on the
//! interface it arrived on, so a multi-homed server needs no setting. Naming interfaces
//! (`--dhcp-interface`) restricts it; names are resolved again every few seconds, so an
//! interface created after start (a VLAN, a bridge brought up later) is picked up.

use std::cell::RefCell;
use std::time::{Duration, Instant};

use crate::sys::pktinfo::interface_index;

/// How long a name → index resolution is trusted.
const REFRESH: Duration = Duration::from_secs(2);

/// One core's view of the allowed interfaces.
#[derive(Debug)]
pub(crate) struct Interfaces {
    names: Vec<String>,
    resolved: RefCell<Resolved>,
}

#[derive(Debug)]
struct Resolved {
    at: Option<Instant>,
    indexes: Vec<u32>,
}

impl Interfaces {
    /// Answers on `names` only; on every interface when empty.
    pub(crate) fn new(names: Vec<String>) -> Interfaces {
        Interfaces {
            names,
            resolved: RefCell::new(Resolved {
                at: None,
                indexes: Vec::new(),
            }),
        }
    }

    /// Whether a request that arrived on interface `ifindex` is answered.
    pub(crate) fn allows(&self, ifindex: u32) -> bool {
        if self.names.is_empty() {
            return true;
        }
        let mut resolved = self.resolved.borrow_mut();
        let now = Instant::now();
        if resolved
            .at
            .is_none_or(|at| now.duration_since(at) >= REFRESH)
        {
            resolved.indexes = self
                .names
                .iter()
                .filter_map(|n| interface_index(n))
                .collect();
            resolved.at = Some(now);
        }
        resolved.indexes.contains(&ifindex)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_interfaces_only() {
        let lo = interface_index("lo").expect("lo");
        assert!(Interfaces::new(Vec::new()).allows(lo));
        assert!(Interfaces::new(vec!["lo".into()]).allows(lo));
        assert!(!Interfaces::new(vec!["no-such-if0".into()]).allows(lo));
        assert!(Interfaces::new(vec!["no-such-if0".into(), "lo".into()]).allows(lo));
    }
}
