//! Linux namespaces of a container: which are new, which are joined by
//! path, in which order, and the uid/gid maps of a new user namespace.
//!
//! Joined namespaces are opened (and their type checked) by the runtime
//! before it forks, so a bad path fails `create` before anything exists.
//! The forked stage process joins them with setns, user namespace first,
//! then unshares the new ones.

use std::os::fd::{AsRawFd, OwnedFd};

use nix::sched::CloneFlags;
use oci_spec::runtime::{Linux, LinuxIdMapping, LinuxNamespaceType};

use crate::error::{Context, OciError, Result};
use crate::spec::namespace_name;

/// The clone flag of a namespace type.
pub fn flag(t: LinuxNamespaceType) -> CloneFlags {
    match t {
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        LinuxNamespaceType::Time => CloneFlags::from_bits_retain(libc::CLONE_NEWTIME),
    }
}

/// A namespace to join: its type and an open fd of its path.
#[derive(Debug)]
pub struct Join {
    /// The namespace type.
    pub typ: LinuxNamespaceType,
    /// The opened namespace file.
    pub fd: OwnedFd,
}

/// What to do with namespaces, decided before forking.
#[derive(Debug)]
pub struct Plan {
    /// Namespaces to join, user namespace first.
    pub join: Vec<Join>,
    /// A new user namespace is created.
    pub new_user: bool,
    /// The other new namespaces (unshared after the user namespace).
    pub new_flags: CloneFlags,
}

impl Default for Plan {
    fn default() -> Self {
        Plan {
            join: Vec::new(),
            new_user: false,
            new_flags: CloneFlags::empty(),
        }
    }
}

const NS_GET_NSTYPE: libc::c_ulong = 0xb703;

impl Plan {
    /// Builds the plan from `linux.namespaces`, opening joined paths.
    pub fn new(linux: &Linux) -> Result<Self> {
        let mut plan = Plan::default();
        for (i, ns) in linux.namespaces().iter().flatten().enumerate() {
            let t = ns.typ();
            match ns.path() {
                None => {
                    if t == LinuxNamespaceType::User {
                        plan.new_user = true;
                    } else {
                        plan.new_flags |= flag(t);
                    }
                }
                Some(p) => {
                    let field = format!("linux.namespaces[{i}].path");
                    let fd = rustix::fs::open(
                        p,
                        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
                        rustix::fs::Mode::empty(),
                    )
                    .map_err(|e| OciError::invalid(&field, format!("{}: {e}", p.display())))?;
                    // SAFETY: NS_GET_NSTYPE takes no argument and only
                    // reads the namespace type of the fd we own.
                    let got = unsafe { libc::ioctl(fd.as_raw_fd(), NS_GET_NSTYPE) };
                    if got < 0 || got != flag(t).bits() {
                        return Err(OciError::invalid(
                            field,
                            format!("{} is not a {} namespace", p.display(), namespace_name(t)),
                        ));
                    }
                    plan.join.push(Join { typ: t, fd });
                }
            }
        }
        plan.join.sort_by_key(|j| {
            if j.typ == LinuxNamespaceType::User {
                0
            } else {
                1
            }
        });
        Ok(plan)
    }

    /// Does the container get (or join) a namespace of type `t`?
    pub fn has(&self, t: LinuxNamespaceType) -> bool {
        self.join.iter().any(|j| j.typ == t)
            || if t == LinuxNamespaceType::User {
                self.new_user
            } else {
                self.new_flags.contains(flag(t))
            }
    }

    /// Is the namespace of type `t` newly created?
    pub fn is_new(&self, t: LinuxNamespaceType) -> bool {
        if t == LinuxNamespaceType::User {
            self.new_user
        } else {
            self.new_flags.contains(flag(t))
        }
    }

    /// In the forked stage process: setns into every joined namespace.
    pub fn join_all(&self) -> Result<()> {
        for j in &self.join {
            nix::sched::setns(&j.fd, flag(j.typ))
                .ctx(|| format!("setns into the {} namespace", namespace_name(j.typ)))?;
        }
        Ok(())
    }
}

fn map_text(maps: &[LinuxIdMapping]) -> String {
    maps.iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect()
}

/// Writes uid_map and gid_map of `pid` (which just unshared its user ns).
///
/// Root writes them directly. Another user (rootless) may only map its own
/// id that way (and, for gids, only after setgroups is denied); any other
/// mapping goes through the setuid `newuidmap`/`newgidmap` helpers, which
/// check it against /etc/subuid and /etc/subgid.
pub fn write_id_maps(pid: i32, linux: &Linux) -> Result<()> {
    let uids = linux.uid_mappings().as_deref().unwrap_or_default();
    let gids = linux.gid_mappings().as_deref().unwrap_or_default();
    let euid = rustix::process::geteuid().as_raw();
    let egid = rustix::process::getegid().as_raw();
    let own = |maps: &[LinuxIdMapping], id: u32| {
        maps.len() == 1 && maps[0].host_id() == id && maps[0].size() == 1
    };
    let write = |file: &str, field: &str, maps: &[LinuxIdMapping]| {
        std::fs::write(format!("/proc/{pid}/{file}"), map_text(maps).as_bytes())
            .map_err(|e| OciError::invalid(field, format!("writing {file}: {e}")))
    };
    if euid == 0 || own(uids, euid) {
        write("uid_map", "linux.uidMappings", uids)?;
    } else {
        helper_map("newuidmap", "linux.uidMappings", pid, uids)?;
    }
    if euid == 0 {
        write("gid_map", "linux.gidMappings", gids)?;
    } else if own(gids, egid) {
        // An unprivileged gid_map needs setgroups denied first.
        std::fs::write(format!("/proc/{pid}/setgroups"), b"deny").map_err(|e| {
            OciError::invalid("linux.gidMappings", format!("writing setgroups: {e}"))
        })?;
        write("gid_map", "linux.gidMappings", gids)?;
    } else {
        helper_map("newgidmap", "linux.gidMappings", pid, gids)?;
    }
    Ok(())
}

/// Runs `newuidmap`/`newgidmap PID (CONTAINER HOST SIZE)...`.
fn helper_map(helper: &str, field: &str, pid: i32, maps: &[LinuxIdMapping]) -> Result<()> {
    let mut cmd = std::process::Command::new(helper);
    cmd.arg(pid.to_string());
    for m in maps {
        cmd.args([
            m.container_id().to_string(),
            m.host_id().to_string(),
            m.size().to_string(),
        ]);
    }
    let out = cmd
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| OciError::invalid(field, format!("running {helper} (package uidmap): {e}")))?;
    if !out.status.success() {
        let msg = String::from_utf8_lossy(&out.stderr);
        let msg = msg.trim().lines().last().unwrap_or("failed").to_string();
        return Err(OciError::invalid(field, format!("{helper}: {msg}")));
    }
    Ok(())
}

/// Does `maps` map container id 0?
pub fn maps_root(maps: Option<&[LinuxIdMapping]>) -> bool {
    maps.unwrap_or_default()
        .iter()
        .any(|m| m.container_id() == 0 && m.size() > 0)
}

/// The host id of container id `id` under `maps` (identity when no maps).
pub fn host_id(maps: Option<&[LinuxIdMapping]>, id: u32) -> Option<u32> {
    match maps {
        None => Some(id),
        Some([]) => Some(id),
        Some(ms) => ms.iter().find_map(|m| {
            let off = id.checked_sub(m.container_id())?;
            (off < m.size()).then(|| m.host_id() + off)
        }),
    }
}

/// Writes /proc/self/timens_offsets (before the time namespace has a process).
pub fn write_time_offsets(linux: &Linux) -> Result<()> {
    let Some(offsets) = linux.time_offsets() else {
        return Ok(());
    };
    let mut text = String::new();
    for (clock, off) in offsets {
        text.push_str(&format!(
            "{clock} {} {}\n",
            off.secs().unwrap_or(0),
            off.nanosecs().unwrap_or(0)
        ));
    }
    if text.is_empty() {
        return Ok(());
    }
    std::fs::write("/proc/self/timens_offsets", text.as_bytes())
        .ctx(|| "linux.timeOffsets: writing /proc/self/timens_offsets".into())
}

/// Returns a namespace type's runtime-spec name (re-export for callers).
pub fn name(t: LinuxNamespaceType) -> &'static str {
    namespace_name(t)
}

/// Brings `lo` up in a new network namespace, as Docker and crun do: a
/// container without any other network still reaches 127.0.0.1.
pub fn loopback_up() -> Result<()> {
    use std::os::fd::FromRawFd;
    // SAFETY: plain socket(2); the descriptor is owned right below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error()).ctx(|| "socket to bring up lo".into());
    }
    // SAFETY: `fd` is a fresh descriptor nothing else owns.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *d = *s as libc::c_char;
    }
    req.ifr_ifru.ifru_flags =
        (libc::IFF_UP | libc::IFF_LOOPBACK | libc::IFF_RUNNING) as libc::c_short;
    // SAFETY: SIOCSIFFLAGS reads the ifreq we own for the duration of the call.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) } != 0 {
        return Err(std::io::Error::last_os_error()).ctx(|| "bring up lo".into());
    }
    Ok(())
}
