//! Command-line of caixa-monitor (written by the engine, not by users).

use std::path::PathBuf;

/// Restart policy, as Docker's `--restart`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restart {
    /// Never restart.
    No,
    /// Restart on a non-zero exit, at most `max` times (0: unlimited).
    OnFailure(u32),
    /// Always restart unless stopped by the user.
    Always,
    /// Like always (the difference only matters across engine restarts).
    UnlessStopped,
}

/// A health check: `/bin/sh -c cmd` run inside the container.
#[derive(Debug, Clone)]
pub struct Health {
    /// The command line (CMD-SHELL form) or argv (CMD form, NUL-separated).
    pub argv: Vec<String>,
    /// Milliseconds between checks.
    pub interval_ms: u64,
    /// Milliseconds before a check counts as failed.
    pub timeout_ms: u64,
    /// Consecutive failures that make the container unhealthy.
    pub retries: u32,
    /// Milliseconds after start during which failures do not count.
    pub start_period_ms: u64,
}

/// Everything the monitor is told by the engine.
#[derive(Debug, Clone)]
pub struct Args {
    /// Container id (the runtime's id too).
    pub id: String,
    /// OCI bundle directory.
    pub bundle: PathBuf,
    /// Per-container directory (state file, stop marker).
    pub dir: PathBuf,
    /// Attach socket path.
    pub sock: PathBuf,
    /// The OCI runtime binary.
    pub runtime: String,
    /// The runtime's `--root`.
    pub runtime_root: String,
    /// Allocate a pty.
    pub tty: bool,
    /// Keep stdin open.
    pub stdin: bool,
    /// Wait for a start request on the attach socket.
    pub wait_start: bool,
    /// json-file log path.
    pub log: Option<PathBuf>,
    /// Rotate at this many bytes (0: never).
    pub log_max_size: u64,
    /// Keep this many files.
    pub log_max_file: u32,
    /// Restart policy.
    pub restart: Restart,
    /// cgroup file with an `oom_kill N` line.
    pub oom_file: Option<String>,
    /// Command (argv) run after the final exit.
    pub exit_cmd: Vec<String>,
    /// Where to report readiness.
    pub ready_fd: Option<i32>,
    /// Stay in the foreground (no double fork).
    pub foreground: bool,
    /// Health check.
    pub health: Option<Health>,
}

fn num<T: std::str::FromStr>(flag: &str, v: &str) -> Result<T, String> {
    v.parse().map_err(|_| format!("{flag}: not a number: {v}"))
}

/// Parses `--restart` values: no, always, unless-stopped, `on-failure[:N]`.
pub fn parse_restart(v: &str) -> Result<Restart, String> {
    Ok(match v {
        "no" | "" => Restart::No,
        "always" => Restart::Always,
        "unless-stopped" => Restart::UnlessStopped,
        "on-failure" => Restart::OnFailure(0),
        _ => match v.strip_prefix("on-failure:") {
            Some(n) => Restart::OnFailure(num("--restart", n)?),
            None => return Err(format!("--restart: unknown policy {v}")),
        },
    })
}

impl Args {
    /// Parses the monitor's argv (without `argv[0]`).
    pub fn parse(argv: &[String]) -> Result<Args, String> {
        let mut a = Args {
            id: String::new(),
            bundle: PathBuf::new(),
            dir: PathBuf::new(),
            sock: PathBuf::new(),
            runtime: "caixa-runtime".into(),
            runtime_root: "/run/caixa/runtime".into(),
            tty: false,
            stdin: false,
            wait_start: false,
            log: None,
            log_max_size: 0,
            log_max_file: 1,
            restart: Restart::No,
            oom_file: None,
            exit_cmd: Vec::new(),
            ready_fd: None,
            foreground: false,
            health: None,
        };
        let mut h = Health {
            argv: Vec::new(),
            interval_ms: 30_000,
            timeout_ms: 30_000,
            retries: 3,
            start_period_ms: 0,
        };
        let mut it = argv.iter();
        while let Some(flag) = it.next() {
            let mut val = || {
                it.next()
                    .cloned()
                    .ok_or_else(|| format!("{flag}: missing value"))
            };
            match flag.as_str() {
                "--id" => a.id = val()?,
                "--bundle" => a.bundle = val()?.into(),
                "--dir" => a.dir = val()?.into(),
                "--sock" => a.sock = val()?.into(),
                "--runtime" => a.runtime = val()?,
                "--runtime-root" => a.runtime_root = val()?,
                "--tty" => a.tty = true,
                "--stdin" => a.stdin = true,
                "--wait-start" => a.wait_start = true,
                "--foreground" => a.foreground = true,
                "--log" => a.log = Some(val()?.into()),
                "--log-max-size" => a.log_max_size = num(flag, &val()?)?,
                "--log-max-file" => a.log_max_file = num(flag, &val()?)?,
                "--restart" => a.restart = parse_restart(&val()?)?,
                "--oom-file" => a.oom_file = Some(val()?),
                "--exit-arg" => a.exit_cmd.push(val()?),
                "--ready-fd" => a.ready_fd = Some(num(flag, &val()?)?),
                "--health-arg" => h.argv.push(val()?),
                "--health-interval-ms" => h.interval_ms = num(flag, &val()?)?,
                "--health-timeout-ms" => h.timeout_ms = num(flag, &val()?)?,
                "--health-retries" => h.retries = num(flag, &val()?)?,
                "--health-start-period-ms" => h.start_period_ms = num(flag, &val()?)?,
                _ => return Err(format!("unknown flag {flag}")),
            }
        }
        if a.id.is_empty()
            || a.bundle.as_os_str().is_empty()
            || a.dir.as_os_str().is_empty()
            || a.sock.as_os_str().is_empty()
        {
            return Err("--id, --bundle, --dir and --sock are required".into());
        }
        if !h.argv.is_empty() {
            a.health = Some(h);
        }
        Ok(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_policies_parse() {
        assert_eq!(parse_restart("on-failure:3"), Ok(Restart::OnFailure(3)));
        assert_eq!(parse_restart("always"), Ok(Restart::Always));
        assert!(parse_restart("sometimes").is_err());
    }

    #[test]
    fn required_flags_are_checked() {
        assert!(Args::parse(&["--id".into(), "x".into()]).is_err());
    }
}
