//! Container lifecycle: create, start (through a monitor), stop, kill,
//! remove, cleanup after exit, pause, rename, update, exec.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::config::{CreateOptions, HealthCheck, Record};
use crate::error::{Error, Result};
use crate::state::{self, Status};
use crate::{Engine, find_binary, images, spec, util};

/// How a start should behave.
#[derive(Debug, Clone, Copy, Default)]
pub struct StartMode {
    /// The monitor waits for a start request on the attach socket (so an
    /// attached client sees all output).
    pub wait_for_attach: bool,
}

fn runtime_path(opts: &CreateOptions) -> Result<String> {
    let name = opts
        .runtime
        .clone()
        .or_else(|| std::env::var("CAIXA_RUNTIME").ok())
        .unwrap_or_else(|| "caixa-runtime".into());
    if name.contains('/') {
        return if Path::new(&name).is_file() {
            Ok(name)
        } else {
            Err(Error::invalid(
                "--runtime",
                format!("OCI runtime {name} not found"),
            ))
        };
    }
    find_binary(&name)
        .map(|p| p.display().to_string())
        .ok_or_else(|| {
            Error::invalid(
                "--runtime",
                format!(
                    "OCI runtime {name} not found next to caixa or on PATH (set CAIXA_RUNTIME)"
                ),
            )
        })
}

fn monitor_path() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("CAIXA_MONITOR") {
        return Ok(PathBuf::from(p));
    }
    find_binary("caixa-monitor")
        .ok_or_else(|| Error::invalid("caixa-monitor", "not found next to caixa or on PATH"))
}

fn health_from_opts(o: &CreateOptions, image: Option<HealthCheck>) -> Result<Option<HealthCheck>> {
    if o.no_healthcheck {
        return Ok(None);
    }
    let mut h = match (&o.health_cmd, image) {
        (Some(cmd), _) => HealthCheck {
            test: vec!["CMD-SHELL".into(), cmd.clone()],
            ..HealthCheck::default()
        },
        (None, Some(h)) => h,
        (None, None) => return Ok(None),
    };
    if h.test.first().map(String::as_str) == Some("NONE") || h.test.is_empty() {
        return Ok(None);
    }
    if let Some(v) = &o.health_interval {
        h.interval_ns = util::parse_duration_ns("--health-interval", v)?;
    }
    if let Some(v) = &o.health_timeout {
        h.timeout_ns = util::parse_duration_ns("--health-timeout", v)?;
    }
    if let Some(v) = &o.health_start_period {
        h.start_period_ns = util::parse_duration_ns("--health-start-period", v)?;
    }
    if let Some(r) = o.health_retries {
        h.retries = r;
    }
    if h.interval_ns <= 0 {
        h.interval_ns = 30_000_000_000;
    }
    if h.timeout_ns <= 0 {
        h.timeout_ns = 30_000_000_000;
    }
    if h.retries <= 0 {
        h.retries = 3;
    }
    Ok(Some(h))
}

fn read_env_file(p: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(p)
        .map_err(|e| Error::io(format!("--env-file {}", p.display()), e))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect())
}

fn merge_env(env: &mut Vec<String>, kv: &str) {
    let entry = if kv.contains('=') {
        kv.to_string()
    } else {
        match std::env::var(kv) {
            Ok(v) => format!("{kv}={v}"),
            Err(_) => return,
        }
    };
    let key = entry.split('=').next().unwrap_or("").to_string();
    env.retain(|e| e.split('=').next() != Some(key.as_str()));
    env.push(entry);
}

impl Engine {
    /// `caixa create`: resolves the image, records the container, prepares its directory.
    pub fn create(&mut self, opts: CreateOptions) -> Result<Record> {
        let img = images::resolve(self.images()?, &opts.image)?;
        if opts.rm && opts.restart.as_deref().is_some_and(|r| r != "no") {
            return Err(Error::invalid(
                "--restart",
                "conflicting options: --restart and --rm",
            ));
        }
        if let Some(r) = &opts.restart {
            check_restart(r)?;
        }
        let (entrypoint, cmd) = match &opts.entrypoint {
            Some(e) if e.is_empty() => (Vec::new(), opts.cmd.clone()),
            Some(e) => (vec![e.clone()], opts.cmd.clone()),
            None => (
                img.entrypoint.clone(),
                if opts.cmd.is_empty() {
                    img.cmd.clone()
                } else {
                    opts.cmd.clone()
                },
            ),
        };
        let mut env = img.env.clone();
        for f in &opts.env_files {
            for kv in read_env_file(f)? {
                merge_env(&mut env, &kv);
            }
        }
        for kv in &opts.env {
            merge_env(&mut env, kv);
        }
        let mut labels = img.labels.clone();
        for l in &opts.labels {
            let (k, v) = l.split_once('=').unwrap_or((l.as_str(), ""));
            labels.insert(k.to_string(), v.to_string());
        }
        let stop_signal = opts
            .stop_signal
            .clone()
            .or(img.stop_signal.clone())
            .unwrap_or_else(|| "SIGTERM".into());
        if spec::signal_number(&stop_signal).is_none() {
            return Err(Error::invalid(
                "--stop-signal",
                format!("invalid signal {stop_signal:?}"),
            ));
        }
        let log_opts: BTreeMap<String, String> = opts
            .log_opts
            .iter()
            .map(|o| {
                o.split_once('=')
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .ok_or_else(|| {
                        Error::invalid("--log-opt", format!("{o:?}: expected key=value"))
                    })
            })
            .collect::<Result<_>>()?;
        let mut log_max_size = 0u64;
        let mut log_max_file = 1u32;
        for (k, v) in &log_opts {
            match k.as_str() {
                "max-size" => log_max_size = util::parse_size("--log-opt max-size", v)? as u64,
                "max-file" => {
                    log_max_file = v.parse().ok().filter(|n| *n >= 1).ok_or_else(|| {
                        Error::invalid(
                            "--log-opt max-file",
                            format!("{v:?} is not a positive number"),
                        )
                    })?
                }
                _ => {
                    return Err(Error::invalid(
                        "--log-opt",
                        format!("unknown log option {k:?} (max-size, max-file)"),
                    ));
                }
            }
        }
        let id = util::new_id()?;
        let runtime = runtime_path(&opts)?;
        let mut r = Record {
            name: String::new(),
            created: util::now_rfc3339(),
            image: opts.image.clone(),
            image_id: img.id.clone(),
            args: entrypoint.iter().chain(cmd.iter()).cloned().collect(),
            entrypoint,
            cmd,
            env,
            workdir: opts.workdir.clone().unwrap_or(img.workdir.clone()),
            user: opts.user.clone().unwrap_or(img.user.clone()),
            hostname: opts
                .hostname
                .clone()
                .unwrap_or_else(|| id[..12].to_string()),
            labels,
            stop_signal,
            stop_timeout: opts.stop_timeout.unwrap_or(10),
            health: health_from_opts(&opts, img.health.clone())?,
            runtime,
            lower_dirs: img.lower_dirs.clone(),
            log_max_size,
            log_max_file,
            id,
            opts,
        };
        // Check every flag that becomes config.json now, not at start.
        let mut probe = r.clone();
        probe.user.clear();
        spec::generate(
            &probe,
            Path::new("/nonexistent"),
            Path::new("/nonexistent"),
            None,
        )?;
        match r.opts.name.clone() {
            Some(n) => {
                util::check_name(&n)?;
                r.name = n;
                self.db.insert(&r)?;
            }
            None => {
                let mut attempt = 0;
                loop {
                    r.name = util::generated_name(&r.id, attempt);
                    match self.db.insert(&r) {
                        Err(Error::NameInUse { .. }) if attempt < 100 => attempt += 1,
                        other => break other?,
                    }
                }
            }
        }
        if let Err(e) = self
            .prepare_dir(&r)
            .and_then(|_| images::add_ref(self.images()?, &r))
        {
            let _ = std::fs::remove_dir_all(self.dir(&r.id));
            let _ = self.db.delete(&r.id);
            return Err(e);
        }
        self.db.event(&r, "create", "");
        Ok(r)
    }

    fn prepare_dir(&self, r: &Record) -> Result<()> {
        let dir = self.dir(&r.id);
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::io(format!("create {}", dir.display()), e))?;
        let write = |name: &str, text: String| {
            std::fs::write(dir.join(name), text)
                .map_err(|e| Error::io(format!("write {}", dir.join(name).display()), e))
        };
        write("hostname", format!("{}\n", r.hostname))?;
        write(
            "hosts",
            format!(
                "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t{}\n",
                r.hostname
            ),
        )?;
        let resolv = if r.opts.network.as_deref() == Some("host") {
            std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default()
        } else {
            String::new()
        };
        write("resolv.conf", resolv)?;
        Ok(())
    }

    /// Starts a created or exited container through a new monitor.
    /// Returns the init's pid. With `wait_for_attach`, it returns 0 as soon
    /// as the monitor listens: the caller must connect to the attach socket
    /// and send a start request, and start errors then come on that socket.
    pub fn start(&mut self, r: &Record, mode: StartMode) -> Result<i32> {
        let dir = self.dir(&r.id);
        let st = state::read(&dir);
        if st.status.is_active() {
            return Ok(st.pid);
        }
        self.reap_orphan(r, &st)?;
        util::warm_cgroup_migration();
        let _ = std::fs::remove_file(dir.join("stopped"));
        let _ = std::fs::remove_file(dir.join("paused"));
        let _ = std::fs::remove_file(dir.join("state"));
        let _ = std::fs::remove_file(dir.join("health.log"));
        let rootfs = images::mount_rootfs(self.images()?, r, &dir)?;
        match self.spawn_monitor(r, &rootfs, mode) {
            Ok(pid) => {
                self.db.event(r, "start", "");
                Ok(pid)
            }
            Err(e) => {
                // The monitor (if it got that far) runs the cleanup (and
                // --rm) before it exits: wait for it, then make sure.
                self.wait_monitor(&r.id, Some(Duration::from_secs(30)));
                if images::is_mounted(&dir.join("rootfs")) {
                    let _ = self
                        .images()
                        .and_then(|s| images::unmount_rootfs(s, r, &dir));
                }
                Err(e)
            }
        }
    }

    fn spawn_monitor(&mut self, r: &Record, rootfs: &Path, mode: StartMode) -> Result<i32> {
        let dir = self.dir(&r.id);
        let monitor = monitor_path()?;
        let init = if r.opts.init {
            Some(init_dir(&self.root, &monitor)?)
        } else {
            None
        };
        let spec = spec::generate(r, rootfs, &dir, init.as_deref())?;
        let text = serde_json::to_vec_pretty(&spec)
            .map_err(|e| Error::invalid("config.json", e.to_string()))?;
        std::fs::write(dir.join("config.json"), text)
            .map_err(|e| Error::io(format!("write {}/config.json", dir.display()), e))?;
        let run = self.run_dir(&r.id);
        std::fs::create_dir_all(&run)
            .map_err(|e| Error::io(format!("create {}", run.display()), e))?;
        std::fs::create_dir_all(self.runtime_root())
            .map_err(|e| Error::io(format!("create {}", self.runtime_root().display()), e))?;
        let exe = std::env::current_exe().map_err(|e| Error::io("find the caixa executable", e))?;
        let mut fds = [0; 2];
        // SAFETY: fds is a valid array; the read end is close-on-exec, the
        // write end is inherited by the monitor on purpose.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), 0) } != 0 {
            return Err(Error::io("pipe", std::io::Error::last_os_error()));
        }
        // SAFETY: pipe2 returned two new fds that we now own.
        let (rd, wr) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        // SAFETY: FD_CLOEXEC on our own read end.
        unsafe { libc::fcntl(rd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) };
        let mut cmd = Command::new(&monitor);
        cmd.arg("--id")
            .arg(&r.id)
            .arg("--bundle")
            .arg(&dir)
            .arg("--dir")
            .arg(&dir)
            .arg("--sock")
            .arg(self.sock(&r.id));
        cmd.arg("--runtime")
            .arg(&r.runtime)
            .arg("--runtime-root")
            .arg(self.runtime_root());
        cmd.arg("--log")
            .arg(self.log_path(&r.id))
            .arg("--log-max-size")
            .arg(r.log_max_size.to_string())
            .arg("--log-max-file")
            .arg(r.log_max_file.to_string());
        cmd.arg("--ready-fd").arg(wr.as_raw_fd().to_string());
        if r.opts.tty {
            cmd.arg("--tty");
        }
        if r.opts.interactive {
            cmd.arg("--stdin");
        }
        if mode.wait_for_attach {
            cmd.arg("--wait-start");
        }
        if let Some(p) = &r.opts.restart {
            cmd.arg("--restart").arg(p);
        }
        let oom = if spec::cgroup_v2() {
            format!("/sys/fs/cgroup{}/memory.events", spec::cgroups_path(&r.id))
        } else {
            format!(
                "/sys/fs/cgroup/memory{}/memory.oom_control",
                spec::cgroups_path(&r.id)
            )
        };
        cmd.arg("--oom-file").arg(oom);
        if let Some(h) = &r.health {
            let argv: Vec<String> = match h.test.first().map(String::as_str) {
                Some("CMD-SHELL") => vec!["/bin/sh".into(), "-c".into(), h.test[1..].join(" ")],
                _ => h.test[1..].to_vec(),
            };
            for a in argv {
                cmd.arg("--health-arg").arg(a);
            }
            cmd.arg("--health-interval-ms")
                .arg((h.interval_ns / 1_000_000).to_string());
            cmd.arg("--health-timeout-ms")
                .arg((h.timeout_ns / 1_000_000).to_string());
            cmd.arg("--health-retries").arg(h.retries.to_string());
            cmd.arg("--health-start-period-ms")
                .arg((h.start_period_ns / 1_000_000).to_string());
        }
        for a in [
            exe.display().to_string(),
            "--root".into(),
            self.root.display().to_string(),
            "container-cleanup".into(),
            r.id.clone(),
        ] {
            cmd.arg("--exit-arg").arg(a);
        }
        cmd.env("CAIXA_RUN_ROOT", &self.run_root);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: setsid is async-signal-safe; it detaches the monitor from our terminal.
        unsafe {
            cmd.pre_exec(|| {
                libc::setsid();
                Ok(())
            });
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| Error::io(format!("start {}", monitor.display()), e))?;
        drop(wr);
        drop(cmd);
        // The monitor double-forks: this child exits at once.
        let _ = child.wait();
        let mut lines = BufReader::new(std::fs::File::from(rd)).lines();
        let mut pid = 0;
        loop {
            let Some(Ok(line)) = lines.next() else {
                let why = std::fs::read_to_string(dir.join("monitor.log")).unwrap_or_default();
                let why = why
                    .lines()
                    .last()
                    .unwrap_or("the monitor exited without a word")
                    .to_string();
                return Err(Error::Runtime {
                    op: "start".into(),
                    id: r.id.clone(),
                    msg: why,
                });
            };
            if line == "waiting" && mode.wait_for_attach {
                // The monitor creates the container once the client sent
                // the start request on the attach socket (pid not known yet).
                return Ok(0);
            } else if let Some(p) = line.strip_prefix("created ") {
                pid = p.trim().parse().unwrap_or(0);
            } else if line == "started" {
                return Ok(pid);
            } else if let Some(rest) = line.strip_prefix("err ") {
                let (code, msg) = rest.split_once(' ').unwrap_or((rest, ""));
                return Err(Error::Exec {
                    code: code.parse().unwrap_or(125),
                    msg: msg.to_string(),
                });
            }
        }
    }

    /// Runs after the monitor's final exit (its exit command, or the
    /// attached `caixa run` itself): unmounts the rootfs, records the exit,
    /// and removes the container when `--rm`. The run directory goes last:
    /// the monitor takes its absence as "cleanup done".
    pub fn cleanup(&mut self, key: &str) -> Result<()> {
        let Ok((r, st)) = self.find(key) else {
            return Ok(());
        };
        let dir = self.dir(&r.id);
        if images::is_mounted(&dir.join("rootfs")) {
            images::unmount_rootfs(self.images()?, &r, &dir)?;
        }
        self.db
            .event(&r, "die", &format!("exitCode={}", st.exit_code));
        if r.opts.rm {
            self.remove(&r.id, true)?;
        }
        let _ = std::fs::remove_dir_all(self.run_dir(&r.id));
        Ok(())
    }

    /// After an attached session ([`crate::attach::Conn::start`] claims the
    /// cleanup) ended without a detach: runs the cleanup the monitor left to
    /// this process, unless the container runs on (e.g. restarting).
    pub fn cleanup_attached(&mut self, key: &str) -> Result<()> {
        let Ok((r, st)) = self.find(key) else {
            return Ok(());
        };
        if st.orphaned || st.status.is_active() || !self.run_dir(&r.id).exists() {
            return Ok(());
        }
        self.cleanup(&r.id)
    }

    /// Waits until the container's monitor is gone (or `timeout` passes).
    /// Returns true when it is gone.
    pub fn wait_monitor(&self, id: &str, timeout: Option<Duration>) -> bool {
        let deadline = timeout.map(|t| Instant::now() + t);
        let dir = self.dir(id);
        if let Ok(mut c) = crate::attach::Conn::connect(&self.sock(id)) {
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            c.wait_eof(left);
        }
        loop {
            let st = state::read(&dir);
            if !state::monitor_alive(st.monitor_pid) {
                return true;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub(crate) fn runtime_cmd(&self, r: &Record) -> Command {
        let mut c = Command::new(&r.runtime);
        c.arg("--root").arg(self.runtime_root());
        c
    }

    fn runtime_do(&self, r: &Record, args: &[&str]) -> Result<()> {
        let out = self
            .runtime_cmd(r)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| Error::io(format!("run {}", r.runtime), e))?;
        if out.status.success() {
            return Ok(());
        }
        let msg = String::from_utf8_lossy(&out.stderr)
            .lines()
            .last()
            .unwrap_or("")
            .to_string();
        Err(Error::Runtime {
            op: args[0].to_string(),
            id: r.name.clone(),
            msg,
        })
    }

    /// Sends a signal to the container's init.
    pub fn kill(&mut self, key: &str, signal: &str) -> Result<Record> {
        let (r, st) = self.find(key)?;
        let n = spec::signal_number(signal)
            .ok_or_else(|| Error::invalid("--signal", format!("invalid signal {signal:?}")))?;
        if !matches!(st.status, Status::Running | Status::Paused) {
            return Err(Error::Conflict(format!(
                "cannot kill container {}: container is not running",
                r.name
            )));
        }
        if n == libc::SIGKILL || Some(n) == spec::signal_number(&r.stop_signal) {
            let _ = std::fs::write(self.dir(&r.id).join("stopped"), "");
        }
        self.runtime_do(&r, &["kill", &r.id, &n.to_string()])?;
        self.db.event(&r, "kill", &format!("signal={n}"));
        Ok(r)
    }

    /// Stops a container: stop signal, then SIGKILL after `timeout` seconds.
    pub fn stop(&mut self, key: &str, timeout: Option<i64>) -> Result<Record> {
        self.stop_with(key, timeout, None)
    }

    /// Like [`Engine::stop`], with a signal other than the container's stop signal.
    pub fn stop_with(
        &mut self,
        key: &str,
        timeout: Option<i64>,
        signal: Option<&str>,
    ) -> Result<Record> {
        let (r, st) = self.find(key)?;
        let signal = signal.unwrap_or(&r.stop_signal);
        let sig = spec::signal_number(signal)
            .ok_or_else(|| Error::invalid("--signal", format!("invalid signal {signal:?}")))?;
        let dir = self.dir(&r.id);
        if st.orphaned {
            let _ = std::fs::write(dir.join("stopped"), "");
            self.reap_orphan(&r, &st)?;
            self.db.event(&r, "stop", "");
            return Ok(r);
        }
        if !st.status.is_active() {
            return Ok(r);
        }
        let _ = std::fs::write(dir.join("stopped"), "");
        if st.status == Status::Restarting {
            // SAFETY: waking the container's monitor so it sees the stop marker.
            unsafe { libc::kill(st.monitor_pid, libc::SIGUSR1) };
        } else {
            if st.status == Status::Paused {
                let _ = self.runtime_do(&r, &["resume", &r.id]);
            }
            let _ = self.runtime_do(&r, &["kill", &r.id, &sig.to_string()]);
            let t = timeout.unwrap_or(r.stop_timeout).max(0) as u64;
            if !self.wait_monitor(&r.id, Some(Duration::from_secs(t))) {
                let _ = self.runtime_do(&r, &["kill", &r.id, "KILL"]);
            }
        }
        if !self.wait_monitor(&r.id, Some(Duration::from_secs(30))) {
            return Err(Error::Conflict(format!(
                "cannot stop container {}: its monitor does not exit",
                r.name
            )));
        }
        self.db.event(&r, "stop", "");
        Ok(r)
    }

    /// Removes a container (`force`: kill it first).
    pub fn remove(&mut self, key: &str, force: bool) -> Result<Record> {
        let (r, st) = self.find(key)?;
        let dir = self.dir(&r.id);
        if st.status.is_active() {
            if !force {
                return Err(Error::Conflict(format!(
                    "cannot remove container {}: container is {}: stop the container before removing or force remove",
                    r.name,
                    st.status.as_str()
                )));
            }
            let _ = std::fs::write(dir.join("stopped"), "");
            if st.status == Status::Restarting {
                // SAFETY: waking the monitor so it sees the stop marker.
                unsafe { libc::kill(st.monitor_pid, libc::SIGUSR1) };
            } else {
                let _ = self.runtime_do(&r, &["kill", &r.id, "KILL"]);
            }
            self.wait_monitor(&r.id, Some(Duration::from_secs(30)));
        } else if st.orphaned {
            self.reap_orphan(&r, &st)?;
        }
        if self.runtime_root().join(&r.id).exists() {
            let _ = self
                .runtime_cmd(&r)
                .args(["delete", "--force", &r.id])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        images::remove_rootfs(self.images()?, &r, &dir)?;
        let _ = std::fs::remove_dir_all(self.run_dir(&r.id));
        if let Err(e) = std::fs::remove_dir_all(&dir)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            return Err(Error::io(format!("remove {}", dir.display()), e));
        }
        self.db.delete(&r.id)?;
        self.db.event(&r, "destroy", "");
        Ok(r)
    }

    /// Freezes or thaws a container.
    pub fn pause(&mut self, key: &str, pause: bool) -> Result<Record> {
        let (r, st) = self.find(key)?;
        let dir = self.dir(&r.id);
        match (pause, st.status) {
            (true, Status::Running) => {
                self.runtime_do(&r, &["pause", &r.id])?;
                let _ = std::fs::write(dir.join("paused"), "");
                self.db.event(&r, "pause", "");
            }
            (false, Status::Paused) => {
                self.runtime_do(&r, &["resume", &r.id])?;
                let _ = std::fs::remove_file(dir.join("paused"));
                self.db.event(&r, "unpause", "");
            }
            (true, Status::Paused) => {
                return Err(Error::Conflict(format!(
                    "container {} is already paused",
                    r.name
                )));
            }
            (false, _) => {
                return Err(Error::Conflict(format!(
                    "container {} is not paused",
                    r.name
                )));
            }
            (true, _) => {
                return Err(Error::Conflict(format!(
                    "container {} is not running",
                    r.name
                )));
            }
        }
        Ok(r)
    }

    /// Renames a container (names stay unique).
    pub fn rename(&mut self, key: &str, new: &str) -> Result<Record> {
        util::check_name(new)?;
        let (mut r, _) = self.find(key)?;
        let old = r.name.clone();
        r.name = new.to_string();
        self.db.update(&r)?;
        self.db.event(&r, "rename", &format!("oldName={old}"));
        Ok(r)
    }

    /// Changes resource limits of a container (live when it runs).
    pub fn update(&mut self, key: &str, upd: &CreateOptions) -> Result<Record> {
        let (mut r, st) = self.find(key)?;
        if upd.memory.is_some() {
            r.opts.memory = upd.memory.clone();
            r.opts.memory_swap = upd.memory_swap.clone();
        } else if upd.memory_swap.is_some() {
            r.opts.memory_swap = upd.memory_swap.clone();
        }
        if upd.cpus.is_some() {
            r.opts.cpus = upd.cpus;
        }
        if upd.cpu_shares.is_some() {
            r.opts.cpu_shares = upd.cpu_shares;
        }
        if upd.cpuset_cpus.is_some() {
            r.opts.cpuset_cpus = upd.cpuset_cpus.clone();
        }
        if upd.pids_limit.is_some() {
            r.opts.pids_limit = upd.pids_limit;
        }
        if let Some(p) = &upd.restart {
            check_restart(p)?;
            r.opts.restart = Some(p.clone());
        }
        let spec = spec::generate(
            &r,
            Path::new("/nonexistent"),
            Path::new("/nonexistent"),
            None,
        );
        let mut probe = r.clone();
        probe.user.clear();
        let spec = spec.or_else(|_| {
            spec::generate(
                &probe,
                Path::new("/nonexistent"),
                Path::new("/nonexistent"),
                None,
            )
        })?;
        if matches!(st.status, Status::Running | Status::Paused) {
            let res = serde_json::to_vec(&spec["linux"]["resources"])
                .map_err(|e| Error::invalid("resources", e.to_string()))?;
            let file = self.run_dir(&r.id).join("resources.json");
            std::fs::write(&file, res)
                .map_err(|e| Error::io(format!("write {}", file.display()), e))?;
            let f = file.display().to_string();
            self.runtime_do(&r, &["update", "--resources", &f, &r.id])?;
        }
        self.db.update(&r)?;
        self.db.event(&r, "update", "");
        Ok(r)
    }

    /// Runs a process in a running container; returns its exit code.
    pub fn exec(&mut self, key: &str, e: &ExecOptions) -> Result<i32> {
        let (r, st) = self.find(key)?;
        if st.status != Status::Running {
            return Err(Error::Conflict(format!(
                "container {} is not running",
                r.name
            )));
        }
        let mut c = self.runtime_cmd(&r);
        c.arg("exec");
        if e.tty {
            c.arg("--tty");
        }
        if e.detach {
            c.arg("--detach");
        }
        if let Some(w) = &e.workdir {
            c.arg("--cwd").arg(w);
        }
        for kv in r.env.iter().chain(e.env.iter()) {
            c.arg("--env").arg(kv);
        }
        let user = e.user.clone().unwrap_or(r.user.clone());
        if !user.is_empty() {
            let (uid, gid, _) = spec::resolve_user(&self.dir(&r.id).join("rootfs"), &user)?;
            c.arg("--user").arg(format!("{uid}:{gid}"));
        }
        if e.privileged {
            for cap in spec::host_caps() {
                c.arg("--cap").arg(cap);
            }
        }
        c.arg(&r.id).args(&e.cmd);
        if !e.interactive {
            c.stdin(Stdio::null());
        }
        let status = c
            .status()
            .map_err(|err| Error::io(format!("run {}", r.runtime), err))?;
        use std::os::unix::process::ExitStatusExt;
        Ok(status
            .code()
            .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)))
    }
}

/// Options of `caixa exec`.
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    /// The command.
    pub cmd: Vec<String>,
    /// `-i`.
    pub interactive: bool,
    /// `-t`.
    pub tty: bool,
    /// `-d`.
    pub detach: bool,
    /// `-e`.
    pub env: Vec<String>,
    /// `-w`.
    pub workdir: Option<String>,
    /// `-u`.
    pub user: Option<String>,
    /// `--privileged`.
    pub privileged: bool,
}

/// The directory bind-mounted for `--init`: caixa-monitor, its dynamic
/// loader (named in the file `loader`) and the libraries it needs, copied
/// once per monitor build under `ROOT/engine/init-<size>-<mtime>`.
pub fn init_dir(root: &Path, monitor: &Path) -> Result<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let io = |what: String, e| Error::io(what, e);
    let md =
        std::fs::metadata(monitor).map_err(|e| io(format!("stat {}", monitor.display()), e))?;
    let dir = root
        .join("engine")
        .join(format!("init-{}-{}", md.size(), md.mtime()));
    if dir.join("loader").exists() {
        return Ok(dir);
    }
    let out = Command::new("ldd")
        .arg(monitor)
        .output()
        .map_err(|e| io("run ldd".into(), e))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let tmp = root
        .join("engine")
        .join(format!(".tmp-init-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| io(format!("create {}", tmp.display()), e))?;
    let mut loader = String::new();
    for line in text.lines() {
        // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)" or "/lib64/ld-linux-x86-64.so.2 (0x…)"
        let path = match line.split_once("=>") {
            Some((_, rest)) => rest.split_whitespace().next().unwrap_or(""),
            None => line.split_whitespace().next().unwrap_or(""),
        };
        if !path.starts_with('/') {
            continue;
        }
        let name = Path::new(path)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if line.split_once("=>").is_none() {
            loader = name.clone();
        }
        std::fs::copy(path, tmp.join(&name)).map_err(|e| io(format!("copy {path}"), e))?;
    }
    std::fs::copy(monitor, tmp.join("caixa-monitor"))
        .map_err(|e| io(format!("copy {}", monitor.display()), e))?;
    if loader.is_empty() {
        return Err(Error::invalid(
            "--init",
            "cannot find caixa-monitor's dynamic loader with ldd",
        ));
    }
    std::fs::write(tmp.join("loader"), loader).map_err(|e| io("write loader".into(), e))?;
    if std::fs::rename(&tmp, &dir).is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    Ok(dir)
}

/// Validates a `--restart` policy.
pub fn check_restart(p: &str) -> Result<()> {
    let ok = matches!(p, "no" | "always" | "unless-stopped" | "on-failure")
        || p.strip_prefix("on-failure:")
            .is_some_and(|n| n.parse::<u32>().is_ok());
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "--restart",
            format!("invalid restart policy {p:?} (no, always, unless-stopped, on-failure[:N])"),
        ))
    }
}
