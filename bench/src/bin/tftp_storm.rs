//! `tftp-storm`: many concurrent TFTP reads of one file, each verified (byte for byte against
//! `--local`, or by SHA-256 against `--sha256`); prints
//! aggregate MiB/s, transfers/s, failures and p50/p99 transfer time.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use bench::report::{Summary, MIB};
use bench::tftp_client::Request;
use bench::tftp_storm::Expected;
use bench::{digest, tftp_storm};
use clap::Parser;

/// Concurrent TFTP reads of one file, every byte verified.
#[derive(Parser, Debug)]
struct Args {
    /// Server request port, HOST:PORT.
    target: String,
    /// Remote file name.
    #[arg(long)]
    file: String,
    /// Expected SHA-256 of the file (hex).
    #[arg(long, conflicts_with = "local", required_unless_present = "local")]
    sha256: Option<String>,
    /// Local copy of the file, compared with every read byte for byte.
    #[arg(long)]
    local: Option<PathBuf>,
    /// Reads in flight at once.
    #[arg(long, default_value_t = 1)]
    clients: usize,
    /// Reads per client, one after the other.
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// Client threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// blksize option (RFC 2348); none if absent.
    #[arg(long)]
    blksize: Option<u16>,
    /// windowsize option (RFC 7440); none if absent.
    #[arg(long)]
    windowsize: Option<u16>,
    /// Silence before a resend, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    timeout_ms: u64,
    /// Resends before a read is given up.
    #[arg(long, default_value_t = 5)]
    retries: u32,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("tftp-storm: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &Args) -> Result<bool, String> {
    let server: SocketAddr = args
        .target
        .to_socket_addrs()
        .map_err(|e| format!("{}: {e}", args.target))?
        .next()
        .ok_or("target resolves to nothing")?;
    let expected = match (&args.sha256, &args.local) {
        (Some(hex), _) => {
            Expected::Digest(digest::parse_hex(hex).ok_or("--sha256 wants 64 hex digits")?)
        }
        (None, Some(path)) => {
            Expected::Copy(std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?)
        }
        (None, None) => unreachable!("clap requires one"),
    };
    let plan = tftp_storm::Plan {
        server,
        request: Request {
            file: args.file.clone(),
            blksize: args.blksize,
            windowsize: args.windowsize,
            timeout: Duration::from_millis(args.timeout_ms),
            retries: args.retries,
        },
        expected,
        clients: args.clients,
        rounds: args.rounds.max(1),
        threads: args.threads,
    };
    let started = Instant::now();
    let mut totals = tftp_storm::run(&plan)
        .map_err(|e| format!("{e} (a descriptor per read in flight: raise ulimit -n)"))?;
    let elapsed = started.elapsed();
    let p50 = totals.latencies.percentile(0.5);
    let p99 = totals.latencies.percentile(0.99);
    let (blksize, windowsize) = totals.negotiated.unwrap_or_default();
    let summary = Summary::new("tftp-storm")
        .field("ok", totals.ok)
        .field("failed", totals.failed)
        .field("bytes", totals.bytes)
        .millis("elapsed_ms", elapsed)
        .rate("mib_s", totals.bytes as f64 / MIB, elapsed)
        .rate("transfers_s", totals.ok as f64, elapsed)
        .millis("p50_ms", p50)
        .millis("p99_ms", p99)
        .field("timeouts", totals.timeouts)
        .field("gaps", totals.gaps)
        .field("blksize", blksize)
        .field("windowsize", windowsize);
    println!("{}", summary.line());
    if let Some(e) = &totals.first_error {
        eprintln!("tftp-storm: first failure: {e}");
    }
    Ok(totals.failed == 0)
}
