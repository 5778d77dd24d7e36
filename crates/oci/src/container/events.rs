//! `events`: a container's usage numbers and OOM notifications as runc
//! prints them, one JSON object per line:
//! `{"type":"stats","id":ID,"data":{"cpu":..,"memory":..,"pids":..,"blkio":..}}`
//! every interval and `{"type":"oom","id":ID}` when the OOM killer ran.
//!
//! Nothing polls: one poll(2) waits on the cgroup's OOM notifier (v1
//! `memory.oom_control` eventfd, v2 `memory.events` inotify), a pidfd of
//! the init (the stream ends when the container stops) and the timeout
//! until the next stats tick. A notification becomes an `oom` event only
//! when the kernel's OOM counters went up (v2 also signals other memory
//! events; v1 signals the cgroup's removal).

use std::path::Path;
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use serde_json::{Value, json};

use super::pidfd_if_same;
use crate::cgroups::{Manager, Stats};
use crate::error::{Context, OciError, Result};
use crate::state::{ContainerState, Status};

/// runc's `stats` data object from caixa's [`Stats`] (limits that are
/// unlimited read as 0, as runc prints them).
pub fn stats_data(s: &Stats) -> Value {
    json!({
        "cpu": {
            "usage": {
                "total": s.cpu_usage_ns,
                "kernel": s.cpu_system_ns,
                "user": s.cpu_user_ns,
            },
            "throttling": {
                "throttledPeriods": s.cpu_throttled_periods,
                "throttledTime": s.cpu_throttled_ns,
            },
        },
        "memory": {
            "cache": s.memory_cache,
            "usage": {
                "usage": s.memory_usage,
                "max": s.memory_max_usage.unwrap_or(0),
                "limit": s.memory_limit.unwrap_or(0),
            },
            "swap": { "usage": s.memory_swap_usage },
            "oomKills": s.oom_kill_count,
        },
        "pids": {
            "current": s.pids_current,
            "limit": s.pids_limit.unwrap_or(0),
        },
        "blkio": {
            "ioServiceBytesRecursive": [
                { "op": "Read", "value": s.blkio_read_bytes },
                { "op": "Write", "value": s.blkio_write_bytes },
            ],
        },
    })
}

fn live(root: &Path, id: &str) -> Result<(ContainerState, Manager)> {
    let st = ContainerState::load(root, id)?;
    let status = st.status(root);
    if matches!(status, Status::Stopped | Status::Creating) {
        return Err(OciError::container(id, format!("is {status}, no events")));
    }
    let cg = super::cgroup_of(&st)?;
    Ok((st, cg))
}

/// One `stats` event for container `id`.
pub fn stats_event(root: &Path, id: &str) -> Result<Value> {
    let (_, cg) = live(root, id)?;
    Ok(json!({ "type": "stats", "id": id, "data": stats_data(&cg.stats()?) }))
}

fn oom_counter(cg: &Manager) -> u64 {
    cg.stats()
        .map(|s| s.oom_events.max(s.oom_kill_count))
        .unwrap_or(0)
}

/// Streams events of container `id` to `emit` until the container stops
/// (or `emit` fails, e.g. a closed pipe): `stats` every `interval`, `oom`
/// whenever the OOM killer runs in its cgroup.
pub fn stream(
    root: &Path,
    id: &str,
    interval: Duration,
    emit: &mut dyn FnMut(&Value) -> std::io::Result<()>,
) -> Result<()> {
    let (st, cg) = live(root, id)?;
    // Without a memory controller there are no OOM events to wait for.
    let oom = cg.oom_notifier().ok();
    let pidfd = pidfd_if_same(st.pid, st.start_time)
        .ok_or_else(|| OciError::container(id, "is not running"))?;
    let mut ooms = oom_counter(&cg);
    let interval = interval.max(Duration::from_millis(1));
    let mut next = Instant::now() + interval;
    let emit_err = |e: std::io::Error| OciError::Sys {
        what: format!("events {id}: write"),
        source: e,
    };
    loop {
        let left = next.saturating_duration_since(Instant::now());
        let ts = Timespec {
            tv_sec: left.as_secs() as i64,
            tv_nsec: i64::from(left.subsec_nanos()),
        };
        let mut fds = vec![PollFd::new(&pidfd, PollFlags::IN)];
        if let Some(o) = &oom {
            fds.push(PollFd::new(o, PollFlags::IN));
        }
        match poll(&mut fds, Some(&ts)) {
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => {
                return Err(std::io::Error::from(e)).ctx(|| format!("events {id}: poll"));
            }
        }
        let exited = !fds[0].revents().is_empty();
        let notified = fds.get(1).is_some_and(|f| !f.revents().is_empty());
        drop(fds);
        if notified && let Some(o) = &oom {
            o.wait(Some(Duration::ZERO))?;
        }
        if notified || exited {
            let now = oom_counter(&cg);
            if now > ooms {
                emit(&json!({ "type": "oom", "id": id })).map_err(emit_err)?;
            }
            ooms = ooms.max(now);
        }
        if exited {
            return Ok(());
        }
        if Instant::now() >= next {
            if let Ok(s) = cg.stats() {
                emit(&json!({ "type": "stats", "id": id, "data": stats_data(&s) }))
                    .map_err(emit_err)?;
            }
            next += interval;
            let now = Instant::now();
            if next < now {
                next = now + interval;
            }
        }
    }
}
