//! `pause` and `resume`: freeze and thaw every process of a container
//! through its cgroup freezer (v1 `freezer.state`, v2 `cgroup.freeze`).
//!
//! As with runc, a created or running container can be paused, only a
//! paused one resumed, and a frozen cgroup is what makes the container's
//! status "paused" (see [`is_paused`]); nothing else is stored.

use std::path::Path;

use crate::error::{OciError, Result};
use crate::state::{ContainerState, Status};

/// Whether the cgroup of `st` is frozen (false when it cannot be read).
pub fn is_paused(st: &ContainerState) -> bool {
    super::cgroup_of(st)
        .and_then(|m| m.is_frozen())
        .unwrap_or(false)
}

/// Freezes every process of container `id` (created or running).
pub fn pause(root: &Path, id: &str) -> Result<()> {
    let st = ContainerState::load(root, id)?;
    let s = st.status(root);
    if !matches!(s, Status::Created | Status::Running) {
        return Err(OciError::container(
            id,
            format!("cannot pause a container that is {s}"),
        ));
    }
    super::cgroup_of(&st)?.freeze()?;
    Ok(())
}

/// Thaws the processes of paused container `id`.
pub fn resume(root: &Path, id: &str) -> Result<()> {
    let st = ContainerState::load(root, id)?;
    let s = st.status(root);
    if s != Status::Paused {
        return Err(OciError::container(
            id,
            format!("cannot resume a container that is {s} (not paused)"),
        ));
    }
    super::cgroup_of(&st)?.thaw()?;
    Ok(())
}
