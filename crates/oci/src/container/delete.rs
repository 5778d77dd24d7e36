//! `delete`: remove a stopped (or, with force, any) container: its
//! processes, cgroup and state dir; then the poststop hooks.
//!
//! `linux.netDevices` are not moved out (the runtime-spec forbids it):
//! they stay with the network namespace, which takes virtual devices
//! along when it dies and gives physical ones back to the host (see
//! [`crate::netdev`]).

use std::path::Path;

use super::{kill_and_wait, run_hooks};
use crate::error::{Context, OciError, Result};
use crate::state::{self, ContainerState, Status, proc_stat};

/// Deletes container `id`. A created container is killed first (as runc
/// does); a running one needs `force`.
pub fn delete(root: &Path, id: &str, force: bool) -> Result<()> {
    let st = ContainerState::load(root, id)?;
    let status = st.status(root);
    match status {
        Status::Stopped | Status::Created => {}
        s if !force => {
            return Err(OciError::container(
                id,
                format!("cannot delete a container that is {s} (use --force)"),
            ));
        }
        _ => {}
    }
    if status == Status::Paused {
        // A task frozen by the v1 freezer never sees SIGKILL: thaw first.
        let _ = super::cgroup_of(&st).and_then(|m| m.thaw());
    }
    if status == Status::Creating {
        kill_and_wait(st.creator.0, st.creator.1);
    }
    if st.pid > 0 {
        kill_and_wait(st.pid, st.start_time);
    }
    let cg = super::cgroup_of(&st)?;
    // Whatever else is left in the cgroup (no pid namespace, or processes
    // that outlived the init) goes too, so the cgroup can be removed.
    if let Ok(pids) = cg.pids() {
        for p in pids {
            if let Some((_, t)) = proc_stat(p) {
                kill_and_wait(p, t);
            }
        }
    }
    cg.delete()?;
    release_shared_rootfs(&st);
    if let Err(e) = run_hooks(
        st.hooks.as_ref().and_then(|h| h.poststop().as_ref()),
        &st,
        Status::Stopped,
    ) {
        eprintln!("caixa-runtime: warning: poststop hook: {e}");
    }
    let dir = state::dir(root, id);
    std::fs::remove_dir_all(&dir).ctx(|| format!("remove {}", dir.display()))
}

/// A container without a mount namespace left its rootfs bind in our
/// mount table (see [`crate::rootfs::shared`]): take it away.
fn release_shared_rootfs(st: &ContainerState) {
    let Ok(spec) = super::exec::container_spec(st) else {
        return;
    };
    if !crate::rootfs::shared::shares_mount_ns(&spec) {
        return;
    }
    let root = spec.root().as_ref().map(|r| r.path().clone());
    if let Some(r) = root {
        let rootfs = if r.is_absolute() {
            r
        } else {
            st.bundle.join(r)
        };
        if let Err(e) = crate::rootfs::shared::release(&rootfs) {
            eprintln!("caixa-runtime: warning: unmounting the rootfs: {e}");
        }
    }
}
