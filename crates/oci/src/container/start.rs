//! `start`: release a created container's init to exec the user process.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::{kill_and_wait, pidfd_if_same, pidfd_signal, run_hooks};
use crate::error::{Context, OciError, Result};
use crate::state::{ContainerState, Status, proc_stat};

/// Starts container `id`; runs poststart hooks (a failing one stops the
/// container and fails `start`, see `poststart`).
pub fn start(root: &Path, id: &str) -> Result<()> {
    let st = ContainerState::load(root, id)?;
    let status = st.status(root);
    if status != Status::Created {
        return Err(OciError::container(
            id,
            format!("cannot start a container that is {status}"),
        ));
    }
    let fifo_path = ContainerState::fifo(root, id);
    // Non-blocking write-only open: succeeds only while the init holds the
    // fifo open (ENXIO otherwise), so `start` can never hang.
    let mut fifo = match std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo_path)
    {
        Ok(f) => f,
        Err(e) if e.raw_os_error() == Some(libc::ENXIO) => {
            return Err(OciError::container(id, "the init has exited"));
        }
        Err(e) => return Err(e).ctx(|| format!("open {}", fifo_path.display())),
    };
    fifo.write_all(b"0")
        .ctx(|| format!("write {}", fifo_path.display()))?;
    drop(fifo);
    std::fs::remove_file(&fifo_path).ctx(|| format!("remove {}", fifo_path.display()))?;
    poststart(&st)
}

/// Starts container `id` created with `inline_start` (by `run`): writes
/// the start byte to the init's pipe, then runs poststart hooks.
pub fn start_inline(root: &Path, id: &str, mut pipe: std::io::PipeWriter) -> Result<()> {
    match pipe.write_all(b"0") {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EPIPE) => {
            return Err(OciError::container(id, "the init has exited"));
        }
        Err(e) => return Err(e).ctx(|| "write the start pipe".into()),
    }
    drop(pipe);
    let st = ContainerState::load(root, id)?;
    poststart(&st)
}

/// Runs the poststart hooks in order. As the runtime spec says, when one
/// fails the later ones are not run, the container is stopped (its
/// processes are killed; `delete` still runs the poststop hooks) and the
/// error is returned.
fn poststart(st: &ContainerState) -> Result<()> {
    let hooks = st.hooks.as_ref().and_then(|h| h.poststart().as_ref());
    match run_hooks(hooks, st, Status::Running) {
        Ok(()) => Ok(()),
        Err(e) => {
            stop(st);
            Err(OciError::container(
                &st.id,
                format!("poststart {e} (the container was stopped)"),
            ))
        }
    }
}

/// Kills the container and waits for its init to be gone. Without a pid
/// namespace of its own, killing the init would leave its other processes:
/// those in its cgroup are killed first.
fn stop(st: &ContainerState) {
    let own_pidns = std::fs::read_link(format!("/proc/{}/ns/pid", st.pid)).ok()
        != std::fs::read_link("/proc/self/ns/pid").ok();
    if !own_pidns
        && !st.cgroup_skipped
        && let Ok(pids) = super::cgroup_of(st).and_then(|cg| cg.pids())
    {
        for p in pids.into_iter().filter(|&p| p != st.pid) {
            if let Some((_, t)) = proc_stat(p)
                && let Some(fd) = pidfd_if_same(p, t)
            {
                let _ = pidfd_signal(&fd, libc::SIGKILL, &format!("process {p}"));
            }
        }
    }
    kill_and_wait(st.pid, st.start_time);
}
