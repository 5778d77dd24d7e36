//! The monitor's life: create, start, relay stdio, wait, record, restart.

use std::fs::File;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod health;

use crate::args::{Args, Restart};
use crate::logfile::JsonLog;
use crate::sys;

const T_STDOUT: u8 = 1;
const T_STDERR: u8 = 2;
const T_EXIT: u8 = 3;
const T_ERROR: u8 = 5;
const C_STDIN: u8 = 0;
const C_CLOSE: u8 = 1;
const C_RESIZE: u8 = 2;
const C_START: u8 = 4;
/// The client runs the exit command's cleanup itself (see `finish`).
const C_CLAIM_CLEANUP: u8 = 6;

/// Dynamic state, written to `DIR/state` (key=value lines) on every change.
#[derive(Default)]
struct State {
    status: &'static str,
    pid: i32,
    started_at: String,
    finished_at: String,
    exit_code: i32,
    oom_killed: bool,
    restart_count: u32,
    health: &'static str,
    health_failing: u32,
    health_log: String,
    error: String,
    restart_delays_ms: Vec<u128>,
}

pub(crate) struct Mon {
    a: Args,
    st: State,
    sig: OwnedFd,
    listen: OwnedFd,
    clients: Vec<OwnedFd>,
    out: [Option<OwnedFd>; 2],
    stdin: Option<OwnedFd>,
    master: Option<OwnedFd>,
    log: Option<JsonLog>,
    ready: Option<File>,
    start_requested: bool,
    /// The attached client that will clean up after the final exit.
    claimant: Option<RawFd>,
    winsize: Option<(u16, u16)>,
    health_pid: i32,
    health_start: String,
    health_entries: std::collections::VecDeque<String>,
    health_deadline: Option<Instant>,
    next_health: Option<Instant>,
    started: Instant,
    init_pid: i32,
}

/// Runs the monitor; returns the process exit code.
pub fn run(a: Args) -> i32 {
    if !a.foreground {
        daemonize(&a);
    }
    // SAFETY: prctl with integer arguments on the calling process.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    // SAFETY: ignoring SIGPIPE so a vanished client is an EPIPE, not death.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    let sig = match sys::signalfd(&[
        libc::SIGCHLD,
        libc::SIGUSR1,
        libc::SIGTERM,
        libc::SIGINT,
        libc::SIGHUP,
    ]) {
        Ok(s) => s,
        Err(e) => return fail_early(&a, 125, &format!("signalfd: {e}")),
    };
    let listen = match sys::listen_unix(&a.sock) {
        Ok(l) => l,
        Err(e) => return fail_early(&a, 125, &format!("attach socket {}: {e}", a.sock.display())),
    };
    // SAFETY: the engine passed us this fd for our exclusive use.
    let ready = a.ready_fd.map(|fd| unsafe { File::from_raw_fd(fd) });
    let log = a
        .log
        .clone()
        .map(|p| JsonLog::open(p, a.log_max_size, a.log_max_file));
    let mut m = Mon {
        st: State {
            status: "created",
            health: if a.health.is_some() { "starting" } else { "" },
            ..State::default()
        },
        a,
        sig,
        listen,
        clients: Vec::new(),
        out: [None, None],
        stdin: None,
        master: None,
        log,
        ready,
        start_requested: false,
        claimant: None,
        winsize: None,
        health_pid: 0,
        health_start: String::new(),
        health_entries: std::collections::VecDeque::new(),
        health_deadline: None,
        next_health: None,
        started: Instant::now(),
        init_pid: 0,
    };
    m.lifecycle()
}

fn fail_early(a: &Args, code: i32, msg: &str) -> i32 {
    if let Some(fd) = a.ready_fd {
        let _ = sys::write_all(fd, format!("err {code} {msg}\n").as_bytes());
    }
    eprintln!("caixa-monitor: {msg}");
    1
}

fn daemonize(a: &Args) {
    // SAFETY: the monitor is single-threaded here; the parent exits at once.
    match unsafe { libc::fork() } {
        0 => {}
        -1 => std::process::exit(fail_early(a, 125, "fork failed")),
        // SAFETY: leaving without destructors in the forked parent.
        _ => unsafe { libc::_exit(0) },
    }
    // SAFETY: setsid in the child; it is not a group leader after fork.
    unsafe { libc::setsid() };
    // SAFETY: as above: single-threaded fork, the parent exits at once.
    match unsafe { libc::fork() } {
        0 => {}
        -1 => std::process::exit(fail_early(a, 125, "fork failed")),
        // SAFETY: as above.
        _ => unsafe { libc::_exit(0) },
    }
    let _ = std::env::set_current_dir("/");
    if let Ok(null) = sys::open("/dev/null", libc::O_RDWR, 0) {
        // SAFETY: dup2 onto the standard fds of this process.
        unsafe {
            libc::dup2(null.as_raw_fd(), 0);
            libc::dup2(null.as_raw_fd(), 1);
        }
    }
    let errlog = a.dir.join("monitor.log");
    if let Ok(f) = sys::open(
        &errlog.to_string_lossy(),
        libc::O_WRONLY | libc::O_CREAT | libc::O_APPEND,
        0o600,
    ) {
        // SAFETY: dup2 onto stderr of this process.
        unsafe { libc::dup2(f.as_raw_fd(), 2) };
    }
}

/// Maps a runtime error text to Docker's exit codes (127 not found, 126 cannot execute).
fn classify(msg: &str) -> i32 {
    let m = msg.to_ascii_lowercase();
    if m.contains("not found") || m.contains("no such file") {
        127
    } else if m.contains("permission denied")
        || m.contains("not executable")
        || m.contains("exec format")
    {
        126
    } else {
        125
    }
}

/// The useful part of a runtime's error output (runc logs `msg="…"`).
fn runtime_message(raw: &str) -> String {
    let line = raw
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim();
    if let Some(i) = line.find("msg=\"") {
        let rest = &line[i + 5..];
        let end = rest.rfind('"').unwrap_or(rest.len());
        return rest[..end].replace("\\\"", "\"");
    }
    if line.starts_with('{')
        && let Some(i) = line.find("\"msg\":\"")
    {
        let rest = &line[i + 7..];
        let end = rest
            .find("\",")
            .or_else(|| rest.rfind('"'))
            .unwrap_or(rest.len());
        return rest[..end].replace("\\\"", "\"");
    }
    line.to_string()
}

fn unblocked(cmd: &mut Command) -> &mut Command {
    // SAFETY: the pre-exec closure only calls sigprocmask, which is
    // async-signal-safe; it lets children see signals we route to signalfd.
    unsafe {
        cmd.pre_exec(|| {
            sys::unblock_all_signals();
            Ok(())
        })
    }
}

impl Mon {
    fn runtime(&self) -> Command {
        let mut c = Command::new(&self.a.runtime);
        c.arg("--root").arg(&self.a.runtime_root);
        unblocked(&mut c);
        c
    }

    fn write_state(&self) {
        let s = &self.st;
        let mut text = format!(
            "status={}\npid={}\nmonitor_pid={}\nstarted_at={}\nfinished_at={}\nexit_code={}\noom_killed={}\nrestart_count={}\nhealth={}\nhealth_failing={}\n",
            s.status,
            s.pid,
            std::process::id(),
            s.started_at,
            s.finished_at,
            s.exit_code,
            s.oom_killed,
            s.restart_count,
            s.health,
            s.health_failing
        );
        if !s.health_log.is_empty() {
            text.push_str(&format!("health_log={}\n", s.health_log.replace('\n', " ")));
        }
        if !s.restart_delays_ms.is_empty() {
            let d: Vec<String> = s.restart_delays_ms.iter().map(|d| d.to_string()).collect();
            text.push_str(&format!("restart_delays_ms={}\n", d.join(",")));
        }
        if !s.error.is_empty() {
            text.push_str(&format!("error={}\n", s.error.replace('\n', " ")));
        }
        let tmp = self.a.dir.join(".state.tmp");
        if std::fs::write(&tmp, text).is_ok() {
            let _ = std::fs::rename(&tmp, self.a.dir.join("state"));
        }
    }

    fn report(&mut self, line: &str) {
        if let Some(r) = self.ready.as_mut() {
            let _ = r.write_all(line.as_bytes());
        }
    }

    fn broadcast(&mut self, t: u8, data: &[u8]) {
        let mut frame = Vec::with_capacity(data.len() + 5);
        frame.push(t);
        frame.extend_from_slice(&(data.len() as u32).to_be_bytes());
        frame.extend_from_slice(data);
        self.clients
            .retain(|c| sys::write_all(c.as_raw_fd(), &frame).is_ok());
        if let Some(fd) = self.claimant
            && !self.clients.iter().any(|c| c.as_raw_fd() == fd)
        {
            self.claimant = None;
        }
    }

    fn stopped_by_user(&self) -> bool {
        self.a.dir.join("stopped").exists()
    }

    /// The whole life: first run, restarts, final cleanup. Returns our exit code.
    fn lifecycle(&mut self) -> i32 {
        let mut delay = Duration::from_millis(100);
        loop {
            let status = match self.create_and_start() {
                Ok(s) => s,
                Err((code, msg)) => {
                    self.st.status = "exited";
                    self.st.exit_code = code;
                    self.st.error = msg.clone();
                    self.st.finished_at = sys::now_rfc3339();
                    self.write_state();
                    self.report(&format!("err {code} {msg}\n"));
                    self.broadcast(T_ERROR, format!("{code} {msg}").as_bytes());
                    let _ = self
                        .runtime()
                        .args(["delete", "--force", &self.a.id])
                        .stderr(Stdio::null())
                        .status();
                    self.finish();
                    return 1;
                }
            };
            let code = sys::exit_code(status);
            let oom = self.oom_killed();
            let _ = self
                .runtime()
                .args(["delete", "--force", &self.a.id])
                .stderr(Stdio::null())
                .status();
            let _ = std::fs::remove_file(self.a.dir.join("paused"));
            self.st.exit_code = code;
            self.st.oom_killed = oom;
            self.st.finished_at = sys::now_rfc3339();
            self.st.pid = 0;
            let restart = !self.stopped_by_user()
                && match self.a.restart {
                    Restart::No => false,
                    Restart::Always | Restart::UnlessStopped => true,
                    Restart::OnFailure(max) => {
                        code != 0 && (max == 0 || self.st.restart_count < max)
                    }
                };
            self.st.status = if restart { "restarting" } else { "exited" };
            self.write_state();
            self.broadcast(T_EXIT, format!("{code} {}", u8::from(oom)).as_bytes());
            if !restart {
                self.finish();
                return 0;
            }
            if self.started.elapsed() >= Duration::from_secs(10) {
                delay = Duration::from_millis(100);
            }
            self.st.restart_delays_ms.push(delay.as_millis());
            self.write_state();
            if !self.sleep(delay) {
                self.st.status = "exited";
                self.write_state();
                self.finish();
                return 0;
            }
            delay = (delay * 2).min(Duration::from_secs(60));
            self.st.restart_count += 1;
            self.start_requested = true;
        }
    }

    /// Waits `d` while serving clients; false when the user stopped the container.
    fn sleep(&mut self, d: Duration) -> bool {
        let until = Instant::now() + d;
        loop {
            if self.stopped_by_user() {
                return false;
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return true;
            }
            self.poll_once(Some(left));
        }
    }

    /// Runs the exit command, then hangs up on clients: an attached
    /// `caixa run` returns only once the cleanup (and `--rm`) is done.
    ///
    /// When an attached client claimed the cleanup (foreground `caixa run`
    /// already has the engine open: no process launch for it), we hang up
    /// on that client first and wait until it is gone; the exit command
    /// runs only if it did not finish the cleanup (the run directory, which
    /// holds our socket and is removed last, is still there).
    fn finish(&mut self) {
        self.ready = None;
        let _ = std::fs::remove_file(&self.a.sock);
        if let Some(l) = self.log.as_mut() {
            l.flush();
        }
        let mut cleanup_left = true;
        if let Some(fd) = self.claimant.take() {
            // SAFETY: shutdown(2) of a connected socket we own.
            unsafe { libc::shutdown(fd, libc::SHUT_WR) };
            wait_hangup(fd, Duration::from_secs(60));
            cleanup_left = self.a.sock.parent().is_some_and(|d| d.exists());
        }
        if cleanup_left && let Some((prog, rest)) = self.a.exit_cmd.split_first() {
            let _ = unblocked(&mut Command::new(prog))
                .args(rest)
                .stdin(Stdio::null())
                .status();
        }
        self.clients.clear();
    }

    fn oom_killed(&self) -> bool {
        let Some(f) = &self.a.oom_file else {
            return false;
        };
        let text = std::fs::read_to_string(f).unwrap_or_default();
        text.lines().any(|l| {
            l.strip_prefix("oom_kill ")
                .and_then(|n| n.trim().parse::<u64>().ok())
                .is_some_and(|n| n > 0)
        })
    }

    /// Waits for the start request (foreground runs attach first), sets up
    /// stdio, then creates and starts the container with one `RUNTIME run
    /// --detach` (no separate create/start launches), and relays until the
    /// init exits. Returns its wait status.
    fn create_and_start(&mut self) -> Result<libc::c_int, (i32, String)> {
        let err = |m: String| (125, m);
        if self.a.wait_start && !self.start_requested {
            self.report("waiting\n");
            while !self.start_requested {
                self.poll_once(None);
            }
        }
        let (out_r, out_w) = sys::pipe().map_err(|e| err(format!("pipe: {e}")))?;
        let (err_r, err_w) = sys::pipe().map_err(|e| err(format!("pipe: {e}")))?;
        let pidfile = self.a.dir.join("init.pid");
        let _ = std::fs::remove_file(&pidfile);
        let mut cmd = self.runtime();
        cmd.arg("run")
            .arg("--detach")
            .arg("--bundle")
            .arg(&self.a.bundle)
            .arg("--pid-file")
            .arg(&pidfile);
        let mut console = None;
        if self.a.tty {
            let path = self.a.sock.with_file_name("console");
            let l = sys::listen_unix(&path).map_err(|e| err(format!("console socket: {e}")))?;
            cmd.arg("--console-socket").arg(&path);
            cmd.stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::from(err_w));
            console = Some((l, path));
        } else {
            if self.a.stdin {
                let (in_r, in_w) = sys::pipe().map_err(|e| err(format!("pipe: {e}")))?;
                cmd.stdin(Stdio::from(in_r));
                self.stdin = Some(in_w);
            } else {
                cmd.stdin(Stdio::null());
            }
            cmd.stdout(Stdio::from(out_w)).stderr(Stdio::from(err_w));
        }
        cmd.arg(&self.a.id);
        let mut child = cmd
            .spawn()
            .map_err(|e| err(format!("cannot run runtime {}: {e}", self.a.runtime)))?;
        drop(cmd);
        if let Some((l, path)) = console {
            // The runtime connects and sends the pty master, or exits on failure.
            let mut pfd = libc::pollfd {
                fd: l.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            loop {
                // SAFETY: one valid pollfd.
                let r = unsafe { libc::poll(&mut pfd, 1, 100) };
                if r > 0 {
                    if let Ok(c) = sys::accept(l.as_raw_fd())
                        && let Ok(m) = sys::recv_fd(c.as_raw_fd())
                    {
                        if let Some((rows, cols)) = self.winsize {
                            sys::set_winsize(m.as_raw_fd(), rows, cols);
                        }
                        self.master = Some(m);
                    }
                    break;
                }
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
            }
            let _ = std::fs::remove_file(path);
        }
        let status = child.wait().map_err(|e| err(format!("runtime run: {e}")))?;
        drop(child);
        if !status.success() {
            let mut buf = vec![0u8; 8192];
            let _ = sys::set_nonblock(err_r.as_raw_fd(), true);
            let n = sys::read(err_r.as_raw_fd(), &mut buf).unwrap_or(0);
            let msg = runtime_message(&String::from_utf8_lossy(&buf[..n]));
            let msg = if msg.is_empty() {
                format!("runtime run exited with {status}")
            } else {
                msg
            };
            self.stdin = None;
            self.master = None;
            return Err((classify(&msg), msg));
        }
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .ok_or_else(|| err(format!("runtime wrote no pid to {}", pidfile.display())))?;
        self.st.pid = pid;
        self.init_pid = pid;
        if let Some(m) = &self.master {
            self.out[0] = Some(m.try_clone().map_err(|e| err(format!("pty: {e}")))?);
        } else {
            self.out = [Some(out_r), Some(err_r)];
        }
        self.report(&format!("created {pid}\n"));
        self.started = Instant::now();
        self.st.status = "running";
        self.st.started_at = sys::now_rfc3339();
        self.st.error.clear();
        if let Some(h) = &self.a.health {
            self.next_health = Some(Instant::now() + Duration::from_millis(h.interval_ms));
        }
        self.write_state();
        self.report("started\n");
        self.ready = None;
        // Relay until the init exits, then drain its output briefly.
        let status = loop {
            let timeout = self.health_timeout();
            if let Some(s) = self.poll_once(timeout) {
                break s;
            }
        };
        let drain_until = Instant::now() + Duration::from_secs(2);
        while self.out.iter().any(Option::is_some) {
            let left = drain_until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            self.poll_once(Some(left));
        }
        self.out = [None, None];
        self.stdin = None;
        self.master = None;
        if let Some(l) = self.log.as_mut() {
            l.flush();
        }
        Ok(status)
    }

    /// Milliseconds until the next health-check event, if any.
    fn health_timeout(&self) -> Option<Duration> {
        let now = Instant::now();
        [self.health_deadline, self.next_health]
            .into_iter()
            .flatten()
            .min()
            .map(|t| t.saturating_duration_since(now))
    }

    /// One round of poll: output, clients, signals, health. Returns the
    /// init's wait status when it exited during this round.
    fn poll_once(&mut self, timeout: Option<Duration>) -> Option<libc::c_int> {
        let mut fds = vec![
            libc::pollfd {
                fd: self.sig.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: self.listen.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        for o in &self.out {
            fds.push(libc::pollfd {
                fd: o.as_ref().map_or(-1, |f| f.as_raw_fd()),
                events: libc::POLLIN,
                revents: 0,
            });
        }
        for c in &self.clients {
            fds.push(libc::pollfd {
                fd: c.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            });
        }
        let ms = timeout.map_or(-1, |d| d.as_millis().min(i32::MAX as u128) as i32);
        // SAFETY: fds is a valid array of pollfd of the given length.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
        let mut init_status = None;
        if n > 0 {
            for (i, stream) in [(2usize, 0usize), (3, 1)] {
                if fds[i].revents != 0 {
                    self.read_output(stream);
                }
            }
            let ready: Vec<RawFd> = fds[4..]
                .iter()
                .filter(|p| p.revents != 0)
                .map(|p| p.fd)
                .collect();
            for fd in ready {
                self.client_input(fd);
            }
            if fds[1].revents & libc::POLLIN != 0
                && let Ok(c) = sys::accept(self.listen.as_raw_fd())
            {
                self.clients.push(c);
            }
            if fds[0].revents != 0 {
                // SIGCHLD reaps below; SIGUSR1 only wakes us (stop marker);
                // SIGTERM/SIGINT/SIGHUP are ignored: the container outlives them.
                sys::read_signals(self.sig.as_raw_fd());
            }
        }
        while let Some((pid, status)) = sys::try_wait(-1) {
            if pid == self.init_pid && self.init_pid > 0 {
                self.init_pid = 0;
                init_status = Some(status);
            } else if pid == self.health_pid && self.health_pid > 0 {
                self.health_done(sys::exit_code(status));
            }
        }
        self.health_tick();
        init_status
    }

    fn read_output(&mut self, stream: usize) {
        let Some(fd) = self.out[stream].as_ref().map(|f| f.as_raw_fd()) else {
            return;
        };
        let mut buf = [0u8; 16384];
        match sys::read(fd, &mut buf) {
            Ok(0) | Err(_) => self.out[stream] = None,
            Ok(n) => {
                if let Some(l) = self.log.as_mut() {
                    l.push(stream, &buf[..n]);
                }
                self.broadcast(if stream == 0 { T_STDOUT } else { T_STDERR }, &buf[..n]);
            }
        }
    }

    fn client_input(&mut self, fd: RawFd) {
        let mut hdr = [0u8; 5];
        let ok = read_exact(fd, &mut hdr);
        let len = u32::from_be_bytes([hdr[1], hdr[2], hdr[3], hdr[4]]) as usize;
        let mut data = vec![0u8; len.min(1 << 20)];
        if !ok || len > 1 << 20 || !read_exact(fd, &mut data) {
            self.clients.retain(|c| c.as_raw_fd() != fd);
            if self.claimant == Some(fd) {
                self.claimant = None;
            }
            return;
        }
        match hdr[0] {
            C_STDIN => {
                let target = if self.a.tty {
                    self.master.as_ref()
                } else {
                    self.stdin.as_ref()
                };
                if let Some(t) = target
                    && sys::write_all(t.as_raw_fd(), &data).is_err()
                {
                    self.stdin = None;
                }
            }
            C_CLOSE => {
                if self.a.tty {
                    // EOF on a terminal is ^D.
                    if let Some(m) = &self.master {
                        let _ = sys::write_all(m.as_raw_fd(), &[4]);
                    }
                } else {
                    self.stdin = None;
                }
            }
            C_RESIZE if data.len() == 4 => {
                let (rows, cols) = (
                    u16::from_be_bytes([data[0], data[1]]),
                    u16::from_be_bytes([data[2], data[3]]),
                );
                // Kept for a pty that does not exist yet (resize before start).
                self.winsize = Some((rows, cols));
                if let Some(m) = &self.master {
                    sys::set_winsize(m.as_raw_fd(), rows, cols);
                }
            }
            C_START => self.start_requested = true,
            C_CLAIM_CLEANUP => self.claimant = Some(fd),
            _ => {}
        }
    }
}

/// Discards what `fd` sends until it hangs up (or `limit` passes).
fn wait_hangup(fd: RawFd, limit: Duration) {
    let until = Instant::now() + limit;
    let mut buf = [0u8; 4096];
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        let mut p = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut p, 1, left.as_millis().min(60_000) as i32) };
        if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        if n <= 0 || !matches!(sys::read(fd, &mut buf), Ok(k) if k > 0) {
            return;
        }
    }
}

/// Reads exactly `buf.len()` bytes; false on EOF or error.
fn read_exact(fd: RawFd, buf: &mut [u8]) -> bool {
    let mut off = 0;
    while off < buf.len() {
        match sys::read(fd, &mut buf[off..]) {
            Ok(0) | Err(_) => return false,
            Ok(n) => off += n,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_messages_are_extracted() {
        let runc = "time=\"2026\" level=error msg=\"runc create failed: exec: \\\"nope\\\": executable file not found in $PATH\"\n";
        let m = runtime_message(runc);
        assert_eq!(
            m,
            "runc create failed: exec: \"nope\": executable file not found in $PATH"
        );
        assert_eq!(classify(&m), 127);
        assert_eq!(classify("exec /etc/passwd: permission denied"), 126);
        assert_eq!(classify("cgroup: busy"), 125);
    }
}
