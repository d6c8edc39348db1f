//! The deploy agent: a Linux kernel and initramfs (built by `tools/build-deploy-agent.sh`)
//! that receives an image to disk. It lives in `DATA/agent/`, which the data plane serves like
//! the other boot files (`/agent/vmlinuz`, `/agent/initrd.img`); a deploying machine gets a
//! script that boots it with the deploy on its command line.

use std::fmt::Write as _;
use std::path::Path;

use dataplane::Mac;

use crate::boot::Site;

/// The data-dir folder the agent lives in, and its URL path.
pub const DIR: &str = "agent";
/// The agent's files in [`DIR`].
pub const FILES: [&str; 2] = ["vmlinuz", "initrd.img"];

/// What one machine's agent is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Orders<'a> {
    /// The multicast session's manifest path on the boot port (`/multicast/<hex id>`).
    pub manifest: &'a str,
    /// The disk to write.
    pub disk: &'a str,
    /// The machine's callback token (`/t/<token>/done`, `/t/<token>/progress`).
    pub token: &'a str,
    /// The machine: the agent brings up the NIC with this MAC, and reports under its name.
    pub mac: Mac,
}

/// Why deploys cannot run in `data_dir`, when the agent is missing there.
pub fn missing(data_dir: &Path) -> Option<String> {
    let dir = data_dir.join(DIR);
    let absent: Vec<&str> = FILES
        .iter()
        .copied()
        .filter(|f| std::fs::metadata(dir.join(f)).map_or(true, |m| m.len() == 0))
        .collect();
    (!absent.is_empty()).then(|| {
        format!(
            "the deploy agent is not installed ({} missing in {}): build it with \
             `tools/build-deploy-agent.sh {}`",
            absent.join(" and "),
            dir.display(),
            dir.display()
        )
    })
}

/// The iPXE script that boots the agent with `orders`. Every value in it was checked to be
/// URL- and command-line-safe (hex ids and tokens, a MAC, a checked device path).
pub fn script(site: &Site, orders: &Orders<'_>, label: &str) -> String {
    let base = &site.base;
    let t = format!("{base}/t/{}", orders.token);
    let mut args = format!(
        "fleetboot.manifest={base}{} fleetboot.disk={} fleetboot.done={t}/done \
         fleetboot.progress={t}/progress fleetboot.name={}",
        orders.manifest, orders.disk, orders.mac
    );
    if !site.kernel_args.is_empty() {
        args.push(' ');
        args.push_str(&site.kernel_args);
    }
    let mut s = String::from("#!ipxe\n");
    let _ = writeln!(s, "echo fleetboot: {label}: writing {}", orders.disk);
    let _ = writeln!(
        s,
        "kernel {base}/{DIR}/vmlinuz initrd=initrd.img {args} || goto failed"
    );
    let _ = writeln!(
        s,
        "initrd --name initrd.img {base}/{DIR}/initrd.img || goto failed"
    );
    s.push_str("boot || goto failed\n");
    s.push_str(
        ":failed\necho fleetboot: cannot boot the deploy agent; back to firmware in 10 s\nsleep 10\nexit 1\n",
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(kernel_args: &str) -> Site {
        Site {
            base: "http://@fleetboot-server@".into(),
            kernel_args: kernel_args.into(),
            has_wimboot: false,
            has_memdisk: false,
        }
    }

    #[test]
    fn the_script_boots_the_agent_with_its_orders() {
        let mac: Mac = "52:54:00:0a:00:01".parse().unwrap();
        let orders = Orders {
            manifest: "/multicast/0badcafe",
            disk: "/dev/vda",
            token: "00112233445566778899aabbccddeeff",
            mac,
        };
        let s = script(&site("console=ttyS0"), &orders, "deploy 3 (disks/a.img)");
        let kernel = s.lines().find(|l| l.starts_with("kernel ")).unwrap();
        let t = "http://@fleetboot-server@/t/00112233445566778899aabbccddeeff";
        for want in [
            "kernel http://@fleetboot-server@/agent/vmlinuz initrd=initrd.img ",
            " fleetboot.manifest=http://@fleetboot-server@/multicast/0badcafe ",
            " fleetboot.disk=/dev/vda ",
            &format!(" fleetboot.done={t}/done "),
            &format!(" fleetboot.progress={t}/progress "),
            " fleetboot.name=52:54:00:0a:00:01 ",
            " console=ttyS0 || goto failed",
        ] {
            assert!(kernel.contains(want), "{want:?} not in {kernel:?}");
        }
        assert!(s.contains(
            "\ninitrd --name initrd.img http://@fleetboot-server@/agent/initrd.img || goto failed\nboot || goto failed\n"
        ));
        assert!(s.ends_with("exit 1\n"), "{s}");
        // Without site arguments the orders end the line.
        assert!(
            script(&site(""), &orders, "d").contains("fleetboot.name=52:54:00:0a:00:01 || goto")
        );
    }

    #[test]
    fn a_missing_or_empty_agent_file_is_named_with_the_fix() {
        let dir = std::env::temp_dir().join(format!("fleetboot-agent-{}", std::process::id()));
        std::fs::create_dir_all(dir.join(DIR)).unwrap();
        let why = missing(&dir).unwrap();
        assert!(why.contains("vmlinuz and initrd.img"), "{why}");
        assert!(why.contains("tools/build-deploy-agent.sh"), "{why}");
        std::fs::write(dir.join(DIR).join("vmlinuz"), b"k").unwrap();
        std::fs::write(dir.join(DIR).join("initrd.img"), b"").unwrap();
        let why = missing(&dir).unwrap();
        assert!(why.contains("(initrd.img missing"), "{why}");
        std::fs::write(dir.join(DIR).join("initrd.img"), b"i").unwrap();
        assert_eq!(missing(&dir), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
