//! A container's dynamic state, as its monitor records it in `DIR/state`
//! (key=value lines, replaced atomically), plus the `stopped` and `paused`
//! markers the commands leave.

use std::collections::HashMap;
use std::path::Path;

/// Docker's container states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Created, never started (or start failed).
    Created,
    /// The init is running.
    Running,
    /// Frozen.
    Paused,
    /// Waiting to be restarted by its policy.
    Restarting,
    /// Exited.
    Exited,
    /// Docker's "dead"; caixa reports a container whose monitor vanished
    /// as Exited (with [`State::orphaned`]) instead.
    Dead,
}

impl Status {
    /// Lower-case name, as in `docker inspect`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Restarting => "restarting",
            Status::Exited => "exited",
            Status::Dead => "dead",
        }
    }

    /// Running, paused or restarting: a monitor is alive.
    pub fn is_active(self) -> bool {
        matches!(self, Status::Running | Status::Paused | Status::Restarting)
    }
}

/// The parsed state.
#[derive(Debug, Clone)]
pub struct State {
    /// Status.
    pub status: Status,
    /// The init's host pid (0 when not running).
    pub pid: i32,
    /// The monitor's pid.
    pub monitor_pid: i32,
    /// RFC 3339.
    pub started_at: String,
    /// RFC 3339.
    pub finished_at: String,
    /// Last exit code.
    pub exit_code: i32,
    /// Whether the last exit was an OOM kill.
    pub oom_killed: bool,
    /// Restarts so far.
    pub restart_count: u32,
    /// starting, healthy, unhealthy or empty.
    pub health: String,
    /// Failing streak.
    pub health_failing: u32,
    /// Last health check result line.
    pub health_log: String,
    /// Last start error.
    pub error: String,
    /// The state file says the container is active but its monitor is gone
    /// (killed, or the machine rebooted). It is shown as exited; what may
    /// be left of it (processes, runtime state, mounts) is cleaned up by
    /// `start`, `stop`, `rm` and `system boot` ([`crate::Engine::reap_orphan`]).
    pub orphaned: bool,
}

/// Whether `pid` is a live caixa-monitor process.
pub fn monitor_alive(pid: i32) -> bool {
    monitor_of(pid, "")
}

/// Whether `pid` is a live caixa-monitor process whose command line
/// mentions `id` (so a reused pid, e.g. after a reboot, does not count).
pub fn monitor_of(pid: i32, id: &str) -> bool {
    pid > 0
        && std::fs::read(format!("/proc/{pid}/cmdline"))
            .map(|c| {
                let mut args = c.split(|b| *b == 0);
                args.next().is_some_and(|a0| a0.ends_with(b"caixa-monitor"))
                    && (id.is_empty() || args.any(|a| a == id.as_bytes()))
            })
            .unwrap_or(false)
        && !std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
            s.rsplit(')')
                .next()
                .is_some_and(|r| r.trim_start().starts_with('Z'))
        })
}

/// Records in `dir/state` that the container exited with `code` (and
/// `error`), keeping its other fields: used when no monitor can.
pub fn record_exit(dir: &Path, code: i32, error: &str) -> std::io::Result<()> {
    let text = std::fs::read_to_string(dir.join("state")).unwrap_or_default();
    let mut out = String::new();
    for l in text.lines() {
        let k = l.split('=').next().unwrap_or("");
        if !matches!(
            k,
            "status" | "pid" | "monitor_pid" | "finished_at" | "exit_code" | "error"
        ) {
            out.push_str(l);
            out.push('\n');
        }
    }
    out.push_str(&format!(
        "status=exited\npid=0\nmonitor_pid=0\nfinished_at={}\nexit_code={code}\n",
        crate::util::now_rfc3339()
    ));
    if !error.is_empty() {
        out.push_str(&format!("error={}\n", error.replace('\n', " ")));
    }
    let tmp = dir.join(".state.engine.tmp");
    std::fs::write(&tmp, out)?;
    std::fs::rename(&tmp, dir.join("state"))
}

/// Reads the state of the container in `dir`.
pub fn read(dir: &Path) -> State {
    let text = std::fs::read_to_string(dir.join("state")).unwrap_or_default();
    let kv: HashMap<&str, &str> = text.lines().filter_map(|l| l.split_once('=')).collect();
    let get = |k: &str| kv.get(k).copied().unwrap_or("").to_string();
    let num = |k: &str| kv.get(k).and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
    let monitor_pid = num("monitor_pid") as i32;
    let mut status = match kv.get("status").copied() {
        Some("running") => Status::Running,
        Some("restarting") => Status::Restarting,
        Some("exited") => Status::Exited,
        _ => Status::Created,
    };
    let id = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let alive = monitor_of(monitor_pid, &id);
    let orphaned = status.is_active() && !alive;
    let mut exit_code = num("exit_code") as i32;
    let mut error = get("error");
    if orphaned {
        status = Status::Exited;
        if kv.get("status").copied() == Some("running") {
            exit_code = 255;
            error = "caixa-monitor died while the container ran".into();
        }
    }
    if status == Status::Running && dir.join("paused").exists() {
        status = Status::Paused;
    }
    let running = matches!(status, Status::Running | Status::Paused);
    State {
        status,
        pid: if running || (status == Status::Created && alive) {
            num("pid") as i32
        } else {
            0
        },
        monitor_pid: if alive { monitor_pid } else { 0 },
        started_at: get("started_at"),
        finished_at: get("finished_at"),
        exit_code,
        oom_killed: get("oom_killed") == "true",
        restart_count: num("restart_count") as u32,
        health: get("health"),
        health_failing: num("health_failing") as u32,
        health_log: get("health_log"),
        error,
        orphaned,
    }
}

/// Docker's one-line status for `ps` ("Up 5 seconds (healthy)", "Exited (0) 3 seconds ago").
pub fn describe(st: &State) -> String {
    let ago = |t: &str| {
        crate::util::parse_time(t)
            .map(|t| crate::util::human_duration((crate::util::now_secs() - t) as i64))
    };
    match st.status {
        Status::Created => "Created".into(),
        Status::Running | Status::Paused => {
            let mut s = format!("Up {}", ago(&st.started_at).unwrap_or_default());
            if st.status == Status::Paused {
                s.push_str(" (Paused)");
            } else if st.health == "starting" {
                s.push_str(" (health: starting)");
            } else if !st.health.is_empty() {
                s.push_str(&format!(" ({})", st.health));
            }
            s
        }
        Status::Restarting => format!(
            "Restarting ({}) {} ago",
            st.exit_code,
            ago(&st.finished_at).unwrap_or_default()
        ),
        Status::Exited => match ago(&st.finished_at) {
            Some(t) => format!("Exited ({}) {t} ago", st.exit_code),
            None => format!("Exited ({})", st.exit_code),
        },
        Status::Dead => "Dead".into(),
    }
}

/// One health check result, as Docker's `State.Health.Log` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthLog {
    /// RFC 3339 time the check started.
    pub start: String,
    /// RFC 3339 time it ended.
    pub end: String,
    /// Its exit code (-1 when it timed out or could not run).
    pub exit_code: i32,
    /// Its output (stdout and stderr), at most 4096 bytes.
    pub output: String,
}

/// The last health check results (oldest first) the monitor kept in
/// `dir/health.log`: `START\tEND\tCODE\tOUTPUT` lines, output escaped.
pub fn health_log(dir: &Path) -> Vec<HealthLog> {
    let text = std::fs::read_to_string(dir.join("health.log")).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let mut it = l.splitn(4, '\t');
            Some(HealthLog {
                start: it.next()?.to_string(),
                end: it.next()?.to_string(),
                exit_code: it.next()?.parse().ok()?,
                output: unescape(it.next().unwrap_or("")),
            })
        })
        .collect()
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some(o) => out.push(o),
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_log_lines_parse() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("health.log"),
            "2026-01-01T00:00:00Z\t2026-01-01T00:00:01Z\t3\tout\\tx\\nerr\\\\\n\
             s\te\t-1\tHealth check exceeded timeout (1s)\n",
        )
        .unwrap();
        let log = health_log(dir.path());
        assert_eq!(log.len(), 2);
        assert_eq!(log[0].exit_code, 3);
        assert_eq!(log[0].output, "out\tx\nerr\\");
        assert_eq!(log[1].exit_code, -1);
    }
}
