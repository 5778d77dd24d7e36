//! `caixa system …`: engine-wide commands. `system boot` is what the
//! `caixa-boot.service` systemd unit runs at boot.

use caixa_engine::Engine;
use caixa_engine::boot::BootAction;
use clap::Subcommand;

use crate::Global;
use crate::containers::fail;

/// `caixa system` subcommands.
#[derive(Subcommand, Debug)]
pub enum SystemCommand {
    /// Bring containers back after a reboot or after their monitor died:
    /// clean up what is left of them, then start those with restart policy
    /// always, unless-stopped (unless stopped with `caixa stop`) or
    /// on-failure (when they were running).
    Boot,
}

/// Runs a `system` subcommand; returns the process exit code.
pub fn run(g: &Global, cmd: SystemCommand) -> anyhow::Result<u8> {
    let mut eng = match Engine::open(&g.root) {
        Ok(e) => e,
        Err(e) => return Ok(fail(&e)),
    };
    match cmd {
        SystemCommand::Boot => {
            let done = match eng.boot() {
                Ok(d) => d,
                Err(e) => return Ok(fail(&e)),
            };
            let mut code = 0;
            for (r, res) in done {
                match res {
                    Ok(BootAction::Started) => println!("started {}", r.name),
                    Ok(BootAction::Reaped) => println!("cleaned up {}", r.name),
                    Ok(BootAction::Removed) => println!("removed {}", r.name),
                    Err(e) => {
                        eprintln!("caixa: system boot: {}: {e}", r.name);
                        code = 1;
                    }
                }
            }
            Ok(code)
        }
    }
}
