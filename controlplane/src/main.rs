//! The `fleetboot` binary: parse the command line, set up logging, run the subcommand.

use clap::Parser;
use controlplane::cli::{self, Cli, Command, ImagesCommand};
use controlplane::config::{self, Settings};
use controlplane::images::report;
use controlplane::netboot;

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FLEETBOOT_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(|| controlplane::logging::Stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let result = match cli.command {
        Command::Serve(args) => Settings::resolve(&args)
            .map_err(Into::into)
            .and_then(controlplane::serve::run),
        Command::Images(ImagesCommand::List { json, data_dir }) => {
            report::list(&data_dir, json).map(|text| print!("{text}"))
        }
        Command::Images(ImagesCommand::Netboot {
            id,
            url,
            sha256,
            ca_file,
            config,
            data_dir,
        }) => config::ca_file(ca_file, config.as_deref())
            .map_err(Into::into)
            .and_then(|ca| {
                netboot::command(
                    &data_dir,
                    &id,
                    url.as_deref(),
                    sha256.as_deref(),
                    ca.as_deref(),
                )
            })
            .map(|text| print!("{text}")),
        Command::Images(ImagesCommand::Show { id, json, data_dir }) => {
            report::show(&data_dir, &id, json).map(|text| print!("{text}"))
        }
        Command::Clients(c) => cli::clients::run(c).map(|text| print!("{text}")),
        Command::Multicast(c) => cli::multicast::run(c),
        Command::User(c) => cli::users::run(c).map(|text| print!("{text}")),
        Command::Token(c) => cli::users::run_token(c).map(|text| print!("{text}")),
        Command::Deploy(c) => cli::deploy::run(c).map(|text| print!("{text}")),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fleetboot: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
