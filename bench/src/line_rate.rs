//! The criterion benches' results as a fraction of Ethernet line rate per core: a hot path
//! that handles one packet or request in `t` ns, each putting `bytes` on the wire, keeps up
//! with `bytes / t` per core. Read from criterion's own estimates after the run, so the table
//! states what criterion measured.

use std::path::{Path, PathBuf};

/// Line rates, in bytes per second.
pub const LINKS: [(&str, f64); 3] = [
    ("10GbE", 10e9 / 8.0),
    ("25GbE", 25e9 / 8.0),
    ("100GbE", 100e9 / 8.0),
];

/// One bench and what one of its iterations sends.
#[derive(Debug, Clone, Copy)]
pub struct WireCost {
    /// Criterion group.
    pub group: &'static str,
    /// Bench id in the group.
    pub bench: &'static str,
    /// Bytes on the wire one iteration accounts for.
    pub bytes: f64,
    /// What those bytes are.
    pub per: &'static str,
}

/// Bytes per second a core reaches at `ns_per_iter`, and that as a fraction of each link.
pub fn fractions(cost: &WireCost, ns_per_iter: f64) -> (f64, [f64; 3]) {
    let per_s = cost.bytes / (ns_per_iter * 1e-9);
    (per_s, LINKS.map(|(_, rate)| per_s / rate))
}

/// Where criterion writes its estimates (its own order of preference).
pub fn criterion_home() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return home.into();
    }
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        return Path::new(&target).join("criterion");
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/criterion")
}

/// The mean time per iteration of `group/bench` from this run, in ns.
pub fn mean_ns(home: &Path, group: &str, bench: &str) -> Option<f64> {
    let path = home.join(group).join(bench).join("new/estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    json["mean"]["point_estimate"].as_f64()
}

/// Prints the table for `costs` (benches not run this time are left out).
pub fn print_table(costs: &[WireCost]) {
    let home = criterion_home();
    println!("\nper core, as a fraction of line rate (criterion means of this run):");
    println!(
        "{:<48} {:>10} {:>9} {:>9} {:>9}  per iteration",
        "bench", "GB/s", LINKS[0].0, LINKS[1].0, LINKS[2].0
    );
    for cost in costs {
        let Some(ns) = mean_ns(&home, cost.group, cost.bench) else {
            continue;
        };
        let (per_s, f) = fractions(cost, ns);
        println!(
            "{:<48} {:>10.2} {:>8.2}× {:>8.2}× {:>8.3}×  {}",
            format!("{}/{}", cost.group, cost.bench),
            per_s / 1e9,
            f[0],
            f[1],
            f[2],
            cost.per
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_1468_byte_block_every_1174_ns_fills_10_gbe() {
        let cost = WireCost {
            group: "g",
            bench: "b",
            bytes: 1468.0,
            per: "block",
        };
        let (per_s, f) = fractions(&cost, 1174.4);
        assert!((per_s - 1.25e9).abs() < 1e6, "{per_s}");
        assert!(
            (f[0] - 1.0).abs() < 1e-3 && (f[2] - 0.1).abs() < 1e-3,
            "{f:?}"
        );
    }

    #[test]
    fn reads_criterions_estimates() {
        let dir = std::env::temp_dir().join(format!("line-rate-{}", std::process::id()));
        let est = dir.join("g/b/new");
        std::fs::create_dir_all(&est).unwrap();
        std::fs::write(
            est.join("estimates.json"),
            r#"{"mean":{"confidence_interval":{},"point_estimate":123.5,"standard_error":1.0}}"#,
        )
        .unwrap();
        assert_eq!(mean_ns(&dir, "g", "b"), Some(123.5));
        assert_eq!(mean_ns(&dir, "g", "missing"), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
