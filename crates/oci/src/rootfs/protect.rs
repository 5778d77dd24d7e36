//! After pivot: maskedPaths, readonlyPaths and the read-only root.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::fs::{FileType, Mode, OFlags, fstat, makedev};
use rustix::io::Errno;

use super::paths;
use super::sys::{self, attr};
use super::{RootfsError, sys_err};

/// Checks that every entry of `field` is an absolute path.
pub(crate) fn validate(field: &str, paths: &[String]) -> Result<(), RootfsError> {
    for (i, p) in paths.iter().enumerate() {
        if !p.starts_with('/') {
            return Err(RootfsError::Invalid {
                field: format!("{field}[{i}]"),
                reason: format!("{p:?} is not an absolute path"),
            });
        }
    }
    Ok(())
}

/// Opens `p` inside the (already pivoted) root; `None` when it is missing.
fn open_existing(root: BorrowedFd<'_>, p: &Path) -> Result<Option<OwnedFd>, RootfsError> {
    match paths::open_in_root(root, p) {
        Ok(fd) => Ok(Some(fd)),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(sys_err("open", p)(e)),
    }
}

/// The container's /dev/null, verified to be the real null device (1:3)
/// so that a planted symlink or file can never be bound over a masked
/// path instead (CVE-2025-31133).
fn dev_null(root: BorrowedFd<'_>) -> Result<OwnedFd, RootfsError> {
    let p = Path::new("/dev/null");
    let fd = rustix::fs::openat(
        root,
        "dev/null",
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(sys_err("open", p))?;
    let st = fstat(&fd).map_err(sys_err("stat", p))?;
    if FileType::from_raw_mode(st.st_mode) != FileType::CharacterDevice
        || st.st_rdev != makedev(1, 3)
    {
        return Err(RootfsError::Invalid {
            field: "linux.maskedPaths".into(),
            reason: "/dev/null in the container is not the null device".into(),
        });
    }
    Ok(fd)
}

/// Masks each path: /dev/null bound over files, a read-only empty tmpfs
/// over directories. Missing paths are skipped.
pub(crate) fn mask(root: BorrowedFd<'_>, masked: &[String]) -> Result<(), RootfsError> {
    let mut null: Option<OwnedFd> = None;
    for p in masked {
        let path = Path::new(p);
        let Some(target) = open_existing(root, path)? else {
            continue;
        };
        let ft = paths::file_type(target.as_fd()).map_err(sys_err("stat", path))?;
        let mnt = if ft == FileType::Directory {
            sys::new_fs(
                "tmpfs",
                Some("tmpfs"),
                &["size=0".to_string()],
                &[],
                attr::RDONLY,
            )
            .map_err(sys_err("mask with tmpfs", path))?
        } else {
            let n = match &null {
                Some(n) => n,
                None => null.insert(dev_null(root)?),
            };
            sys::clone_fd(n.as_fd(), false).map_err(sys_err("mask with /dev/null", path))?
        };
        sys::attach(mnt.as_fd(), target.as_fd()).map_err(sys_err("mask", path))?;
    }
    Ok(())
}

/// Makes each path read-only: a recursive bind onto itself, then only the
/// read-only bit set (nosuid/nodev/noexec, possibly locked in a user
/// namespace, are kept as they are). Missing paths are skipped.
pub(crate) fn readonly(root: BorrowedFd<'_>, paths_: &[String]) -> Result<(), RootfsError> {
    for p in paths_ {
        let path = Path::new(p);
        let Some(target) = open_existing(root, path)? else {
            continue;
        };
        let mnt = sys::clone_fd(target.as_fd(), true).map_err(sys_err("bind read-only", path))?;
        sys::setattr(mnt.as_fd(), true, attr::RDONLY, 0, 0)
            .map_err(sys_err("set read-only", path))?;
        sys::attach(mnt.as_fd(), target.as_fd()).map_err(sys_err("bind read-only", path))?;
    }
    Ok(())
}

/// `root.readonly`: sets the read-only bit on the root mount itself (not
/// on the mounts below it, as runc does), keeping its other flags.
pub(crate) fn readonly_root(root: BorrowedFd<'_>) -> Result<(), RootfsError> {
    sys::setattr(root, false, attr::RDONLY, 0, 0)
        .map_err(sys_err("remount read-only", Path::new("/")))
}
