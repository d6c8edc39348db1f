//! Whose script a `/boot.ipxe?mac=…` request gets. The MAC is the client's own word, so
//! anyone who can reach the HTTP port could otherwise read another machine's assignment or
//! use up its next-boot-once. Under [`MacCheck::Strict`] the MAC counts only when the kernel's
//! neighbour table names it for the connection's peer address, which holds on a provisioning
//! network the server is attached to (the client's DHCP and TCP handshake have just filled the
//! entry). Across a router the server never sees client MACs: [`MacCheck::Off`] trusts the
//! query there.

use std::net::IpAddr;
use std::str::FromStr;

use crate::boot::Asker;
use crate::mac::Mac;

/// How a MAC in `/boot.ipxe`'s query is checked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MacCheck {
    /// It must match the neighbour entry of the peer address (the default).
    #[default]
    Strict,
    /// It is believed (routed networks, relays, load generators).
    Off,
}

impl FromStr for MacCheck {
    type Err = String;

    fn from_str(s: &str) -> Result<MacCheck, String> {
        match s {
            "strict" => Ok(MacCheck::Strict),
            "off" => Ok(MacCheck::Off),
            other => Err(format!("boot MAC check {other:?} (strict, off)")),
        }
    }
}

/// A MAC that was not believed; the request was answered as a machine without assignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MacRefused {
    /// What the query said.
    pub claimed: Mac,
    /// What the neighbour table has for the peer address (`None`: no entry, e.g. a routed
    /// or loopback peer).
    pub seen: Option<Mac>,
}

/// The connection a `/boot.ipxe` request came on.
#[derive(Debug, Clone, Copy)]
pub struct Requester {
    /// The TCP peer's address.
    pub peer: IpAddr,
    /// The check in force.
    pub check: MacCheck,
}

impl Requester {
    /// Who is asking, given the MAC the query `claimed`; a refusal says why a claim was not
    /// believed. Under the strict check this reads `/proc/net/arp` (kernel memory, no disk),
    /// only for requests that name a MAC: one per boot.
    pub fn asker(&self, claimed: Option<Mac>) -> (Asker, Option<MacRefused>) {
        self.judge(claimed, crate::neighbour::lookup)
    }

    fn judge(
        &self,
        claimed: Option<Mac>,
        neighbour: impl FnOnce(IpAddr) -> Option<Mac>,
    ) -> (Asker, Option<MacRefused>) {
        let Some(claimed) = claimed else {
            return (Asker::Unnamed, None);
        };
        if self.check == MacCheck::Off {
            return (Asker::Machine(claimed), None);
        }
        match neighbour(self.peer) {
            Some(seen) if seen == claimed => (Asker::Machine(claimed), None),
            seen => (Asker::Unconfirmed, Some(MacRefused { claimed, seen })),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_counts_only_when_the_neighbour_table_agrees() {
        let mac: Mac = "52:54:00:00:00:01".parse().unwrap();
        let other: Mac = "52:54:00:00:00:02".parse().unwrap();
        let peer: IpAddr = "10.0.0.50".parse().unwrap();
        let strict = Requester {
            peer,
            check: MacCheck::Strict,
        };
        let table = |found: Option<Mac>| {
            move |ip: IpAddr| {
                assert_eq!(ip, peer);
                found
            }
        };
        assert_eq!(
            strict.judge(Some(mac), table(Some(mac))),
            (Asker::Machine(mac), None)
        );
        for seen in [Some(other), None] {
            let refused = MacRefused { claimed: mac, seen };
            assert_eq!(
                strict.judge(Some(mac), table(seen)),
                (Asker::Unconfirmed, Some(refused))
            );
        }
        assert_eq!(strict.judge(None, table(None)), (Asker::Unnamed, None));
        let off = Requester {
            check: MacCheck::Off,
            ..strict
        };
        assert_eq!(
            off.judge(Some(mac), |_| panic!("no lookup when off")),
            (Asker::Machine(mac), None)
        );
    }

    #[test]
    fn settings_parse() {
        assert_eq!("strict".parse(), Ok(MacCheck::Strict));
        assert_eq!("off".parse(), Ok(MacCheck::Off));
        assert!("loose".parse::<MacCheck>().is_err());
    }
}
