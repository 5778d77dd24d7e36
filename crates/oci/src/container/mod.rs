//! The container lifecycle, one operation per file: [`create`](mod@create)
//! (with the forked stage and init processes in [`init`](mod@init)),
//! [`start`](mod@start), [`kill`](mod@kill), [`delete`](mod@delete).

pub mod create;
pub mod delete;
pub mod events;
pub mod exec;
pub mod init;
pub mod kill;
pub mod pause;
pub mod start;
pub mod update;

pub use create::{CreateOptions, Created, create, create_inline};
pub use delete::delete;
pub use exec::{ExecOptions, exec};
pub use kill::kill;
pub use start::{start, start_inline};

use crate::cgroups::{CgroupError, Manager};
use crate::error::{Context, Result};
use crate::state::{ContainerState, Status, proc_stat};

/// Opens the cgroup of container `st`: the directories recorded at
/// `create` when its `cgroupsPath` is relative (they depend on the cgroup
/// of whoever ran `create`), else by resolving the path again.
pub fn cgroup_of(st: &ContainerState) -> std::result::Result<Manager, CgroupError> {
    match (&st.cgroup_sources, st.cgroups_path.as_deref()) {
        (Some(src), Some(p)) if !p.starts_with('/') && !src.is_empty() => {
            Manager::from_mount_sources(src)
        }
        _ => Manager::new(st.cgroups_path.as_deref(), &st.id),
    }
}

/// Runs `hooks` with the state document of `st` in `status`.
pub(crate) fn run_hooks(
    hooks: Option<&Vec<oci_spec::runtime::Hook>>,
    st: &ContainerState,
    status: Status,
) -> Result<()> {
    let Some(hooks) = hooks.filter(|h| !h.is_empty()) else {
        return Ok(());
    };
    let json = serde_json::to_vec(&st.oci(status)).unwrap_or_default();
    crate::hooks::run(hooks, &json)?;
    Ok(())
}

/// Opens a pidfd for `pid` if it is still the process that started at
/// `start_time` (so pid reuse cannot redirect a signal).
pub(crate) fn pidfd_if_same(pid: i32, start_time: u64) -> Option<std::os::fd::OwnedFd> {
    let p = rustix::process::Pid::from_raw(pid)?;
    let fd = rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty()).ok()?;
    match proc_stat(pid) {
        Some((_, t)) if t == start_time => Some(fd),
        _ => None,
    }
}

/// Sends `sig` through a pidfd.
pub(crate) fn pidfd_signal(fd: &std::os::fd::OwnedFd, sig: i32, what: &str) -> Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: pidfd_send_signal with no siginfo (NULL) and no flags.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            fd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error()).ctx(|| format!("signal {what}"));
    }
    Ok(())
}

/// Blocks until the process behind `fd` has exited (no polling loop).
pub(crate) fn pidfd_wait(fd: &std::os::fd::OwnedFd) {
    let mut pfd = [rustix::event::PollFd::new(fd, rustix::event::PollFlags::IN)];
    loop {
        match rustix::event::poll(&mut pfd, None) {
            Err(rustix::io::Errno::INTR) => continue,
            _ => return,
        }
    }
}

/// SIGKILLs `pid` (if it is still the same process) and waits for its end.
pub(crate) fn kill_and_wait(pid: i32, start_time: u64) {
    if let Some(fd) = pidfd_if_same(pid, start_time) {
        let _ = pidfd_signal(&fd, libc::SIGKILL, "init");
        pidfd_wait(&fd);
        // Reap it if it is our child (run, failed create); ignore otherwise.
        let _ = nix::sys::wait::waitpid(
            nix::unistd::Pid::from_raw(pid),
            Some(nix::sys::wait::WaitPidFlag::WNOHANG),
        );
    }
}
