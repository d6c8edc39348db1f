//! A throw-away network namespace for a test: loopback up, deleted on drop.

use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::run;

/// A network namespace with only loopback, deleted on drop.
pub struct Netns(pub String);

impl Netns {
    /// Creates `<tag><pid>-<n>` with loopback up.
    ///
    /// # Panics
    /// When `ip netns` fails (needs root).
    pub fn new(tag: &str) -> Netns {
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

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = run(Command::new("ip").args(["netns", "del", &self.0]), 10);
    }
}
