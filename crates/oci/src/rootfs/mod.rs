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
//!
//! How: every destination is resolved inside the rootfs as if it were `/`
//! (`paths`: openat2 `RESOLVE_IN_ROOT`, or a fd-by-fd walk that creates
//! what is missing), giving an `O_PATH` descriptor that the mount goes
//! onto, so no path is looked up twice and a symlink swapped in meanwhile
//! cannot redirect anything onto the host. Filesystems are built detached
//! with the new mount API (`fsopen`/`fsmount`) and attached with
//! `move_mount`; binds are made with mount(2) onto `/proc/self/fd/N` of
//! the descriptor, so they keep the source's propagation (rslave/rshared
//! binds). Flags are set with `mount_setattr`, which changes only the
//! bits asked for, so flags locked in a user namespace survive. Sources
//! that must be what they claim (/dev/null for masks, the console, host
//! devices, /proc for sysctls) are checked on their descriptors.
//!
//! Files: `options` (mount options), `mounts` and `cgroup` (mounts[]),
//! `idmap`, `copyup` (tmpcopyup), `devices`, `pivot`, `sysctl`,
//! `protect` (masked/read-only), `paths` (safe resolution), `sys`
//! (syscall wrappers).

mod cgroup;
mod copyup;
mod devices;
mod idmap;
mod mounts;
mod options;
mod paths;
mod pivot;
mod protect;
pub mod shared;
mod sys;
mod sysctl;

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;
use rustix::fs::Mode;
use rustix::io::Errno;
use rustix::mount::MountPropagationFlags;

use options::prop;

/// Every `mounts[].options` value [`setup`] understands itself (anything
/// else is passed to the filesystem as data), for the features document.
pub const MOUNT_OPTIONS: &[&str] = &[
    "async",
    "atime",
    "bind",
    "defaults",
    "dev",
    "diratime",
    "dirsync",
    "exec",
    "idmap",
    "lazytime",
    "loud",
    "noatime",
    "nodev",
    "nodiratime",
    "noexec",
    "nolazytime",
    "nomand",
    "norelatime",
    "nostrictatime",
    "nosuid",
    "nosymfollow",
    "private",
    "ratime",
    "rbind",
    "rdev",
    "rdiratime",
    "relatime",
    "ridmap",
    "remount",
    "rexec",
    "rnoatime",
    "rnodev",
    "rnodiratime",
    "rnoexec",
    "rnorelatime",
    "rnostrictatime",
    "rnosuid",
    "rnosymfollow",
    "ro",
    "rprivate",
    "rrelatime",
    "rro",
    "rrw",
    "rshared",
    "rslave",
    "rstrictatime",
    "rsuid",
    "rsymfollow",
    "runbindable",
    "rw",
    "shared",
    "silent",
    "slave",
    "strictatime",
    "suid",
    "symfollow",
    "sync",
    "tmpcopyup",
    "unbindable",
];

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
///
/// Every config.json field it uses is validated before the first mount,
/// so bad input fails with nothing mounted. A relative bind `source` is
/// resolved against the current directory (the bundle, as with runc).
/// Runs with umask 0 (restored on return) so modes are exactly as asked.
pub fn setup(cfg: &RootfsConfig) -> Result<(), RootfsError> {
    if !cfg.rootfs.is_absolute() {
        return Err(RootfsError::Invalid {
            field: "root.path".into(),
            reason: format!("{} is not absolute", cfg.rootfs.display()),
        });
    }
    let planned = mounts::plan(cfg)?;
    devices::validate(cfg)?;
    sysctl::validate(cfg)?;
    validate_protected(cfg)?;
    let (pre, post) = root_propagation(cfg)?;

    let old = rustix::process::umask(Mode::empty());
    let res = setup_inner(cfg, &planned, pre, post);
    rustix::process::umask(old);
    res
}

fn setup_inner(
    cfg: &RootfsConfig,
    planned: &[mounts::Planned<'_>],
    pre: MountPropagationFlags,
    post: Option<MountPropagationFlags>,
) -> Result<(), RootfsError> {
    let rootfs = cfg.rootfs.as_path();
    if shared::shares_mount_ns(cfg.spec) {
        return setup_shared(cfg, planned, post);
    }
    rustix::mount::mount_change("/", pre).map_err(sys_err("set propagation of", Path::new("/")))?;
    // pivot_root refuses a shared new root or parent: make the mount the
    // rootfs lives on private (only that one), then make the rootfs a
    // mount point of its own with a bind onto itself.
    let holder = mount_point_of(rootfs)?;
    rustix::mount::mount_change(&holder, MountPropagationFlags::PRIVATE)
        .map_err(sys_err("make private the mount holding", &holder))?;
    rustix::mount::mount_bind_recursive(rootfs, rootfs)
        .map_err(sys_err("bind rootfs onto itself", rootfs))?;
    let root = paths::open_root(rootfs).map_err(sys_err("open rootfs", rootfs))?;
    for p in planned {
        mounts::mount_one(root.as_fd(), p, cfg).map_err(|e| in_field(e, &p.field))?;
    }
    devices::setup(root.as_fd(), cfg, !mounts::binds_dev(planned))?;
    drop(root);
    if cfg.no_pivot {
        pivot::move_root(rootfs)?;
    } else {
        pivot::pivot(rootfs)?;
    }
    if let Some(post) = post {
        rustix::mount::mount_change("/", post)
            .map_err(sys_err("set rootfsPropagation of", Path::new("/")))?;
    }
    Ok(())
}

/// [`setup`] in the caller's mount namespace (see [`shared`]): no change
/// to the caller's `/`, no pivot_root; the rootfs bind is taken away again
/// when a step fails.
fn setup_shared(
    cfg: &RootfsConfig,
    planned: &[mounts::Planned<'_>],
    post: Option<MountPropagationFlags>,
) -> Result<(), RootfsError> {
    let rootfs = cfg.rootfs.as_path();
    rustix::mount::mount_bind_recursive(rootfs, rootfs)
        .map_err(sys_err("bind rootfs onto itself", rootfs))?;
    let res = (|| {
        let root = paths::open_root(rootfs).map_err(sys_err("open rootfs", rootfs))?;
        for p in planned {
            mounts::mount_one(root.as_fd(), p, cfg).map_err(|e| in_field(e, &p.field))?;
        }
        devices::setup(root.as_fd(), cfg, !mounts::binds_dev(planned))?;
        drop(root);
        rustix::process::chdir(rootfs).map_err(sys_err("chdir", rootfs))?;
        rustix::process::chroot(".").map_err(sys_err("chroot", rootfs))?;
        rustix::process::chdir("/").map_err(sys_err("chdir", Path::new("/")))
    })();
    if let Err(e) = res {
        let _ = shared::release(rootfs);
        return Err(e);
    }
    if let Some(post) = post
        && let Err(e) = rustix::mount::mount_change("/", post)
    {
        // Chrooted into the bind: "/" names it.
        let _ = rustix::mount::unmount("/", rustix::mount::UnmountFlags::DETACH);
        return Err(sys_err("set rootfsPropagation of", Path::new("/"))(e));
    }
    Ok(())
}

/// After pivot: sysctls, masked and read-only paths, read-only root.
pub fn finish(cfg: &RootfsConfig) -> Result<(), RootfsError> {
    let sysctls = sysctl::validate(cfg)?;
    validate_protected(cfg)?;
    sysctl::apply(&sysctls)?;
    let root = paths::open_root(Path::new("/")).map_err(sys_err("open", Path::new("/")))?;
    if let Some(linux) = cfg.spec.linux() {
        if let Some(masked) = linux.masked_paths() {
            protect::mask(root.as_fd(), masked)?;
        }
        if let Some(ro) = linux.readonly_paths() {
            protect::readonly(root.as_fd(), ro)?;
        }
    }
    if cfg
        .spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false)
    {
        protect::readonly_root(root.as_fd())?;
    }
    Ok(())
}

/// A relative maskedPaths entry is refused: masking is a promise that
/// something is hidden, so a path that names nothing clearly is an error.
/// A relative readonlyPaths entry is taken relative to / (as runc does).
fn validate_protected(cfg: &RootfsConfig) -> Result<(), RootfsError> {
    if let Some(linux) = cfg.spec.linux() {
        protect::validate(
            "linux.maskedPaths",
            linux.masked_paths().as_deref().unwrap_or(&[]),
        )?;
    }
    Ok(())
}

/// `linux.rootfsPropagation` as (what / gets before the mounts, what /
/// gets after pivot). The default is rslave, as with runc: the host's
/// mounts still reach the container, nothing goes back. Shared, slave and
/// private modes apply before the mounts (so a bind of a shared host
/// mount under an rshared root is a peer of it: bidirectional), and again
/// to the new / after pivot; unbindable modes only after pivot (an
/// unbindable / could not be bound from).
fn root_propagation(
    cfg: &RootfsConfig,
) -> Result<(MountPropagationFlags, Option<MountPropagationFlags>), RootfsError> {
    let rslave = MountPropagationFlags::DOWNSTREAM | MountPropagationFlags::REC;
    let name = cfg
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.rootfs_propagation().as_deref())
        .unwrap_or("");
    if name.is_empty() {
        return Ok((rslave, None));
    }
    let Some((bits, rec)) = options::propagation(name) else {
        return Err(RootfsError::Invalid {
            field: "linux.rootfsPropagation".into(),
            reason: format!("unknown mode {name:?}"),
        });
    };
    let mut flags = MountPropagationFlags::from_bits_retain(bits as u32);
    if rec {
        flags |= MountPropagationFlags::REC;
    }
    if bits == prop::UNBINDABLE {
        Ok((rslave, Some(flags)))
    } else {
        Ok((flags, Some(flags)))
    }
}

/// The mount point of the mount that `path` (a host path) is on: its
/// highest ancestor still on the same mount.
fn mount_point_of(path: &Path) -> Result<PathBuf, RootfsError> {
    // Lexical ancestors must be the real ones (e.g. /var/run -> /run).
    let real = std::fs::canonicalize(path).map_err(|e| RootfsError::Sys {
        what: "resolve",
        path: path.to_path_buf(),
        source: e,
    })?;
    let path = real.as_path();
    let id = |p: &Path| -> Result<u64, RootfsError> {
        let fd = paths::open_root(p).map_err(sys_err("open", p))?;
        sys::mnt_id(fd.as_fd()).map_err(sys_err("statx", p))
    };
    let want = id(path)?;
    let mut top = path;
    for anc in path.ancestors().skip(1) {
        if id(anc)? != want {
            break;
        }
        top = anc;
    }
    Ok(top.to_path_buf())
}

/// A system error while handling `field` (`mounts[3]`) names the field:
/// `mounts[3]: mount tmpfs /x: Invalid argument`.
fn in_field(e: RootfsError, field: &str) -> RootfsError {
    match e {
        RootfsError::Sys { .. } => RootfsError::Invalid {
            field: field.to_string(),
            reason: e.to_string(),
        },
        other => other,
    }
}

/// Maps an errno to [`RootfsError::Sys`] for `what` on `path`.
pub(crate) fn sys_err(what: &'static str, path: &Path) -> impl FnOnce(Errno) -> RootfsError {
    let path = path.to_path_buf();
    move |e| RootfsError::Sys {
        what,
        path,
        source: e.into(),
    }
}
