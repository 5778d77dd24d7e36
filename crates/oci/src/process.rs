//! Setting up the container's process: rlimits, user and groups,
//! capabilities, no_new_privs, umask, cwd, stdio/terminal, fd hygiene,
//! seccomp and execve.
//!
//! Shared by the container init and by `exec` (one implementation): both
//! call [`prepare`] and [`finalize`] while still able to report errors
//! (the init before it says `created`), then [`exec`].

use std::convert::Infallible;
use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use caps::{CapSet, Capability, CapsHashSet};
use oci_spec::runtime::{LinuxCapabilities, PosixRlimitType, Process};

use crate::error::{Context, OciError, Result};
use crate::seccomp::Prepared;

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A resolved program, ready for execve.
#[derive(Debug)]
pub struct Program {
    path: CString,
    argv: Vec<CString>,
    envp: Vec<CString>,
    cwd: PathBuf,
    /// The sealed exec trampoline (see [`crate::exe`]).
    trampoline: Option<OwnedFd>,
}

fn cstr(field: &str, s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| OciError::invalid(field, "contains a NUL byte"))
}

fn rlimit_resource(t: PosixRlimitType) -> libc::__rlimit_resource_t {
    use PosixRlimitType as R;
    match t {
        R::RlimitCpu => libc::RLIMIT_CPU,
        R::RlimitFsize => libc::RLIMIT_FSIZE,
        R::RlimitData => libc::RLIMIT_DATA,
        R::RlimitStack => libc::RLIMIT_STACK,
        R::RlimitCore => libc::RLIMIT_CORE,
        R::RlimitRss => libc::RLIMIT_RSS,
        R::RlimitNproc => libc::RLIMIT_NPROC,
        R::RlimitNofile => libc::RLIMIT_NOFILE,
        R::RlimitMemlock => libc::RLIMIT_MEMLOCK,
        R::RlimitAs => libc::RLIMIT_AS,
        R::RlimitLocks => libc::RLIMIT_LOCKS,
        R::RlimitSigpending => libc::RLIMIT_SIGPENDING,
        R::RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        R::RlimitNice => libc::RLIMIT_NICE,
        R::RlimitRtprio => libc::RLIMIT_RTPRIO,
        R::RlimitRttime => libc::RLIMIT_RTTIME,
    }
}

/// Applies `process.rlimits` to the calling process.
pub fn apply_rlimits(process: &Process) -> Result<()> {
    for (i, r) in process.rlimits().iter().flatten().enumerate() {
        let lim = libc::rlimit {
            rlim_cur: r.soft(),
            rlim_max: r.hard(),
        };
        // SAFETY: setrlimit reads the struct we pass and nothing else.
        if unsafe { libc::setrlimit(rlimit_resource(r.typ()), &lim) } != 0 {
            let e = std::io::Error::last_os_error();
            let why = if e.raw_os_error() == Some(libc::EPERM) {
                format!(
                    "{}: raising the hard limit to {} needs CAP_SYS_RESOURCE: {e}",
                    r.typ(),
                    r.hard()
                )
            } else {
                format!("{}: {e}", r.typ())
            };
            return Err(OciError::invalid(format!("process.rlimits[{i}]"), why));
        }
    }
    Ok(())
}

/// Writes `process.oomScoreAdj` for the calling process (inherited by children).
pub fn apply_oom_score_adj(process: &Process) -> Result<()> {
    if let Some(v) = process.oom_score_adj() {
        std::fs::write("/proc/self/oom_score_adj", v.to_string()).map_err(|e| {
            OciError::invalid("process.oomScoreAdj", format!("cannot set {v}: {e}"))
        })?;
    }
    Ok(())
}

fn is_executable(p: &Path) -> bool {
    match std::fs::metadata(p) {
        Ok(m) => {
            use std::os::unix::fs::PermissionsExt;
            m.is_file() && m.permissions().mode() & 0o111 != 0
        }
        Err(_) => false,
    }
}

/// Resolves `process.args[0]` (in the container's filesystem view) and
/// builds argv/envp. Errors name the field.
pub fn prepare(process: &Process, field: &str) -> Result<Program> {
    let args = process.args().as_deref().unwrap_or_default();
    let Some(arg0) = args.first() else {
        return Err(OciError::invalid(format!("{field}.args"), "empty"));
    };
    let env = process.env().as_deref().unwrap_or_default();
    let cwd = process.cwd().to_path_buf();
    let path = if arg0.contains('/') {
        let p = cwd.join(arg0);
        if !p.exists() {
            return Err(OciError::invalid(
                format!("{field}.args[0]"),
                format!("{arg0}: no such file in the container"),
            ));
        }
        // Checked here, before `created`, as runc does: after `start` the
        // only report left would be an exit status.
        if !is_executable(&p) {
            return Err(OciError::invalid(
                format!("{field}.args[0]"),
                format!("{arg0}: permission denied (not an executable file)"),
            ));
        }
        PathBuf::from(arg0)
    } else {
        let search = env
            .iter()
            .find_map(|e| e.strip_prefix("PATH="))
            .unwrap_or(DEFAULT_PATH);
        search
            .split(':')
            .filter(|d| !d.is_empty())
            .map(|d| cwd.join(d).join(arg0))
            .find(|p| is_executable(p))
            .ok_or_else(|| {
                OciError::invalid(
                    format!("{field}.args[0]"),
                    format!("{arg0}: executable not found in $PATH"),
                )
            })?
    };
    let argv = args
        .iter()
        .map(|a| cstr(&format!("{field}.args"), a))
        .collect::<Result<Vec<_>>>()?;
    let envp = env
        .iter()
        .map(|e| cstr(&format!("{field}.env"), e))
        .collect::<Result<Vec<_>>>()?;
    Ok(Program {
        path: CString::new(path.as_os_str().as_bytes())
            .map_err(|_| OciError::invalid(format!("{field}.args[0]"), "NUL byte"))?,
        argv,
        envp,
        cwd,
        trampoline: crate::exe::trampoline()?,
    })
}

/// Makes `slave` the controlling terminal and stdio of a new session.
pub fn attach_terminal(slave: &OwnedFd) -> Result<()> {
    nix::unistd::setsid().ctx(|| "setsid".into())?;
    // SAFETY: TIOCSCTTY on a tty fd we own; the argument 0 means "do not steal".
    if unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) } != 0 {
        return Err(std::io::Error::last_os_error()).ctx(|| "console: TIOCSCTTY".into());
    }
    for fd in 0..3 {
        // SAFETY: dup2 onto the standard descriptors of this process.
        if unsafe { libc::dup2(slave.as_raw_fd(), fd) } < 0 {
            return Err(std::io::Error::last_os_error()).ctx(|| "console: dup2".into());
        }
    }
    Ok(())
}

fn to_caps(set: &Option<oci_spec::runtime::Capabilities>, known: &CapsHashSet) -> CapsHashSet {
    set.iter()
        .flatten()
        .filter_map(|c| format!("CAP_{c}").parse::<Capability>().ok())
        .filter(|c| known.contains(c))
        .collect()
}

/// Parses every capability name of `caps` (errors name the set).
pub fn validate_caps(caps: &LinuxCapabilities, field: &str) -> Result<()> {
    let sets = [
        ("bounding", caps.bounding()),
        ("effective", caps.effective()),
        ("inheritable", caps.inheritable()),
        ("permitted", caps.permitted()),
        ("ambient", caps.ambient()),
    ];
    for (name, set) in sets {
        for c in set.iter().flatten() {
            if format!("CAP_{c}").parse::<Capability>().is_err() {
                return Err(OciError::invalid(
                    format!("{field}.capabilities.{name}"),
                    format!("unknown capability CAP_{c}"),
                ));
            }
        }
    }
    Ok(())
}

fn capset(set: CapSet, value: &CapsHashSet, name: &str) -> Result<()> {
    caps::set(None, set, value).map_err(|e| OciError::Sys {
        what: format!("process.capabilities.{name}"),
        source: std::io::Error::other(e.to_string()),
    })
}

/// Bounding set, then groups, gid and uid (keeping the permitted
/// capabilities across the change, effective = permitted afterwards, so
/// the filter and the final capability sets can still be applied).
fn apply_user(process: &Process, in_new_userns: bool) -> Result<()> {
    let known = caps::runtime::thread_all_supported();
    let bounding = process
        .capabilities()
        .as_ref()
        .map(|c| to_caps(c.bounding(), &known))
        .unwrap_or_default();
    for c in &known {
        if !bounding.contains(c) {
            caps::drop(None, CapSet::Bounding, *c).map_err(|e| OciError::Sys {
                what: format!("dropping {c} from the bounding set"),
                source: std::io::Error::other(e.to_string()),
            })?;
        }
    }
    let user = process.user();
    // SAFETY: prctl(PR_SET_KEEPCAPS) only changes this thread's flag.
    unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0) };
    let gids: Vec<libc::gid_t> = user.additional_gids().clone().unwrap_or_default();
    let setgroups_denied = in_new_userns
        && std::fs::read_to_string("/proc/self/setgroups").is_ok_and(|s| s.trim() == "deny");
    if !setgroups_denied {
        // SAFETY: setgroups reads `gids.len()` entries from the slice.
        if unsafe { libc::setgroups(gids.len(), gids.as_ptr()) } != 0 {
            return Err(std::io::Error::last_os_error())
                .ctx(|| format!("process.user.additionalGids: setgroups({gids:?})"));
        }
    }
    let gid = user.gid();
    let uid = user.uid();
    // SAFETY: plain credential syscalls on this process.
    if unsafe { libc::setresgid(gid, gid, gid) } != 0 {
        return Err(std::io::Error::last_os_error())
            .ctx(|| format!("process.user.gid: setresgid({gid})"));
    }
    // SAFETY: as above.
    if unsafe { libc::setresuid(uid, uid, uid) } != 0 {
        return Err(std::io::Error::last_os_error())
            .ctx(|| format!("process.user.uid: setresuid({uid})"));
    }
    // SAFETY: as above.
    unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 0, 0, 0, 0) };
    let permitted_now = caps::read(None, CapSet::Permitted).unwrap_or_default();
    capset(CapSet::Effective, &permitted_now, "effective")
}

/// The final inheritable, effective, permitted and ambient sets.
fn apply_caps(process: &Process) -> Result<()> {
    let known = caps::runtime::thread_all_supported();
    let caps = process.capabilities().as_ref();
    let get = |f: fn(&LinuxCapabilities) -> &Option<oci_spec::runtime::Capabilities>| {
        caps.map(|c| to_caps(f(c), &known)).unwrap_or_default()
    };
    let inheritable = get(LinuxCapabilities::inheritable);
    let effective = get(LinuxCapabilities::effective);
    let permitted = get(LinuxCapabilities::permitted);
    let ambient = get(LinuxCapabilities::ambient);
    capset(CapSet::Inheritable, &inheritable, "inheritable")?;
    if !effective.is_subset(&permitted) {
        return Err(OciError::invalid(
            "process.capabilities.effective",
            "must be a subset of permitted",
        ));
    }
    capset(CapSet::Effective, &effective, "effective")?;
    capset(CapSet::Permitted, &permitted, "permitted")?;
    caps::clear(None, CapSet::Ambient).ok();
    for c in &ambient {
        // Ambient needs the cap in permitted and inheritable; like runc,
        // skip those that are not (the kernel would refuse them).
        if permitted.contains(c) && inheritable.contains(c) {
            caps::raise(None, CapSet::Ambient, *c).map_err(|e| OciError::Sys {
                what: format!("process.capabilities.ambient: {c}"),
                source: std::io::Error::other(e.to_string()),
            })?;
        }
    }
    Ok(())
}

/// Marks every fd from `first` on close-on-exec: close_range, or, where
/// it fails (an old kernel, or a caller's seccomp filter refusing it),
/// fcntl(F_SETFD) on each entry of /proc/self/fd.
pub fn cloexec_from(first: u32) -> Result<()> {
    // SAFETY: close_range only sets a flag on descriptors of this process.
    if unsafe { libc::close_range(first, u32::MAX, libc::CLOSE_RANGE_CLOEXEC as i32) } == 0 {
        return Ok(());
    }
    let e = std::io::Error::last_os_error();
    if !matches!(
        e.raw_os_error(),
        Some(libc::ENOSYS | libc::EPERM | libc::EINVAL)
    ) {
        return Err(e).ctx(|| "close_range".into());
    }
    let dir = std::fs::read_dir("/proc/self/fd").ctx(|| "read /proc/self/fd".into())?;
    for entry in dir {
        let entry = entry.ctx(|| "read /proc/self/fd".into())?;
        let Some(fd) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        if fd < 0 || (fd as u32) < first {
            continue;
        }
        // SAFETY: F_GETFD/F_SETFD only read and set the flag of one of our
        // descriptors (EBADF for the directory's own fd, once closed, is
        // ignored).
        unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFD);
            if flags >= 0 && flags & libc::FD_CLOEXEC == 0 {
                libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC);
            }
        }
    }
    Ok(())
}

/// chdir to `process.cwd` and check (CVE-2024-21626) that it resolves
/// inside the container's root.
fn enter_cwd(cwd: &Path) -> std::io::Result<()> {
    std::env::set_current_dir(cwd)?;
    let now = std::env::current_dir()?;
    if !now.is_absolute() || now.as_os_str().as_bytes().starts_with(b"(unreachable)") {
        return Err(std::io::Error::other(
            "resolves outside the container's root",
        ));
    }
    Ok(())
}

/// Scheduler, I/O priority and final CPU affinity (while still privileged).
fn apply_extras(process: &Process) -> Result<()> {
    let extra = |e: crate::extras::ExtrasError| OciError::invalid(e.field, e.reason);
    if let Some(s) = process.scheduler() {
        crate::extras::apply_scheduler(s).map_err(extra)?;
    }
    if let Some(p) = process.io_priority() {
        crate::extras::apply_io_priority(p).map_err(extra)?;
    }
    if let Some(a) = process.exec_cpu_affinity() {
        crate::extras::apply_exec_cpu_affinity_final(a).map_err(extra)?;
    }
    Ok(())
}

/// What [`finalize`] needs besides the process.
#[derive(Debug)]
pub struct Finalize<'a> {
    /// The compiled seccomp filter, if any.
    pub seccomp: Option<&'a Prepared>,
    /// `--preserve-fds`: fds 3..3+N stay open.
    pub preserve_fds: u32,
    /// The process is in a user namespace created for the container.
    pub in_new_userns: bool,
}

/// Everything but the execve: extras, fd hygiene, cwd, user, umask,
/// seccomp, capabilities and no_new_privs, in the order runc uses. The
/// runtime's own calls (close_range, chdir, getcwd, credentials) come
/// before the filter where the kernel allows it: without no_new_privs the
/// filter needs CAP_SYS_ADMIN, so it goes in after the user change (the
/// permitted set is kept across it) and before the final capability sets;
/// with no_new_privs it goes in last.
pub fn finalize(process: &Process, prog: &Program, f: &Finalize) -> Result<()> {
    finalize_with(process, prog, f, None)
}

/// Hands a notifying filter's listener to the runtime and waits until the
/// agent has it.
pub type SendListener<'a> = &'a dyn Fn(std::os::fd::BorrowedFd<'_>) -> Result<()>;

/// [`finalize`]; a notifying filter's listener goes to `send_listener`
/// right after the filter is installed (the runtime's own calls before it
/// are not notified: an agent that does not answer cannot hold `create`).
pub fn finalize_with(
    process: &Process,
    prog: &Program,
    f: &Finalize,
    send_listener: Option<SendListener<'_>>,
) -> Result<()> {
    let install = |s: &Prepared| -> Result<()> {
        if let Some(listener) = s.install()? {
            let send = send_listener.ok_or_else(|| {
                OciError::invalid("linux.seccomp", "nobody to hand the notify listener to")
            })?;
            send(std::os::fd::AsFd::as_fd(&listener))?;
        }
        Ok(())
    };
    apply_extras(process)?;
    cloexec_from(3 + f.preserve_fds)?;
    let cwd_err = |e: std::io::Error| {
        OciError::invalid("process.cwd", format!("{}: {e}", prog.cwd.display()))
    };
    // As root first; only a permission error is retried as the user (a
    // directory the container user may enter but root may not, e.g. on
    // a root-squashed network filesystem).
    let cwd_later = match enter_cwd(&prog.cwd) {
        Ok(()) => false,
        Err(e) if matches!(e.raw_os_error(), Some(libc::EACCES | libc::EPERM)) => true,
        Err(e) => return Err(cwd_err(e)),
    };
    apply_user(process, f.in_new_userns)?;
    // A credential change resets the dumpable flag to fs.suid_dumpable;
    // until execve this is still the runtime's image (see crate::exe).
    // SAFETY: prctl(PR_SET_DUMPABLE, 0) only changes this process's flag.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
    if cwd_later {
        enter_cwd(&prog.cwd).map_err(cwd_err)?;
    }
    if let Some(mask) = process.user().umask() {
        // SAFETY: umask only changes this process's file mode mask.
        unsafe { libc::umask(mask as libc::mode_t) };
    }
    let nnp = process.no_new_privileges().unwrap_or(false);
    if !nnp && let Some(s) = f.seccomp {
        install(s)?;
    }
    apply_caps(process)?;
    if nnp {
        // SAFETY: prctl(PR_SET_NO_NEW_PRIVS, 1) only sets a flag.
        if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
            return Err(std::io::Error::last_os_error()).ctx(|| "process.noNewPrivileges".into());
        }
        if let Some(s) = f.seccomp {
            install(s)?;
        }
    }
    Ok(())
}

/// Execs the program (through the trampoline where there is one). Returns
/// only on failure.
pub fn exec(prog: &Program) -> Result<Infallible> {
    if let Some(t) = &prog.trampoline {
        let e = crate::exe::exec_through(t, &prog.path, &prog.argv, &prog.envp);
        return Err(e).ctx(|| format!("exec {}", String::from_utf8_lossy(prog.path.as_bytes())));
    }
    let mut argv: Vec<*const libc::c_char> = prog.argv.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = prog.envp.iter().map(|a| a.as_ptr()).collect();
    envp.push(std::ptr::null());
    // SAFETY: argv and envp are NUL-terminated arrays of valid C strings
    // that outlive the call; execve only returns on failure.
    unsafe { libc::execve(prog.path.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    Err(std::io::Error::last_os_error())
        .ctx(|| format!("exec {}", String::from_utf8_lossy(prog.path.as_bytes())))
}
