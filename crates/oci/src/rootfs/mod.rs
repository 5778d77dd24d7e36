//! The container's filesystem view: mounts, /dev, pivot_root, masked and
//! read-only paths, sysctls.
//!
//! CONTRACT (called by the container init, inside its new mount namespace;
//! keep these signatures stable):
//!
//! 1. [`setup`] before the init drops privileges: sets rootfsPropagation,
//!    makes the rootfs a mount point, mounts every `mounts[]` entry (targets
//!    resolved safely inside the rootfs), creates the default devices and
//!    /dev links, binds the console, then pivot_root (or MS_MOVE + chroot
//!    with `no_pivot`) and chdir("/").
//! 2. [`finish`] after hostname etc.: sysctls, maskedPaths, readonlyPaths,
//!    and the read-only remount of / when `root.readonly`.

use std::path::PathBuf;

use oci_spec::runtime::Spec;

/// Errors from rootfs setup; each names the mount/path and the cause.
#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    /// A system call on a path failed.
    #[error("{what} {path}: {source}")]
    Sys {
        /// What was being done ("mount", "mknod", "pivot_root", ...).
        what: &'static str,
        /// The path inside the container (or on the host).
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A config.json entry that cannot be honoured.
    #[error("{field}: {reason}")]
    Invalid {
        /// The config.json field, e.g. `mounts[3].options`.
        field: String,
        /// Why.
        reason: String,
    },
}

/// What [`setup`] and [`finish`] need to know.
#[derive(Debug)]
pub struct RootfsConfig<'a> {
    /// The whole spec (mounts, linux.devices, maskedPaths, ...).
    pub spec: &'a Spec,
    /// The rootfs, absolute (root.path resolved against the bundle).
    pub rootfs: PathBuf,
    /// `--no-pivot`: MS_MOVE the rootfs onto / and chroot instead.
    pub no_pivot: bool,
    /// From `cgroups::Manager::mount_sources`, for `cgroup` mounts.
    pub cgroup_mounts: Vec<(String, PathBuf)>,
    /// The init runs in a new user namespace: devices are bind-mounted
    /// from the host instead of created with mknod.
    pub in_user_ns: bool,
    /// The pty slave to bind onto /dev/console, when process.terminal.
    pub console: Option<PathBuf>,
}

/// Mounts and pivots into the rootfs (see the module docs).
pub fn setup(cfg: &RootfsConfig) -> Result<(), RootfsError> {
    let _ = cfg;
    todo!("rootfs helper")
}

/// After pivot: sysctls, masked and read-only paths, read-only root.
pub fn finish(cfg: &RootfsConfig) -> Result<(), RootfsError> {
    let _ = cfg;
    todo!("rootfs helper")
}
