//! `exec`: start another process in a running (or created) container.
//!
//! The process joins every namespace of the container's init (user
//! namespace first) and its cgroup, then goes through the very same
//! process setup as the init ([`crate::process`]): rlimits, user, caps,
//! no_new_privs, seccomp, the exec trampoline.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use nix::unistd::ForkResult;
use oci_spec::runtime::{LinuxNamespaceType, Process, Spec};

use super::init::reset_signals;
use crate::error::{Context, OciError, Result};
use crate::namespaces::{Join, Plan};
use crate::process;
use crate::state::{ContainerState, Status};
use crate::sync::{self, Channel, Msg};
use crate::terminal;

/// Options of `exec`.
#[derive(Debug, Clone)]
pub struct ExecOptions {
    /// `--root`.
    pub root: PathBuf,
    /// The container id.
    pub id: String,
    /// The process to run (already merged with the container's defaults).
    pub process: Process,
    /// `--console-socket` (with `process.terminal`).
    pub console_socket: Option<PathBuf>,
    /// `--preserve-fds`.
    pub preserve_fds: u32,
    /// `--cgroup`: sub-cgroups to join instead of the container's own
    /// (`PATH` or `CTRL[,CTRL...]:PATH`, as runc).
    pub cgroup: Vec<String>,
    /// `--ignore-paused`: exec into a paused container too; the process
    /// joins the frozen cgroup and only runs once the container is resumed.
    pub ignore_paused: bool,
}

/// The spec the container was created from (its bundle's config.json).
pub fn container_spec(st: &ContainerState) -> Result<Spec> {
    let cfg = st.bundle.join("config.json");
    let data = std::fs::read(&cfg).map_err(|e| OciError::File {
        path: cfg.clone(),
        reason: e.to_string(),
    })?;
    crate::spec::parse(&data)
}

fn proc_ns_name(t: LinuxNamespaceType) -> &'static str {
    match t {
        LinuxNamespaceType::Mount => "mnt",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "net",
        LinuxNamespaceType::Time => "time",
    }
}

/// The init's namespaces that differ from ours, opened for setns.
fn plan_for(spec: &Spec, pid: i32) -> Result<Plan> {
    let mut plan = Plan::default();
    let Some(linux) = spec.linux() else {
        return Ok(plan);
    };
    for ns in linux.namespaces().iter().flatten() {
        let name = proc_ns_name(ns.typ());
        let theirs = format!("/proc/{pid}/ns/{name}");
        let ours = format!("/proc/self/ns/{name}");
        if std::fs::read_link(&theirs).ok() == std::fs::read_link(&ours).ok() {
            continue;
        }
        let fd: OwnedFd = std::fs::File::open(&theirs)
            .ctx(|| format!("open {theirs}"))?
            .into();
        plan.join.push(Join { typ: ns.typ(), fd });
    }
    plan.join.sort_by_key(|j| {
        if j.typ == LinuxNamespaceType::User {
            0
        } else {
            1
        }
    });
    Ok(plan)
}

/// Starts the process; returns its host pid once it has exec'd (or the
/// one-line reason it could not).
pub fn exec(opts: &ExecOptions) -> Result<i32> {
    let st = ContainerState::load(&opts.root, &opts.id)?;
    let status = st.status(&opts.root);
    let allowed = matches!(status, Status::Created | Status::Running)
        || (opts.ignore_paused && status == Status::Paused);
    if !allowed {
        return Err(OciError::container(
            &opts.id,
            format!("cannot exec in a container that is {status}"),
        ));
    }
    let spec = container_spec(&st)?;
    crate::spec::validate_process(&opts.process, "process")?;
    if let Some(c) = opts.process.capabilities() {
        process::validate_caps(c, "process")?;
    }
    let terminal = opts.process.terminal().unwrap_or(false);
    if terminal && opts.console_socket.is_none() {
        return Err(OciError::invalid(
            "process.terminal",
            "a terminal needs --console-socket",
        ));
    }
    let plan = plan_for(&spec, st.pid)?;
    let cg = super::cgroup_of(&st)?;
    let seccomp = match spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) {
        Some(s) => Some(crate::seccomp::prepare(
            s,
            &opts.root.join(".seccomp-cache"),
        )?),
        None => None,
    };
    let pty = if terminal {
        let size = opts
            .process
            .console_size()
            .map(|b| (b.height() as u16, b.width() as u16));
        let pty = terminal::open(size, None)?;
        if let Some(sock) = &opts.console_socket {
            terminal::send_master(sock, &pty.master, &pty.slave_path)?;
        }
        Some(pty)
    } else {
        None
    };
    let in_new_userns = plan.join.iter().any(|j| j.typ == LinuxNamespaceType::User);
    let (parent, child) = sync::pair()?;
    // SAFETY: prctl(PR_SET_CHILD_SUBREAPER) only sets a flag on us.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    // SAFETY: single-threaded; the child never returns.
    let stage = match unsafe { nix::unistd::fork() }.ctx(|| "fork".into())? {
        ForkResult::Child => {
            drop(parent);
            // Inherited by the process forked below (as in the init).
            let personality = spec.linux().as_ref().and_then(|l| l.personality().as_ref());
            let r = match personality.map(crate::extras::apply_personality) {
                Some(Err(e)) => Err(OciError::invalid(e.field, e.reason)),
                _ => Ok(()),
            };
            let r = r.and_then(|()| {
                exec_stage(
                    &child,
                    &plan,
                    &opts.process,
                    pty.as_ref().map(|p| &p.slave),
                    seccomp.as_ref(),
                    opts.preserve_fds,
                    in_new_userns,
                )
            });
            let msg = match r {
                Ok(()) => {
                    // SAFETY: end the forked stage.
                    unsafe { libc::_exit(0) }
                }
                Err(e) => e.to_string(),
            };
            let _ = child.send(&Msg::Error(msg));
            // SAFETY: end the forked stage.
            unsafe { libc::_exit(1) }
        }
        ForkResult::Parent { child } => child.as_raw(),
    };
    drop(child);
    drop(pty);
    let undo = |pid: i32| {
        // SAFETY: kill/waitpid on our own children.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
            libc::waitpid(pid, std::ptr::null_mut(), 0);
        }
    };
    if let Some(a) = opts.process.exec_cpu_affinity()
        && let Err(e) = crate::extras::apply_exec_cpu_affinity_initial(a, stage)
    {
        undo(stage);
        return Err(OciError::invalid(e.field, e.reason));
    }
    // As runc's nsexec: the affinity the process starts with, once
    // execCPUAffinity.initial is applied and before the cgroup (a v1 cpuset)
    // can change it. Read here, in the parent: the stage does not log.
    if tracing::enabled!(tracing::Level::DEBUG) {
        match affinity_mask(stage) {
            Ok(mask) => tracing::debug!("affinity: 0x{mask}"),
            Err(e) => tracing::debug!("affinity: sched_getaffinity({stage}): {e}"),
        }
    }
    if st.cgroup_skipped && !opts.cgroup.is_empty() {
        undo(stage);
        return Err(OciError::container(
            &opts.id,
            "--cgroup: the container has no cgroup (rootless, unwritable tree)",
        ));
    }
    if !st.cgroup_skipped
        && let Err(e) = cg.add_task_sub(stage, &opts.cgroup)
    {
        undo(stage);
        return Err(e.into());
    }
    if let Err(e) = parent.send(&Msg::Go) {
        undo(stage);
        return Err(e);
    }
    let mut pid = 0;
    // A notify listener from the process may arrive before the stage has
    // named its pid: it is handed to the agent once both are known.
    let mut listener: Option<OwnedFd> = None;
    loop {
        let (msg, fd) = match parent.recv_fd() {
            Ok(Some((m, fd))) => (Some(m), fd),
            Ok(None) => (None, None),
            Err(e) => {
                undo(stage);
                return Err(e);
            }
        };
        match msg {
            Some(Msg::Pid(p)) => {
                pid = p;
                let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(stage), None);
            }
            Some(Msg::SeccompFd) => match fd {
                Some(fd) => listener = Some(fd),
                None => {
                    undo(stage);
                    return Err(OciError::Init("seccomp: no listener fd".into()));
                }
            },
            None => break,
            Some(Msg::Error(e)) => {
                undo(stage);
                if pid > 0 {
                    undo(pid);
                }
                return Err(OciError::Init(e));
            }
            Some(m) => {
                undo(stage);
                return Err(OciError::Init(format!("unexpected message {m:?}")));
            }
        }
        if pid > 0
            && let Some(fd) = listener.take()
        {
            let sent = match spec.linux() {
                Some(l) => super::create::send_listener(l, &st, pid, Status::Running, &fd),
                None => Err(OciError::invalid("linux", "missing")),
            };
            if let Err(e) = sent.and_then(|()| parent.send(&Msg::Go)) {
                undo(pid);
                return Err(e);
            }
        }
    }
    if pid == 0 {
        let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(stage), None);
        return Err(OciError::Init(
            "exec: the process could not be started".into(),
        ));
    }
    Ok(pid)
}

/// The CPU affinity of `pid` as a hexadecimal mask (bit N = CPU N, no
/// leading zeros, as `taskset -p` prints it).
pub fn affinity_mask(pid: i32) -> std::io::Result<String> {
    let set = rustix::thread::sched_getaffinity(rustix::process::Pid::from_raw(pid))?;
    Ok(hex_mask(
        |cpu| set.is_set(cpu),
        rustix::thread::CpuSet::MAX_CPU,
    ))
}

/// Hex digits of the bitmask `0..max` given by `is_set`, most significant
/// first, without leading zeros ("0" when empty).
fn hex_mask(is_set: impl Fn(usize) -> bool, max: usize) -> String {
    let nibbles: Vec<u8> = (0..max.div_ceil(4))
        .map(|n| {
            (0..4)
                .filter(|b| n * 4 + b < max && is_set(n * 4 + b))
                .fold(0u8, |acc, b| acc | (1 << b))
        })
        .collect();
    let digits: String = nibbles
        .iter()
        .rev()
        .skip_while(|&&d| d == 0)
        .map(|&d| char::from_digit(u32::from(d), 16).unwrap_or('0'))
        .collect();
    if digits.is_empty() {
        "0".into()
    } else {
        digits
    }
}

fn exec_stage(
    chan: &Channel,
    plan: &Plan,
    p: &Process,
    tty: Option<&OwnedFd>,
    seccomp: Option<&crate::seccomp::Prepared>,
    preserve_fds: u32,
    in_new_userns: bool,
) -> Result<()> {
    chan.expect(&Msg::Go)?;
    process::apply_oom_score_adj(p)?;
    plan.join_all()?;
    if in_new_userns {
        // SAFETY: plain credential syscalls.
        unsafe {
            libc::setresgid(0, 0, 0);
            libc::setresuid(0, 0, 0);
        }
    }
    // Joining a pid (or time) namespace applies to children: fork the
    // process itself.
    // SAFETY: single-threaded; the child never returns.
    match unsafe { nix::unistd::fork() }.ctx(|| "fork".into())? {
        ForkResult::Child => {
            let e = match exec_process(chan, p, tty, seccomp, preserve_fds, in_new_userns) {
                Ok(never) => match never {},
                Err(e) => e,
            };
            let _ = chan.send(&Msg::Error(e.to_string()));
            // SAFETY: end the forked process.
            unsafe { libc::_exit(127) }
        }
        ForkResult::Parent { child } => chan.send(&Msg::Pid(child.as_raw())),
    }
}

fn exec_process(
    chan: &Channel,
    p: &Process,
    tty: Option<&OwnedFd>,
    seccomp: Option<&crate::seccomp::Prepared>,
    preserve_fds: u32,
    in_new_userns: bool,
) -> Result<std::convert::Infallible> {
    // SAFETY: prctl(PR_SET_DUMPABLE, 0) only changes our own flag.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
    std::env::set_current_dir("/").ctx(|| "chdir /".into())?;
    process::apply_rlimits(p)?;
    let prog = process::prepare(p, "process")?;
    match tty {
        Some(t) => process::attach_terminal(t)?,
        None => {
            let _ = nix::unistd::setsid();
        }
    }
    reset_signals();
    // The same setup as the init: the runtime's own calls (close_range,
    // chdir + getcwd, credentials) come before any filter, a notifying one
    // included, so that a filter denying or notifying them (with an agent
    // that does not answer yet) cannot break or hold `exec`; a notifying
    // filter's listener goes to `exec`, which hands it to the agent before
    // the execve.
    let send_listener = |fd: std::os::fd::BorrowedFd<'_>| -> Result<()> {
        chan.send_fd(&Msg::SeccompFd, fd)?;
        chan.expect(&Msg::Go)
    };
    process::finalize_with(
        p,
        &prog,
        &process::Finalize {
            seccomp,
            preserve_fds,
            in_new_userns,
        },
        Some(&send_listener),
    )?;
    process::exec(&prog)
}

/// Reads a `--process` JSON file (a runtime-spec `process` object).
pub fn load_process(path: &Path) -> Result<Process> {
    let data = std::fs::read(path).map_err(|e| OciError::File {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let de = &mut serde_json::Deserializer::from_slice(&data);
    serde_path_to_error::deserialize(de)
        .map_err(|e| OciError::invalid(format!("--process: {}", e.path()), e.inner().to_string()))
}

#[cfg(test)]
mod tests {
    use super::hex_mask;

    #[test]
    fn hex_masks() {
        assert_eq!(hex_mask(|c| c < 2, 1024), "3");
        assert_eq!(hex_mask(|c| c == 0, 1024), "1");
        assert_eq!(hex_mask(|c| c == 4 || c == 65, 1024), "20000000000000010");
        assert_eq!(hex_mask(|_| false, 1024), "0");
        assert_eq!(hex_mask(|_| true, 6), "3f");
    }
}
