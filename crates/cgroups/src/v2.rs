//! cgroup v2: one directory in the unified hierarchy.
//!
//! Conversions follow runc: `cpu.shares` → `cpu.weight` (1024 → 100),
//! a negative `cpu.quota` → `max`, blkio weights →
//! `io.weight` (or the raw value into `io.bfq.weight`), and `memory.swap`
//! (memory+swap, as on v1) → `memory.swap.max` = swap − limit.
//!
//! Ignored with a warning: `memory.kernel`, `memory.kernelTCP`,
//! `memory.swappiness`, `memory.useHierarchy`, `blockIO.leafWeight`
//! (cgroup v2 has no such knobs). Refused with an error naming the field:
//! realtime cpu fields, `network`, `memory.disableOOMKiller`.

use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxRdma, LinuxResources};

use super::fsutil::{mkdir_all, write_field, write_raw};
use super::{CgroupDir, CgroupError, devices};

const R: &str = "linux.resources";

/// Makes the directory and enables every available controller in the
/// `cgroup.subtree_control` of each ancestor, so the leaf gets their files.
pub(crate) fn create(d: &CgroupDir, created: &mut Vec<PathBuf>) -> Result<(), CgroupError> {
    let mut made = Vec::new();
    let res = mkdir_all(&d.path, &mut made);
    created.extend(made.into_iter().filter(|p| p != &d.path));
    res?;
    let Ok(rel) = d.path.strip_prefix(&d.mountpoint) else {
        return Ok(());
    };
    let comps: Vec<_> = rel.components().collect();
    let mut dir = d.mountpoint.clone();
    for (i, c) in comps.iter().enumerate() {
        let parent_of_leaf = i + 1 == comps.len();
        enable_controllers(&dir, parent_of_leaf);
        if !parent_of_leaf {
            dir.push(c);
        }
    }
    Ok(())
}

/// Enables in `dir`'s subtree_control the controllers it has but does not
/// yet pass down. A refusal (a cgroup with processes of its own, a
/// controller the parent withholds) is left for `apply` to report through
/// the missing file.
///
/// With `sync` (the leaf's parent) the write happens even when every
/// controller already shows as enabled: a concurrent enable by another
/// container's create sets the mask before it populates the children's
/// files, and our write, serialised behind it by the kernel, returns only
/// once those files exist.
fn enable_controllers(dir: &Path, sync: bool) {
    let Ok(avail) = std::fs::read_to_string(dir.join("cgroup.controllers")) else {
        return;
    };
    let on = std::fs::read_to_string(dir.join("cgroup.subtree_control")).unwrap_or_default();
    let on: Vec<&str> = on.split_whitespace().collect();
    let missing: Vec<String> = avail
        .split_whitespace()
        .filter(|c| sync || !on.contains(c))
        .map(|c| format!("+{c}"))
        .collect();
    if missing.is_empty() {
        return;
    }
    let ctl = dir.join("cgroup.subtree_control");
    if write_raw(&ctl, &missing.join(" ")).is_err() {
        for m in &missing {
            if let Err(e) = write_raw(&ctl, m) {
                tracing::debug!("cannot enable {m} in {}: {e}", ctl.display());
            }
        }
    }
}

fn put(dir: &Path, file: &str, value: &str, field: &str) -> Result<(), CgroupError> {
    let p = dir.join(file);
    if !p.exists() {
        return Err(CgroupError::unsupported(
            field,
            format!(
                "no {file} in {} (controller not available for this cgroup)",
                dir.display()
            ),
        ));
    }
    write_field(&p, value, field)
}

/// cpu.shares (2..262144) → cpu.weight (1..10000) with the mapping runc
/// (since 1.3) and crun use: quadratic in log2(shares), so the v1 default
/// 1024 becomes the v2 default 100 and the ends stay 1 and 10000.
pub fn shares_to_weight(shares: u64) -> u64 {
    match shares {
        0 => 0,
        1..=2 => 1,
        262_144.. => 10_000,
        _ => {
            let l = (shares as f64).log2();
            let exponent = (l * l + 125.0 * l) / 612.0 - 7.0 / 34.0;
            (10f64.powf(exponent).ceil() as u64).clamp(1, 10_000)
        }
    }
}

/// runc's blkio weight (10..1000) → io.weight (1..10000).
pub fn blkio_weight_to_io(w: u16) -> u64 {
    if w == 0 {
        return 0;
    }
    1 + (u64::from(w).saturating_sub(10) * 9999) / 990
}

/// The `memory.swap.max` value for a memory+swap `swap` and a `limit`
/// (both from config.json): "max" for -1, else swap − limit.
pub fn swap_max(swap: i64, limit: i64) -> String {
    if swap == -1 {
        "max".into()
    } else {
        (swap - limit).max(0).to_string()
    }
}

pub(crate) fn rdma_line(dev: &str, l: &LinuxRdma) -> String {
    let mut s = dev.to_string();
    if let Some(h) = l.hca_handles() {
        s.push_str(&format!(" hca_handle={h}"));
    }
    if let Some(o) = l.hca_objects() {
        s.push_str(&format!(" hca_object={o}"));
    }
    s
}

fn limit_str(v: i64) -> String {
    if v < 0 { "max".into() } else { v.to_string() }
}

/// Writes the limits of `r` (already validated).
pub(crate) fn apply(d: &CgroupDir, r: &LinuxResources) -> Result<(), CgroupError> {
    let dir = d.path.as_path();
    if let Some(m) = r.memory() {
        memory(dir, m)?;
    }
    if let Some(c) = r.cpu() {
        cpu(dir, c)?;
    }
    if let Some(p) = r.pids()
        && p.limit() != 0
    {
        put(
            dir,
            "pids.max",
            &limit_str(p.limit()),
            &format!("{R}.pids.limit"),
        )?;
    }
    if let Some(b) = r.block_io() {
        io(dir, b)?;
    }
    for (i, h) in r.hugepage_limits().iter().flatten().enumerate() {
        let f = format!("{R}.hugepageLimits[{i}]");
        put(
            dir,
            &format!("hugetlb.{}.max", h.page_size()),
            &h.limit().to_string(),
            &f,
        )?;
    }
    if let Some(n) = r.network() {
        if n.class_id().is_some() {
            return Err(CgroupError::unsupported(
                format!("{R}.network.classID"),
                "net_cls does not exist on cgroup v2",
            ));
        }
        if n.priorities().as_ref().is_some_and(|p| !p.is_empty()) {
            return Err(CgroupError::unsupported(
                format!("{R}.network.priorities"),
                "net_prio does not exist on cgroup v2",
            ));
        }
    }
    for (dev, l) in r.rdma().iter().flatten() {
        put(
            dir,
            "rdma.max",
            &rdma_line(dev, l),
            &format!("{R}.rdma.{dev}"),
        )?;
    }
    if let Some(u) = r.unified() {
        let mut keys: Vec<_> = u.keys().collect();
        keys.sort();
        for k in keys {
            put(dir, k, &u[k], &format!("{R}.unified.{k}"))?;
        }
    }
    if let Some(rules) = r.devices()
        && !rules.is_empty()
    {
        devices::apply_v2(dir, rules)?;
    }
    Ok(())
}

fn memory(dir: &Path, m: &oci_spec::runtime::LinuxMemory) -> Result<(), CgroupError> {
    for (name, set) in [
        ("kernel", m.kernel().is_some()),
        ("kernelTCP", m.kernel_tcp().is_some()),
        ("swappiness", m.swappiness().is_some()),
        ("useHierarchy", m.use_hierarchy().is_some()),
    ] {
        if set {
            tracing::warn!("{R}.memory.{name} is ignored on cgroup v2");
        }
    }
    if m.disable_oom_killer() == Some(true) {
        return Err(CgroupError::unsupported(
            format!("{R}.memory.disableOOMKiller"),
            "the OOM killer cannot be disabled on cgroup v2",
        ));
    }
    let limit = m.limit().unwrap_or(0);
    if limit != 0 {
        put(
            dir,
            "memory.max",
            &limit_str(limit),
            &format!("{R}.memory.limit"),
        )?;
    }
    if let Some(v) = m.reservation().filter(|v| *v != 0) {
        put(
            dir,
            "memory.low",
            &limit_str(v),
            &format!("{R}.memory.reservation"),
        )?;
    }
    if let Some(swap) = m.swap().filter(|v| *v != 0) {
        let f = format!("{R}.memory.swap");
        let p = dir.join("memory.swap.max");
        if !p.exists() {
            if swap == -1 {
                return Ok(());
            }
            return Err(CgroupError::unsupported(
                f,
                "swap accounting is off (no memory.swap.max)",
            ));
        }
        write_field(&p, &swap_max(swap, limit), &f)?;
    }
    Ok(())
}

fn cpu(dir: &Path, c: &oci_spec::runtime::LinuxCpu) -> Result<(), CgroupError> {
    if c.realtime_runtime().is_some_and(|v| v != 0) {
        return Err(CgroupError::unsupported(
            format!("{R}.cpu.realtimeRuntime"),
            "realtime scheduling limits do not exist on cgroup v2",
        ));
    }
    if c.realtime_period().is_some_and(|v| v != 0) {
        return Err(CgroupError::unsupported(
            format!("{R}.cpu.realtimePeriod"),
            "realtime scheduling limits do not exist on cgroup v2",
        ));
    }
    if let Some(s) = c.shares().filter(|v| *v != 0) {
        put(
            dir,
            "cpu.weight",
            &shares_to_weight(s).to_string(),
            &format!("{R}.cpu.shares"),
        )?;
    }
    let quota = c.quota().unwrap_or(0);
    let period = c.period().unwrap_or(0);
    if quota != 0 || period != 0 {
        let mut v = if quota > 0 {
            quota.to_string()
        } else {
            "max".into()
        };
        if period != 0 {
            v.push_str(&format!(" {period}"));
        }
        let f = if quota != 0 { "quota" } else { "period" };
        put(dir, "cpu.max", &v, &format!("{R}.cpu.{f}"))?;
    }
    if let Some(b) = c.burst() {
        put(
            dir,
            "cpu.max.burst",
            &b.to_string(),
            &format!("{R}.cpu.burst"),
        )?;
    }
    if let Some(i) = c.idle() {
        put(dir, "cpu.idle", &i.to_string(), &format!("{R}.cpu.idle"))?;
    }
    if let Some(s) = c.cpus().as_deref().filter(|s| !s.trim().is_empty()) {
        put(dir, "cpuset.cpus", s.trim(), &format!("{R}.cpu.cpus"))?;
    }
    if let Some(s) = c.mems().as_deref().filter(|s| !s.trim().is_empty()) {
        put(dir, "cpuset.mems", s.trim(), &format!("{R}.cpu.mems"))?;
    }
    Ok(())
}

fn io(dir: &Path, b: &oci_spec::runtime::LinuxBlockIo) -> Result<(), CgroupError> {
    if b.leaf_weight().is_some_and(|v| v != 0) {
        tracing::warn!("{R}.blockIO.leafWeight is ignored on cgroup v2");
    }
    let bfq = dir.join("io.bfq.weight").exists();
    if let Some(w) = b.weight().filter(|v| *v != 0) {
        let f = format!("{R}.blockIO.weight");
        if bfq {
            put(dir, "io.bfq.weight", &w.to_string(), &f)?;
        } else {
            put(
                dir,
                "io.weight",
                &format!("default {}", blkio_weight_to_io(w)),
                &f,
            )?;
        }
    }
    for (i, d) in b.weight_device().iter().flatten().enumerate() {
        let f = format!("{R}.blockIO.weightDevice[{i}]");
        if let Some(w) = d.weight().filter(|v| *v != 0) {
            if bfq {
                put(
                    dir,
                    "io.bfq.weight",
                    &format!("{}:{} {w}", d.major(), d.minor()),
                    &f,
                )?;
            } else {
                let v = format!("{}:{} {}", d.major(), d.minor(), blkio_weight_to_io(w));
                put(dir, "io.weight", &v, &f)?;
            }
        }
    }
    let throttles = [
        (
            "throttleReadBpsDevice",
            "rbps",
            b.throttle_read_bps_device(),
        ),
        (
            "throttleWriteBpsDevice",
            "wbps",
            b.throttle_write_bps_device(),
        ),
        (
            "throttleReadIOPSDevice",
            "riops",
            b.throttle_read_iops_device(),
        ),
        (
            "throttleWriteIOPSDevice",
            "wiops",
            b.throttle_write_iops_device(),
        ),
    ];
    for (name, key, list) in throttles {
        for (i, d) in list.iter().flatten().enumerate() {
            let f = format!("{R}.blockIO.{name}[{i}]");
            let v = format!("{}:{} {key}={}", d.major(), d.minor(), d.rate());
            put(dir, "io.max", &v, &f)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_match_runc() {
        assert_eq!(shares_to_weight(0), 0);
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(512), 59);
        assert_eq!(shares_to_weight(1024), 100);
        assert_eq!(shares_to_weight(22_000), 1204);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(blkio_weight_to_io(10), 1);
        assert_eq!(blkio_weight_to_io(500), 4950);
        assert_eq!(blkio_weight_to_io(1000), 10_000);
        assert_eq!(swap_max(-1, 100), "max");
        assert_eq!(swap_max(300, 100), "200");
        assert_eq!(swap_max(100, 100), "0");
    }
}
