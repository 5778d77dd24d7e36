//! `cgroup` mounts: v1 as a tmpfs holding one bind per host hierarchy,
//! v2 as a fresh cgroup2 mount (with a cgroup namespace) or a bind of the
//! container's cgroup directory.

use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

use oci_spec::runtime::LinuxNamespaceType;
use rustix::fs::{Mode, OFlags, mkdirat, openat, symlinkat};

use super::mounts::{Planned, bind_onto, dir_target, guard_proc, has_ns, propagate};
use super::sys::{self, attr};
use super::{RootfsConfig, RootfsError, sys_err};

/// Mounts a `cgroup`/`cgroup2` entry (read-only unless `rw` is given).
pub(crate) fn mount(
    root: BorrowedFd<'_>,
    p: &Planned<'_>,
    cfg: &RootfsConfig,
) -> Result<(), RootfsError> {
    let dest = p.mount.destination();
    let mut opts = p.opts.clone();
    if opts.clr & attr::RDONLY == 0 {
        opts.set |= attr::RDONLY;
    }
    opts.data.clear();
    let target = dir_target(root, dest)?;
    guard_proc(target.as_fd(), p)?;
    let v2 = match cfg.cgroup_mounts.as_slice() {
        [(name, _)] => name.is_empty(),
        [] => host_is_v2(),
        _ => false,
    };
    if v2 {
        if has_ns(cfg, LinuxNamespaceType::Cgroup) || cfg.cgroup_mounts.is_empty() {
            let fresh = sys::new_fs("cgroup2", Some("cgroup2"), &[], &opts.sb_flags, opts.set);
            match fresh {
                Ok(mnt) => {
                    sys::attach(mnt.as_fd(), target.as_fd())
                        .map_err(sys_err("mount cgroup2", dest))?;
                    return propagate(mnt.as_fd(), &opts, dest);
                }
                Err(e) if cfg.cgroup_mounts.is_empty() => {
                    return Err(sys_err("mount cgroup2", dest)(e));
                }
                Err(_) => {} // e.g. EPERM in a user namespace: bind below
            }
        }
        let (_, dir) = &cfg.cgroup_mounts[0];
        return bind_onto(root, dir, target.as_fd(), dest, &opts);
    }

    // v1: a tmpfs, then one read-only bind per hierarchy, then ro tmpfs.
    let tmpfs_attrs = attr::NOSUID | attr::NODEV | attr::NOEXEC;
    let data = vec!["mode=755".to_string()];
    let tmp = sys::new_fs("tmpfs", Some("cgroup"), &data, &[], tmpfs_attrs)
        .map_err(sys_err("mount cgroup tmpfs", dest))?;
    // Attached first: older kernels cannot mount onto a detached tree.
    sys::attach(tmp.as_fd(), target.as_fd()).map_err(sys_err("mount cgroup tmpfs", dest))?;
    let mut bind_opts = opts.clone();
    bind_opts.set |= attr::NOSUID | attr::NODEV | attr::NOEXEC;
    bind_opts.propagation.clear();
    bind_opts.recursive = false;
    for (name, host_dir) in &cfg.cgroup_mounts {
        let sub = name.strip_prefix("name=").unwrap_or(name);
        if sub.is_empty() || sub.contains('/') || sub == "." || sub == ".." {
            return Err(RootfsError::Invalid {
                field: format!("{}.cgroup", p.field),
                reason: format!("bad hierarchy name {name:?}"),
            });
        }
        let sub_path = dest.join(sub);
        mkdirat(tmp.as_fd(), sub, Mode::from_raw_mode(0o755))
            .map_err(sys_err("mkdir", &sub_path))?;
        let sub_fd = openat(
            tmp.as_fd(),
            sub,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(sys_err("open", &sub_path))?;
        bind_onto(root, host_dir, sub_fd.as_fd(), &sub_path, &bind_opts)?;
        // "cpu,cpuacct" is also reachable as "cpu" and "cpuacct".
        if sub.contains(',') {
            for part in sub.split(',') {
                if part.is_empty() || part == sub {
                    continue;
                }
                match symlinkat(sub, tmp.as_fd(), part) {
                    Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                    Err(e) => return Err(sys_err("symlink", &dest.join(part))(e)),
                }
            }
        }
    }
    if opts.readonly() {
        sys::setattr(tmp.as_fd(), false, attr::RDONLY, 0, 0)
            .map_err(sys_err("set read-only", dest))?;
    }
    propagate(tmp.as_fd(), &opts, dest)
}

/// Whether the host's /sys/fs/cgroup is the unified (v2) hierarchy.
fn host_is_v2() -> bool {
    const CGROUP2_SUPER_MAGIC: u64 = 0x6367_7270;
    rustix::fs::statfs(Path::new("/sys/fs/cgroup"))
        .map(|s| s.f_type as u64 == CGROUP2_SUPER_MAGIC)
        .unwrap_or(false)
}
