//! One function per command, over caixa-oci.

use std::path::Path;
use std::sync::atomic::{AtomicI32, Ordering};

use anyhow::{Context, Result, bail};
use caixa_oci::container::{self, CreateOptions};
use caixa_oci::state::{self, ContainerState, Status};

use crate::cli::{Cli, Cmd, CreateArgs, ListFormat};

/// Runs the command; returns the process exit code.
pub fn dispatch(cli: &Cli) -> Result<i32> {
    if cli.systemd_cgroup && !Path::new("/run/systemd/system").exists() {
        bail!("--systemd-cgroup: systemd is not running (/run/systemd/system is absent)");
    }
    if cli.systemd_cgroup {
        bail!("--systemd-cgroup: the systemd cgroup driver is not supported yet");
    }
    let root = cli.state_root();
    let root = root.as_path();
    if matches!(cli.cmd, Cmd::Create(_) | Cmd::Run { .. } | Cmd::Exec(_)) {
        // The runtime's own /proc/PID/exe must not be reachable from a
        // container that shares our pid namespace (CVE-2019-5736).
        // SAFETY: prctl(PR_SET_DUMPABLE, 0) only changes our own flag.
        unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
    }
    match &cli.cmd {
        Cmd::Create(a) => {
            container::create(&create_options(root, a))?;
        }
        Cmd::Start { id } => container::start(root, id)?,
        Cmd::State { id } => {
            let st = ContainerState::load(root, id)?;
            let oci = st.oci(st.status(root));
            println!("{}", serde_json::to_string_pretty(&oci)?);
        }
        Cmd::Kill { id, signal, all } => {
            let sig = caixa_oci::signal::parse(signal.as_deref().unwrap_or("TERM"))?;
            container::kill(root, id, sig, *all)?;
        }
        Cmd::Delete { id, force } => container::delete(root, id, *force)?,
        Cmd::Run {
            create,
            detach,
            keep,
        } => return run(root, create, *detach, *keep),
        Cmd::Exec(a) => return crate::exec_cmd::exec(root, a),
        Cmd::Ps {
            id,
            format,
            ps_args,
        } => crate::exec_cmd::ps(root, id, *format, ps_args)?,
        Cmd::List { format, quiet } => list(root, *format, *quiet)?,
        Cmd::Pause { id } => crate::ops::pause(root, id)?,
        Cmd::Resume { id } => crate::ops::resume(root, id)?,
        Cmd::Update(a) => crate::ops::update(root, a)?,
        Cmd::Events {
            id,
            interval,
            stats,
        } => crate::ops::events(root, id, interval, *stats)?,
        Cmd::Checkpoint(a) => crate::checkpoint::checkpoint(root, cli.criu.as_deref(), a)?,
        Cmd::Restore(a) => crate::checkpoint::restore(root, cli.criu.as_deref(), a)?,
        Cmd::Features => crate::ops::features()?,
        Cmd::Spec { bundle, rootless } => {
            let path = bundle.join("config.json");
            if path.exists() {
                bail!("{}: exists already; remove it first", path.display());
            }
            let spec = crate::default_spec::default_spec(*rootless);
            let mut text = serde_json::to_string_pretty(&spec)?;
            text.push('\n');
            std::fs::write(&path, text).with_context(|| format!("{}", path.display()))?;
        }
    }
    Ok(0)
}

fn create_options(root: &Path, a: &CreateArgs) -> CreateOptions {
    CreateOptions {
        root: root.to_path_buf(),
        id: a.id.clone(),
        bundle: a.bundle.clone(),
        pid_file: a.pid_file.clone(),
        console_socket: a.console_socket.clone(),
        no_pivot: a.no_pivot,
        preserve_fds: a.preserve_fds,
        keep_console: false,
    }
}

static INIT_PID: AtomicI32 = AtomicI32::new(0);

extern "C" fn forward(sig: libc::c_int) {
    let pid = INIT_PID.load(Ordering::Relaxed);
    if pid > 0 {
        // SAFETY: kill is async-signal-safe.
        unsafe { libc::kill(pid, sig) };
    }
}

/// `run`: create + start, then (unless detached) wait, forwarding signals,
/// delete and exit with the container's status (128+N on signal N).
fn run(root: &Path, a: &CreateArgs, detach: bool, keep: bool) -> Result<i32> {
    let mut opts = create_options(root, a);
    // A foreground run with a terminal and no console socket proxies the
    // pty itself.
    opts.keep_console = !detach && a.console_socket.is_none();
    // create and start are in this process: the init waits on a pipe,
    // not on a fifo in the state dir.
    let mut created = container::create_inline(&opts)?;
    let started = match created.start.take() {
        Some(pipe) => container::start_inline(root, &a.id, pipe),
        None => container::start(root, &a.id),
    };
    if let Err(e) = started {
        let _ = container::delete(root, &a.id, true);
        return Err(e.into());
    }
    if detach {
        return Ok(0);
    }
    if let Some(master) = &created.console {
        crate::tty::proxy(master, created.pid);
    }
    let code = wait_forwarding(created.pid);
    if !keep {
        container::delete(root, &a.id, true)?;
    }
    Ok(code)
}

/// Waits for our child `pid`, forwarding the usual signals to it; returns
/// its exit code (128+N when killed by signal N).
pub fn wait_forwarding(pid: i32) -> i32 {
    INIT_PID.store(pid, Ordering::Relaxed);
    for sig in [
        libc::SIGINT,
        libc::SIGTERM,
        libc::SIGHUP,
        libc::SIGQUIT,
        libc::SIGUSR1,
        libc::SIGUSR2,
        libc::SIGWINCH,
    ] {
        // SAFETY: `forward` only calls kill(2), which is async-signal-safe.
        unsafe { libc::signal(sig, forward as *const () as libc::sighandler_t) };
    }
    let mut status = 0;
    loop {
        // SAFETY: waitpid writes the status into our local.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r < 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return 255;
        }
        if libc::WIFEXITED(status) {
            return libc::WEXITSTATUS(status);
        }
        if libc::WIFSIGNALED(status) {
            return 128 + libc::WTERMSIG(status);
        }
    }
}

fn list(root: &Path, format: ListFormat, quiet: bool) -> Result<()> {
    let mut states = Vec::new();
    for id in state::list(root)? {
        if let Ok(st) = ContainerState::load(root, &id) {
            let status = st.status(root);
            states.push(st.oci(status));
        }
    }
    if quiet {
        for s in &states {
            println!("{}", s.id);
        }
        return Ok(());
    }
    match format {
        ListFormat::Json => println!("{}", serde_json::to_string(&states)?),
        ListFormat::Table => {
            let w = states.iter().map(|s| s.id.len()).max().unwrap_or(2).max(2);
            println!(
                "{:w$}   {:<8} {:<10} {:<40} {:<30} OWNER",
                "ID", "PID", "STATUS", "BUNDLE", "CREATED"
            );
            for s in &states {
                let pid = if s.status == Status::Stopped {
                    0
                } else {
                    s.pid
                };
                println!(
                    "{:w$}   {:<8} {:<10} {:<40} {:<30} {}",
                    s.id,
                    pid,
                    s.status.to_string(),
                    s.bundle.display(),
                    s.created,
                    if s.owner.is_empty() { "root" } else { &s.owner }
                );
            }
        }
    }
    Ok(())
}
