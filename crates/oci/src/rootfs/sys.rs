//! Thin wrappers over the new mount API (open_tree, fsopen/fsmount,
//! move_mount, mount_setattr) so that every mount is attached to an
//! already-opened file descriptor, never to a path that could be swapped.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use rustix::fs::CWD;
use rustix::io::Errno;
use rustix::mount::{
    FsMountFlags, FsOpenFlags, MountAttrFlags, MoveMountFlags, OpenTreeFlags, fsconfig_create,
    fsconfig_set_flag, fsconfig_set_string, fsmount, fsopen, move_mount, open_tree,
};

/// `MOUNT_ATTR_*` bits (linux/mount.h), as `mount_setattr` takes them.
pub(crate) mod attr {
    pub const RDONLY: u64 = 0x1;
    pub const NOSUID: u64 = 0x2;
    pub const NODEV: u64 = 0x4;
    pub const NOEXEC: u64 = 0x8;
    /// The mask of the three atime modes.
    pub const ATIME_MASK: u64 = 0x70;
    pub const RELATIME: u64 = 0x0;
    pub const NOATIME: u64 = 0x10;
    pub const STRICTATIME: u64 = 0x20;
    pub const NODIRATIME: u64 = 0x80;
    pub const NOSYMFOLLOW: u64 = 0x0020_0000;
}

/// `struct mount_attr` (MOUNT_ATTR_SIZE_VER0).
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// `mount_setattr(fd, "", AT_EMPTY_PATH [| AT_RECURSIVE], ...)`: changes
/// only the bits in `set`/`clr` (every other flag, locked ones included,
/// stays as it is) and, when non-zero, the propagation (`MS_SHARED`, ...).
pub(crate) fn setattr(
    fd: BorrowedFd<'_>,
    recursive: bool,
    set: u64,
    clr: u64,
    propagation: u64,
) -> Result<(), Errno> {
    if set == 0 && clr == 0 && propagation == 0 {
        return Ok(());
    }
    let mut clr = clr;
    if set & attr::ATIME_MASK != 0 || clr & attr::ATIME_MASK != 0 {
        // Changing the atime mode requires clearing the whole field.
        clr |= attr::ATIME_MASK;
    }
    let attr = MountAttr {
        attr_set: set,
        attr_clr: clr,
        propagation,
        userns_fd: 0,
    };
    raw_setattr(fd, recursive, &attr)
}

fn raw_setattr(fd: BorrowedFd<'_>, recursive: bool, attr: &MountAttr) -> Result<(), Errno> {
    let mut flags = libc::AT_EMPTY_PATH as libc::c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    // SAFETY: mount_setattr reads `size` bytes from `&attr`, a live
    // repr(C) struct of exactly that size; the path is a static empty C
    // string and `fd` is a valid descriptor for the whole call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            flags,
            attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if rc < 0 {
        return Err(Errno::from_raw_os_error(
            std::io::Error::last_os_error().raw_os_error().unwrap_or(0),
        ));
    }
    Ok(())
}

/// `mount_setattr(MOUNT_ATTR_IDMAP)` with the user namespace `userns` on
/// the detached mount `fd` (recursive for `ridmap`).
pub(crate) fn set_idmap(
    fd: BorrowedFd<'_>,
    recursive: bool,
    userns: BorrowedFd<'_>,
) -> Result<(), Errno> {
    const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_IDMAP,
        attr_clr: 0,
        propagation: 0,
        userns_fd: userns.as_raw_fd() as u64,
    };
    raw_setattr(fd, recursive, &attr)
}

/// A detached copy of the mount tree at `fd` (`open_tree(OPEN_TREE_CLONE)`),
/// recursive when `recursive`.
pub(crate) fn clone_fd(fd: BorrowedFd<'_>, recursive: bool) -> Result<OwnedFd, Errno> {
    let mut flags = OpenTreeFlags::OPEN_TREE_CLONE
        | OpenTreeFlags::OPEN_TREE_CLOEXEC
        | OpenTreeFlags::AT_EMPTY_PATH;
    if recursive {
        flags |= OpenTreeFlags::AT_RECURSIVE;
    }
    open_tree(fd, "", flags)
}

/// A detached copy of the mount tree at host path `path`.
pub(crate) fn clone_path(path: &std::path::Path, recursive: bool) -> Result<OwnedFd, Errno> {
    let mut flags = OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC;
    if recursive {
        flags |= OpenTreeFlags::AT_RECURSIVE;
    }
    open_tree(CWD, path, flags)
}

/// A classic `mount(src, "/proc/self/fd/N", MS_BIND[|MS_REC])` onto the
/// object `target` is open on: unlike a detached `open_tree` clone, the
/// new mount inherits the source's propagation (a slave or peer of the
/// host mount), which `rslave`/`rshared` binds (Kubernetes'
/// HostToContainer/Bidirectional) rely on.
pub(crate) fn bind_via_fd(
    src: &std::path::Path,
    target: BorrowedFd<'_>,
    recursive: bool,
) -> Result<(), Errno> {
    let t = format!("/proc/self/fd/{}", target.as_raw_fd());
    if recursive {
        rustix::mount::mount_bind_recursive(src, t.as_str())
    } else {
        rustix::mount::mount_bind(src, t.as_str())
    }
}

/// The id of the mount `fd` is on.
pub(crate) fn mnt_id(fd: BorrowedFd<'_>) -> Result<u64, Errno> {
    let st = rustix::fs::statx(
        fd,
        "",
        rustix::fs::AtFlags::EMPTY_PATH,
        rustix::fs::StatxFlags::MNT_ID,
    )?;
    Ok(st.stx_mnt_id)
}

/// Attaches the detached mount `mnt` on top of the object `target` is
/// open on (an O_PATH descriptor: no path lookup, no race).
pub(crate) fn attach(mnt: BorrowedFd<'_>, target: BorrowedFd<'_>) -> Result<(), Errno> {
    move_mount(
        mnt,
        "",
        target,
        "",
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH | MoveMountFlags::MOVE_MOUNT_T_EMPTY_PATH,
    )
}

/// A new detached filesystem mount: `fsopen(fstype)`, each `data` option
/// (`key=value` or a bare flag) and superblock flag passed to fsconfig,
/// then `fsmount` with the `MOUNT_ATTR_*` bits in `attrs`.
pub(crate) fn new_fs(
    fstype: &str,
    source: Option<&str>,
    data: &[String],
    sb_flags: &[&str],
    attrs: u64,
) -> Result<OwnedFd, Errno> {
    let fs = fsopen(fstype, FsOpenFlags::FSOPEN_CLOEXEC)?;
    if let Some(src) = source {
        fsconfig_set_string(fs.as_fd(), "source", src)?;
    }
    for opt in data {
        match opt.split_once('=') {
            Some((k, v)) => fsconfig_set_string(fs.as_fd(), k, v)?,
            None => fsconfig_set_flag(fs.as_fd(), opt.as_str())?,
        }
    }
    for flag in sb_flags {
        fsconfig_set_flag(fs.as_fd(), *flag)?;
    }
    fsconfig_create(fs.as_fd())?;
    // fsmount takes the attributes too; atime defaults to relatime (0).
    let bits = u32::try_from(attrs).map_err(|_| Errno::INVAL)?;
    fsmount(
        fs.as_fd(),
        FsMountFlags::FSMOUNT_CLOEXEC,
        MountAttrFlags::from_bits_retain(bits),
    )
}
