//! `caixa`: the Docker-like command line.
//!
//! This file is only a dispatcher: a clap top-level enum whose variants are
//! flattened from the command groups defined in their own modules
//! (`images.rs` for image commands, `containers*.rs` for the engine's), plus
//! the global flags every command shares.

mod containers;
mod containers_fmt;
mod containers_view;
mod image_archive;
mod image_format;
mod image_registry;
mod images;
mod system;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Flags shared by every command.
#[derive(clap::Args, Debug, Clone)]
pub struct Global {
    /// Root of caixa's persistent data (images, containers, state database).
    #[arg(
        long,
        global = true,
        env = "CAIXA_ROOT",
        default_value = "/var/lib/caixa"
    )]
    pub root: PathBuf,
    /// Log level for diagnostics on stderr (error, warn, info, debug, trace).
    #[arg(long, global = true, env = "CAIXA_LOG", default_value = "warn")]
    pub log_level: String,
}

/// caixa: containers and images, daemonless.
#[derive(Parser, Debug)]
#[command(name = "caixa", version, about)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

/// Parsed once per process: variant sizes do not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
enum Command {
    #[command(flatten)]
    Images(images::ImageCommand),
    #[command(flatten)]
    Containers(containers::ContainerCommand),
    /// Engine-wide commands (boot).
    #[command(subcommand)]
    System(system::SystemCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&cli.global.log_level)
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let result = match cli.command {
        Command::Images(cmd) => images::run(&cli.global, cmd),
        Command::Containers(cmd) => containers::run(&cli.global, cmd),
        Command::System(cmd) => system::run(&cli.global, cmd),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("caixa: {err:#}");
            ExitCode::from(1)
        }
    }
}
