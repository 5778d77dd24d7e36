//! caixa-runtime: an OCI runtime with runc's command line.
//!
//! Single-threaded on purpose: it forks the container's processes itself
//! (no re-exec), which is only safe without other threads.

mod checkpoint;
mod cli;
mod commands;
mod default_spec;
mod exec_cmd;
mod logging;
mod ops;
mod tty;

use clap::Parser;

fn main() {
    let cli = cli::Cli::parse();
    if let Err(e) = logging::init(&cli) {
        eprintln!("caixa-runtime: error: {e:#}");
        std::process::exit(1);
    }
    let code = match commands::dispatch(&cli) {
        Ok(code) => code,
        Err(e) => {
            // One line on stderr (and in --log): see `logging`.
            tracing::error!("{}", format!("{e:#}").replace('\n', " "));
            1
        }
    };
    std::process::exit(code);
}
