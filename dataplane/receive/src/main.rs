//! `fleetboot-receive URL --output PATH`: receives a fleetboot multicast session into a file
//! or onto a block device, verifies it, and tells the sender.
//!
//! The protocol is the `multicast` crate's; this binary adds the I/O: HTTP for the manifest,
//! reports and unicast repair ([`server`]), the group socket ([`group`], with recvmmsg in
//! [`sys`]), the output
//! ([`output`]), a resume record ([`checkpoint`]), and unpacking zstd images while they
//! arrive ([`unpack`], reading the [`spool`] in order).

mod checkpoint;
mod group;
mod output;
mod progress;
mod receive;
mod reporter;
mod server;
mod session;
mod spool;
mod sys;
mod unpack;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

// musl's allocator unmaps large blocks on free: see Cargo.toml. dlmalloc keeps them for reuse.
#[global_allocator]
static ALLOCATOR: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

/// Receive a fleetboot multicast session into a file or onto a block device.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// The session's manifest URL: http://SERVER:PORT/multicast/SESSION (hex).
    url: String,
    /// Where the file goes: a regular file (created or resumed) or a block device.
    #[arg(long, short)]
    output: PathBuf,
    /// This receiver's name in reports (the deploy agent passes the MAC) [default: host
    /// name and output path].
    #[arg(long)]
    name: Option<String>,
    /// Resume record [default: OUTPUT.fleetboot-receive for a regular file, none for a
    /// block device].
    #[arg(long)]
    state: Option<PathBuf>,
    /// The interface to join the group on [default: the one that reaches the server].
    #[arg(long)]
    interface: Option<String>,
    /// Give up after this many seconds without progress.
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..))]
    timeout: u64,
    /// Check the whole file's SHA-256 as read back from the device, its cache dropped,
    /// rather than as written (which catches a disk that loses writes, at the cost of reading
    /// the whole image again). A zstd image's spool is read back chunk by chunk as it is
    /// unpacked, each chunk checked; without a resume record it is freed as it goes and
    /// cannot be read back whole.
    #[arg(long)]
    read_back: bool,
    /// Where a zstd image is received while it is unpacked onto OUTPUT, in file order as it
    /// arrives: it holds the chunks received ahead of the unpacking, the whole compressed
    /// image only when a resume record is kept [default: OUTPUT.fleetboot-spool.zst beside a
    /// regular file, the temporary directory for a block device].
    #[arg(long)]
    spool: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args
        .name
        .as_ref()
        .is_some_and(|n| n.is_empty() || n.len() > 128)
    {
        eprintln!("fleetboot-receive: error: --name must be 1 to 128 bytes");
        return ExitCode::FAILURE;
    }
    let options = receive::Options {
        url: args.url,
        output: args.output,
        name: args.name,
        state: args.state,
        interface: args.interface,
        timeout: Duration::from_secs(args.timeout),
        read_back: args.read_back,
        spool: args.spool,
    };
    match receive::run(&options) {
        Ok(done) => {
            let secs = done.elapsed.as_secs_f64();
            println!(
                "fleetboot-receive: done {} {} bytes in {secs:.1} s ({:.1} Mbit/s)",
                multicast::hex::encode(&done.sha256),
                done.bytes,
                progress::mbit_per_s(done.bytes, done.elapsed),
            );
            if let Some(unpacked) = done.unpacked {
                print!("fleetboot-receive: unpacked {} bytes", unpacked.bytes);
                match unpacked.spool_peak {
                    Some(peak) => println!(" (the spool held at most {peak} bytes at once)"),
                    None => println!(),
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("fleetboot-receive: error: {e}");
            ExitCode::FAILURE
        }
    }
}
