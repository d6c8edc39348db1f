//! A throw-away network namespace for a test: loopback up, deleted on drop.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Once;

use crate::run;

/// A network namespace with only loopback, deleted on drop.
pub struct Netns(pub String);

impl Netns {
    /// Creates `<tag><pid>-<n>` with loopback up.
    ///
    /// # Panics
    /// When `ip netns` fails (needs root).
    pub fn new(tag: &str) -> Netns {
        remove_orphans();
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "{tag}{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let ok = |o: Output| assert!(o.status.success(), "ip netns: {o:?}");
        ok(run(Command::new("ip").args(["netns", "add", &name]), 10));
        let ns = Netns(name);
        ok(run(
            Command::new("ip").args(["-n", &ns.0, "link", "set", "lo", "up"]),
            10,
        ));
        ns
    }

    /// Runs `ip -n NAME ARGS…` and asserts that it worked.
    pub fn ip(&self, args: &[&str]) {
        let o = run(Command::new("ip").args(["-n", &self.0]).args(args), 10);
        assert!(o.status.success(), "ip {args:?}: {o:?}");
    }

    /// A command running `program` inside the namespace.
    pub fn exec(&self, program: &str) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.0, program]);
        cmd
    }
}

/// Deletes, once per process, the namespaces that a test process killed before its drops ran
/// left behind, with whatever still runs in them (its dnsmasq, its QEMU guests). They are
/// found by name: the harness names every namespace `<tag><pid>-<n>[-<role>]`, and a pid that
/// no longer runs owns nothing. Names of another shape are never touched.
pub fn remove_orphans() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let list = run(Command::new("ip").args(["netns", "list"]), 10);
        for name in String::from_utf8_lossy(&list.stdout)
            .lines()
            .filter_map(|l| l.split_whitespace().next())
        {
            let Some(pid) = owner(name) else { continue };
            if Path::new(&format!("/proc/{pid}")).exists() {
                continue;
            }
            let pids = run(Command::new("ip").args(["netns", "pids", name]), 10);
            for left in String::from_utf8_lossy(&pids.stdout).split_whitespace() {
                let _ = run(Command::new("kill").args(["-9", left]), 10);
            }
            let _ = run(Command::new("ip").args(["netns", "del", name]), 10);
        }
    });
}

/// The pid in a harness namespace's name (`<tag><pid>-<n>[-<role>]`, tag in lower-case
/// letters), or `None` for a name of another shape.
fn owner(name: &str) -> Option<u32> {
    let rest = name.trim_start_matches(|c: char| c.is_ascii_lowercase());
    if rest.len() == name.len() {
        return None;
    }
    let (pid, after) = rest.split_once('-')?;
    after.split('-').next()?.parse::<u32>().ok()?;
    pid.parse().ok()
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = run(Command::new("ip").args(["netns", "del", &self.0]), 10);
    }
}

#[cfg(test)]
mod tests {
    use super::owner;

    #[test]
    fn only_the_harness_names_have_an_owner() {
        assert_eq!(owner("fbmacs1234-0"), Some(1234));
        assert_eq!(owner("fb1234-7-lan"), Some(1234));
        assert_eq!(owner("fb1234-7-r12"), Some(1234));
        // The bench scripts' names, another tool's, and ones without a tag or a number.
        for other in [
            "fbp1234",
            "fbp1234dhcp",
            "mcb1234r1",
            "cni-1234-5",
            "1234-0",
            "fb-0",
            "fb12-x",
        ] {
            assert_eq!(owner(other), None, "{other}");
        }
    }
}
