//! Resource usage from cgroups (v1 and v2) and /proc: `stats` and `top`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One sample of a container's usage.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Sample {
    /// Total CPU time used, nanoseconds.
    pub cpu_ns: u64,
    /// Memory in use (without the page cache's inactive files), bytes.
    pub mem_usage: u64,
    /// Memory limit (the host's memory when unlimited), bytes.
    pub mem_limit: u64,
    /// Bytes received on non-loopback interfaces.
    pub net_rx: u64,
    /// Bytes sent on non-loopback interfaces.
    pub net_tx: u64,
    /// Bytes read from block devices.
    pub blk_read: u64,
    /// Bytes written to block devices.
    pub blk_write: u64,
    /// Tasks in the cgroup.
    pub pids: u64,
}

/// The container's cgroup directories: controller → host dir. On v2 the
/// single unified dir is under the key "".
pub fn cgroup_dirs(pid: i32) -> BTreeMap<String, PathBuf> {
    let mut out = BTreeMap::new();
    let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/cgroup")) else {
        return out;
    };
    let v2 = crate::spec::cgroup_v2();
    for line in text.lines() {
        let mut f = line.splitn(3, ':');
        let (_, ctrls, path) = (f.next(), f.next().unwrap_or(""), f.next().unwrap_or(""));
        let rel = path.trim_start_matches('/');
        if ctrls.is_empty() {
            if v2 {
                out.insert(String::new(), Path::new("/sys/fs/cgroup").join(rel));
            }
            continue;
        }
        for c in ctrls.split(',') {
            let mount = if ctrls.contains("name=") {
                continue;
            } else {
                Path::new("/sys/fs/cgroup").join(ctrls)
            };
            out.insert(c.to_string(), mount.join(rel));
        }
    }
    out
}

fn read_u64(p: &Path) -> Option<u64> {
    let t = std::fs::read_to_string(p).ok()?;
    let t = t.trim();
    if t == "max" {
        Some(u64::MAX)
    } else {
        t.parse().ok()
    }
}

fn keyed(p: &Path, key: &str) -> Option<u64> {
    std::fs::read_to_string(p).ok()?.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// Host memory in bytes.
pub fn host_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// Samples the usage of the container whose init is `pid`.
pub fn sample(pid: i32) -> Sample {
    let d = cgroup_dirs(pid);
    let mut s = Sample::default();
    let host = host_memory();
    if let Some(u) = d.get("") {
        s.cpu_ns = keyed(&u.join("cpu.stat"), "usage_usec").unwrap_or(0) * 1000;
        let cur = read_u64(&u.join("memory.current")).unwrap_or(0);
        let inactive = keyed(&u.join("memory.stat"), "inactive_file").unwrap_or(0);
        s.mem_usage = cur.saturating_sub(inactive);
        s.mem_limit = read_u64(&u.join("memory.max"))
            .unwrap_or(u64::MAX)
            .min(host);
        s.pids = read_u64(&u.join("pids.current")).unwrap_or(0);
        if let Ok(t) = std::fs::read_to_string(u.join("io.stat")) {
            for w in t.split_whitespace() {
                if let Some(v) = w.strip_prefix("rbytes=") {
                    s.blk_read += v.parse().unwrap_or(0);
                } else if let Some(v) = w.strip_prefix("wbytes=") {
                    s.blk_write += v.parse().unwrap_or(0);
                }
            }
        }
    } else {
        if let Some(c) = d.get("cpuacct") {
            s.cpu_ns = read_u64(&c.join("cpuacct.usage")).unwrap_or(0);
        }
        if let Some(m) = d.get("memory") {
            let cur = read_u64(&m.join("memory.usage_in_bytes")).unwrap_or(0);
            let inactive = keyed(&m.join("memory.stat"), "total_inactive_file").unwrap_or(0);
            s.mem_usage = cur.saturating_sub(inactive);
            s.mem_limit = read_u64(&m.join("memory.limit_in_bytes"))
                .unwrap_or(u64::MAX)
                .min(host);
        }
        if let Some(p) = d.get("pids") {
            s.pids = read_u64(&p.join("pids.current")).unwrap_or(0);
        }
        if let Some(b) = d.get("blkio")
            && let Ok(t) = std::fs::read_to_string(b.join("blkio.throttle.io_service_bytes"))
        {
            for l in t.lines() {
                let f: Vec<&str> = l.split_whitespace().collect();
                if f.len() == 3 {
                    match f[1] {
                        "Read" => s.blk_read += f[2].parse().unwrap_or(0),
                        "Write" => s.blk_write += f[2].parse().unwrap_or(0),
                        _ => {}
                    }
                }
            }
        }
    }
    if let Ok(t) = std::fs::read_to_string(format!("/proc/{pid}/net/dev")) {
        for l in t.lines().skip(2) {
            let Some((ifc, rest)) = l.split_once(':') else {
                continue;
            };
            if ifc.trim() == "lo" {
                continue;
            }
            let f: Vec<u64> = rest
                .split_whitespace()
                .map(|x| x.parse().unwrap_or(0))
                .collect();
            if f.len() > 8 {
                s.net_rx += f[0];
                s.net_tx += f[8];
            }
        }
    }
    s
}

/// A process of a container, for `top` and `explain`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Proc {
    /// Host pid.
    pub pid: i32,
    /// Parent's host pid.
    pub ppid: i32,
    /// Real uid.
    pub uid: u32,
    /// Command line (or comm in brackets).
    pub cmd: String,
    /// CPU time (user+system), clock ticks.
    pub ticks: u64,
    /// Start time after boot, clock ticks.
    pub start: u64,
}

/// Reads one /proc/PID entry.
pub fn proc_info(pid: i32) -> Option<Proc> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let close = stat.rfind(')')?;
    let comm = stat[stat.find('(')? + 1..close].to_string();
    let f: Vec<&str> = stat[close + 2..].split_whitespace().collect();
    let ppid = f.get(1)?.parse().ok()?;
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    let start = f.get(19)?.parse().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let uid = status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0);
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let cmd = cmdline
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    Some(Proc {
        pid,
        ppid,
        uid,
        cmd: if cmd.is_empty() {
            format!("[{comm}]")
        } else {
            cmd
        },
        ticks,
        start,
    })
}

/// Every process in the same pid namespace as `init`, init first.
pub fn processes(init: i32) -> Vec<Proc> {
    let ns = |p: i32| std::fs::read_link(format!("/proc/{p}/ns/pid")).ok();
    let Some(want) = ns(init) else {
        return Vec::new();
    };
    let mut out: Vec<Proc> = std::fs::read_dir("/proc")
        .map(|rd| {
            rd.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
                .filter(|p| ns(*p).as_ref() == Some(&want))
                .filter_map(proc_info)
                .collect()
        })
        .unwrap_or_default();
    out.sort_by_key(|p| (p.pid != init, p.pid));
    out
}
