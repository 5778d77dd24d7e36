//! Entering the rootfs: pivot_root, or MS_MOVE + chroot with `--no-pivot`.

use std::os::fd::AsFd;
use std::path::Path;

use rustix::fs::{Mode, OFlags};
use rustix::mount::{MountPropagationFlags, UnmountFlags, mount_change, mount_move, unmount};
use rustix::process::{chdir, chroot, fchdir, pivot_root};

use super::{RootfsError, sys_err};

/// `pivot_root(".", ".")` from inside the rootfs: the old root ends up
/// stacked on the new one, is made a slave (so unmounting it cannot
/// propagate anywhere) and lazily unmounted. No directory is needed for
/// the old root, and nothing of the host stays reachable.
pub(crate) fn pivot(rootfs: &Path) -> Result<(), RootfsError> {
    let new_root = rustix::fs::open(
        rootfs,
        OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(sys_err("open rootfs", rootfs))?;
    let old_root = rustix::fs::open(
        "/",
        OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(sys_err("open", Path::new("/")))?;
    fchdir(new_root.as_fd()).map_err(sys_err("chdir", rootfs))?;
    pivot_root(".", ".").map_err(sys_err("pivot_root", rootfs))?;
    // "." must name the old root (now stacked on the new one), whatever
    // the kernel did with our cwd.
    fchdir(old_root.as_fd()).map_err(sys_err("chdir to old root", Path::new("/")))?;
    mount_change(
        ".",
        MountPropagationFlags::DOWNSTREAM | MountPropagationFlags::REC,
    )
    .map_err(sys_err("make old root rslave", Path::new("/")))?;
    unmount(".", UnmountFlags::DETACH).map_err(sys_err("unmount old root", Path::new("/")))?;
    chdir("/").map_err(sys_err("chdir", Path::new("/")))
}

/// `--no-pivot`: moves the rootfs mount onto / and chroots into it.
pub(crate) fn move_root(rootfs: &Path) -> Result<(), RootfsError> {
    chdir(rootfs).map_err(sys_err("chdir", rootfs))?;
    mount_move(".", "/").map_err(sys_err("move mount onto /", rootfs))?;
    chroot(".").map_err(sys_err("chroot", rootfs))?;
    chdir("/").map_err(sys_err("chdir", Path::new("/")))
}
