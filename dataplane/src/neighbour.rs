//! Who is behind an IP address: the kernel's IPv4 neighbour (ARP) table, `/proc/net/arp`. It
//! knows only machines on our own links, which is where PXE clients are. TFTP and HTTP
//! requests carry only an address; this names the machine behind one, to confirm the MAC a
//! `/boot.ipxe` request claims and to file a transfer under its client.

use std::net::IpAddr;

use crate::mac::Mac;

/// The MAC the kernel has for `ip`, if a complete entry exists. IPv6 neighbours are not in
/// this table, so an IPv6 address (other than an IPv4-mapped one) finds nothing.
pub fn lookup(ip: IpAddr) -> Option<Mac> {
    if !ip.to_canonical().is_ipv4() {
        return None;
    }
    let table = std::fs::read_to_string("/proc/net/arp").ok()?;
    find(&table, ip)
}

/// Looks `ip` up in the text of `/proc/net/arp`.
fn find(table: &str, ip: IpAddr) -> Option<Mac> {
    // A dual-stack listener reports IPv4 peers as `::ffff:a.b.c.d`.
    let wanted = ip.to_canonical().to_string();
    table.lines().skip(1).find_map(|line| {
        let mut fields = line.split_whitespace();
        let (addr, _hw_type, flags, mac) = (
            fields.next()?,
            fields.next()?,
            fields.next()?,
            fields.next()?,
        );
        // ATF_COM (0x2): the entry is complete; incomplete ones read as all zeros.
        let complete = u32::from_str_radix(flags.trim_start_matches("0x"), 16).ok()? & 0x2 != 0;
        (addr == wanted && complete).then(|| mac.parse().ok())?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_complete_entries_only() {
        let table =
            "IP address       HW type     Flags       HW address            Mask     Device\n\
10.0.0.50        0x1         0x2         52:54:00:12:34:56     *        br0\n\
10.0.0.51        0x1         0x0         00:00:00:00:00:00     *        br0\n";
        let mac = find(table, "10.0.0.50".parse().unwrap());
        assert_eq!(mac, Some("52:54:00:12:34:56".parse().unwrap()));
        assert_eq!(find(table, "::ffff:10.0.0.50".parse().unwrap()), mac);
        assert_eq!(find(table, "10.0.0.51".parse().unwrap()), None);
        assert_eq!(find(table, "10.0.0.52".parse().unwrap()), None);
        assert_eq!(find("garbage", "10.0.0.50".parse().unwrap()), None);
    }
}
