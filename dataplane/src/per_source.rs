//! Per-source budgets: how many of one resource (TFTP transfers, HTTP connections) a single
//! client address may hold at once. Shared by all cores, because `SO_REUSEPORT` hashes one
//! address's ports onto different cores. Taken once per transfer or connection, never per
//! packet, so one short lock is cheap; the map only holds addresses holding something now.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

/// A cap on what one address holds at once.
#[derive(Debug)]
pub struct PerSource {
    cap: usize,
    held: Mutex<HashMap<IpAddr, usize>>,
}

impl PerSource {
    /// A budget of `cap` per address (0 refuses everything).
    pub fn new(cap: usize) -> Arc<PerSource> {
        Arc::new(PerSource {
            cap,
            held: Mutex::new(HashMap::new()),
        })
    }

    /// Takes one unit for `ip` unless it already holds `cap`; `None` means refused. IPv4
    /// addresses seen through an IPv6 socket count as the IPv4 address.
    pub fn try_acquire(self: &Arc<Self>, ip: IpAddr) -> Option<SourceGuard> {
        let ip = ip.to_canonical();
        let mut held = self.lock();
        let n = held.entry(ip).or_insert(0);
        if *n >= self.cap {
            if *n == 0 {
                held.remove(&ip);
            }
            return None;
        }
        *n += 1;
        Some(SourceGuard {
            budget: self.clone(),
            ip,
        })
    }

    // Why no panic on poison: the map stays consistent (each update is one statement), so a
    // panic elsewhere while it was held leaves nothing half-done.
    fn lock(&self) -> MutexGuard<'_, HashMap<IpAddr, usize>> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One unit of an address's budget, given back on drop.
#[derive(Debug)]
pub struct SourceGuard {
    budget: Arc<PerSource>,
    ip: IpAddr,
}

impl Drop for SourceGuard {
    fn drop(&mut self) {
        let mut held = self.budget.lock();
        if let Some(n) = held.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                held.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_each_address_and_gives_back_on_drop() {
        let budget = PerSource::new(2);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let one = budget.try_acquire(a).unwrap();
        let two = budget.try_acquire(mapped).unwrap();
        assert!(
            budget.try_acquire(a).is_none(),
            "the mapped form is the same host"
        );
        let other = budget.try_acquire(b).unwrap();
        drop(one);
        let three = budget.try_acquire(a).unwrap();
        let held = |ip| budget.lock().get(&ip).copied();
        assert_eq!((held(a), held(b)), (Some(2), Some(1)));
        drop((two, three, other));
        assert_eq!(budget.lock().len(), 0, "no entry outlives its holders");
        let none = PerSource::new(0);
        assert!(none.try_acquire(a).is_none());
        assert_eq!(none.lock().len(), 0);
    }
}
