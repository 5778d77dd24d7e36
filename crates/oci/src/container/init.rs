//! The processes forked by `create`: the *stage* (joins and creates
//! namespaces, forks the init) and the container's *init* (rootfs and the
//! process's user, capabilities and filter, then waits for `start`, runs
//! the startContainer hooks and execs the user's program).
//!
//! Both run in a fork of the single-threaded runtime, report failures to
//! the runtime as one-line [`Msg::Error`]s and never return.

use std::convert::Infallible;
use std::io::Read;
use std::path::{Path, PathBuf};

use nix::sched::CloneFlags;
use nix::unistd::ForkResult;
use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::error::{Context, OciError, Result};
use crate::namespaces::{self, Plan};
use crate::process;
use crate::rootfs::{self, RootfsConfig};
use crate::seccomp::Prepared;
use crate::sync::{Channel, Msg};
use crate::terminal::Pty;

/// What the forked processes need (borrowed from `create`'s frame, which
/// the fork copied).
#[derive(Debug)]
pub struct InitCtx<'a> {
    /// The container's spec.
    pub spec: &'a Spec,
    /// The absolute rootfs.
    pub rootfs: &'a Path,
    /// The bundle directory: the init's cwd during setup, so relative bind
    /// `source`s resolve against it (as with runc).
    pub bundle: &'a Path,
    /// Namespaces to join and create.
    pub ns: &'a Plan,
    /// The exec fifo in the state dir, open read-write.
    pub fifo: &'a std::fs::File,
    /// The terminal, when `process.terminal`.
    pub pty: Option<&'a Pty>,
    /// The compiled seccomp filter.
    pub seccomp: Option<&'a Prepared>,
    /// `--no-pivot`.
    pub no_pivot: bool,
    /// `--preserve-fds`.
    pub preserve_fds: u32,
    /// cgroup mount sources for `cgroup` mounts.
    pub cgroup_mounts: &'a [(String, PathBuf)],
}

fn exit(code: i32) -> ! {
    // SAFETY: _exit ends this forked process without running the parent's
    // atexit handlers or flushing its copied buffers.
    unsafe { libc::_exit(code) }
}

extern "C" fn die(sig: libc::c_int) {
    // SAFETY: _exit is async-signal-safe.
    unsafe { libc::_exit(128 + sig) }
}

/// Resets signal dispositions and the mask inherited from the runtime
/// (Rust ignores SIGPIPE; an ignored signal survives execve).
pub fn reset_signals() {
    for sig in 1..libc::SIGRTMAX() {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: restoring the default disposition of a signal.
        unsafe { libc::signal(sig, libc::SIG_DFL) };
    }
    // SAFETY: an empty set, applied as the new mask.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
    }
}

/// The stage process: namespaces, then fork the init. Never returns.
pub fn stage(ctx: &InitCtx, chan: &Channel) -> ! {
    match stage_inner(ctx, chan) {
        Ok(()) => exit(0),
        Err(e) => {
            let _ = chan.send(&Msg::Error(e.to_string()));
            exit(1)
        }
    }
}

fn stage_inner(ctx: &InitCtx, chan: &Channel) -> Result<()> {
    // Without a user namespace or joined ones, the new namespaces (the net
    // namespace is the slow one) are made while the runtime moves us into
    // the cgroup; only the cgroup namespace must wait for that (its root
    // is the cgroup we are in when it is made).
    // A failure is reported after `Go`, so the runtime reads it as usual.
    let early = if !ctx.ns.new_user && ctx.ns.join.is_empty() {
        ctx.ns.new_flags.difference(CloneFlags::CLONE_NEWCGROUP)
    } else {
        CloneFlags::empty()
    };
    let early_res = if early.is_empty() {
        Ok(())
    } else {
        nix::sched::unshare(early)
    };
    chan.expect(&Msg::Go)?;
    early_res.ctx(|| "unshare namespaces".into())?;
    std::env::set_current_dir(ctx.bundle)
        .ctx(|| format!("chdir to the bundle {}", ctx.bundle.display()))?;
    let process = ctx
        .spec
        .process()
        .as_ref()
        .ok_or_else(|| OciError::invalid("process", "missing"))?;
    let linux = ctx
        .spec
        .linux()
        .as_ref()
        .ok_or_else(|| OciError::invalid("linux", "missing"))?;
    process::apply_oom_score_adj(process)?;
    ctx.ns.join_all()?;
    let joined_user = ctx
        .ns
        .join
        .iter()
        .any(|j| j.typ == LinuxNamespaceType::User);
    if ctx.ns.new_user {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUSER)
            .ctx(|| "unshare the user namespace".into())?;
        // A non-dumpable process's /proc files belong to root: a rootless
        // runtime could not write the maps. Dumpable only meanwhile (runc
        // does the same); nothing of the container runs yet.
        // SAFETY: prctl(PR_SET_DUMPABLE) only changes this process's flag.
        unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 1, 0, 0, 0) };
        chan.send(&Msg::MapIds)?;
        chan.expect(&Msg::Go)?;
        // SAFETY: as above.
        unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
    }
    if ctx.ns.new_user || joined_user {
        // Become root of the user namespace when it maps root.
        if namespaces::maps_root(linux.gid_mappings().as_deref()) || joined_user {
            // SAFETY: plain credential syscall.
            let r = unsafe { libc::setresgid(0, 0, 0) };
            if r != 0 && !joined_user {
                return Err(std::io::Error::last_os_error()).ctx(|| "setresgid(0)".into());
            }
        }
        if namespaces::maps_root(linux.uid_mappings().as_deref()) || joined_user {
            // SAFETY: plain credential syscall.
            let r = unsafe { libc::setresuid(0, 0, 0) };
            if r != 0 && !joined_user {
                return Err(std::io::Error::last_os_error()).ctx(|| "setresuid(0)".into());
            }
        }
    }
    let late = ctx.ns.new_flags.difference(early);
    if !late.is_empty() {
        nix::sched::unshare(late).ctx(|| "unshare namespaces".into())?;
    }
    if ctx.ns.is_new(LinuxNamespaceType::Network) {
        namespaces::loopback_up()?;
    }
    if ctx.ns.is_new(LinuxNamespaceType::Time) {
        // The offsets need CAP_SYS_TIME in the time namespace's owner (the
        // new user namespace: we are its root) and, before that, opening
        // our own /proc file, which belongs to host root while we are not
        // dumpable. Dumpable only meanwhile, as for the id maps; nothing
        // has entered the time namespace yet (the init is forked below).
        if ctx.ns.new_user {
            // SAFETY: prctl(PR_SET_DUMPABLE) only changes this process's flag.
            unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 1, 0, 0, 0) };
        }
        let r = namespaces::write_time_offsets(linux);
        if ctx.ns.new_user {
            // SAFETY: as above.
            unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
        }
        r?;
    }
    // SAFETY: single-threaded; the child runs `init` and never returns.
    match unsafe { nix::unistd::fork() }.ctx(|| "fork the init".into())? {
        ForkResult::Child => init(ctx, chan),
        ForkResult::Parent { child } => chan.send(&Msg::Pid(child.as_raw())),
    }
}

/// The init is chrooted into a rootfs bind made in the caller's mount
/// namespace (a container without a mount namespace).
static SHARED_ROOT_ENTERED: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// The container's init. Never returns.
fn init(ctx: &InitCtx, chan: &Channel) -> ! {
    let mut reported = false;
    let e = match init_inner(ctx, chan, &mut reported) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    if SHARED_ROOT_ENTERED.load(std::sync::atomic::Ordering::Relaxed) {
        // Without a mount namespace the rootfs bind is in the caller's
        // mount table and we are chrooted into it: take it away (when
        // rootfs::setup fails it does so itself). The process setup may
        // have lowered the effective capabilities already: raise them
        // back to what is still permitted.
        if let Ok(p) = caps::read(None, caps::CapSet::Permitted) {
            let _ = caps::set(None, caps::CapSet::Effective, &p);
        }
        let _ = rustix::mount::unmount("/", rustix::mount::UnmountFlags::DETACH);
    }
    if reported {
        // `create` has returned: the only place left to say it is stderr.
        eprintln!("caixa-runtime: container init: {e}");
        exit(127)
    }
    let _ = chan.send(&Msg::Error(e.to_string()));
    exit(1)
}

fn init_inner(ctx: &InitCtx, chan: &Channel, reported: &mut bool) -> Result<Infallible> {
    let spec = ctx.spec;
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| OciError::invalid("process", "missing"))?;
    // Nobody in the container may open /proc/1/exe (the runtime binary).
    // SAFETY: prctl(PR_SET_DUMPABLE, 0) only changes this process's flag.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
    chan.send(&Msg::Ready)?;
    let state_json = match chan.recv()? {
        Some(Msg::Continue(d)) => d,
        Some(m) => return Err(OciError::Init(format!("unexpected message {m:?}"))),
        None => return Err(OciError::Init("the runtime went away".into())),
    };
    let mut fifo = ctx.fifo;
    if let Some(h) = spec
        .hooks()
        .as_ref()
        .and_then(|h| h.create_container().as_ref())
        && !h.is_empty()
    {
        let h = crate::hooks::with_default_env(h, process.env().as_ref());
        crate::hooks::run(&h, &state_json)?;
    }
    let cfg = RootfsConfig {
        spec,
        rootfs: ctx.rootfs.to_path_buf(),
        no_pivot: ctx.no_pivot,
        cgroup_mounts: ctx.cgroup_mounts.to_vec(),
        in_user_ns: ctx.ns.has(LinuxNamespaceType::User),
        console: ctx.pty.map(|p| p.slave_path.clone()),
    };
    rootfs::setup(&cfg)?;
    if rootfs::shared::shares_mount_ns(spec) {
        SHARED_ROOT_ENTERED.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    // In a new uts namespace or one joined by path (as runc and crun do).
    if ctx.ns.has(LinuxNamespaceType::Uts) {
        if let Some(h) = spec.hostname().as_deref().filter(|h| !h.is_empty()) {
            rustix::system::sethostname(h.as_bytes()).ctx(|| format!("hostname {h:?}"))?;
        }
        if let Some(d) = spec.domainname().as_deref().filter(|d| !d.is_empty()) {
            rustix::system::setdomainname(d.as_bytes()).ctx(|| format!("domainname {d:?}"))?;
        }
    }
    rootfs::finish(&cfg)?;
    if let Some(p) = spec.linux().as_ref().and_then(|l| l.personality().as_ref()) {
        crate::extras::apply_personality(p).map_err(|e| OciError::invalid(e.field, e.reason))?;
    }
    if let Some(mp) = spec
        .linux()
        .as_ref()
        .and_then(|l| l.memory_policy().as_ref())
    {
        crate::mempolicy::prepare(mp)?.apply()?;
    }
    process::apply_rlimits(process)?;
    let prog = process::prepare(process, "process")?;
    match ctx.pty {
        Some(p) => process::attach_terminal(&p.slave)?,
        None => {
            let _ = nix::unistd::setsid();
        }
    }
    reset_signals();
    // As pid 1 of its namespace the waiting init would ignore every signal
    // without a handler: make the usual ones end it, as they would end the
    // process it is about to become (execve resets them to the default).
    for sig in [
        libc::SIGTERM,
        libc::SIGINT,
        libc::SIGHUP,
        libc::SIGQUIT,
        libc::SIGUSR1,
        libc::SIGUSR2,
    ] {
        // SAFETY: `die` only calls _exit, which is async-signal-safe.
        unsafe { libc::signal(sig, die as *const () as libc::sighandler_t) };
    }
    // Everything that can fail goes before `created` (as runc does), so a
    // bad user, capability set, cwd or filter fails `create` and leaves
    // nothing: after `start` only the startContainer hooks and the execve
    // remain (the hooks run as the container's user, with its
    // capabilities and filter, as with runc).
    // A notifying filter's listener goes to `create`, which hands it to the
    // agent before we go on (as runc does).
    let send_listener = |fd: std::os::fd::BorrowedFd<'_>| -> Result<()> {
        chan.send_fd(&Msg::SeccompFd, fd)?;
        chan.expect(&Msg::Go)
    };
    process::finalize_with(
        process,
        &prog,
        &process::Finalize {
            seccomp: ctx.seccomp,
            preserve_fds: ctx.preserve_fds,
            in_new_userns: ctx.ns.new_user,
        },
        Some(&send_listener),
    )?;
    chan.send(&Msg::Created)?;
    *reported = true;
    // Wait for `start`.
    let mut b = [0u8; 1];
    loop {
        match fifo.read(&mut b) {
            Ok(1) => break,
            Ok(_) => return Err(OciError::Init("exec fifo closed".into())),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).ctx(|| "read exec fifo".into()),
        }
    }
    // SAFETY: closing the fifo fd we inherited; nothing uses it after this.
    unsafe { libc::close(std::os::fd::AsRawFd::as_raw_fd(fifo)) };
    if let Some(h) = spec
        .hooks()
        .as_ref()
        .and_then(|h| h.start_container().as_ref())
        && !h.is_empty()
    {
        let h = crate::hooks::with_default_env(h, process.env().as_ref());
        crate::hooks::run(&h, &state_json)?;
    }
    process::exec(&prog)
}
