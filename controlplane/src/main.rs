//! The `fleetboot` binary: parse the command line, set up logging, run the subcommand.

use clap::Parser;
use controlplane::cli::{Cli, Command};
use controlplane::config::Settings;

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FLEETBOOT_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let result = match cli.command {
        Command::Serve(args) => Settings::resolve(&args)
            .map_err(Into::into)
            .and_then(controlplane::serve::run),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fleetboot: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
