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
//!
//! Path resolution follows runc's cgroupfs driver: an absolute
//! `cgroupsPath` is taken relative to the root of each hierarchy, a
//! relative one relative to the caller's own cgroup (from
//! `/proc/self/cgroup`), and without one the container goes to `/<id>`
//! under each hierarchy's root (as runc and crun). A path with a `..` component is refused.
//!
//! Files: `paths` (hierarchy detection, `cgroupsPath` resolution),
//! `validate` (field checks before any write), `v1` and `v2` (create and
//! apply per hierarchy, with the field conversions), `devices` (v1 rules
//! and the v2 eBPF device program), [`stats`], `freezer` (freeze, thaw,
//! kill_all), `oom` (OOM notification fd), `fsutil` (file helpers, delete
//! with the EBUSY rule).
//!
//! Fields cgroups cannot honour are never silently dropped when they would
//! change behaviour: they fail with [`CgroupError::Unsupported`] naming the
//! config.json field (hugepage limits without hugetlb, `unified` on v1,
//! realtime or `network` on v2, ...). Deprecated knobs with no effect on
//! current kernels (`memory.kernel`, v2 `swappiness`, ...) are ignored
//! with a warning; `v1.rs` and `v2.rs` list them.

mod devices;
mod freezer;
mod fsutil;
mod oom;
mod paths;
pub mod stats;
mod sub;
mod v1;
mod v2;
mod validate;

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use oci_spec::runtime::LinuxResources;

pub use oom::OomNotifier;
pub use stats::Stats;

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
    /// A malformed value in config.json (nothing was written).
    #[error("{field}: {reason}")]
    Invalid {
        /// The config.json field, e.g. `linux.resources.cpu.shares`.
        field: String,
        /// Why.
        reason: String,
    },
    /// The kernel refused a value for a field.
    #[error("{field}: cannot write {value:?} to {}: {source}", path.display())]
    Write {
        /// The config.json field the value came from.
        field: String,
        /// The cgroup file.
        path: PathBuf,
        /// What was written.
        value: String,
        /// The kernel's answer.
        source: std::io::Error,
    },
}

impl CgroupError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        CgroupError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        CgroupError::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn unsupported(field: impl Into<String>, reason: impl Into<String>) -> Self {
        CgroupError::Unsupported {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// Which cgroup hierarchy the host uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hierarchy {
    /// cgroup v1 controllers (possibly with an empty cgroup2 mount: hybrid).
    V1,
    /// The unified cgroup v2 hierarchy at /sys/fs/cgroup.
    V2,
}

/// One directory of the container's cgroup: per v1 hierarchy, or the single
/// v2 directory.
#[derive(Debug, Clone)]
pub(crate) struct CgroupDir {
    /// v1: the hierarchy's subsystems as the kernel lists them
    /// ("cpu,cpuacct", "memory", "name=systemd"); v2: "".
    pub(crate) subsystems: String,
    /// The hierarchy's mount point (v2: /sys/fs/cgroup).
    pub(crate) mountpoint: PathBuf,
    /// The container's directory.
    pub(crate) path: PathBuf,
}

impl CgroupDir {
    /// Whether this v1 hierarchy carries controller `ctrl`.
    pub(crate) fn has(&self, ctrl: &str) -> bool {
        self.subsystems.split(',').any(|s| s == ctrl)
    }
}

/// One container's cgroup, on whichever hierarchy the host has.
#[derive(Debug, Clone)]
pub struct Manager {
    hierarchy: Hierarchy,
    dirs: Vec<CgroupDir>,
    /// Parent directories (between base and leaf) that `delete` removes
    /// when empty: those this manager created itself.
    prune: Arc<Mutex<Vec<PathBuf>>>,
}

impl Manager {
    /// Detects the host hierarchy.
    pub fn hierarchy() -> Result<Hierarchy, CgroupError> {
        paths::hierarchy()
    }

    /// Resolves the container's cgroup: `cgroups_path` from config.json, or
    /// the default for `id` when it is absent.
    pub fn new(cgroups_path: Option<&str>, id: &str) -> Result<Self, CgroupError> {
        let hierarchy = paths::hierarchy()?;
        let (dirs, default_parents) = paths::resolve(hierarchy, cgroups_path, id)?;
        Ok(Manager {
            hierarchy,
            dirs,
            prune: Arc::new(Mutex::new(default_parents)),
        })
    }

    /// Re-opens a cgroup from the (subsystems, dir) pairs that
    /// [`mount_sources`](Self::mount_sources) returned when it was created,
    /// e.g. kept in the runtime's state: a relative `cgroupsPath` resolves
    /// against the caller's cgroup, which a later `delete` may not share.
    pub fn from_mount_sources(sources: &[(String, PathBuf)]) -> Result<Self, CgroupError> {
        let hierarchy = paths::hierarchy()?;
        let dirs = paths::reopen(hierarchy, sources)?;
        Ok(Manager {
            hierarchy,
            dirs,
            prune: Arc::new(Mutex::new(Vec::new())),
        })
    }

    /// The hierarchy this manager works on.
    pub fn kind(&self) -> Hierarchy {
        self.hierarchy
    }

    /// Creates the cgroup directories (every v1 controller, or the v2 dir).
    pub fn create(&self) -> Result<(), CgroupError> {
        let mut created = Vec::new();
        let res = match self.hierarchy {
            Hierarchy::V1 => v1::create(&self.dirs, &mut created),
            Hierarchy::V2 => v2::create(&self.dirs[0], &mut created),
        };
        let mut prune = self.prune.lock().unwrap_or_else(|e| e.into_inner());
        for dir in created {
            if !prune.contains(&dir) {
                prune.push(dir);
            }
        }
        drop(prune);
        if res.is_err() {
            let _ = self.delete();
        }
        res
    }

    /// Checks `resources` for malformed values without touching anything.
    pub fn validate(&self, resources: &LinuxResources) -> Result<(), CgroupError> {
        validate::resources(self.hierarchy, resources)
    }

    /// Writes the limits of `resources`.
    pub fn apply(&self, resources: &LinuxResources) -> Result<(), CgroupError> {
        self.validate(resources)?;
        match self.hierarchy {
            Hierarchy::V1 => v1::apply(&self.dirs, resources),
            Hierarchy::V2 => v2::apply(&self.dirs[0], resources),
        }
    }

    /// [`validate`](Self::validate), [`create`](Self::create) and
    /// [`apply`](Self::apply) in one step; on any failure the directories
    /// are removed again, so nothing is left behind.
    pub fn create_and_apply(&self, resources: Option<&LinuxResources>) -> Result<(), CgroupError> {
        if let Some(r) = resources {
            self.validate(r)?;
        }
        self.create()?;
        if let Some(r) = resources
            && let Err(e) = self.apply(r)
        {
            let _ = self.delete();
            return Err(e);
        }
        Ok(())
    }

    /// Moves `pid` into the cgroup.
    pub fn add_task(&self, pid: i32) -> Result<(), CgroupError> {
        for dir in &self.dirs {
            fsutil::write_file(&dir.path.join("cgroup.procs"), &pid.to_string())?;
        }
        Ok(())
    }

    /// The pids currently in the cgroup, including its sub-cgroups.
    pub fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        let dir = self.main_dir();
        let mut out = Vec::new();
        fsutil::collect_pids(&dir.path, &mut out)?;
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    /// Removes every directory this cgroup has (kills nothing itself), then
    /// the parents caixa created if they are empty. A missing directory is
    /// not an error.
    pub fn delete(&self) -> Result<(), CgroupError> {
        let mut first_err = None;
        for dir in &self.dirs {
            if let Err(e) = fsutil::remove_tree(&dir.path) {
                first_err.get_or_insert(e);
            }
        }
        if first_err.is_none() {
            let prune = self.prune.lock().unwrap_or_else(|e| e.into_inner()).clone();
            fsutil::prune_parents(&prune);
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// For a `cgroup` mount inside the container: (subsystem name, host dir).
    /// v1: one entry per mounted hierarchy ("cpu,cpuacct", "memory", ...,
    /// "name=systemd"); v2: a single ("", dir) entry.
    pub fn mount_sources(&self) -> Result<Vec<(String, PathBuf)>, CgroupError> {
        Ok(self
            .dirs
            .iter()
            .map(|d| (d.subsystems.clone(), d.path.clone()))
            .collect())
    }

    /// Every directory of this cgroup (v1: one per hierarchy), for
    /// `caixa explain` and diagnostics.
    pub fn paths(&self) -> Vec<PathBuf> {
        self.dirs.iter().map(|d| d.path.clone()).collect()
    }

    /// The directory holding controller `ctrl` ("memory", "cpu", ...); on
    /// v2 the single directory. `None` when that v1 controller is not
    /// mounted.
    pub fn controller_path(&self, ctrl: &str) -> Option<&Path> {
        match self.hierarchy {
            Hierarchy::V2 => Some(&self.dirs[0].path),
            Hierarchy::V1 => self
                .dirs
                .iter()
                .find(|d| d.has(ctrl))
                .map(|d| d.path.as_path()),
        }
    }

    /// On v2, the cgroup directory opened for `clone3(CLONE_INTO_CGROUP)`;
    /// `None` on v1 or when the directory cannot be opened.
    pub fn v2_dir_fd(&self) -> Option<OwnedFd> {
        if self.hierarchy != Hierarchy::V2 {
            return None;
        }
        rustix::fs::open(
            &self.dirs[0].path,
            rustix::fs::OFlags::DIRECTORY
                | rustix::fs::OFlags::RDONLY
                | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .ok()
    }

    /// Freezes every process of the cgroup and waits until the kernel
    /// reports it frozen.
    pub fn freeze(&self) -> Result<(), CgroupError> {
        freezer::freeze(self)
    }

    /// Thaws the cgroup.
    pub fn thaw(&self) -> Result<(), CgroupError> {
        freezer::thaw(self)
    }

    /// Whether the cgroup is currently frozen.
    pub fn is_frozen(&self) -> Result<bool, CgroupError> {
        freezer::is_frozen(self)
    }

    /// Sends `signal` to every process in the cgroup (`kill --all`,
    /// `delete --force`). SIGKILL on v2 uses `cgroup.kill`; other signals
    /// are sent with the cgroup frozen so no process escapes by forking.
    pub fn kill_all(&self, signal: i32) -> Result<(), CgroupError> {
        freezer::kill_all(self, signal)
    }

    /// Usage numbers from the cgroup files.
    pub fn stats(&self) -> Result<Stats, CgroupError> {
        stats::read(self)
    }

    /// How many processes the kernel's OOM killer killed in this cgroup
    /// (v1 `memory.oom_control` oom_kill, v2 `memory.events` oom_kill).
    pub fn oom_kill_count(&self) -> Result<u64, CgroupError> {
        stats::oom_kill_count(self)
    }

    /// An fd that becomes readable on memory events (OOM), to wait for
    /// OOM kills without polling; see [`OomNotifier`].
    pub fn oom_notifier(&self) -> Result<OomNotifier, CgroupError> {
        OomNotifier::new(self)
    }

    /// The directory used for process listing: v2's only dir, or the v1
    /// pids/memory/first hierarchy.
    pub(crate) fn main_dir(&self) -> &CgroupDir {
        ["pids", "memory", "freezer", "cpu"]
            .iter()
            .find_map(|c| self.dirs.iter().find(|d| d.has(c)))
            .unwrap_or(&self.dirs[0])
    }

    pub(crate) fn dir_for(&self, ctrl: &str) -> Option<&CgroupDir> {
        match self.hierarchy {
            Hierarchy::V2 => self.dirs.first(),
            Hierarchy::V1 => self.dirs.iter().find(|d| d.has(ctrl)),
        }
    }
}
