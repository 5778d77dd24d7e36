//! Containers without a mount namespace of their own (runc accepts them
//! when `maskedPaths` and `readonlyPaths` are empty).
//!
//! runc then does the rootfs setup in the caller's mount namespace: it
//! makes the caller's `/` rslave, binds the rootfs onto itself, mounts
//! `mounts[]` there and chroots. caixa does the same minus the change to
//! the caller's `/` (nothing outside the rootfs is touched): the rootfs
//! bind and what is mounted on it are the only changes to the caller's
//! mount table, and they are taken away as one lazy unmount by
//! [`release`] (from `delete`, or when setup fails). pivot_root is never
//! used: in a shared namespace it would move the caller's root too.

use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Spec};
use rustix::mount::{UnmountFlags, unmount};

use super::{RootfsError, paths, sys, sys_err};

/// Whether `spec` leaves the container in the caller's mount namespace.
pub fn shares_mount_ns(spec: &Spec) -> bool {
    !spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| ns.iter().any(|n| n.typ() == LinuxNamespaceType::Mount))
}

/// One /proc/self/mountinfo line: id, parent, device, root, mount point.
struct Entry {
    id: u64,
    parent: u64,
    dev: String,
    root: PathBuf,
    point: PathBuf,
}

fn unescape(s: &str) -> PathBuf {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 4], 8)
        {
            out.push(v);
            i += 4;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    PathBuf::from(<std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(out))
}

fn mountinfo() -> Vec<Entry> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            Some(Entry {
                id: f.first()?.parse().ok()?,
                parent: f.get(1)?.parse().ok()?,
                dev: f.get(2)?.to_string(),
                root: unescape(f.get(3)?),
                point: unescape(f.get(4)?),
            })
        })
        .collect()
}

/// Whether the topmost mount at `real` (canonical) is a bind of that very
/// directory onto itself: same device, and the root its parent mount
/// shows at that place.
fn is_self_bind(real: &Path) -> Result<bool, RootfsError> {
    let fd = paths::open_root(real).map_err(sys_err("open", real))?;
    let id = sys::mnt_id(std::os::fd::AsFd::as_fd(&fd)).map_err(sys_err("statx", real))?;
    let all = mountinfo();
    let Some(top) = all.iter().find(|e| e.id == id) else {
        return Ok(false);
    };
    if top.point != real {
        return Ok(false);
    }
    let Some(parent) = all.iter().find(|e| e.id == top.parent) else {
        return Ok(false);
    };
    let Ok(rel) = real.strip_prefix(&parent.point) else {
        return Ok(false);
    };
    let want = if rel.as_os_str().is_empty() {
        parent.root.clone()
    } else {
        parent.root.join(rel)
    };
    Ok(top.dev == parent.dev && top.root == want)
}

/// Takes the container's rootfs bind (and everything mounted on it) out of
/// the caller's mount namespace, if it is still there. Anything else at
/// the rootfs (e.g. the overlay an engine mounted) is left alone.
pub fn release(rootfs: &Path) -> Result<(), RootfsError> {
    let Ok(real) = std::fs::canonicalize(rootfs) else {
        return Ok(());
    };
    if is_self_bind(&real)? {
        unmount(&real, UnmountFlags::DETACH).map_err(sys_err("unmount", &real))?;
    }
    Ok(())
}
