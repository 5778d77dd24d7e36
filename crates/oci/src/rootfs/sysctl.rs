//! `linux.sysctl`: validated against the container's namespaces, written
//! through a verified procfs handle.

use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxNamespaceType;
use rustix::fs::{Mode, OFlags, ResolveFlags};

use super::mounts::has_ns;
use super::{RootfsConfig, RootfsError, sys_err};

/// IPC-namespaced sysctls (besides `fs.mqueue.*`).
const IPC: [&str; 11] = [
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
    "kernel.msg_next_id",
    "kernel.sem_next_id",
    "kernel.shm_next_id",
];

/// One sysctl to write: config key, path under /proc/sys, value.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Sysctl {
    pub key: String,
    pub rel: PathBuf,
    pub value: String,
}

/// Checks every `linux.sysctl` key: a clean name (no `..`, no empty
/// component) and a sysctl namespaced by a namespace the container has.
pub(crate) fn validate(cfg: &RootfsConfig) -> Result<Vec<Sysctl>, RootfsError> {
    let Some(map) = cfg.spec.linux().as_ref().and_then(|l| l.sysctl().as_ref()) else {
        return Ok(Vec::new());
    };
    let mut keys: Vec<_> = map.iter().collect();
    keys.sort();
    let mut out = Vec::new();
    for (key, value) in keys {
        let bad = |reason: String| RootfsError::Invalid {
            field: format!("linux.sysctl.{key}"),
            reason,
        };
        // Dots separate components unless the key is already a path
        // (so interface names like eth0.100 can be written as net/ipv4/...).
        let sep = if key.contains('/') { '/' } else { '.' };
        let parts: Vec<&str> = key.split(sep).collect();
        if parts
            .iter()
            .any(|p| p.is_empty() || *p == "." || *p == ".." || p.contains('\0'))
        {
            return Err(bad("not a valid sysctl name".into()));
        }
        let dotted = parts.join(".");
        let (ns, ns_name) = if IPC.contains(&dotted.as_str()) || dotted.starts_with("fs.mqueue.") {
            (LinuxNamespaceType::Ipc, "ipc")
        } else if dotted == "kernel.hostname" || dotted == "kernel.domainname" {
            (LinuxNamespaceType::Uts, "uts")
        } else if dotted.starts_with("net.") {
            (LinuxNamespaceType::Network, "network")
        } else if dotted.starts_with("user.") {
            (LinuxNamespaceType::User, "user")
        } else {
            return Err(bad(
                "not a namespaced sysctl: setting it would change the host".into(),
            ));
        };
        if !has_ns(cfg, ns) {
            return Err(bad(format!(
                "needs the container to have its own {ns_name} namespace"
            )));
        }
        if value.contains('\0') {
            return Err(bad("value contains a NUL byte".into()));
        }
        out.push(Sysctl {
            key: key.clone(),
            rel: parts.iter().collect(),
            value: value.clone(),
        });
    }
    Ok(out)
}

/// The container's /proc, checked to be a procfs mount root.
fn proc_root() -> Result<OwnedFd, RootfsError> {
    const PROC_SUPER_MAGIC: u64 = 0x9fa0;
    let p = Path::new("/proc");
    let fd = rustix::fs::open(
        p,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(sys_err("open", p))?;
    let fs = rustix::fs::fstatfs(&fd).map_err(sys_err("statfs", p))?;
    if fs.f_type as u64 != PROC_SUPER_MAGIC {
        return Err(RootfsError::Invalid {
            field: "linux.sysctl".into(),
            reason: "/proc in the container is not procfs (add a proc mount)".into(),
        });
    }
    Ok(fd)
}

/// Writes each sysctl through /proc/sys, never leaving procfs nor
/// following a symlink on the way (CVE-2025-52881).
pub(crate) fn apply(list: &[Sysctl]) -> Result<(), RootfsError> {
    if list.is_empty() {
        return Ok(());
    }
    let proc = proc_root()?;
    for s in list {
        let rel = Path::new("sys").join(&s.rel);
        let shown = Path::new("/proc").join(&rel);
        let fd = rustix::fs::openat2(
            proc.as_fd(),
            &rel,
            OFlags::WRONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW | OFlags::TRUNC,
            Mode::empty(),
            ResolveFlags::BENEATH
                | ResolveFlags::NO_XDEV
                | ResolveFlags::NO_SYMLINKS
                | ResolveFlags::NO_MAGICLINKS,
        )
        .map_err(|e| RootfsError::Invalid {
            field: format!("linux.sysctl.{}", s.key),
            reason: format!(
                "cannot open {}: {}",
                shown.display(),
                std::io::Error::from(e)
            ),
        })?;
        let mut f = std::fs::File::from(fd);
        f.write_all(s.value.as_bytes())
            .map_err(|e| RootfsError::Invalid {
                field: format!("linux.sysctl.{}", s.key),
                reason: format!("cannot write {:?}: {e}", s.value),
            })?;
    }
    Ok(())
}
