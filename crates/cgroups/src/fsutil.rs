//! Small file helpers for cgroupfs: single-write files, reading numbers,
//! making and removing directory trees.

use std::fs;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::CgroupError;

/// Writes `value` to a cgroup file in one write(2), as cgroupfs wants.
pub(crate) fn write_file(path: &Path, value: &str) -> Result<(), CgroupError> {
    write_raw(path, value).map_err(|e| CgroupError::io(path, e))
}

/// Like [`write_file`], but an error names the config.json `field`.
pub(crate) fn write_field(path: &Path, value: &str, field: &str) -> Result<(), CgroupError> {
    write_raw(path, value).map_err(|source| CgroupError::Write {
        field: field.to_string(),
        path: path.to_path_buf(),
        value: value.to_string(),
        source,
    })
}

pub(crate) fn write_raw(path: &Path, value: &str) -> std::io::Result<()> {
    let mut f = fs::OpenOptions::new().write(true).open(path)?;
    let n = f.write(value.as_bytes())?;
    if n != value.len() {
        return Err(std::io::Error::new(ErrorKind::WriteZero, "short write"));
    }
    Ok(())
}

/// Reads a whole cgroup file.
pub(crate) fn read_string(path: &Path) -> Result<String, CgroupError> {
    fs::read_to_string(path).map_err(|e| CgroupError::io(path, e))
}

/// Reads a file holding one number ("max" reads as `None`).
pub(crate) fn read_u64(path: &Path) -> Result<Option<u64>, CgroupError> {
    let s = read_string(path)?;
    let s = s.trim();
    if s == "max" {
        return Ok(None);
    }
    s.parse::<u64>()
        .map(Some)
        .map_err(|e| CgroupError::io(path, std::io::Error::new(ErrorKind::InvalidData, e)))
}

/// The value of `key` in a flat keyed file ("key value" lines).
pub(crate) fn keyed(content: &str, key: &str) -> Option<u64> {
    content.lines().find_map(|l| {
        let mut it = l.split_whitespace();
        if it.next() == Some(key) {
            it.next().and_then(|v| v.parse().ok())
        } else {
            None
        }
    })
}

/// Creates `path` and its missing parents; pushes each directory it made.
/// A parent removed concurrently (another container's `delete` pruning an
/// empty `/caixa`) is made again.
pub(crate) fn mkdir_all(path: &Path, created: &mut Vec<PathBuf>) -> Result<(), CgroupError> {
    let mut attempts = 0;
    loop {
        match mkdir_all_once(path, created) {
            Err(CgroupError::Io { source, .. })
                if source.kind() == ErrorKind::NotFound && attempts < 5 =>
            {
                attempts += 1;
            }
            other => return other,
        }
    }
}

fn mkdir_all_once(path: &Path, created: &mut Vec<PathBuf>) -> Result<(), CgroupError> {
    // Try the directory first: it is usually the only one missing.
    match fs::create_dir(path) {
        Ok(()) => {
            created.push(path.to_path_buf());
            return Ok(());
        }
        Err(e) if e.kind() == ErrorKind::AlreadyExists => return Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(CgroupError::io(path, e)),
    }
    if let Some(parent) = path.parent() {
        mkdir_all_once(parent, created)?;
    }
    match fs::create_dir(path) {
        Ok(()) => {
            created.push(path.to_path_buf());
            Ok(())
        }
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(CgroupError::io(path, e)),
    }
}

/// Appends the pids of `dir` and of every sub-cgroup below it.
pub(crate) fn collect_pids(dir: &Path, out: &mut Vec<i32>) -> Result<(), CgroupError> {
    let procs = dir.join("cgroup.procs");
    let content = match fs::read_to_string(&procs) {
        Ok(c) => c,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(CgroupError::io(procs, e)),
    };
    out.extend(content.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
    for sub in subdirs(dir)? {
        collect_pids(&sub, out)?;
    }
    Ok(())
}

fn subdirs(dir: &Path) -> Result<Vec<PathBuf>, CgroupError> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(CgroupError::io(dir, e)),
    };
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| CgroupError::io(dir, e))?;
        if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            out.push(entry.path());
        }
    }
    Ok(out)
}

/// How long `remove_tree` keeps retrying EBUSY while the remaining
/// processes are exiting.
const DYING_GRACE: Duration = Duration::from_secs(5);

/// How long a process that still looks alive may keep `remove_tree`
/// waiting: right after a SIGKILL the signal may already be dequeued while
/// the task is not yet marked exiting, so it briefly looks alive.
const LIVE_GRACE: Duration = Duration::from_millis(500);

/// Removes `dir` and every sub-cgroup below it, deepest first. EBUSY is
/// retried while the processes still listed are dying (zombies, exiting,
/// SIGKILL pending); one that still looks alive after [`LIVE_GRACE`] makes
/// it fail.
pub(crate) fn remove_tree(dir: &Path) -> Result<(), CgroupError> {
    // Usually a leaf: try it before listing sub-cgroups.
    match fs::remove_dir(dir) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(_) => {}
    }
    for sub in subdirs(dir)? {
        remove_tree(&sub)?;
    }
    let start = Instant::now();
    let mut pause = Duration::from_millis(1);
    loop {
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                let mut pids = Vec::new();
                let _ = collect_pids(dir, &mut pids);
                if let Some(live) = pids.iter().find(|p| !is_dying(**p))
                    && start.elapsed() > LIVE_GRACE
                {
                    return Err(CgroupError::io(
                        dir,
                        std::io::Error::other(format!("still in use by live process {live}")),
                    ));
                }
                if start.elapsed() > DYING_GRACE {
                    return Err(CgroupError::io(dir, e));
                }
                // The kernel frees a cgroup after its last task is reaped;
                // this waits for exiting tasks, and for live-looking ones
                // only within LIVE_GRACE.
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(20));
            }
            Err(e) => return Err(CgroupError::io(dir, e)),
        }
    }
}

/// A pid that is gone, a zombie, exiting, or with SIGKILL pending.
fn is_dying(pid: i32) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return true;
    };
    // The fields after the command (which may contain ')'): state is the
    // first, flags the seventh.
    let rest: Vec<&str> = match stat.rfind(')') {
        Some(i) => stat[i + 1..].split_whitespace().collect(),
        None => return true,
    };
    if matches!(rest.first(), Some(&"Z") | Some(&"X") | Some(&"x")) {
        return true;
    }
    const PF_EXITING: u64 = 0x4;
    if rest
        .get(6)
        .and_then(|f| f.parse::<u64>().ok())
        .is_some_and(|f| f & PF_EXITING != 0)
    {
        return true;
    }
    let Ok(status) = fs::read_to_string(format!("/proc/{pid}/status")) else {
        return true;
    };
    status.lines().any(|l| {
        (l.starts_with("ShdPnd:") || l.starts_with("SigPnd:"))
            && l.split_whitespace()
                .nth(1)
                .and_then(|h| u64::from_str_radix(h, 16).ok())
                .is_some_and(|m| m & (1 << (libc::SIGKILL - 1)) != 0)
    })
}

/// Removes the given parent directories, deepest first, where they are
/// empty; a busy or missing one is left alone.
pub(crate) fn prune_parents(dirs: &[PathBuf]) {
    let mut dirs = dirs.to_vec();
    dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
    for d in dirs {
        let _ = fs::remove_dir(&d);
    }
}
