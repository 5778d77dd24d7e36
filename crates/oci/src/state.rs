//! Per-container state under the runtime's `--root` directory.
//!
//! `ROOT/ID/state.json` records what later commands need (init pid and its
//! start time, bundle, cgroups path, hooks); `ROOT/ID/exec.fifo` exists
//! between `create` and `start`. The status is never stored: it is derived
//! from the kernel each time (is the init alive, with the same start time,
//! and not a zombie?), so pid reuse cannot fool it.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use oci_spec::runtime::Hooks;
use serde::{Deserialize, Serialize};

use crate::error::{OciError, Result};

/// The runtime-spec container status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// `create` is still running.
    Creating,
    /// The init waits for `start`.
    Created,
    /// The user process runs.
    Running,
    /// The processes are frozen.
    Paused,
    /// The init has exited.
    Stopped,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        })
    }
}

/// What `state.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContainerState {
    /// Container id.
    pub id: String,
    /// Host pid of the container's init (0 until known).
    pub pid: i32,
    /// The init's start time (field 22 of /proc/PID/stat).
    pub start_time: u64,
    /// The bundle directory.
    pub bundle: PathBuf,
    /// The rootfs (absolute).
    pub rootfs: PathBuf,
    /// RFC 3339 creation time.
    pub created: String,
    /// config.json annotations.
    #[serde(default)]
    pub annotations: HashMap<String, String>,
    /// `linux.cgroupsPath` as given.
    #[serde(default)]
    pub cgroups_path: Option<String>,
    /// The cgroup's (subsystems, dir) pairs from `create`: a relative
    /// `cgroupsPath` resolves against the caller's cgroup, so later commands
    /// reopen these instead of resolving it again.
    #[serde(default)]
    pub cgroup_sources: Option<Vec<(String, PathBuf)>>,
    /// No cgroup was made: a rootless caller cannot write the cgroup tree
    /// (runc skips cgroups the same way).
    #[serde(default)]
    pub cgroup_skipped: bool,
    /// The spec's hooks (poststart and poststop run from later commands).
    #[serde(default)]
    pub hooks: Option<Hooks>,
    /// Pid and start time of the `create` process while it runs.
    #[serde(default)]
    pub creator: (i32, u64),
    /// `create` finished.
    #[serde(default)]
    pub created_done: bool,
}

/// The runtime-spec state document (what `state` prints and hooks read).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OciState {
    /// Spec version.
    #[serde(rename = "ociVersion")]
    pub oci_version: String,
    /// Container id.
    pub id: String,
    /// Status.
    pub status: Status,
    /// Init pid (0 when stopped).
    pub pid: i32,
    /// Bundle directory.
    pub bundle: PathBuf,
    /// Rootfs (runc extension).
    pub rootfs: PathBuf,
    /// Creation time (runc extension).
    pub created: String,
    /// Owner (runc extension; empty for root).
    pub owner: String,
    /// Annotations.
    pub annotations: HashMap<String, String>,
}

/// Checks a container id: letters, digits, `_ + - .`, not `.`/`..`.
pub fn validate_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 1024
        && id != "."
        && id != ".."
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+-.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(OciError::container(
            format!("{id:?}"),
            "invalid container id (use letters, digits, _ + - .)",
        ))
    }
}

/// The state directory of container `id` under `root`.
pub fn dir(root: &Path, id: &str) -> PathBuf {
    root.join(id)
}

impl ContainerState {
    /// Path of state.json.
    pub fn file(root: &Path, id: &str) -> PathBuf {
        dir(root, id).join("state.json")
    }

    /// Path of the exec fifo.
    pub fn fifo(root: &Path, id: &str) -> PathBuf {
        dir(root, id).join("exec.fifo")
    }

    /// Loads the state of `id`; a missing container is a one-line error.
    pub fn load(root: &Path, id: &str) -> Result<Self> {
        validate_id(id)?;
        let f = Self::file(root, id);
        let data = match std::fs::read(&f) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(OciError::container(id, "does not exist"));
            }
            Err(e) => {
                return Err(OciError::File {
                    path: f,
                    reason: e.to_string(),
                });
            }
        };
        serde_json::from_slice(&data).map_err(|e| OciError::File {
            path: f,
            reason: format!("corrupt state: {e}"),
        })
    }

    /// Writes state.json atomically (temp file + rename).
    pub fn save(&self, root: &Path) -> Result<()> {
        let f = Self::file(root, &self.id);
        let tmp = f.with_extension("json.tmp");
        let data = serde_json::to_vec(self).map_err(|e| OciError::File {
            path: f.clone(),
            reason: e.to_string(),
        })?;
        let write = || -> std::io::Result<()> {
            let mut file = std::fs::File::create(&tmp)?;
            file.write_all(&data)?;
            std::fs::rename(&tmp, &f)
        };
        write().map_err(|e| OciError::File {
            path: f.clone(),
            reason: e.to_string(),
        })
    }

    /// The current status, read from the kernel.
    pub fn status(&self, root: &Path) -> Status {
        if !self.created_done {
            return if process_alive(self.creator.0, self.creator.1) {
                Status::Creating
            } else {
                Status::Stopped
            };
        }
        if !process_alive(self.pid, self.start_time) {
            return Status::Stopped;
        }
        if crate::container::pause::is_paused(self) {
            // A frozen cgroup is what "paused" means (as with runc).
            Status::Paused
        } else if Self::fifo(root, &self.id).exists() {
            Status::Created
        } else {
            Status::Running
        }
    }

    /// The runtime-spec state document with `status`.
    pub fn oci(&self, status: Status) -> OciState {
        OciState {
            oci_version: "1.2.0".into(),
            id: self.id.clone(),
            status,
            pid: if status == Status::Stopped {
                0
            } else {
                self.pid
            },
            bundle: self.bundle.clone(),
            rootfs: self.rootfs.clone(),
            created: self.created.clone(),
            owner: String::new(),
            annotations: self.annotations.clone(),
        }
    }
}

/// `(state char, start time)` of a process from /proc/PID/stat.
pub fn proc_stat(pid: i32) -> Option<(u8, u64)> {
    if pid <= 0 {
        return None;
    }
    let s = std::fs::read(format!("/proc/{pid}/stat")).ok()?;
    let close = s.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(&s[close + 1..]).ok()?;
    let mut it = rest.split_ascii_whitespace();
    let state = it.next()?.bytes().next()?;
    // Fields after the state: ppid is field 4; starttime is field 22.
    let start = it.nth(18)?.parse().ok()?;
    Some((state, start))
}

/// Is `pid` alive (not a zombie) and the same process (start time)?
pub fn process_alive(pid: i32, start_time: u64) -> bool {
    match proc_stat(pid) {
        Some((st, t)) => t == start_time && st != b'Z' && st != b'X' && st != b'x',
        None => false,
    }
}

/// The current time as RFC 3339 UTC with nanoseconds.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// Ids of every container under `root` (directories holding state.json).
pub fn list(root: &Path) -> Result<Vec<String>> {
    let rd = match std::fs::read_dir(root) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(OciError::File {
                path: root.to_path_buf(),
                reason: e.to_string(),
            });
        }
    };
    let mut ids: Vec<String> = rd
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|id| validate_id(id).is_ok() && ContainerState::file(root, id).exists())
        .collect();
    ids.sort();
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert!(validate_id("abc-1_2.x+y").is_ok());
        assert!(validate_id("..").is_err());
        assert!(validate_id("a/b").is_err());
        assert!(validate_id("").is_err());
    }

    #[test]
    fn own_process_is_alive_and_start_time_matters() {
        let me = std::process::id() as i32;
        let (_, t) = proc_stat(me).unwrap();
        assert!(process_alive(me, t));
        assert!(!process_alive(me, t + 1));
    }

    #[test]
    fn rfc3339_shape() {
        let s = now_rfc3339();
        assert_eq!(s.len(), 30, "{s}");
        assert!(s.starts_with("20") && s.ends_with('Z'), "{s}");
    }
}
