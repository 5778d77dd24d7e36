//! Safe resolution of container paths inside the rootfs.
//!
//! Every path from config.json (a mount destination, a device, a masked
//! path) is resolved relative to an open descriptor of the rootfs, with
//! symlinks interpreted as if the rootfs were `/` (`openat2` with
//! `RESOLVE_IN_ROOT`, or a component-by-component walk that does the same
//! when something must be created). A symlink such as `/evil -> /tmp/host`
//! therefore leads to `<rootfs>/tmp/host`, never to the host's `/tmp/host`.
//! The result is an `O_PATH` descriptor: callers mount onto it and never
//! look the path up again.

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path};

use rustix::fs::{
    FileType, Mode, OFlags, ResolveFlags, fstat, mkdirat, openat, openat2, readlinkat,
};
use rustix::io::Errno;

/// What to create for a missing last component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A directory (mode 0755).
    Dir,
    /// An empty regular file (mode 0644), e.g. for a file bind mount.
    File,
}

/// How many symlinks a walk may follow before giving up (like the kernel).
const MAX_LINKS: usize = 40;

const PATH_FLAGS: OFlags = OFlags::PATH.union(OFlags::CLOEXEC);

/// Opens the rootfs directory itself (`O_PATH`).
pub(crate) fn open_root(path: &Path) -> Result<OwnedFd, Errno> {
    rustix::fs::open(path, PATH_FLAGS | OFlags::DIRECTORY, Mode::empty())
}

/// Opens `path` (container-absolute or relative to the rootfs) inside
/// `root`, following symlinks within the rootfs. `O_PATH` descriptor.
pub(crate) fn open_in_root(root: BorrowedFd<'_>, path: &Path) -> Result<OwnedFd, Errno> {
    let rel = relative(path);
    if rel.as_os_str().is_empty() {
        return rustix::io::fcntl_dupfd_cloexec(root, 0);
    }
    match openat2(
        root,
        rel,
        PATH_FLAGS,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
    ) {
        Err(Errno::NOSYS | Errno::AGAIN | Errno::XDEV | Errno::LOOP) => walk(root, path, None),
        other => other,
    }
}

/// Like [`open_in_root`], but creates missing components: directories on
/// the way and `last` for the final one.
pub(crate) fn open_or_create(
    root: BorrowedFd<'_>,
    path: &Path,
    last: Kind,
) -> Result<OwnedFd, Errno> {
    match open_in_root(root, path) {
        Err(Errno::NOENT) => walk(root, path, Some(last)),
        other => other,
    }
}

/// `path` without its leading `/` (so it is relative to the rootfs).
fn relative(path: &Path) -> &Path {
    path.strip_prefix("/").unwrap_or(path)
}

fn components(path: &Path) -> VecDeque<OsString> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            _ => None,
        })
        .collect()
}

/// The user-space resolver: one component at a time, each opened with
/// `O_NOFOLLOW` relative to the descriptor of its parent; `..` pops our own
/// stack of parents (never above the rootfs); a symlink's target is spliced
/// into the remaining components (absolute ones restart at the rootfs).
/// Missing components are created when `create` says what the last one is.
fn walk(root: BorrowedFd<'_>, path: &Path, create: Option<Kind>) -> Result<OwnedFd, Errno> {
    let mut stack: Vec<OwnedFd> = vec![rustix::io::fcntl_dupfd_cloexec(root, 0)?];
    let mut todo = components(path);
    let mut links = 0usize;
    while let Some(name) = todo.pop_front() {
        if name == ".." {
            if stack.len() > 1 {
                stack.pop();
            }
            continue;
        }
        let is_last = todo.is_empty();
        let parent = stack.last().ok_or(Errno::INVAL)?.as_fd();
        let fd = match openat(
            parent,
            name.as_os_str(),
            PATH_FLAGS | OFlags::NOFOLLOW,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => {
                let Some(last) = create else {
                    return Err(Errno::NOENT);
                };
                create_entry(parent, &name, if is_last { last } else { Kind::Dir })?;
                openat(
                    parent,
                    name.as_os_str(),
                    PATH_FLAGS | OFlags::NOFOLLOW,
                    Mode::empty(),
                )?
            }
            Err(e) => return Err(e),
        };
        let st = fstat(&fd)?;
        match FileType::from_raw_mode(st.st_mode) {
            FileType::Symlink => {
                links += 1;
                if links > MAX_LINKS {
                    return Err(Errno::LOOP);
                }
                let target = readlinkat(&fd, "", Vec::new())?;
                let target = Path::new(OsStr::from_bytes(target.as_bytes()));
                if target.is_absolute() {
                    stack.truncate(1);
                }
                for c in components(target).into_iter().rev() {
                    todo.push_front(c);
                }
            }
            FileType::Directory => stack.push(fd),
            _ if is_last => return Ok(fd),
            _ => return Err(Errno::NOTDIR),
        }
    }
    stack.pop().ok_or(Errno::INVAL)
}

/// Creates `name` in `parent`; losing a race to another creator is fine.
fn create_entry(parent: BorrowedFd<'_>, name: &OsStr, kind: Kind) -> Result<(), Errno> {
    let res = match kind {
        Kind::Dir => mkdirat(parent, name, Mode::from_raw_mode(0o755)),
        Kind::File => openat(
            parent,
            name,
            OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o644),
        )
        .map(drop),
    };
    match res {
        Ok(()) | Err(Errno::EXIST) => Ok(()),
        Err(e) => Err(e),
    }
}

/// The kind of object `fd` is open on.
pub(crate) fn file_type(fd: BorrowedFd<'_>) -> Result<FileType, Errno> {
    Ok(FileType::from_raw_mode(fstat(fd)?.st_mode))
}
