//! caixa-runtime: an OCI runtime with runc's command line.
//!
//! Single-threaded on purpose: it forks the container's processes itself
//! (no re-exec), which is only safe without other threads.

mod checkpoint;
mod cli;
mod commands;
mod default_spec;
mod exec_cmd;
mod ops;
mod tty;

use std::io::Write;

use clap::Parser;

fn main() {
    let cli = cli::Cli::parse();
    let code = match commands::dispatch(&cli) {
        Ok(code) => code,
        Err(e) => {
            let msg = format!("{e:#}").replace('\n', " ");
            report_error(&cli, &msg);
            1
        }
    };
    std::process::exit(code);
}

/// Prints the one-line error and appends it to `--log` in its format.
fn report_error(cli: &cli::Cli, msg: &str) {
    eprintln!("caixa-runtime: error: {msg}");
    if let Some(path) = &cli.log {
        let line = match cli.log_format {
            cli::LogFormat::Json => format!(
                "{}\n",
                serde_json::json!({
                    "level": "error",
                    "msg": msg,
                    "time": caixa_oci::state::now_rfc3339(),
                })
            ),
            cli::LogFormat::Text => format!(
                "time=\"{}\" level=error msg={:?}\n",
                caixa_oci::state::now_rfc3339(),
                msg
            ),
        };
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = f.write_all(line.as_bytes());
        }
    }
}
