//! /dev: the default device nodes, `linux.devices`, the standard links and
//! the console. Nodes are made with mknod, or bind-mounted from the host
//! in a user namespace (where mknod is not allowed).

use std::ffi::OsStr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxDeviceType;
use rustix::fs::{
    AtFlags, FileType, Gid, Mode, OFlags, Uid, chownat, makedev, mknodat, openat, statat,
    symlinkat, unlinkat,
};
use rustix::io::Errno;

use super::paths::{self, Kind};
use super::sys;
use super::{RootfsConfig, RootfsError, sys_err};

/// A device node to create.
struct Node {
    path: PathBuf,
    kind: FileType,
    major: u32,
    minor: u32,
    mode: u32,
    uid: u32,
    gid: u32,
}

/// The nodes every container gets (all `crw-rw-rw-` root:root).
const DEFAULTS: [(&str, u32, u32); 6] = [
    ("/dev/null", 1, 3),
    ("/dev/zero", 1, 5),
    ("/dev/full", 1, 7),
    ("/dev/random", 1, 8),
    ("/dev/urandom", 1, 9),
    ("/dev/tty", 5, 0),
];

/// The links every container gets.
const LINKS: [(&str, &str); 4] = [
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
];

/// Validates `linux.devices` before anything is touched.
fn spec_nodes(cfg: &RootfsConfig) -> Result<Vec<Node>, RootfsError> {
    let mut out = Vec::new();
    let devices = cfg.spec.linux().as_ref().and_then(|l| l.devices().as_ref());
    for (i, d) in devices.into_iter().flatten().enumerate() {
        let field = format!("linux.devices[{i}]");
        let bad = |reason: String| RootfsError::Invalid {
            field: field.clone(),
            reason,
        };
        let kind = match d.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => FileType::CharacterDevice,
            LinuxDeviceType::B => FileType::BlockDevice,
            LinuxDeviceType::P => FileType::Fifo,
            LinuxDeviceType::A => {
                return Err(bad("type \"a\" is only valid in cgroup rules".into()));
            }
        };
        let num = |v: i64, what: &str| {
            u32::try_from(v).map_err(|_| bad(format!("{what} {v} is out of range")))
        };
        let path = d.path().clone();
        if !path.is_absolute() || !path.starts_with("/dev") {
            return Err(bad(format!("path {} is not under /dev", path.display())));
        }
        out.push(Node {
            path,
            kind,
            major: num(d.major(), "major")?,
            minor: num(d.minor(), "minor")?,
            mode: d.file_mode().unwrap_or(0o666) & 0o7777,
            uid: d.uid().unwrap_or(0),
            gid: d.gid().unwrap_or(0),
        });
    }
    Ok(out)
}

/// Checks `linux.devices` (called by `setup` before mounting anything).
pub(crate) fn validate(cfg: &RootfsConfig) -> Result<(), RootfsError> {
    spec_nodes(cfg).map(drop)
}

/// Creates the default and configured devices, the /dev links and the
/// console. `default_set` is false when /dev is a bind from the host.
pub(crate) fn setup(
    root: BorrowedFd<'_>,
    cfg: &RootfsConfig,
    default_set: bool,
) -> Result<(), RootfsError> {
    let mut nodes = Vec::new();
    if default_set {
        for (p, major, minor) in DEFAULTS {
            nodes.push(Node {
                path: PathBuf::from(p),
                kind: FileType::CharacterDevice,
                major,
                minor,
                mode: 0o666,
                uid: 0,
                gid: 0,
            });
        }
    }
    nodes.extend(spec_nodes(cfg)?);
    for n in &nodes {
        make_node(root, n, cfg.in_user_ns)?;
    }
    if default_set {
        let dev = paths::open_or_create(root, Path::new("/dev"), Kind::Dir)
            .map_err(sys_err("mkdir", Path::new("/dev")))?;
        for (name, target) in LINKS {
            link(dev.as_fd(), name, target)?;
        }
        if Path::new("/proc/kcore").exists() {
            link(dev.as_fd(), "core", "/proc/kcore")?;
        }
        for d in ["/dev/pts", "/dev/shm"] {
            paths::open_or_create(root, Path::new(d), Kind::Dir)
                .map_err(sys_err("mkdir", Path::new(d)))?;
        }
        // /dev/ptmx is always the devpts instance's ptmx.
        replace_with_link(dev.as_fd(), "ptmx", "pts/ptmx")?;
    }
    if let Some(console) = &cfg.console {
        bind_console(root, console)?;
    }
    Ok(())
}

/// `parent` fd, file name and container path for `path`.
fn parent_of(
    root: BorrowedFd<'_>,
    path: &Path,
) -> Result<(OwnedFd, std::ffi::OsString), RootfsError> {
    let name = path.file_name().ok_or_else(|| RootfsError::Invalid {
        field: "linux.devices".into(),
        reason: format!("{} has no file name", path.display()),
    })?;
    let parent = path.parent().unwrap_or(Path::new("/"));
    let fd = paths::open_or_create(root, parent, Kind::Dir).map_err(sys_err("mkdir", parent))?;
    Ok((fd, name.to_os_string()))
}

fn make_node(root: BorrowedFd<'_>, n: &Node, in_user_ns: bool) -> Result<(), RootfsError> {
    let (dir, name) = parent_of(root, &n.path)?;
    let name = name.as_os_str();
    let dev = makedev(n.major, n.minor);
    // Keep an identical node; replace anything else (a symlink planted
    // by the image must not redirect the node or its chown).
    if let Ok(st) = statat(dir.as_fd(), name, AtFlags::SYMLINK_NOFOLLOW) {
        let ft = FileType::from_raw_mode(st.st_mode);
        if ft == FileType::Directory {
            return Err(sys_err("mknod", &n.path)(Errno::ISDIR));
        }
        let same = ft == n.kind && st.st_rdev == dev && !in_user_ns;
        if same {
            return chmod_chown(dir.as_fd(), name, n);
        }
        unlinkat(dir.as_fd(), name, AtFlags::empty()).map_err(sys_err("unlink", &n.path))?;
    }
    if in_user_ns && n.kind != FileType::Fifo {
        // mknod is refused in a user namespace: bind the host's node.
        let f = openat(
            dir.as_fd(),
            name,
            OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0),
        )
        .map_err(sys_err("create", &n.path))?;
        drop(f);
        let target = openat(
            dir.as_fd(),
            name,
            OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(sys_err("open", &n.path))?;
        let mnt = sys::clone_path(&n.path, false).map_err(sys_err("bind host device", &n.path))?;
        // What was cloned must be the very device asked for.
        let st = rustix::fs::fstat(&mnt).map_err(sys_err("stat host device", &n.path))?;
        if FileType::from_raw_mode(st.st_mode) != n.kind || st.st_rdev != dev {
            return Err(RootfsError::Invalid {
                field: "linux.devices".into(),
                reason: format!(
                    "host {} is not device {}:{}",
                    n.path.display(),
                    n.major,
                    n.minor
                ),
            });
        }
        return sys::attach(mnt.as_fd(), target.as_fd())
            .map_err(sys_err("bind host device", &n.path));
    }
    mknodat(dir.as_fd(), name, n.kind, Mode::from_raw_mode(n.mode), dev)
        .map_err(sys_err("mknod", &n.path))?;
    chmod_chown(dir.as_fd(), name, n)
}

fn chmod_chown(dir: BorrowedFd<'_>, name: &OsStr, n: &Node) -> Result<(), RootfsError> {
    // The node was just made (or checked) in `dir` and is not a symlink.
    rustix::fs::chmodat(dir, name, Mode::from_raw_mode(n.mode), AtFlags::empty())
        .map_err(sys_err("chmod", &n.path))?;
    chownat(
        dir,
        name,
        Some(Uid::from_raw(n.uid)),
        Some(Gid::from_raw(n.gid)),
        AtFlags::SYMLINK_NOFOLLOW,
    )
    .map_err(sys_err("chown", &n.path))
}

/// Creates `/dev/<name> -> target` unless something is already there.
fn link(dev: BorrowedFd<'_>, name: &str, target: &str) -> Result<(), RootfsError> {
    match symlinkat(target, dev, name) {
        Ok(()) | Err(Errno::EXIST) => Ok(()),
        Err(e) => Err(sys_err("symlink", &Path::new("/dev").join(name))(e)),
    }
}

/// Creates `/dev/<name> -> target`, replacing a non-directory entry.
fn replace_with_link(dev: BorrowedFd<'_>, name: &str, target: &str) -> Result<(), RootfsError> {
    let path = Path::new("/dev").join(name);
    match unlinkat(dev, name, AtFlags::empty()) {
        Ok(()) | Err(Errno::NOENT) => {}
        Err(e) => return Err(sys_err("unlink", &path)(e)),
    }
    symlinkat(target, dev, name).map_err(sys_err("symlink", &path))
}

/// Binds the pty slave `console` onto /dev/console. The source must be a
/// character device and the target is (re)made as a plain file that is
/// opened without following symlinks, then mounted onto by descriptor.
fn bind_console(root: BorrowedFd<'_>, console: &Path) -> Result<(), RootfsError> {
    let path = Path::new("/dev/console");
    let st = rustix::fs::stat(console).map_err(sys_err("stat console", console))?;
    if FileType::from_raw_mode(st.st_mode) != FileType::CharacterDevice {
        return Err(RootfsError::Invalid {
            field: "process.terminal".into(),
            reason: format!("console {} is not a character device", console.display()),
        });
    }
    let (dir, name) = parent_of(root, path)?;
    match statat(dir.as_fd(), name.as_os_str(), AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::RegularFile => {}
        Ok(_) => unlinkat(dir.as_fd(), name.as_os_str(), AtFlags::empty())
            .map_err(sys_err("unlink", path))?,
        Err(_) => {}
    }
    let f = openat(
        dir.as_fd(),
        name.as_os_str(),
        OFlags::CREATE | OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOCTTY,
        Mode::from_raw_mode(0o600),
    )
    .map_err(sys_err("create", path))?;
    drop(f);
    let target = openat(
        dir.as_fd(),
        name.as_os_str(),
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(sys_err("open", path))?;
    if paths::file_type(target.as_fd()).map_err(sys_err("stat", path))? != FileType::RegularFile {
        return Err(sys_err("bind console", path)(Errno::NOTSUP));
    }
    let mnt = sys::clone_path(console, false).map_err(sys_err("bind console", console))?;
    let cloned = rustix::fs::fstat(&mnt).map_err(sys_err("stat console", console))?;
    if FileType::from_raw_mode(cloned.st_mode) != FileType::CharacterDevice
        || cloned.st_rdev != st.st_rdev
    {
        return Err(sys_err("bind console", console)(Errno::NOTTY));
    }
    sys::attach(mnt.as_fd(), target.as_fd()).map_err(sys_err("bind console", path))
}
