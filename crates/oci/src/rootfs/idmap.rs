//! Idmapped bind mounts (`mounts[].uidMappings`/`gidMappings`, options
//! `idmap`/`ridmap`): a throw-away user namespace carries the mapping and
//! `mount_setattr(MOUNT_ATTR_IDMAP)` applies it to the detached clone.
//!
//! Only for containers without their own user namespace: inside one the
//! kernel refuses to idmap a host filesystem (that needs the mount to be
//! prepared by the runtime on the host side; refused with a clear error).

use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use oci_spec::runtime::{LinuxIdMapping, Mount};
use rustix::io::Errno;

use super::{RootfsConfig, RootfsError};

/// What an idmapped mount needs: the mapping lines for uid_map/gid_map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IdMap {
    /// Lines for /proc/PID/uid_map.
    pub uid_map: String,
    /// Lines for /proc/PID/gid_map.
    pub gid_map: String,
    /// `ridmap`: every submount too.
    pub recursive: bool,
}

fn lines(maps: &[LinuxIdMapping]) -> String {
    maps.iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect()
}

/// The idmap of a `mounts[]` entry, if it asks for one (validated).
pub(crate) fn plan(
    cfg: &RootfsConfig,
    m: &Mount,
    field: &str,
    idmap_opt: Option<bool>,
) -> Result<Option<IdMap>, RootfsError> {
    let bad = |reason: &str| RootfsError::Invalid {
        field: field.to_string(),
        reason: reason.to_string(),
    };
    let (uids, gids) = (m.uid_mappings().as_deref(), m.gid_mappings().as_deref());
    if idmap_opt.is_none() && uids.is_none() && gids.is_none() {
        return Ok(None);
    }
    if cfg.in_user_ns {
        return Err(bad(
            "idmapped mounts are not supported in a container with a user namespace",
        ));
    }
    let (uids, gids) = match (uids, gids) {
        (Some(u), Some(g)) if !u.is_empty() && !g.is_empty() => (u, g),
        (None, None) => {
            return Err(bad(
                "idmap needs uidMappings and gidMappings (the container has no user namespace to take them from)",
            ));
        }
        _ => return Err(bad("uidMappings and gidMappings must both be given")),
    };
    Ok(Some(IdMap {
        uid_map: lines(uids),
        gid_map: lines(gids),
        recursive: idmap_opt.unwrap_or(false),
    }))
}

/// A user namespace whose mappings are `map`, as an fd (the helper
/// process that made it is gone when this returns).
pub(crate) fn userns_fd(map: &IdMap) -> Result<OwnedFd, Errno> {
    let (ready_r, ready_w) = rustix::pipe::pipe()?;
    let (hold_r, hold_w) = rustix::pipe::pipe()?;
    // SAFETY: the init is single-threaded; the child only makes raw
    // syscalls and leaves with _exit.
    match unsafe { nix::unistd::fork() }.map_err(|e| Errno::from_raw_os_error(e as i32))? {
        nix::unistd::ForkResult::Child => {
            drop(ready_r);
            drop(hold_w);
            let ok = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUSER).is_ok();
            let _ = rustix::io::write(&ready_w, if ok { b"1" } else { b"0" });
            let mut b = [0u8; 1];
            let _ = rustix::io::read(&hold_r, &mut b);
            // SAFETY: ends the helper without running any destructor.
            unsafe { libc::_exit(0) }
        }
        nix::unistd::ForkResult::Parent { child } => {
            drop(ready_w);
            drop(hold_r);
            let res = finish_userns(child.as_raw(), ready_r.as_fd(), map);
            drop(hold_w);
            let _ = nix::sys::wait::waitpid(child, None);
            res
        }
    }
}

fn finish_userns(pid: i32, ready: BorrowedFd<'_>, map: &IdMap) -> Result<OwnedFd, Errno> {
    let mut b = [0u8; 1];
    let mut f = std::fs::File::from(rustix::io::dup(ready)?);
    f.read_exact(&mut b).map_err(|_| Errno::PIPE)?;
    if b[0] != b'1' {
        return Err(Errno::PERM);
    }
    let write = |file: &str, text: &str| -> Result<(), Errno> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(format!("/proc/{pid}/{file}"))
            .map_err(|e| Errno::from_io_error(&e).unwrap_or(Errno::IO))?;
        f.write_all(text.as_bytes())
            .map_err(|e| Errno::from_io_error(&e).unwrap_or(Errno::INVAL))
    };
    write("uid_map", &map.uid_map)?;
    write("gid_map", &map.gid_map)?;
    rustix::fs::open(
        format!("/proc/{pid}/ns/user"),
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
}
