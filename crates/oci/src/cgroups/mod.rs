//! cgroups v1 and v2 behind one manager.
//!
//! CONTRACT (used by the container code; keep these signatures stable):
//!
//! - [`Manager::new`] resolves `linux.cgroupsPath` (or the default for the
//!   container id) against the host hierarchy (v1, hybrid or unified v2).
//! - [`Manager::create`] makes the cgroup directories, [`Manager::apply`]
//!   writes the limits of `linux.resources` (an error names the field),
//!   [`Manager::add_task`] moves a pid in, [`Manager::delete`] removes every
//!   directory it made.

use std::path::PathBuf;

use oci_spec::runtime::LinuxResources;

/// Errors from cgroup management. Each names the file or field and the cause.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// An I/O error on a cgroup file or directory.
    #[error("cgroup {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A resource field that cannot be applied on this host.
    #[error("{field}: {reason}")]
    Unsupported {
        /// The config.json field, e.g. `linux.resources.memory.limit`.
        field: String,
        /// Why.
        reason: String,
    },
}

/// Which cgroup hierarchy the host uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hierarchy {
    /// cgroup v1 controllers (possibly with an empty cgroup2 mount: hybrid).
    V1,
    /// The unified cgroup v2 hierarchy at /sys/fs/cgroup.
    V2,
}

/// One container's cgroup, on whichever hierarchy the host has.
#[derive(Debug, Clone)]
pub struct Manager {
    _private: (),
}

impl Manager {
    /// Detects the host hierarchy.
    pub fn hierarchy() -> Result<Hierarchy, CgroupError> {
        todo!("cgroups helper")
    }

    /// Resolves the container's cgroup: `cgroups_path` from config.json, or
    /// the default for `id` when it is absent.
    pub fn new(cgroups_path: Option<&str>, id: &str) -> Result<Self, CgroupError> {
        let _ = (cgroups_path, id);
        todo!("cgroups helper")
    }

    /// Creates the cgroup directories (every v1 controller, or the v2 dir).
    pub fn create(&self) -> Result<(), CgroupError> {
        todo!("cgroups helper")
    }

    /// Writes the limits of `resources`.
    pub fn apply(&self, resources: &LinuxResources) -> Result<(), CgroupError> {
        let _ = resources;
        todo!("cgroups helper")
    }

    /// Moves `pid` into the cgroup.
    pub fn add_task(&self, pid: i32) -> Result<(), CgroupError> {
        let _ = pid;
        todo!("cgroups helper")
    }

    /// The pids currently in the cgroup.
    pub fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        todo!("cgroups helper")
    }

    /// Removes every directory this cgroup has (kills nothing itself).
    pub fn delete(&self) -> Result<(), CgroupError> {
        todo!("cgroups helper")
    }

    /// For a `cgroup` mount inside the container: (subsystem name, host dir).
    /// v1: one entry per mounted hierarchy ("cpu,cpuacct", "memory", ...,
    /// "name=systemd"); v2: a single ("", dir) entry.
    pub fn mount_sources(&self) -> Result<Vec<(String, PathBuf)>, CgroupError> {
        todo!("cgroups helper")
    }
}
