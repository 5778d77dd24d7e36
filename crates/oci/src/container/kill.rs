//! `kill`: send a signal to a container's init, or to all its processes.

use std::path::Path;

use super::{pidfd_if_same, pidfd_signal};
use crate::error::{OciError, Result};
use crate::state::{ContainerState, Status, proc_stat};

/// Sends `sig` to the init of `id` (or with `all` to every process in its
/// cgroup).
pub fn kill(root: &Path, id: &str, sig: i32, all: bool) -> Result<()> {
    let st = ContainerState::load(root, id)?;
    let status = st.status(root);
    if all {
        let cg = super::cgroup_of(&st)?;
        for p in cg.pids()? {
            if let Some((_, t)) = proc_stat(p)
                && let Some(fd) = pidfd_if_same(p, t)
            {
                let _ = pidfd_signal(&fd, sig, &format!("process {p}"));
            }
        }
        return Ok(());
    }
    if !matches!(status, Status::Created | Status::Running | Status::Paused) {
        return Err(OciError::container(
            id,
            format!("cannot signal a container that is {status}"),
        ));
    }
    match pidfd_if_same(st.pid, st.start_time) {
        Some(fd) => pidfd_signal(&fd, sig, &format!("container {id}")),
        None => Err(OciError::container(id, "is not running")),
    }
}
