//! Usage numbers of a cgroup, read from the v1 or v2 files into one plain
//! struct (for `caixa stats`, `events --stats`, `caixa explain`).

use std::path::Path;

use serde::Serialize;

use super::fsutil::{keyed, read_string, read_u64};
use super::{CgroupError, Hierarchy, Manager};

/// What the kernel reports a cgroup used. A counter the host does not
/// have reads as 0 (or `None` for a limit).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// CPU time used, in nanoseconds.
    pub cpu_usage_ns: u64,
    /// CPU time in user mode, in nanoseconds.
    pub cpu_user_ns: u64,
    /// CPU time in kernel mode, in nanoseconds.
    pub cpu_system_ns: u64,
    /// Memory in use, in bytes (v1 `memory.usage_in_bytes`, v2
    /// `memory.current`).
    pub memory_usage: u64,
    /// Swap in use, in bytes (v1 memsw usage minus memory usage, v2
    /// `memory.swap.current`); 0 without swap accounting.
    pub memory_swap_usage: u64,
    /// CFS periods in which the cgroup was throttled by its cpu quota.
    pub cpu_throttled_periods: u64,
    /// Total time throttled, in nanoseconds.
    pub cpu_throttled_ns: u64,
    /// The memory limit; `None` when unlimited.
    pub memory_limit: Option<u64>,
    /// The highest usage seen (v1 `max_usage_in_bytes`, v2 `memory.peak`
    /// where the kernel has it).
    pub memory_max_usage: Option<u64>,
    /// Page cache, in bytes (v1 `cache`, v2 `file`).
    pub memory_cache: u64,
    /// Processes killed by the OOM killer in this cgroup.
    pub oom_kill_count: u64,
    /// Times the cgroup hit its limit and the OOM killer ran (v2 `oom`
    /// event; v1 `under_oom` is a state, so this equals the kill count).
    pub oom_events: u64,
    /// Processes (tasks) now in the cgroup.
    pub pids_current: u64,
    /// The pids limit; `None` when unlimited.
    pub pids_limit: Option<u64>,
    /// Bytes read from block devices.
    pub blkio_read_bytes: u64,
    /// Bytes written to block devices.
    pub blkio_write_bytes: u64,
}

/// v1 reports "unlimited" as a huge page-aligned number.
fn v1_limit(v: Option<u64>) -> Option<u64> {
    v.filter(|v| *v < (i64::MAX as u64) & !0xfff)
}

fn opt_read(p: &Path) -> Option<String> {
    std::fs::read_to_string(p).ok()
}

/// Reads every counter the host has.
pub(crate) fn read(m: &Manager) -> Result<Stats, CgroupError> {
    let mut s = Stats::default();
    match m.kind() {
        Hierarchy::V1 => read_v1(m, &mut s)?,
        Hierarchy::V2 => read_v2(&m.main_dir().path, &mut s)?,
    }
    Ok(s)
}

fn read_v1(m: &Manager, s: &mut Stats) -> Result<(), CgroupError> {
    if let Some(d) = m.dir_for("cpuacct") {
        s.cpu_usage_ns = read_u64(&d.path.join("cpuacct.usage"))?.unwrap_or(0);
        if let Some(stat) = opt_read(&d.path.join("cpuacct.stat")) {
            // USER_HZ ticks.
            // SAFETY: sysconf has no memory effects.
            let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
            let tick = 1_000_000_000 / hz;
            s.cpu_user_ns = keyed(&stat, "user").unwrap_or(0) * tick;
            s.cpu_system_ns = keyed(&stat, "system").unwrap_or(0) * tick;
        }
    }
    if let Some(d) = m.dir_for("cpu")
        && let Some(stat) = opt_read(&d.path.join("cpu.stat"))
    {
        s.cpu_throttled_periods = keyed(&stat, "nr_throttled").unwrap_or(0);
        s.cpu_throttled_ns = keyed(&stat, "throttled_time").unwrap_or(0);
    }
    if let Some(d) = m.dir_for("memory") {
        let p = &d.path;
        s.memory_usage = read_u64(&p.join("memory.usage_in_bytes"))?.unwrap_or(0);
        if let Ok(Some(memsw)) = read_u64(&p.join("memory.memsw.usage_in_bytes")) {
            s.memory_swap_usage = memsw.saturating_sub(s.memory_usage);
        }
        s.memory_limit = v1_limit(read_u64(&p.join("memory.limit_in_bytes"))?);
        s.memory_max_usage = read_u64(&p.join("memory.max_usage_in_bytes"))
            .ok()
            .flatten();
        if let Some(stat) = opt_read(&p.join("memory.stat")) {
            s.memory_cache = keyed(&stat, "total_cache")
                .or(keyed(&stat, "cache"))
                .unwrap_or(0);
        }
        s.oom_kill_count = v1_oom_kills(p)?;
        s.oom_events = s.oom_kill_count;
    }
    if let Some(d) = m.dir_for("pids") {
        s.pids_current = read_u64(&d.path.join("pids.current"))?.unwrap_or(0);
        s.pids_limit = read_u64(&d.path.join("pids.max"))?;
    }
    if let Some(d) = m.dir_for("blkio") {
        let file = d.path.join("blkio.throttle.io_service_bytes_recursive");
        if let Some(c) = opt_read(&file) {
            for l in c.lines() {
                let f: Vec<&str> = l.split_whitespace().collect();
                if f.len() == 3 {
                    let v = f[2].parse::<u64>().unwrap_or(0);
                    match f[1] {
                        "Read" => s.blkio_read_bytes += v,
                        "Write" => s.blkio_write_bytes += v,
                        _ => {}
                    }
                }
            }
        }
    }
    Ok(())
}

fn v1_oom_kills(dir: &Path) -> Result<u64, CgroupError> {
    Ok(keyed(&read_string(&dir.join("memory.oom_control"))?, "oom_kill").unwrap_or(0))
}

fn read_v2(dir: &Path, s: &mut Stats) -> Result<(), CgroupError> {
    if let Some(c) = opt_read(&dir.join("cpu.stat")) {
        s.cpu_usage_ns = keyed(&c, "usage_usec").unwrap_or(0) * 1000;
        s.cpu_user_ns = keyed(&c, "user_usec").unwrap_or(0) * 1000;
        s.cpu_system_ns = keyed(&c, "system_usec").unwrap_or(0) * 1000;
        s.cpu_throttled_periods = keyed(&c, "nr_throttled").unwrap_or(0);
        s.cpu_throttled_ns = keyed(&c, "throttled_usec").unwrap_or(0) * 1000;
    }
    if dir.join("memory.current").exists() {
        s.memory_usage = read_u64(&dir.join("memory.current"))?.unwrap_or(0);
        s.memory_limit = read_u64(&dir.join("memory.max"))?;
        s.memory_max_usage = read_u64(&dir.join("memory.peak")).ok().flatten();
        s.memory_swap_usage = read_u64(&dir.join("memory.swap.current"))
            .ok()
            .flatten()
            .unwrap_or(0);
        if let Some(stat) = opt_read(&dir.join("memory.stat")) {
            s.memory_cache = keyed(&stat, "file").unwrap_or(0);
        }
        if let Some(ev) = opt_read(&dir.join("memory.events")) {
            s.oom_kill_count = keyed(&ev, "oom_kill").unwrap_or(0);
            s.oom_events = keyed(&ev, "oom").unwrap_or(0);
        }
    }
    if dir.join("pids.current").exists() {
        s.pids_current = read_u64(&dir.join("pids.current"))?.unwrap_or(0);
        s.pids_limit = read_u64(&dir.join("pids.max"))?;
    }
    if let Some(io) = opt_read(&dir.join("io.stat")) {
        for l in io.lines() {
            for kv in l.split_whitespace().skip(1) {
                if let Some((k, v)) = kv.split_once('=') {
                    let v = v.parse::<u64>().unwrap_or(0);
                    match k {
                        "rbytes" => s.blkio_read_bytes += v,
                        "wbytes" => s.blkio_write_bytes += v,
                        _ => {}
                    }
                }
            }
        }
    }
    Ok(())
}

/// OOM kills in the cgroup.
pub(crate) fn oom_kill_count(m: &Manager) -> Result<u64, CgroupError> {
    match m.kind() {
        Hierarchy::V1 => match m.dir_for("memory") {
            Some(d) => v1_oom_kills(&d.path),
            None => Ok(0),
        },
        Hierarchy::V2 => {
            let p = m.main_dir().path.join("memory.events");
            Ok(keyed(&read_string(&p)?, "oom_kill").unwrap_or(0))
        }
    }
}
