//! `mounts[]`: each entry mounted onto an `O_PATH` descriptor of its
//! destination, resolved safely inside the rootfs.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Mount};
use rustix::fs::FileType;
use rustix::io::Errno;

use super::options::{self, MountOptions};
use super::paths::{self, Kind};
use super::sys;
use super::{RootfsConfig, RootfsError, sys_err};

/// A `mounts[]` entry after validation (done before anything is mounted).
#[derive(Debug)]
pub(crate) struct Planned<'a> {
    /// `mounts[N]`, for errors.
    pub field: String,
    /// The entry.
    pub mount: &'a Mount,
    /// Its options, parsed.
    pub opts: MountOptions,
    /// For an idmapped bind: the mapping.
    pub idmap: Option<super::idmap::IdMap>,
}

/// Validates every `mounts[]` entry without touching anything.
pub(crate) fn plan<'a>(cfg: &RootfsConfig<'a>) -> Result<Vec<Planned<'a>>, RootfsError> {
    let mut out = Vec::new();
    for (i, m) in cfg.spec.mounts().iter().flatten().enumerate() {
        let field = format!("mounts[{i}]");
        let mut opts = options::parse(m.options().as_deref().unwrap_or(&[]), &field)?;
        let typ = m.typ().as_deref().unwrap_or("");
        // `"type": "bind"` alone means a bind, as with runc.
        if typ == "bind" && !opts.remount {
            opts.bind = true;
        }
        if !opts.bind && !opts.remount && typ.is_empty() {
            return Err(RootfsError::Invalid {
                field: format!("{field}.type"),
                reason: format!(
                    "missing for {} (not a bind mount)",
                    m.destination().display()
                ),
            });
        }
        if opts.bind && !opts.remount && m.source().is_none() {
            return Err(RootfsError::Invalid {
                field: format!("{field}.source"),
                reason: format!(
                    "a bind mount to {} needs a source",
                    m.destination().display()
                ),
            });
        }
        if m.destination().as_os_str().is_empty() {
            return Err(RootfsError::Invalid {
                field: format!("{field}.destination"),
                reason: "empty".into(),
            });
        }
        if opts.copyup && (opts.bind || typ != "tmpfs") {
            return Err(RootfsError::Invalid {
                field: format!("{field}.options"),
                reason: "tmpcopyup is only for tmpfs mounts".into(),
            });
        }
        let idmap = super::idmap::plan(cfg, m, &field, opts.idmap)?;
        if idmap.is_some() && !opts.bind {
            return Err(RootfsError::Invalid {
                field,
                reason: "only bind mounts can be idmapped".into(),
            });
        }
        out.push(Planned {
            field,
            mount: m,
            opts,
            idmap,
        });
    }
    Ok(out)
}

/// Mounts one planned entry inside the rootfs `root`.
pub(crate) fn mount_one(
    root: BorrowedFd<'_>,
    p: &Planned<'_>,
    cfg: &RootfsConfig,
) -> Result<(), RootfsError> {
    let dest = p.mount.destination();
    let typ = p.mount.typ().as_deref().unwrap_or("");
    if p.opts.remount {
        // Change the flags of what an earlier entry mounted there.
        let target = paths::open_in_root(root, dest).map_err(sys_err("open", dest))?;
        sys::setattr(target.as_fd(), false, p.opts.set, p.opts.clr, 0)
            .map_err(sys_err("remount", dest))?;
        return propagate(target.as_fd(), &p.opts, dest);
    }
    if p.opts.bind {
        let src = p.mount.source().as_deref().unwrap_or(Path::new(""));
        return bind(root, src, p);
    }
    match typ {
        "cgroup" | "cgroup2" => super::cgroup::mount(root, p, cfg),
        "sysfs" => {
            no_symlink_at(root, p)?;
            let target = dir_target(root, dest)?;
            guard_proc(target.as_fd(), p)?;
            match fs_mount(typ, p, target.as_fd()) {
                // Without its own network namespace, a user namespace may
                // not mount sysfs: bind the host's /sys instead.
                Err(RootfsError::Sys { source, .. })
                    if cfg.in_user_ns && source.raw_os_error() == Some(libc::EPERM) =>
                {
                    let mut opts = p.opts.clone();
                    opts.recursive = true;
                    // Plain ro/nosuid/... cover only the top of a bind; the
                    // host's /sys submounts must get them too.
                    opts.rec_set |= opts.set;
                    opts.rec_clr |= opts.clr;
                    bind_onto(root, Path::new("/sys"), target.as_fd(), dest, &opts)
                }
                other => other,
            }
        }
        _ => {
            if typ == "proc" {
                no_symlink_at(root, p)?;
            }
            let target = dir_target(root, dest)?;
            if typ != "proc" {
                guard_proc(target.as_fd(), p)?;
            }
            fs_mount(typ, p, target.as_fd())
        }
    }
}

/// proc and sysfs go on the directory itself, never through a symlink
/// the image placed there (it could aim them at a path a later mount or
/// the container's process would use differently).
fn no_symlink_at(root: BorrowedFd<'_>, p: &Planned<'_>) -> Result<(), RootfsError> {
    let dest = p.mount.destination();
    let (Some(parent), Some(name)) = (dest.parent(), dest.file_name()) else {
        return Ok(());
    };
    let dir = match paths::open_in_root(root, parent) {
        Ok(d) => d,
        Err(Errno::NOENT) => return Ok(()),
        Err(e) => return Err(sys_err("open", parent)(e)),
    };
    match rustix::fs::statat(&dir, name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Symlink => {
            Err(RootfsError::Invalid {
                field: format!("{}.destination", p.field),
                reason: format!(
                    "{} is a symlink: {} must be mounted on ordinary directory",
                    dest.display(),
                    p.mount.typ().as_deref().unwrap_or("")
                ),
            })
        }
        _ => Ok(()),
    }
}

/// Files under /proc that may be mounted over (what lxcfs provides).
const PROC_ALLOWED: [&str; 10] = [
    "/proc/cpuinfo",
    "/proc/diskstats",
    "/proc/meminfo",
    "/proc/stat",
    "/proc/swaps",
    "/proc/uptime",
    "/proc/loadavg",
    "/proc/slabinfo",
    "/proc/net/dev",
    "/proc/sys/kernel/ns_last_pid",
];

/// Refuses to mount over anything in a procfs (wherever a symlink led the
/// destination), except the few files above: a bind over /proc/sys/... or
/// /proc/self/attr/... would defeat masked and read-only paths.
pub(crate) fn guard_proc(target: BorrowedFd<'_>, p: &Planned<'_>) -> Result<(), RootfsError> {
    const PROC_SUPER_MAGIC: u64 = 0x9fa0;
    let dest = p.mount.destination();
    let fs = rustix::fs::fstatfs(target).map_err(sys_err("statfs", dest))?;
    if fs.f_type as u64 != PROC_SUPER_MAGIC {
        return Ok(());
    }
    if PROC_ALLOWED.iter().any(|a| dest == Path::new(a)) {
        return Ok(());
    }
    Err(RootfsError::Invalid {
        field: format!("{}.destination", p.field),
        reason: format!(
            "{} is inside /proc: refusing to mount over procfs",
            dest.display()
        ),
    })
}

/// Opens (creating if needed) a directory destination; refuses anything
/// else so that a file or device can never be mounted over by accident.
pub(crate) fn dir_target(root: BorrowedFd<'_>, dest: &Path) -> Result<OwnedFd, RootfsError> {
    let fd = paths::open_or_create(root, dest, Kind::Dir).map_err(sys_err("mkdir", dest))?;
    match paths::file_type(fd.as_fd()).map_err(sys_err("stat", dest))? {
        FileType::Directory => Ok(fd),
        _ => Err(RootfsError::Sys {
            what: "mount",
            path: dest.to_path_buf(),
            source: Errno::NOTDIR.into(),
        }),
    }
}

/// A new filesystem instance of `typ` attached onto `target`.
fn fs_mount(typ: &str, p: &Planned<'_>, target: BorrowedFd<'_>) -> Result<(), RootfsError> {
    let dest = p.mount.destination();
    let source = p
        .mount
        .source()
        .as_deref()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| typ.to_string());
    // With tmpcopyup the new tmpfs is filled while detached, then made
    // read-only if asked.
    let attrs = if p.opts.copyup {
        p.opts.set & !sys::attr::RDONLY
    } else {
        p.opts.set
    };
    let mnt = sys::new_fs(typ, Some(&source), &p.opts.data, &p.opts.sb_flags, attrs)
        .map_err(sys_err(fs_what(typ), dest))?;
    if p.opts.copyup {
        super::copyup::copy_dir(target, mnt.as_fd()).map_err(sys_err("tmpcopyup into", dest))?;
        sys::setattr(mnt.as_fd(), false, p.opts.set & sys::attr::RDONLY, 0, 0)
            .map_err(sys_err("set read-only", dest))?;
    }
    sys::attach(mnt.as_fd(), target).map_err(sys_err(fs_what(typ), dest))?;
    propagate(mnt.as_fd(), &p.opts, dest)
}

fn fs_what(typ: &str) -> &'static str {
    match typ {
        "proc" => "mount proc",
        "sysfs" => "mount sysfs",
        "tmpfs" => "mount tmpfs",
        "devpts" => "mount devpts",
        "mqueue" => "mount mqueue",
        "cgroup" | "cgroup2" => "mount cgroup",
        _ => "mount",
    }
}

/// Applies the entry's recursive attributes (`rro`, ...) and propagation
/// options to the attached mount `mnt`.
pub(crate) fn propagate(
    mnt: BorrowedFd<'_>,
    opts: &MountOptions,
    dest: &Path,
) -> Result<(), RootfsError> {
    sys::setattr(mnt, true, opts.rec_set, opts.rec_clr, 0)
        .map_err(sys_err("set recursive mount flags of", dest))?;
    for &(bits, rec) in &opts.propagation {
        sys::setattr(mnt, rec, 0, 0, bits).map_err(sys_err("set propagation of", dest))?;
    }
    Ok(())
}

/// A bind (or rbind) of host path `src` onto the entry's destination.
fn bind(root: BorrowedFd<'_>, src: &Path, p: &Planned<'_>) -> Result<(), RootfsError> {
    let (dest, opts) = (p.mount.destination().as_path(), &p.opts);
    let src_path: PathBuf = if src.is_absolute() {
        src.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(|e| RootfsError::Sys {
                what: "getcwd for bind source",
                path: src.to_path_buf(),
                source: e,
            })?
            .join(src)
    };
    let meta = std::fs::metadata(&src_path).map_err(|e| RootfsError::Sys {
        what: "bind source",
        path: src_path.clone(),
        source: e,
    })?;
    let kind = if meta.is_dir() { Kind::Dir } else { Kind::File };
    let target = paths::open_or_create(root, dest, kind).map_err(sys_err("mkdir", dest))?;
    guard_proc(target.as_fd(), p)?;
    match &p.idmap {
        None => bind_onto(root, &src_path, target.as_fd(), dest, opts),
        Some(map) => {
            let userns = super::idmap::userns_fd(map)
                .map_err(sys_err("make idmap user namespace for", dest))?;
            let mnt =
                sys::clone_path(&src_path, opts.recursive).map_err(sys_err("bind", &src_path))?;
            sys::set_idmap(mnt.as_fd(), map.recursive, userns.as_fd()).map_err(|e| {
                if e == Errno::INVAL {
                    RootfsError::Invalid {
                        field: p.field.clone(),
                        reason: format!(
                            "{} is on a filesystem that cannot be idmapped",
                            src_path.display()
                        ),
                    }
                } else {
                    sys_err("idmap", dest)(e)
                }
            })?;
            finish_bind(mnt, target.as_fd(), dest, opts)
        }
    }
}

/// Binds host path `src` (recursively for rbind) onto `target`, which is
/// open on `dest` inside the rootfs `root`, then sets the attributes and
/// propagation on the new mount. The bind is a classic one made through
/// the target's descriptor so it keeps the source's propagation; the new
/// mount is then found again by an in-root lookup of `dest` and checked
/// to be a different mount of the same directory or file as `src`. As
/// with runc, plain attributes (`ro`, `nosuid`, ...) apply to the top
/// mount only, the `r*` forms (`rro`, ...) to every submount.
pub(crate) fn bind_onto(
    root: BorrowedFd<'_>,
    src: &Path,
    target: BorrowedFd<'_>,
    dest: &Path,
    opts: &MountOptions,
) -> Result<(), RootfsError> {
    let under = sys::mnt_id(target).map_err(sys_err("statx", dest))?;
    sys::bind_via_fd(src, target, opts.recursive).map_err(|e| RootfsError::Sys {
        what: "bind",
        path: src.to_path_buf(),
        source: e.into(),
    })?;
    let new = paths::open_in_root(root, dest).map_err(sys_err("open", dest))?;
    let src_st = rustix::fs::stat(src).map_err(sys_err("stat", src))?;
    let new_st = rustix::fs::fstat(&new).map_err(sys_err("stat", dest))?;
    let moved = sys::mnt_id(new.as_fd()).map_err(sys_err("statx", dest))? == under;
    if moved || (src_st.st_dev, src_st.st_ino) != (new_st.st_dev, new_st.st_ino) {
        return Err(sys_err("bind (target changed while mounting)", dest)(
            Errno::STALE,
        ));
    }
    sys::setattr(new.as_fd(), false, opts.set, opts.clr, 0)
        .map_err(sys_err("set mount flags of", dest))?;
    propagate(new.as_fd(), opts, dest)
}

/// Flags, attach, propagation for a cloned tree `mnt`.
fn finish_bind(
    mnt: OwnedFd,
    target: BorrowedFd<'_>,
    dest: &Path,
    opts: &MountOptions,
) -> Result<(), RootfsError> {
    sys::setattr(mnt.as_fd(), false, opts.set, opts.clr, 0)
        .map_err(sys_err("set mount flags of", dest))?;
    sys::attach(mnt.as_fd(), target).map_err(sys_err("bind", dest))?;
    propagate(mnt.as_fd(), opts, dest)
}

/// Whether the spec asks for a new (or joined) namespace of type `t`.
pub(crate) fn has_ns(cfg: &RootfsConfig, t: LinuxNamespaceType) -> bool {
    cfg.spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| ns.iter().any(|n| n.typ() == t))
}

/// Whether a `mounts[]` entry bind-mounts something onto `/dev` itself.
pub(crate) fn binds_dev(planned: &[Planned<'_>]) -> bool {
    planned
        .iter()
        .any(|p| p.opts.bind && p.mount.destination() == Path::new("/dev"))
}
