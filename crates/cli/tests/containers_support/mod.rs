//! Shared harness for the container tests: a private CAIXA_ROOT and run
//! root per test under /tmp/caixa-test-<name>-<pid>, the real `caixa`
//! binary, and a check that nothing of the test is left behind.

#![allow(dead_code)]

pub mod pty;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// One test's private engine.
pub struct Env {
    /// The test's directory.
    pub dir: PathBuf,
    /// CAIXA_ROOT.
    pub root: PathBuf,
    /// CAIXA_RUN_ROOT.
    pub run: PathBuf,
}

/// The OCI runtime the tests drive: CAIXA_TEST_RUNTIME (e.g. `runc`, to
/// compare), by default the `caixa-runtime` built beside `caixa`.
pub fn runtime() -> String {
    std::env::var("CAIXA_TEST_RUNTIME").unwrap_or_else(|_| {
        let rt = PathBuf::from(env!("CARGO_BIN_EXE_caixa")).with_file_name("caixa-runtime");
        assert!(
            rt.is_file(),
            "{} is missing: run `cargo build -p caixa-runtime` first",
            rt.display()
        );
        rt.to_string_lossy().into_owned()
    })
}

impl Env {
    /// A fresh environment; the default busybox image is imported once.
    pub fn new(name: &str) -> Env {
        let bin = PathBuf::from(env!("CARGO_BIN_EXE_caixa"));
        let mon = bin.with_file_name("caixa-monitor");
        assert!(
            mon.is_file(),
            "{} is missing: run `cargo build -p caixa-monitor` first",
            mon.display()
        );
        // Short paths: unix socket paths must stay under 108 bytes.
        let dir = PathBuf::from(format!("/tmp/caixa-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let e = Env {
            root: dir.join("root"),
            run: dir.join("r"),
            dir,
        };
        let o = e.run(&["run", "--rm", "--network", "none", "busybox", "true"]);
        assert!(
            o.status.success(),
            "warm-up run failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        e
    }

    /// A `caixa` command in this environment.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_caixa"));
        c.args(args)
            .env("CAIXA_ROOT", &self.root)
            .env("CAIXA_RUN_ROOT", &self.run)
            .env("CAIXA_RUNTIME", runtime())
            .stdin(Stdio::null());
        c
    }

    /// Runs `caixa ARGS` and returns its output.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run caixa")
    }

    /// Runs `caixa ARGS`, asserts success, returns trimmed stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "caixa {args:?} failed ({}):\nstdout: {}\nstderr: {}",
            o.status,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    }

    /// `caixa inspect --format TEMPLATE NAME`.
    pub fn inspect(&self, name: &str, tmpl: &str) -> String {
        self.ok(&["inspect", "--format", tmpl, name])
    }

    /// Polls `f` until it is true (panics after `secs` seconds).
    pub fn until(&self, what: &str, secs: u64, mut f: impl FnMut() -> bool) {
        let end = Instant::now() + Duration::from_secs(secs);
        while !f() {
            assert!(Instant::now() < end, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Removes every container, then asserts nothing is left: no mount under
    /// the test dir, no monitor or runtime state, no cgroup, no process.
    pub fn finish(self) {
        let ids = self.ok(&["ps", "-aq", "--no-trunc"]);
        for id in ids.lines().filter(|l| !l.is_empty()) {
            self.ok(&["rm", "-f", id]);
        }
        assert_eq!(self.ok(&["ps", "-aq"]), "", "containers left");
        let d = self.dir.display().to_string();
        let mounts: Vec<String> = std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .lines()
            .filter(|l| l.contains(&d))
            .map(String::from)
            .collect();
        assert!(mounts.is_empty(), "mounts left: {mounts:?}");
        let procs = processes_mentioning(&d);
        assert!(procs.is_empty(), "processes left: {procs:?}");
        let rt = self.run.join("runtime");
        let left: Vec<_> = std::fs::read_dir(&rt)
            .map(|r| {
                r.filter_map(|e| e.ok())
                    .map(|e| e.file_name())
                    .filter(|n| !n.to_string_lossy().starts_with('.'))
                    .collect()
            })
            .unwrap_or_default();
        assert!(left.is_empty(), "runtime state left: {left:?}");
        for id in ids.lines().filter(|l| !l.is_empty()) {
            assert!(
                cgroup_dirs(id).is_empty(),
                "cgroups left for {id}: {:?}",
                cgroup_dirs(id)
            );
        }
        let containers: Vec<_> = std::fs::read_dir(self.root.join("containers"))
            .map(|r| r.filter_map(|e| e.ok()).collect())
            .unwrap_or_default();
        assert!(containers.is_empty(), "container dirs left: {containers:?}");
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        // Best effort when a test failed half-way: kill, unmount, remove.
        if let Ok(o) = self.cmd(&["ps", "-aq", "--no-trunc"]).output() {
            for id in String::from_utf8_lossy(&o.stdout).lines() {
                let _ = self.cmd(&["rm", "-f", id]).output();
            }
        }
        let d = self.dir.display().to_string();
        for l in std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
        {
            if let Some(m) = l.split(' ').nth(4).filter(|m| m.contains(&d)) {
                let _ = Command::new("umount").arg("-l").arg(m).status();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Pids whose command line mentions `s`.
pub fn processes_mentioning(s: &str) -> Vec<(i32, String)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().filter_map(|e| e.ok()) {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if pid == std::process::id() as i32 {
            continue;
        }
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if cmd.contains(s) {
            out.push((pid, cmd));
        }
    }
    out
}

/// Host cgroup directories of a container (any hierarchy).
pub fn cgroup_dirs(id: &str) -> Vec<PathBuf> {
    let name = format!("caixa-{id}");
    let mut out = Vec::new();
    let base = Path::new("/sys/fs/cgroup");
    if base.join(&name).exists() {
        out.push(base.join(&name));
    }
    for e in std::fs::read_dir(base)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
    {
        let p = e.path().join(&name);
        if p.exists() {
            out.push(p);
        }
    }
    out
}

/// Host pid of a container's init.
pub fn pid_of(env: &Env, name: &str) -> i32 {
    env.inspect(name, "{{.State.Pid}}").parse().unwrap()
}

/// (pid, state letter) of every process in the pid namespace of `pid`.
pub fn processes_in_pidns(pid: i32) -> Vec<(i32, char)> {
    let want = std::fs::read_link(format!("/proc/{pid}/ns/pid")).unwrap();
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().filter_map(|e| e.ok()) {
        let Ok(p) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if std::fs::read_link(format!("/proc/{p}/ns/pid"))
            .ok()
            .as_ref()
            != Some(&want)
        {
            continue;
        }
        let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default();
        if let Some(st) = stat
            .rsplit(')')
            .next()
            .and_then(|r| r.trim_start().chars().next())
        {
            out.push((p, st));
        }
    }
    out
}

/// Host pid of a container's init once it has exec'd the command
/// containing `needle` (`run -d` returns when the runtime released it).
pub fn exec_pid(env: &Env, name: &str, needle: &str) -> i32 {
    let pid = pid_of(env, name);
    env.until("the container's command to start", 10, || {
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        String::from_utf8_lossy(&cmd)
            .replace('\0', " ")
            .contains(needle)
    });
    pid
}
