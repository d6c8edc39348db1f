//! `boot-storm`: N simulated BIOS machines network-boot at once through the whole chain
//! (proxyDHCP offer → TFTP iPXE → iPXE DHCP → `/boot.ipxe` → kernel + initrds over HTTP);
//! reports the time until all have their kernel, per-stage medians, and checks every file
//! each machine got: against a local copy (`--verify NAME=FILE`) or, without one, against
//! what every other machine got for the same name.
//!
//! The machines must be assigned an image first (a menu cannot be simulated):
//! `boot-storm --list-macs …` prints their MACs for `fleetboot clients assign`.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bench::boot_storm::{self, Booted, Copies, Plan, Relay, STAGES};
use bench::content::Check;
use bench::digest::Sha256Digest;
use bench::report::{Latencies, Summary, MIB};
use clap::Parser;

/// Many machines network-booting at once, every byte checked.
#[derive(Parser, Debug)]
struct Args {
    /// The proxyDHCP server, IP:PORT.
    dhcp: SocketAddr,
    /// Relay address: giaddr of every DISCOVER; answers arrive on its port 67.
    #[arg(long)]
    relay: Ipv4Addr,
    /// TFTP port on the offered next-server.
    #[arg(long, default_value_t = 69)]
    tftp_port: u16,
    /// Machines.
    #[arg(long, default_value_t = 100)]
    machines: u32,
    /// Machine i's MAC is 02:fb + (first-mac + i) as 32 bits.
    #[arg(long, default_value_t = 0x00b0_0000)]
    first_mac: u32,
    /// First xid.
    #[arg(long, default_value_t = 0x0b00_0000)]
    xid: u32,
    /// blksize the PXE ROMs ask for.
    #[arg(long, default_value_t = 1432)]
    blksize: u16,
    /// First wait for an OFFER, milliseconds; doubled per DISCOVER, four tries (PXE spec).
    #[arg(long, default_value_t = 4000)]
    dhcp_timeout_ms: u64,
    /// TFTP silence before a resend, milliseconds.
    #[arg(long, default_value_t = 1000)]
    tftp_timeout_ms: u64,
    /// Seconds over which the machines power on (0: all at once).
    #[arg(long, default_value_t = 0.0)]
    spread: f64,
    /// NAME=FILE: files whose name ends in /NAME (or is NAME) must equal FILE. Repeatable.
    #[arg(long, value_parser = parse_verify)]
    verify: Vec<(String, PathBuf)>,
    /// Print the machines' MACs, one per line, and exit.
    #[arg(long)]
    list_macs: bool,
}

fn parse_verify(s: &str) -> Result<(String, PathBuf), String> {
    let (name, file) = s.split_once('=').ok_or("expected NAME=FILE")?;
    Ok((name.to_owned(), PathBuf::from(file)))
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("boot-storm: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &Args) -> std::io::Result<bool> {
    let plan = Plan {
        dhcp: args.dhcp,
        relay: args.relay,
        tftp_port: args.tftp_port,
        machines: args.machines.max(1),
        first_mac: args.first_mac,
        xid: args.xid,
        blksize: args.blksize,
        dhcp_timeout: Duration::from_millis(args.dhcp_timeout_ms),
        tftp_timeout: Duration::from_millis(args.tftp_timeout_ms),
        spread: Duration::from_secs_f64(args.spread),
    };
    if args.list_macs {
        for i in 0..plan.machines {
            println!("{}", plan.mac_text(i));
        }
        return Ok(true);
    }
    let copies = Copies::load(&args.verify)?;
    let relay = Relay::bind(plan.relay)?;
    let (inboxes, outboxes): (Vec<_>, Vec<_>) = (0..plan.machines).map(|_| mpsc::channel()).unzip();
    let done = AtomicBool::new(false);
    let powered = AtomicU32::new(0);
    let started = Instant::now();
    let (results, relay_counts) = std::thread::scope(|s| {
        let dispatcher = s.spawn(|| relay.dispatch(&plan, &inboxes, &done));
        let machines: Vec<_> = outboxes
            .into_iter()
            .enumerate()
            .map(|(i, inbox)| {
                let (plan, copies, relay, powered) = (&plan, &copies, &relay, &powered);
                let power_on = started + plan.spread.mul_f64(i as f64 / f64::from(plan.machines));
                std::thread::Builder::new()
                    .stack_size(256 << 10)
                    .spawn_scoped(s, move || {
                        std::thread::sleep(power_on.saturating_duration_since(Instant::now()));
                        boot_storm::boot(i as u32, plan, copies, relay, &inbox, powered)
                    })
            })
            .collect::<std::io::Result<_>>()?;
        let results: Vec<Result<Booted, String>> = machines
            .into_iter()
            .map(|m: std::thread::ScopedJoinHandle<'_, _>| {
                m.join()
                    .unwrap_or_else(|_| Err("machine thread panicked".into()))
            })
            .collect();
        done.store(true, Ordering::Release);
        let counts = dispatcher.join().expect("dispatcher panicked");
        Ok::<_, std::io::Error>((results, counts))
    })?;
    let all_done = started.elapsed();
    Ok(report(&plan, &results, &relay_counts, all_done))
}

/// Prints the summary line (and the first failures to stderr); true when every machine
/// booted with the right bytes.
fn report(
    plan: &Plan,
    results: &[Result<Booted, String>],
    relay: &boot_storm::RelayCounts,
    all_done: Duration,
) -> bool {
    let booted: Vec<&Booted> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    let mut failures: HashMap<&str, u32> = HashMap::new();
    for why in results.iter().filter_map(|r| r.as_ref().err()) {
        *failures.entry(why.as_str()).or_default() += 1;
    }
    let check = check_files(&booted);
    let mut total = Latencies::default();
    let mut stages: [Latencies; 4] = Default::default();
    for b in &booted {
        total.push(b.elapsed);
        for (s, d) in stages.iter_mut().zip(b.stages) {
            s.push(d);
        }
    }
    let bytes: u64 = booted.iter().flat_map(|b| &b.files).map(|f| f.bytes).sum();
    let mut summary = Summary::new("boot-storm")
        .field("machines", plan.machines)
        .field("booted", booted.len())
        .field("failed", results.len() - booted.len())
        .field("wrong", check.mismatched + relay.wrong)
        .field("verified_files", check.verified)
        .field("agreed_files", check.agreed)
        .millis("all_booted_ms", all_done)
        .rate("machines_s", booted.len() as f64, all_done)
        .millis("p50_ms", total.percentile(0.5))
        .millis("p99_ms", total.percentile(0.99));
    for (name, s) in STAGES.iter().zip(stages.iter_mut()) {
        summary = summary.millis(&format!("{name}_p50_ms"), s.percentile(0.5));
    }
    let summary = summary
        .field("bytes", bytes)
        .rate("mib_s", bytes as f64 / MIB, all_done)
        .field(
            "dhcp_retries",
            booted.iter().map(|b| b.dhcp_retries).sum::<u32>(),
        )
        .field(
            "tftp_timeouts",
            booted.iter().map(|b| b.tftp_timeouts).sum::<u32>(),
        )
        .field("offers", relay.offers);
    println!("{}", summary.line());
    let mut failures: Vec<_> = failures.into_iter().collect();
    failures.sort_by_key(|f| std::cmp::Reverse(f.1));
    for (why, n) in failures.iter().take(10) {
        eprintln!("boot-storm: {n} machine(s) failed: {why}");
    }
    for why in check
        .first_problems
        .iter()
        .chain(relay.first_wrong.map(String::from).iter())
    {
        eprintln!("boot-storm: wrong: {why}");
    }
    failures.is_empty() && check.mismatched == 0 && relay.wrong == 0
}

#[derive(Debug, Default)]
struct FileCheck {
    /// Files equal to their `--verify` copy.
    verified: u32,
    /// Files without a copy, equal to what the first machine got under that name.
    agreed: u32,
    mismatched: u32,
    first_problems: Vec<String>,
}

fn check_files(booted: &[&Booted]) -> FileCheck {
    let mut check = FileCheck::default();
    let mut first_seen: HashMap<&str, Sha256Digest> = HashMap::new();
    for f in booted.iter().flat_map(|b| &b.files) {
        let (ok, against_copy) = match f.check {
            Check::AgainstCopy { equal } => (equal, true),
            Check::Digest(d) => (*first_seen.entry(&f.name).or_insert(d) == d, false),
        };
        match (ok, against_copy) {
            (true, true) => check.verified += 1,
            (true, false) => check.agreed += 1,
            (false, _) => {
                check.mismatched += 1;
                if check.first_problems.len() < 3 {
                    check
                        .first_problems
                        .push(format!("{} ({} bytes) differs", f.name, f.bytes));
                }
            }
        }
    }
    check
}
