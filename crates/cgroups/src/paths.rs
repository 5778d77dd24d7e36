//! Finding the hierarchies and resolving `cgroupsPath`, as runc's cgroupfs
//! driver does.

use std::fs;
use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;

use super::{CgroupDir, CgroupError, Hierarchy};

/// Where every cgroup hierarchy is mounted on a systemd-style host.
pub(crate) const CGROUP_ROOT: &str = "/sys/fs/cgroup";

const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;

/// The v1 controllers the kernel knows; other mount options are ignored.
const V1_CONTROLLERS: &[&str] = &[
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "devices",
    "freezer",
    "net_cls",
    "net_prio",
    "blkio",
    "perf_event",
    "hugetlb",
    "pids",
    "rdma",
    "misc",
];

/// Detects (once per process) whether /sys/fs/cgroup is cgroup2.
pub(crate) fn hierarchy() -> Result<Hierarchy, CgroupError> {
    static CACHE: OnceLock<Hierarchy> = OnceLock::new();
    if let Some(h) = CACHE.get() {
        return Ok(*h);
    }
    let st = rustix::fs::statfs(CGROUP_ROOT)
        .map_err(|e| CgroupError::io(CGROUP_ROOT, std::io::Error::from(e)))?;
    #[allow(clippy::unnecessary_cast)]
    let h = if st.f_type as i64 == CGROUP2_SUPER_MAGIC {
        Hierarchy::V2
    } else {
        Hierarchy::V1
    };
    Ok(*CACHE.get_or_init(|| h))
}

/// A mounted v1 hierarchy.
#[derive(Debug, Clone)]
pub(crate) struct V1Mount {
    /// Its subsystems in the kernel's order, comma-separated.
    pub(crate) subsystems: String,
    /// Where it is mounted.
    pub(crate) mountpoint: PathBuf,
    /// The cgroup that is the root of this mount (not "/" inside a
    /// container with its own cgroup namespace view).
    pub(crate) root: String,
}

/// Undoes mountinfo's octal escapes (`\040` for a space).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The v1 hierarchies in /proc/self/mountinfo, one per subsystem set.
pub(crate) fn v1_mounts() -> Result<Vec<V1Mount>, CgroupError> {
    let path = "/proc/self/mountinfo";
    let info = fs::read_to_string(path).map_err(|e| CgroupError::io(path, e))?;
    Ok(parse_v1_mounts(&info))
}

fn parse_v1_mounts(info: &str) -> Vec<V1Mount> {
    let mut out: Vec<V1Mount> = Vec::new();
    for line in info.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let mut r = right.split_whitespace();
        if r.next() != Some("cgroup") {
            continue;
        }
        let superopts = r.nth(1).unwrap_or("");
        let l: Vec<&str> = left.split_whitespace().collect();
        if l.len() < 5 {
            continue;
        }
        let subsystems: Vec<&str> = superopts
            .split(',')
            .filter(|o| V1_CONTROLLERS.contains(o) || o.starts_with("name="))
            .collect();
        if subsystems.is_empty() {
            continue;
        }
        let subsystems = subsystems.join(",");
        if out.iter().any(|m| m.subsystems == subsystems) {
            continue;
        }
        out.push(V1Mount {
            subsystems,
            mountpoint: PathBuf::from(unescape(l[4])),
            root: unescape(l[3]),
        });
    }
    out
}

/// The caller's cgroups from /proc/self/cgroup: (controllers, path); v2's
/// line has controllers "".
fn own_cgroups() -> Result<Vec<(String, String)>, CgroupError> {
    let path = "/proc/self/cgroup";
    let s = fs::read_to_string(path).map_err(|e| CgroupError::io(path, e))?;
    Ok(s.lines()
        .filter_map(|l| {
            let mut it = l.splitn(3, ':');
            let _id = it.next()?;
            let ctrls = it.next()?;
            let p = it.next()?;
            Some((ctrls.to_string(), p.to_string()))
        })
        .collect())
}

fn same_set(a: &str, b: &str) -> bool {
    let mut x: Vec<&str> = a.split(',').collect();
    let mut y: Vec<&str> = b.split(',').collect();
    x.sort_unstable();
    y.sort_unstable();
    x == y
}

/// Checks a cgroupsPath or id and turns it into plain relative components.
fn clean(p: &str, field: &str) -> Result<PathBuf, CgroupError> {
    let mut out = PathBuf::new();
    for c in Path::new(p).components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir => {
                return Err(CgroupError::invalid(
                    field,
                    format!("{p:?} must not contain \"..\""),
                ));
            }
            Component::Prefix(_) => {
                return Err(CgroupError::invalid(field, format!("{p:?} is not a path")));
            }
        }
    }
    Ok(out)
}

/// The own-cgroup path, relative to the mount's root.
fn own_relative(own: &str, mount_root: &str) -> PathBuf {
    let own = Path::new(own);
    let rel = own.strip_prefix(mount_root).unwrap_or(own);
    rel.components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .collect()
}

/// Resolves the container's directories and the parents that `delete` may
/// prune (none since the default moved to `/<id>`, as runc's).
pub(crate) fn resolve(
    hierarchy: Hierarchy,
    cgroups_path: Option<&str>,
    id: &str,
) -> Result<(Vec<CgroupDir>, Vec<PathBuf>), CgroupError> {
    let field = "linux.cgroupsPath";
    let (absolute, rel) = match cgroups_path.filter(|p| !p.is_empty()) {
        Some(p) => {
            let rel = clean(p, field)?;
            if rel.as_os_str().is_empty() {
                return Err(CgroupError::invalid(
                    field,
                    format!("{p:?} names no cgroup"),
                ));
            }
            (p.starts_with('/'), rel)
        }
        None => {
            if id.is_empty() || id.contains('/') || id == "." || id == ".." {
                return Err(CgroupError::invalid(
                    "id",
                    format!("{id:?} is not a valid container id"),
                ));
            }
            // As runc and crun: `/<id>` under each hierarchy's root.
            (true, PathBuf::from(id))
        }
    };
    let own = if absolute { Vec::new() } else { own_cgroups()? };
    let mut dirs = Vec::new();
    let mut add = |subsystems: String, mountpoint: PathBuf, base: PathBuf| {
        let path = base.join(&rel);
        dirs.push(CgroupDir {
            subsystems,
            mountpoint,
            path,
        });
    };
    match hierarchy {
        Hierarchy::V2 => {
            let mountpoint = PathBuf::from(CGROUP_ROOT);
            let base = if absolute {
                mountpoint.clone()
            } else {
                let p = own
                    .iter()
                    .find(|(c, _)| c.is_empty())
                    .map(|(_, p)| own_relative(p, "/"))
                    .unwrap_or_default();
                mountpoint.join(p)
            };
            add(String::new(), mountpoint, base);
        }
        Hierarchy::V1 => {
            for m in v1_mounts()? {
                let base = if absolute {
                    m.mountpoint.clone()
                } else {
                    let p = own
                        .iter()
                        .find(|(c, _)| same_set(c, &m.subsystems))
                        .map(|(_, p)| own_relative(p, &m.root))
                        .unwrap_or_default();
                    m.mountpoint.join(p)
                };
                add(m.subsystems, m.mountpoint, base);
            }
        }
    }
    if dirs.is_empty() {
        return Err(CgroupError::unsupported(
            field,
            "no cgroup hierarchy is mounted under /sys/fs/cgroup",
        ));
    }
    Ok((dirs, Vec::new()))
}

/// Checks saved (subsystems, dir) pairs against the mounted hierarchies.
pub(crate) fn reopen(
    hierarchy: Hierarchy,
    sources: &[(String, PathBuf)],
) -> Result<Vec<CgroupDir>, CgroupError> {
    let field = "cgroup paths";
    let mounts: Vec<(String, PathBuf)> = match hierarchy {
        Hierarchy::V2 => vec![(String::new(), PathBuf::from(CGROUP_ROOT))],
        Hierarchy::V1 => v1_mounts()?
            .into_iter()
            .map(|m| (m.subsystems, m.mountpoint))
            .collect(),
    };
    let mut dirs = Vec::new();
    for (subsystems, path) in sources {
        let Some((_, mountpoint)) = mounts.iter().find(|(s, _)| s == subsystems) else {
            return Err(CgroupError::invalid(
                field,
                format!("no mounted cgroup hierarchy {subsystems:?}"),
            ));
        };
        let rel = path
            .strip_prefix(mountpoint)
            .ok()
            .filter(|r| !r.as_os_str().is_empty())
            .ok_or_else(|| {
                CgroupError::invalid(
                    field,
                    format!("{} is not inside {}", path.display(), mountpoint.display()),
                )
            })?;
        let rel = clean(&rel.to_string_lossy(), field)?;
        dirs.push(CgroupDir {
            subsystems: subsystems.clone(),
            mountpoint: mountpoint.clone(),
            path: mountpoint.join(rel),
        });
    }
    if dirs.is_empty() {
        return Err(CgroupError::invalid(field, "no cgroup directory given"));
    }
    Ok(dirs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hybrid_mountinfo() {
        let info = "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n\
                    40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd\n\
                    50 31 0:38 / /sys/fs/cgroup/net\\040cls rw - cgroup cgroup rw,net_cls,net_prio\n\
                    41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
        let m = parse_v1_mounts(info);
        assert_eq!(m.len(), 3);
        assert_eq!(m[0].subsystems, "cpu");
        assert_eq!(m[1].subsystems, "name=systemd");
        assert_eq!(m[2].subsystems, "net_cls,net_prio");
        assert_eq!(m[2].mountpoint, PathBuf::from("/sys/fs/cgroup/net cls"));
    }

    #[test]
    fn rejects_dotdot() {
        assert!(clean("/a/../b", "f").is_err());
        assert_eq!(clean("/a/./b/", "f").unwrap(), PathBuf::from("a/b"));
        assert!(same_set("cpu,cpuacct", "cpuacct,cpu"));
    }
}
