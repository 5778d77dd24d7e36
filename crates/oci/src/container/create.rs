//! `create`: validate the bundle, make the state dir and cgroup, fork the
//! container's processes and wait until the init blocks before exec.
//!
//! Process model (single-threaded, no re-exec): the runtime forks a *stage*
//! process that joins/creates the namespaces (a new pid or time namespace
//! only applies to children) and forks the *init*, then exits. The runtime
//! is a child subreaper, so the init becomes its child. The init sets up
//! the rootfs, then blocks on `exec.fifo` until `start`. Any failure rolls
//! back everything: processes, cgroup, state dir.

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use nix::unistd::ForkResult;
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceCgroupBuilder, LinuxDeviceType};

use super::init::{self, InitCtx};
use super::{kill_and_wait, run_hooks};
use crate::cgroups::Manager;
use crate::error::{Context, OciError, Result};
use crate::namespaces::{self, Plan};
use crate::netdev::{self, NetDevice};
use crate::spec;
use crate::state::{self, ContainerState, Status, proc_stat};
use crate::sync::{self, Msg};
use crate::terminal;

/// Options of `create` (runc's flags).
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// `--root`: the state root.
    pub root: PathBuf,
    /// The container id.
    pub id: String,
    /// `--bundle`.
    pub bundle: PathBuf,
    /// `--pid-file`.
    pub pid_file: Option<PathBuf>,
    /// `--console-socket`.
    pub console_socket: Option<PathBuf>,
    /// `--no-pivot`.
    pub no_pivot: bool,
    /// `--preserve-fds`.
    pub preserve_fds: u32,
    /// Without `--console-socket`, keep the pty master and return it in
    /// [`Created::console`] (a foreground `run` proxies it).
    pub keep_console: bool,
}

/// A created container.
#[derive(Debug)]
pub struct Created {
    /// Host pid of the init.
    pub pid: i32,
    /// The pty master, with `keep_console` and `process.terminal`.
    pub console: Option<std::os::fd::OwnedFd>,
    /// From [`create_inline`]: writing a byte here starts the container.
    pub start: Option<std::io::PipeWriter>,
}

/// What to undo when create fails.
#[derive(Default)]
struct Rollback {
    dir: Option<PathBuf>,
    cgroup: Option<Manager>,
    pids: Vec<i32>,
    netdevs: Option<netdev::Moved>,
}

impl Rollback {
    fn undo(&mut self) {
        // Devices first, while their namespace is sure to hold them (the
        // recorded fd keeps it alive anyway).
        if let Some(m) = self.netdevs.take() {
            m.restore();
        }
        for &pid in self.pids.iter().rev() {
            if let Some((_, t)) = proc_stat(pid) {
                kill_and_wait(pid, t);
            }
            let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
        }
        if let Some(cg) = self.cgroup.take() {
            if let Ok(pids) = cg.pids() {
                for p in pids {
                    if let Some((_, t)) = proc_stat(p) {
                        kill_and_wait(p, t);
                    }
                }
            }
            if let Err(e) = cg.delete() {
                tracing::warn!("rollback: removing the cgroup: {e}");
            }
        }
        if let Some(d) = self.dir.take() {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

fn apparmor_enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|s| s.trim() == "Y")
}

/// Creates the container; on return the init waits for `start`.
pub fn create(opts: &CreateOptions) -> Result<Created> {
    create_with(opts, false)
}

/// `create` for `run`, which starts the container itself: the init waits
/// on a pipe whose write end is returned in [`Created::start`] (for
/// [`super::start::start_inline`]) instead of on `exec.fifo`, so no fifo
/// is made in the state dir.
pub fn create_inline(opts: &CreateOptions) -> Result<Created> {
    create_with(opts, true)
}

fn create_with(opts: &CreateOptions, inline_start: bool) -> Result<Created> {
    state::validate_id(&opts.id)?;
    let bundle = spec::load(&opts.bundle)?;
    let spec = &bundle.spec;
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| OciError::invalid("process", "missing"))?;
    let linux = spec
        .linux()
        .as_ref()
        .ok_or_else(|| OciError::invalid("linux", "missing"))?;
    if let Some(c) = process.capabilities() {
        crate::process::validate_caps(c, "process")?;
    }
    let terminal = process.terminal().unwrap_or(false);
    if terminal && opts.console_socket.is_none() && !opts.keep_console {
        return Err(OciError::invalid(
            "process.terminal",
            "a terminal needs --console-socket",
        ));
    }
    if process
        .apparmor_profile()
        .as_deref()
        .is_some_and(|p| !p.is_empty())
        && !apparmor_enabled()
    {
        return Err(OciError::invalid(
            "process.apparmorProfile",
            "AppArmor is not enabled on this host",
        ));
    }
    let ns = Plan::new(linux)?;
    let netdevs = netdev::preflight(linux, &ns)?;

    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&opts.root)
        .ctx(|| format!("--root {}", opts.root.display()))?;
    let dir = state::dir(&opts.root, &opts.id);
    match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(OciError::container(&opts.id, "already exists"));
        }
        Err(e) => return Err(e).ctx(|| format!("creating {}", dir.display())),
    }
    let mut rb = Rollback {
        dir: Some(dir),
        ..Default::default()
    };
    match create_inner(opts, inline_start, &bundle, &ns, &netdevs, &mut rb) {
        Ok(c) => Ok(c),
        Err(e) => {
            rb.undo();
            Err(e)
        }
    }
}

fn create_inner(
    opts: &CreateOptions,
    inline_start: bool,
    bundle: &spec::Bundle,
    ns: &Plan,
    netdevs: &[NetDevice],
    rb: &mut Rollback,
) -> Result<Created> {
    let spec = &bundle.spec;
    let (process, linux) = match (spec.process(), spec.linux()) {
        (Some(p), Some(l)) => (p, l),
        _ => return Err(OciError::invalid("process", "missing")),
    };
    let me = std::process::id() as i32;
    let cgroups_path = linux
        .cgroups_path()
        .as_ref()
        .map(|p| p.to_string_lossy().into_owned());
    let mut st = ContainerState {
        id: opts.id.clone(),
        pid: 0,
        start_time: 0,
        bundle: bundle.path.clone(),
        rootfs: bundle.rootfs.clone(),
        created: state::now_rfc3339(),
        annotations: spec.annotations().clone().unwrap_or_default(),
        cgroups_path: cgroups_path.clone(),
        hooks: spec.hooks().clone(),
        creator: (me, proc_stat(me).map(|s| s.1).unwrap_or(0)),
        created_done: false,
        cgroup_sources: None,
        cgroup_skipped: false,
    };
    // state.json is written once the cgroup exists (with its sources, so
    // `delete` can remove it) and again when created: each write creates
    // and renames a file, which costs real time on a disk-backed --root
    // (ext4 scans past recently deleted inodes on every create).
    let cg = Manager::new(cgroups_path.as_deref(), &opts.id)?;
    let cg = match cg.create() {
        Ok(()) => Some(cg),
        Err(e) if rootless_skip(&e, linux)? => None,
        Err(e) => return Err(e.into()),
    };
    rb.cgroup = cg.clone();
    match &cg {
        Some(cg) => st.cgroup_sources = Some(cg.mount_sources()?),
        None => st.cgroup_skipped = true,
    }
    // `run` (inline start) without hooks has nobody to show "creating" to:
    // like runc, its state is first written once created.
    if !inline_start || spec.hooks().is_some() {
        st.save(&opts.root)?;
    }
    let mut resources = linux.resources().clone().unwrap_or_default();
    let mut rules = resources.devices().clone().unwrap_or_default();
    rules.extend(default_device_rules());
    // linux.devices are allowed too, as with runc (rootfs::setup makes
    // their nodes after this applies: mknod needs the rule).
    rules.extend(linux.devices().iter().flatten().filter_map(|d| {
        let typ = match d.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => LinuxDeviceType::C,
            LinuxDeviceType::B => LinuxDeviceType::B,
            _ => return None,
        };
        let mut rule = LinuxDeviceCgroup::from(d);
        rule.set_typ(Some(typ));
        Some(rule)
    }));
    if rustix::process::geteuid().is_root() {
        resources.set_devices(Some(rules));
    } else {
        // Rootless: no device cgroup (an unprivileged user can load no
        // device eBPF program; the user namespace already denies mknod),
        // as runc does.
        resources.set_devices(None);
    }
    if let Some(cg) = &cg {
        cg.apply(&resources)?;
    }
    let cgroup_mounts =
        if let Some(cg) = &cg
            && spec.mounts().iter().flatten().any(|m| {
                m.typ().as_deref() == Some("cgroup") || m.typ().as_deref() == Some("cgroup2")
            })
        {
            cg.mount_sources()?
        } else {
            Vec::new()
        };
    let seccomp = match linux.seccomp() {
        Some(s) => Some(crate::seccomp::prepare(
            s,
            &opts.root.join(".seccomp-cache"),
        )?),
        None => None,
    };
    let pty = if process.terminal().unwrap_or(false) {
        let size = process
            .console_size()
            .map(|b| (b.height() as u16, b.width() as u16));
        let user = process.user();
        let owner = namespaces::host_id(linux.uid_mappings().as_deref(), user.uid()).zip(
            namespaces::host_id(linux.gid_mappings().as_deref(), user.gid()),
        );
        let pty = terminal::open(size, owner)?;
        if let Some(sock) = &opts.console_socket {
            terminal::send_master(sock, &pty.master, &pty.slave_path)?;
        }
        Some(pty)
    } else {
        None
    };
    let (fifo_fd, start_pipe) = if inline_start {
        // Both ends close on exec; the caller keeps the write end.
        let (r, w) = std::io::pipe().ctx(|| "pipe".into())?;
        (std::fs::File::from(std::os::fd::OwnedFd::from(r)), Some(w))
    } else {
        let fifo = ContainerState::fifo(&opts.root, &opts.id);
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600))
            .ctx(|| format!("mkfifo {}", fifo.display()))?;
        // Opened here, before any user namespace, and inherited by the
        // init. Read-write so it never blocks; `start` opens it write-only
        // and non-blocking (ENXIO once the init is gone), so it never hangs.
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&fifo)
            .ctx(|| format!("open {}", fifo.display()))?;
        (f, None)
    };

    let (parent, child) = sync::pair()?;
    // The init is forked by the stage process; as a subreaper we inherit
    // it when the stage exits, so `run` can wait for it.
    // SAFETY: prctl(PR_SET_CHILD_SUBREAPER) only sets a flag on us.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    let ctx = InitCtx {
        spec,
        rootfs: &bundle.rootfs,
        bundle: &bundle.path,
        ns,
        fifo: &fifo_fd,
        pty: pty.as_ref(),
        seccomp: seccomp.as_ref(),
        no_pivot: opts.no_pivot,
        preserve_fds: opts.preserve_fds,
        cgroup_mounts: &cgroup_mounts,
    };
    // SAFETY: caixa-runtime is single-threaded, so the child may allocate
    // and run arbitrary code; it never returns from `init::stage`.
    let stage = match unsafe { nix::unistd::fork() }.ctx(|| "fork".into())? {
        ForkResult::Child => {
            drop(parent);
            init::stage(&ctx, &child)
        }
        ForkResult::Parent { child: pid } => pid.as_raw(),
    };
    drop(child);
    let console = match pty {
        Some(p) if opts.console_socket.is_none() => Some(p.master),
        _ => None,
    };
    drop(fifo_fd);
    rb.pids.push(stage);
    if let Some(a) = process.exec_cpu_affinity() {
        crate::extras::apply_exec_cpu_affinity_initial(a, stage)
            .map_err(|e| OciError::invalid(e.field, e.reason))?;
    }
    if let Some(cg) = &cg {
        cg.add_task(stage)?;
    }
    parent.send(&Msg::Go)?;
    let mut init_pid = 0;
    // The stage's Pid and the init's Ready may arrive in either order.
    let mut ready = false;
    let mut continued = false;
    loop {
        let (msg, fd) = match parent.recv_fd()? {
            Some((m, fd)) => (Some(m), fd),
            None => (None, None),
        };
        match msg {
            Some(Msg::SeccompFd) => {
                let fd = fd.ok_or_else(|| OciError::Init("seccomp: no listener fd".into()))?;
                send_listener(linux, &st, st.pid, Status::Creating, &fd)?;
                drop(fd);
                parent.send(&Msg::Go)?;
            }
            Some(Msg::MapIds) => {
                namespaces::write_id_maps(stage, linux)?;
                parent.send(&Msg::Go)?;
            }
            Some(Msg::Pid(p)) => {
                init_pid = p;
                rb.pids.push(p);
                let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(stage), None);
                rb.pids.retain(|&x| x != stage);
            }
            Some(Msg::Ready) => ready = true,
            Some(Msg::Created) => break,
            Some(Msg::Error(e)) => return Err(OciError::Init(e)),
            Some(m) => return Err(OciError::Init(format!("unexpected message {m:?}"))),
            None => {
                return Err(OciError::Init(
                    "the container's init exited during setup".into(),
                ));
            }
        }
        if ready && init_pid > 0 && !continued {
            continued = true;
            st.pid = init_pid;
            st.start_time = proc_stat(init_pid).map(|s| s.1).unwrap_or(0);
            // linux.netDevices, before any hook and before the init sets
            // up the rootfs (sysctls may name the devices), as runc does.
            if !netdevs.is_empty() {
                netdev::move_in(netdevs, init_pid, &mut rb.netdevs)?;
            }
            let hooks = spec.hooks().as_ref();
            // Hooks may ask `state` for the init's pid while creating;
            // without hooks the pid is first written with `created`.
            if hooks.is_some() {
                st.save(&opts.root)?;
            }
            run_hooks(
                hooks.and_then(|h| h.prestart().as_ref()),
                &st,
                Status::Creating,
            )?;
            run_hooks(
                hooks.and_then(|h| h.create_runtime().as_ref()),
                &st,
                Status::Creating,
            )?;
            let json = serde_json::to_vec(&st.oci(Status::Creating)).unwrap_or_default();
            parent.send(&Msg::Continue(json))?;
        }
    }
    st.created_done = true;
    st.save(&opts.root)?;
    if let Some(pf) = &opts.pid_file {
        write_pid_file(pf, init_pid)?;
    }
    rb.dir = None;
    rb.cgroup = None;
    rb.pids.clear();
    rb.netdevs = None;
    Ok(Created {
        pid: init_pid,
        console,
        start: start_pipe,
    })
}

/// Whether a failed cgroup creation may be skipped: a non-root caller that
/// may not write the cgroup tree and a spec that sets no limits (as runc
/// does rootless). With limits it is an error naming the cause.
fn rootless_skip(
    e: &crate::cgroups::CgroupError,
    linux: &oci_spec::runtime::Linux,
) -> Result<bool> {
    use crate::cgroups::CgroupError;
    let denied = matches!(e, CgroupError::Io { source, .. }
        if source.kind() == std::io::ErrorKind::PermissionDenied
            || source.raw_os_error() == Some(libc::EROFS));
    if !denied || rustix::process::geteuid().is_root() {
        return Ok(false);
    }
    let limits = linux.resources().as_ref().is_some_and(|r| {
        let mut v = serde_json::to_value(r).unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            o.remove("devices");
            o.retain(|_, x| !x.is_null());
        }
        v.as_object().is_some_and(|o| !o.is_empty())
    });
    if limits {
        return Err(OciError::invalid(
            "linux.resources",
            format!("limits need a writable cgroup, and this user may not create one ({e})"),
        ));
    }
    tracing::debug!("rootless: no cgroup ({e})");
    Ok(true)
}

/// Hands the seccomp notify listener `fd` of process `pid` (the init, or
/// an exec'd process) to the agent at `linux.seccomp.listenerPath` with
/// the container's state in `status`.
pub(crate) fn send_listener(
    linux: &oci_spec::runtime::Linux,
    st: &ContainerState,
    pid: i32,
    status: Status,
    fd: &std::os::fd::OwnedFd,
) -> Result<()> {
    use std::os::fd::AsFd;
    let sc = linux.seccomp().as_ref();
    let path = sc.and_then(|s| s.listener_path().as_ref()).ok_or_else(|| {
        OciError::invalid("linux.seccomp.listenerPath", "required by SCMP_ACT_NOTIFY")
    })?;
    let meta = sc.and_then(|s| s.listener_metadata().as_deref());
    let json = serde_json::to_vec(&st.oci(status)).unwrap_or_default();
    crate::seccomp::send_listener(path, fd.as_fd(), pid, meta, &json)
        .map_err(|e| OciError::invalid("linux.seccomp", e.to_string()))
}

/// The devices every container gets (appended after the spec's rules, so
/// they stay allowed even after a leading deny-all, as in runc).
fn default_device_rules() -> Vec<LinuxDeviceCgroup> {
    let c = |major: i64, minor: Option<i64>| {
        LinuxDeviceCgroupBuilder::default()
            .allow(true)
            .typ(LinuxDeviceType::C)
            .major(major)
            .access("rwm")
            .build()
            .map(|mut r| {
                r.set_minor(minor);
                r
            })
    };
    [
        c(1, Some(3)), // null
        c(1, Some(5)), // zero
        c(1, Some(7)), // full
        c(1, Some(8)), // random
        c(1, Some(9)), // urandom
        c(5, Some(0)), // tty
        c(5, Some(1)), // console
        c(5, Some(2)), // ptmx
        c(136, None),  // pts/*
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Writes `pid` to `path` atomically (temp file + rename), as runc does.
pub fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    let path = std::path::absolute(path).ctx(|| format!("--pid-file {}", path.display()))?;
    let tmp = path.with_file_name(format!(
        ".{}.tmp",
        path.file_name()
            .map(|f| f.to_string_lossy())
            .unwrap_or_default()
    ));
    std::fs::write(&tmp, pid.to_string())
        .and_then(|_| std::fs::rename(&tmp, &path))
        .ctx(|| format!("--pid-file {}", path.display()))
}
