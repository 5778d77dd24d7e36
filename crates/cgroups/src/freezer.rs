//! Freezing, thawing and signalling every process of a cgroup.
//!
//! v1: `freezer.state` goes FREEZING → FROZEN; the kernel offers no event
//! for it, so the state is re-written and re-read with a short back-off
//! (as runc does) until FROZEN. v2: `cgroup.freeze`, then wait for
//! `frozen 1` in `cgroup.events` with poll(2) on its change notification.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::time::{Duration, Instant};

use super::fsutil::{keyed, read_string, write_file, write_raw};
use super::{CgroupError, Hierarchy, Manager};

const FREEZE_TIMEOUT: Duration = Duration::from_secs(10);

fn freezer_dir(m: &Manager) -> Result<&Path, CgroupError> {
    m.dir_for("freezer")
        .map(|d| d.path.as_path())
        .ok_or_else(|| {
            CgroupError::unsupported("freezer", "the freezer cgroup controller is not mounted")
        })
}

/// Freezes the cgroup and waits until every task is frozen.
pub(crate) fn freeze(m: &Manager) -> Result<(), CgroupError> {
    let dir = freezer_dir(m)?;
    let res = match m.kind() {
        Hierarchy::V1 => freeze_v1(dir),
        Hierarchy::V2 => {
            write_file(&dir.join("cgroup.freeze"), "1")?;
            wait_events(&dir.join("cgroup.events"), "frozen", 1)
        }
    };
    if res.is_err() {
        let _ = thaw(m);
    }
    res
}

fn freeze_v1(dir: &Path) -> Result<(), CgroupError> {
    let state = dir.join("freezer.state");
    let start = Instant::now();
    let mut pause = Duration::from_micros(100);
    loop {
        write_file(&state, "FROZEN")?;
        if read_string(&state)?.trim() == "FROZEN" {
            return Ok(());
        }
        if start.elapsed() > FREEZE_TIMEOUT {
            return Err(CgroupError::io(
                &state,
                std::io::Error::new(std::io::ErrorKind::TimedOut, "tasks did not freeze"),
            ));
        }
        // v1 has no notification for FREEZING → FROZEN.
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(10));
    }
}

/// Waits (poll on the kernfs notification) until `key` in the keyed file
/// `events` has `value`.
fn wait_events(events: &Path, key: &str, value: u64) -> Result<(), CgroupError> {
    let mut f = File::open(events).map_err(|e| CgroupError::io(events, e))?;
    let start = Instant::now();
    loop {
        let mut s = String::new();
        f.seek(SeekFrom::Start(0))
            .and_then(|_| f.read_to_string(&mut s))
            .map_err(|e| CgroupError::io(events, e))?;
        if keyed(&s, key) == Some(value) {
            return Ok(());
        }
        let left = FREEZE_TIMEOUT.saturating_sub(start.elapsed());
        if left.is_zero() {
            return Err(CgroupError::io(
                events,
                std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("{key} never became {value}"),
                ),
            ));
        }
        let mut fds = [rustix::event::PollFd::new(
            &f,
            rustix::event::PollFlags::PRI,
        )];
        let ts = rustix::event::Timespec {
            tv_sec: left.as_secs() as i64,
            tv_nsec: i64::from(left.subsec_nanos()),
        };
        match rustix::event::poll(&mut fds, Some(&ts)) {
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(CgroupError::io(events, e.into())),
        }
    }
}

/// Thaws the cgroup.
pub(crate) fn thaw(m: &Manager) -> Result<(), CgroupError> {
    let dir = freezer_dir(m)?;
    match m.kind() {
        Hierarchy::V1 => write_file(&dir.join("freezer.state"), "THAWED"),
        Hierarchy::V2 => {
            write_file(&dir.join("cgroup.freeze"), "0")?;
            wait_events(&dir.join("cgroup.events"), "frozen", 0)
        }
    }
}

/// Whether the kernel reports the cgroup frozen.
pub(crate) fn is_frozen(m: &Manager) -> Result<bool, CgroupError> {
    let dir = freezer_dir(m)?;
    Ok(match m.kind() {
        Hierarchy::V1 => read_string(&dir.join("freezer.state"))?.trim() == "FROZEN",
        Hierarchy::V2 => keyed(&read_string(&dir.join("cgroup.events"))?, "frozen") == Some(1),
    })
}

/// Sends `signal` to every process in the cgroup.
pub(crate) fn kill_all(m: &Manager, signal: i32) -> Result<(), CgroupError> {
    if m.kind() == Hierarchy::V2 && signal == libc::SIGKILL {
        let p = m.main_dir().path.join("cgroup.kill");
        match write_raw(&p, "1") {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(CgroupError::io(p, e)),
        }
    }
    let was_frozen = is_frozen(m).unwrap_or(false);
    // Frozen, no process can fork a child that would miss the signal.
    let froze = !was_frozen && freeze(m).is_ok();
    let mut first_err = None;
    for pid in m.pids()? {
        // SAFETY: kill(2) with a pid read from cgroup.procs; no memory is
        // involved. A pid that exited meanwhile gives ESRCH, ignored.
        if unsafe { libc::kill(pid, signal) } != 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::ESRCH) {
                first_err.get_or_insert(CgroupError::io(format!("/proc/{pid}"), e));
            }
        }
    }
    if froze || (was_frozen && signal == libc::SIGKILL) {
        thaw(m)?;
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
