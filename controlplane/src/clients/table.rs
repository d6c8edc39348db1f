//! The client table in memory, and the budgets that keep machines nobody asked for from filling
//! it. A MAC first seen from DHCP or `/boot.ipxe` is *unknown* until it is assigned an image or
//! boots one: unknown MACs are capped per source and overall, and their records expire when not
//! seen for a while. Records with an assignment are never refused, capped or expired.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dataplane::{BootEvent, Detail, Mac};
use serde::{Deserialize, Serialize};

use super::{apply, Client};

/// The table's budgets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Most records in all; when reached, new MACs are refused (default 100,000).
    pub max_records: usize,
    /// Most unknown MACs first seen from one machine's address (default 256).
    pub max_unknown_per_host: usize,
    /// Most unknown MACs first seen through one DHCP relay, or by broadcast on our own links:
    /// there one address stands for a whole network (default 4096).
    pub max_unknown_per_segment: usize,
    /// Unknown records not seen for this long are dropped (default 7 days).
    pub unknown_expiry: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_records: 100_000,
            max_unknown_per_host: 256,
            max_unknown_per_segment: 4096,
            unknown_expiry: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

/// Where a MAC was first seen: the budget its record is charged to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// A machine's own address (`/boot.ipxe`, transfers, DHCP from a configured client).
    Host(IpAddr),
    /// A DHCP relay's address, or `0.0.0.0` for broadcasts on our own links.
    Segment(IpAddr),
}

impl Source {
    /// Where `event` came from. Relays send from the server port, 67 (RFC 1542); a PXE client
    /// without an address sends from 0.0.0.0.
    pub fn of(event: &BootEvent) -> Source {
        let ip = event.client.ip();
        match event.detail {
            Detail::Dhcp(_) if ip.is_unspecified() || event.client.port() == 67 => {
                Source::Segment(ip)
            }
            _ => Source::Host(ip),
        }
    }
}

/// What the budgets did, since start (shown by `/health`).
#[derive(Debug, Default)]
pub struct Counters {
    /// New MACs refused because their source's budget was spent.
    pub refused_source: AtomicU64,
    /// New MACs refused because the table was full.
    pub refused_full: AtomicU64,
    /// Unknown records expired.
    pub expired: AtomicU64,
}

/// Refusal warnings, at most one per this period: a flood must not flood the log too.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// Every client record, by MAC, with the indexes and budgets kept beside them.
pub struct ClientTable {
    records: BTreeMap<Mac, Client>,
    /// Last address of each client, for transfers (which carry only an address).
    by_ip: HashMap<IpAddr, Mac>,
    /// Unknown records per source.
    unknown: HashMap<Source, usize>,
    limits: Limits,
    counters: Arc<Counters>,
    warned_at: Option<Instant>,
}

impl ClientTable {
    /// A table holding `records` (as loaded: none is refused).
    pub fn new(records: Vec<Client>, limits: Limits, counters: Arc<Counters>) -> ClientTable {
        let mut table = ClientTable {
            records: BTreeMap::new(),
            by_ip: HashMap::new(),
            unknown: HashMap::new(),
            limits,
            counters,
            warned_at: None,
        };
        for client in records {
            if let Some(ip) = last_ip(&client) {
                table.by_ip.insert(ip, client.mac);
            }
            table.charge(unknown_source(&client));
            table.records.insert(client.mac, client);
        }
        table
    }

    /// One record.
    pub fn get(&self, mac: &Mac) -> Option<&Client> {
        self.records.get(mac)
    }

    /// Every record, by MAC.
    pub fn all(&self) -> impl Iterator<Item = &Client> {
        self.records.values()
    }

    /// The client last seen at `ip`.
    pub fn at(&self, ip: IpAddr) -> Option<Mac> {
        self.by_ip.get(&ip).copied()
    }

    /// Applies a sighting of `mac` to its record, creating it if the budgets allow; `false`
    /// when a new MAC was refused.
    pub fn sight(&mut self, mac: Mac, event: &BootEvent, now: u64) -> bool {
        let source = Source::of(event);
        let new = !self.records.contains_key(&mac);
        if new && !self.admit(source) {
            return false;
        }
        if let Source::Host(ip) = source {
            if !ip.is_unspecified() {
                // One entry per client, at its last address: the index stays as small as the
                // table however many addresses a MAC is seen from.
                if let Some(old) = self.records.get(&mac).and_then(last_ip) {
                    self.unindex(old, mac);
                }
                self.by_ip.insert(ip, mac);
            }
        }
        self.edit(mac, now, |c| {
            if new {
                c.seen_via = Some(source);
            }
            apply(c, event, now);
        });
        true
    }

    /// Whether a new MAC from `source` fits the budgets; counts and warns when not.
    fn admit(&mut self, source: Source) -> bool {
        let (budget, counter) = if self.records.len() >= self.limits.max_records {
            ("the client table is full", &self.counters.refused_full)
        } else if self.unknown.get(&source).copied().unwrap_or(0) >= self.cap(source) {
            (
                "its source's budget of unknown MACs is spent",
                &self.counters.refused_source,
            )
        } else {
            return true;
        };
        counter.fetch_add(1, Relaxed);
        let now = Instant::now();
        if self
            .warned_at
            .is_none_or(|t| now.duration_since(t) >= WARN_EVERY)
        {
            self.warned_at = Some(now);
            tracing::warn!(
                ?source,
                refused_source = self.counters.refused_source.load(Relaxed),
                refused_full = self.counters.refused_full.load(Relaxed),
                "new client not recorded: {budget} (see the clients settings)"
            );
        }
        false
    }

    fn cap(&self, source: Source) -> usize {
        match source {
            Source::Host(_) => self.limits.max_unknown_per_host,
            Source::Segment(_) => self.limits.max_unknown_per_segment,
        }
    }

    /// Changes (creating if needed) `mac`'s record, outside the budgets: for the operator's
    /// commands, and for sightings already admitted.
    pub fn edit<R>(&mut self, mac: Mac, now: u64, change: impl FnOnce(&mut Client) -> R) -> R {
        let client = self.records.entry(mac).or_insert_with(|| {
            tracing::info!(%mac, "new client");
            Client::new(mac, now)
        });
        let before = unknown_source(client);
        let result = change(client);
        let after = unknown_source(client);
        if before != after {
            self.uncharge(before);
            self.charge(after);
        }
        result
    }

    /// Puts `mac`'s record back to `previous` (`None`: it did not exist).
    pub fn restore(&mut self, mac: Mac, previous: Option<Client>) {
        match previous {
            Some(client) => self.edit(mac, client.last_seen, |c| *c = client),
            None => {
                if let Some(gone) = self.records.remove(&mac) {
                    self.forget(&gone);
                }
            }
        }
    }

    /// Drops unknown records not seen for the expiry time; returns their MACs.
    pub fn expire(&mut self, now: u64) -> Vec<Mac> {
        let ttl = self.limits.unknown_expiry.as_secs();
        let gone: Vec<Mac> = self
            .records
            .values()
            .filter(|c| is_unknown(c) && now.saturating_sub(c.last_seen) >= ttl)
            .map(|c| c.mac)
            .collect();
        for mac in &gone {
            if let Some(client) = self.records.remove(mac) {
                self.forget(&client);
            }
        }
        self.counters.expired.fetch_add(gone.len() as u64, Relaxed);
        gone
    }

    /// Removes what the indexes and budgets hold for a record that left the table.
    fn forget(&mut self, client: &Client) {
        self.uncharge(unknown_source(client));
        if let Some(ip) = last_ip(client) {
            self.unindex(ip, client.mac);
        }
    }

    /// Drops `ip → mac` from the address index, unless `ip` is another client's by now.
    fn unindex(&mut self, ip: IpAddr, mac: Mac) {
        if self.by_ip.get(&ip) == Some(&mac) {
            self.by_ip.remove(&ip);
        }
    }

    fn charge(&mut self, source: Option<Source>) {
        if let Some(source) = source {
            *self.unknown.entry(source).or_insert(0) += 1;
        }
    }

    fn uncharge(&mut self, source: Option<Source>) {
        if let Some(Entry::Occupied(mut n)) = source.map(|s| self.unknown.entry(s)) {
            *n.get_mut() -= 1;
            if *n.get() == 0 {
                n.remove();
            }
        }
    }
}

fn last_ip(c: &Client) -> Option<IpAddr> {
    c.ip.as_deref()?.parse().ok()
}

/// Neither assigned nor ever served an image: a machine nobody has asked for yet.
fn is_unknown(c: &Client) -> bool {
    c.assigned.is_none()
        && c.next_boot.is_none()
        && c.last_boot.as_deref().is_none_or(|b| b == "menu")
}

/// The budget an unknown record is charged to.
fn unknown_source(c: &Client) -> Option<Source> {
    if is_unknown(c) {
        c.seen_via
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clients::tests_support::dhcp;

    fn mac(n: u32) -> Mac {
        let b = n.to_be_bytes();
        format!("52:54:00:{:02x}:{:02x}:{:02x}", b[1], b[2], b[3])
            .parse()
            .unwrap()
    }

    fn table(limits: Limits) -> (ClientTable, Arc<Counters>) {
        let counters = Arc::new(Counters::default());
        (
            ClientTable::new(Vec::new(), limits, counters.clone()),
            counters,
        )
    }

    const SMALL: Limits = Limits {
        max_records: 100,
        max_unknown_per_host: 3,
        max_unknown_per_segment: 5,
        unknown_expiry: Duration::from_secs(100),
    };

    /// How many of `macs` sighted from `from` got a record.
    fn admitted(t: &mut ClientTable, macs: std::ops::Range<u32>, from: &str) -> usize {
        macs.filter(|&n| t.sight(mac(n), &dhcp(mac(n), from), 10))
            .count()
    }

    #[test]
    fn unknown_macs_are_budgeted_per_host_and_per_segment() {
        let (mut t, counters) = table(SMALL);
        assert_eq!(admitted(&mut t, 0..5, "10.0.0.9:68"), 3);
        assert_eq!(counters.refused_source.load(Relaxed), 2);
        // Known MACs are always updated; other hosts have budgets of their own.
        assert_eq!(admitted(&mut t, 0..3, "10.0.0.9:68"), 3);
        assert_eq!(admitted(&mut t, 10..12, "10.0.0.10:68"), 2);
        // A relay (source port 67) and our own links (0.0.0.0) stand for whole networks.
        assert_eq!(admitted(&mut t, 20..30, "10.9.0.1:67"), 5);
        assert_eq!(admitted(&mut t, 30..40, "0.0.0.0:68"), 5);
        assert_eq!(t.all().count(), 15);
        // A relay's address is not its clients' address.
        assert_eq!(t.get(&mac(20)).unwrap().ip, None);
        assert_eq!(t.at("10.9.0.1".parse().unwrap()), None);
        assert_eq!(t.at("10.0.0.10".parse().unwrap()), Some(mac(11)));
        // A client seen at a new address leaves its old one.
        assert_eq!(admitted(&mut t, 11..12, "10.0.0.11:68"), 1);
        assert_eq!(t.at("10.0.0.10".parse().unwrap()), None);
        assert_eq!(t.at("10.0.0.11".parse().unwrap()), Some(mac(11)));
        // An assignment takes a record off its source's budget.
        t.edit(mac(0), 11, |c| c.assigned = Some("img".into()));
        assert_eq!(admitted(&mut t, 3..5, "10.0.0.9:68"), 1);
    }

    #[test]
    fn a_full_table_refuses_new_macs_but_never_the_operator() {
        let (mut t, counters) = table(Limits {
            max_records: 4,
            ..SMALL
        });
        assert_eq!(admitted(&mut t, 0..2, "10.0.0.1:68"), 2);
        assert_eq!(admitted(&mut t, 2..6, "10.0.0.2:68"), 2);
        assert_eq!(counters.refused_full.load(Relaxed), 2);
        t.edit(mac(99), 11, |c| c.assigned = Some("img".into()));
        assert_eq!(t.all().count(), 5);
        assert_eq!(admitted(&mut t, 0..1, "10.0.0.1:68"), 1, "known MAC");
    }

    #[test]
    fn only_unknown_records_expire() {
        let (mut t, counters) = table(SMALL);
        assert_eq!(admitted(&mut t, 0..3, "10.0.0.9:68"), 3);
        t.edit(mac(0), 10, |c| c.assigned = Some("img".into()));
        t.edit(mac(1), 10, |c| c.last_boot = Some("img".into()));
        t.edit(mac(2), 10, |c| c.last_boot = Some("menu".into()));
        t.edit(mac(7), 10, |c| c.serial = Some("operator-made".into()));
        assert!(t.expire(109).is_empty());
        assert_eq!(t.expire(110), vec![mac(2), mac(7)]);
        assert_eq!(counters.expired.load(Relaxed), 2);
        let left: Vec<Mac> = t.all().map(|c| c.mac).collect();
        assert_eq!(left, [mac(0), mac(1)]);
        // The expired record's budget is free again.
        assert_eq!(admitted(&mut t, 3..6, "10.0.0.9:68"), 3);
    }
}
