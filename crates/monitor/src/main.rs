//! caixa-monitor: one per running container (like Podman's conmon).
//!
//! Started by the engine, it double-forks into its own session so it
//! survives the `caixa` command, becomes a child subreaper, runs
//! `RUNTIME create` (the container's init is re-parented to it), holds the
//! container's stdio (pipes, or a pty master received on a console socket),
//! writes Docker json-file logs, serves an attach socket, runs health checks,
//! waits for the exit, records it (exit code, OOM kill) in the state file,
//! runs `RUNTIME delete`, restarts per policy with back-off, and finally
//! runs the engine's exit command (cleanup, `--rm`).
//!
//! Attach protocol (unix stream socket), frames `[type u8][len u32 BE][data]`:
//! monitor → client: 1 stdout, 2 stderr, 3 exit (`"CODE OOM"`), 5 error
//! (`"CODE message"`); client → monitor: 0 stdin data, 1 close stdin,
//! 2 resize (rows u16, cols u16), 4 start, 6 "I run the cleanup after the
//! final exit" (the monitor then hangs up on that client first, waits for it,
//! and runs its exit command only if the cleanup was not done).

mod args;
mod init;
mod logfile;
mod monitor;
mod sys;

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    if argv.first().map(String::as_str) == Some("--init") {
        let rest = if argv.get(1).map(String::as_str) == Some("--") {
            &argv[2..]
        } else {
            &argv[1..]
        };
        init::main(rest);
    }
    let a = match args::Args::parse(&argv) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("caixa-monitor: {e}");
            std::process::exit(2);
        }
    };
    std::process::exit(monitor::run(a));
}
