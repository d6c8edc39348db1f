//! `http-range`: keep-alive connections fetching random ranges of a file (every body compared
//! with a local copy), or idle keep-alive connections held open and checked afterwards.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use bench::http_load::{self, Target};
use bench::report::{Summary, MIB};
use clap::{Parser, Subcommand};

/// HTTP range load, every byte verified.
#[derive(Parser, Debug)]
struct Args {
    /// Server, HOST:PORT.
    target: String,
    /// URL path of the file, e.g. /files/big.img.
    #[arg(long)]
    path: String,
    /// Local copy of the file.
    #[arg(long)]
    local: PathBuf,
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand, Debug)]
enum Mode {
    /// Random ranges over N connections for D seconds.
    Load {
        /// Keep-alive connections, one thread each.
        #[arg(long, default_value_t = 64)]
        connections: usize,
        /// Bytes per range.
        #[arg(long, default_value_t = 1 << 20)]
        range_size: u64,
        /// Seconds to run.
        #[arg(long, default_value_t = 10.0)]
        duration: f64,
    },
    /// Open K connections (one small range each), hold them idle, check each again.
    Idle {
        /// Connections to hold.
        #[arg(long, default_value_t = 10_000)]
        connections: usize,
        /// Seconds to hold them idle.
        #[arg(long, default_value_t = 10.0)]
        hold: f64,
        /// Bytes per probe range.
        #[arg(long, default_value_t = 4096)]
        range_size: u64,
    },
}

fn main() -> ExitCode {
    match run(&Args::parse()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("http-range: {e}");
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
    let local =
        std::fs::File::open(&args.local).map_err(|e| format!("{}: {e}", args.local.display()))?;
    let size = local.metadata().map_err(|e| e.to_string())?.len();
    if size == 0 {
        return Err("the local file is empty".into());
    }
    let target = Target {
        server,
        path: args.path.clone(),
        local,
        size,
    };
    match args.mode {
        Mode::Load {
            connections,
            range_size,
            duration,
        } => {
            let started = Instant::now();
            let t = http_load::run_ranges(
                &target,
                connections,
                range_size,
                Duration::from_secs_f64(duration),
            );
            let elapsed = started.elapsed();
            let summary = Summary::new("http-range")
                .field("ok", t.ok)
                .field("failed", t.failed)
                .field("bytes", t.bytes)
                .millis("elapsed_ms", elapsed)
                .rate("mib_s", t.bytes as f64 / MIB, elapsed)
                .rate("requests_s", t.ok as f64, elapsed);
            println!("{}", summary.line());
            report_error(&t.first_error);
            Ok(t.failed == 0)
        }
        Mode::Idle {
            connections,
            hold,
            range_size,
        } => {
            let (before, after) = http_load::run_idle(
                &target,
                connections,
                range_size,
                Duration::from_secs_f64(hold),
            );
            let summary = Summary::new("http-idle")
                .field("opened", before.ok)
                .field("open_failed", before.failed)
                .field("alive_after_hold", after.ok)
                .field("dead_after_hold", after.failed);
            println!("{}", summary.line());
            report_error(&before.first_error.or(after.first_error));
            Ok(before.failed == 0 && after.failed == 0 && after.ok == connections as u64)
        }
    }
}

fn report_error(e: &Option<String>) {
    if let Some(e) = e {
        eprintln!("http-range: first failure: {e}");
    }
}
