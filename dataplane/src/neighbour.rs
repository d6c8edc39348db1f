//! Who is behind an IP address: the kernel's IPv4 neighbour (ARP) table, `/proc/net/arp`. It
//! knows only machines on our own links, which is where PXE clients are. TFTP and HTTP
//! requests carry only an address; this names the machine behind one, to confirm the MAC a
//! `/boot.ipxe` request claims and to file a transfer under its client.

use std::cell::OnceCell;
use std::net::{IpAddr, Ipv4Addr};

use crate::mac::Mac;

/// The MAC the kernel has for `ip`, if a complete entry exists.
pub fn lookup(ip: IpAddr) -> Option<Mac> {
    Neighbours::default().get(ip)
}

/// Lookups that share one reading of the table, taken at the first address that could be in
/// it. Reading it costs an open, a read and a close: a batch of transfer events pays that
/// once, not once per event.
#[derive(Default)]
pub struct Neighbours {
    table: OnceCell<Vec<(Ipv4Addr, Mac)>>,
}

impl Neighbours {
    /// The MAC the table has for `ip`, if a complete entry exists.
    pub fn get(&self, ip: IpAddr) -> Option<Mac> {
        let ip = listable(ip)?;
        let table = self.table.get_or_init(|| {
            std::fs::read_to_string("/proc/net/arp").map_or_else(|_| Vec::new(), |t| parse(&t))
        });
        table
            .iter()
            .find(|(addr, _)| *addr == ip)
            .map(|(_, mac)| *mac)
    }
}

/// `ip` as the table would list it, or `None` for an address it never lists: IPv6 (its
/// neighbours are not in this table), loopback and unspecified, which have no link-layer
/// neighbour. A dual-stack listener reports IPv4 peers as `::ffff:a.b.c.d`.
fn listable(ip: IpAddr) -> Option<Ipv4Addr> {
    match ip.to_canonical() {
        IpAddr::V4(v4) if !v4.is_loopback() && !v4.is_unspecified() => Some(v4),
        _ => None,
    }
}

/// The complete entries in the text of `/proc/net/arp`; incomplete ones (flags without
/// ATF_COM, 0x2) read as all-zero MACs and are left out.
fn parse(table: &str) -> Vec<(Ipv4Addr, Mac)> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let (addr, _hw_type, flags, mac) = (
                fields.next()?,
                fields.next()?,
                fields.next()?,
                fields.next()?,
            );
            let flags = u32::from_str_radix(flags.trim_start_matches("0x"), 16).ok()?;
            (flags & 0x2 != 0).then_some(())?;
            Some((addr.parse().ok()?, mac.parse().ok()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn neighbours(table: &str) -> Neighbours {
        Neighbours {
            table: OnceCell::from(parse(table)),
        }
    }

    #[test]
    fn finds_complete_entries_only() {
        let table = neighbours(
            "IP address       HW type     Flags       HW address            Mask     Device\n\
10.0.0.50        0x1         0x2         52:54:00:12:34:56     *        br0\n\
10.0.0.51        0x1         0x0         00:00:00:00:00:00     *        br0\n",
        );
        let mac = table.get("10.0.0.50".parse().unwrap());
        assert_eq!(mac, Some("52:54:00:12:34:56".parse().unwrap()));
        assert_eq!(table.get("::ffff:10.0.0.50".parse().unwrap()), mac);
        assert_eq!(table.get("10.0.0.51".parse().unwrap()), None);
        assert_eq!(table.get("10.0.0.52".parse().unwrap()), None);
        assert_eq!(
            neighbours("garbage").get("10.0.0.50".parse().unwrap()),
            None
        );
    }

    #[test]
    fn never_reads_the_table_for_addresses_it_cannot_list() {
        let unread = Neighbours::default();
        for ip in ["127.0.0.1", "::1", "::ffff:127.0.0.1", "0.0.0.0", "fe80::1"] {
            assert_eq!(unread.get(ip.parse().unwrap()), None, "{ip}");
        }
        assert!(unread.table.get().is_none());
    }
}
