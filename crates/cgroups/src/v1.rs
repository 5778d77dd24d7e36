//! cgroup v1: one directory per mounted hierarchy.
//!
//! Ignored with a warning (as runc does on current kernels):
//! `memory.kernel` (kernel memory accounting is deprecated),
//! `memory.useHierarchy` and `memory.checkBeforeUpdate`.

use std::path::Path;

use oci_spec::runtime::LinuxResources;

use super::fsutil::{mkdir_all, read_string, write_field, write_raw};
use super::{CgroupDir, CgroupError, devices};

const R: &str = "linux.resources";

/// Makes every hierarchy's directory; fills empty cpuset.cpus/mems from
/// the parent (a v1 cpuset cgroup accepts no task while they are empty).
/// Pushes the parent directories it made to `created`.
pub(crate) fn create(
    dirs: &[CgroupDir],
    created: &mut Vec<std::path::PathBuf>,
) -> Result<(), CgroupError> {
    for d in dirs {
        let mut made = Vec::new();
        let res = mkdir_all(&d.path, &mut made);
        created.extend(made.into_iter().filter(|p| p != &d.path));
        res?;
        if d.has("cpuset") {
            cpuset_copy_down(d)?;
        }
    }
    Ok(())
}

fn cpuset_copy_down(d: &CgroupDir) -> Result<(), CgroupError> {
    let Ok(rel) = d.path.strip_prefix(&d.mountpoint) else {
        return Ok(());
    };
    let mut parent = d.mountpoint.clone();
    for c in rel.components() {
        let dir = parent.join(c);
        for file in ["cpuset.cpus", "cpuset.mems"] {
            let own = read_string(&dir.join(file))?;
            if own.trim().is_empty() {
                let from = read_string(&parent.join(file))?;
                let from = from.trim();
                if !from.is_empty() {
                    write_field(&dir.join(file), from, &format!("{R}.cpu.{}", &file[7..]))?;
                }
            }
        }
        parent = dir;
    }
    Ok(())
}

/// The directory of controller `ctrl`, or Unsupported naming `field`.
fn need<'a>(dirs: &'a [CgroupDir], ctrl: &str, field: &str) -> Result<&'a Path, CgroupError> {
    dirs.iter()
        .find(|d| d.has(ctrl))
        .map(|d| d.path.as_path())
        .ok_or_else(|| {
            CgroupError::unsupported(
                field,
                format!("the {ctrl} cgroup controller is not mounted on this host (cgroup v1)"),
            )
        })
}

/// Writes `value` to `dir/file`; a missing file is Unsupported.
fn put(dir: &Path, file: &str, value: &str, field: &str) -> Result<(), CgroupError> {
    let p = dir.join(file);
    if !p.exists() {
        return Err(CgroupError::unsupported(
            field,
            format!("this kernel has no {file} (cgroup v1)"),
        ));
    }
    write_field(&p, value, field)
}

/// Writes the limits of `r` (already validated).
pub(crate) fn apply(dirs: &[CgroupDir], r: &LinuxResources) -> Result<(), CgroupError> {
    if let Some(m) = r.memory() {
        memory(dirs, m)?;
    }
    if let Some(c) = r.cpu() {
        cpu(dirs, c)?;
    }
    if let Some(p) = r.pids()
        && p.limit() != 0
    {
        let f = format!("{R}.pids.limit");
        let v = if p.limit() > 0 {
            p.limit().to_string()
        } else {
            "max".into()
        };
        put(need(dirs, "pids", &f)?, "pids.max", &v, &f)?;
    }
    if let Some(b) = r.block_io() {
        blkio(dirs, b)?;
    }
    if let Some(list) = r.hugepage_limits()
        && !list.is_empty()
    {
        let dir = need(dirs, "hugetlb", &format!("{R}.hugepageLimits"))?;
        for (i, h) in list.iter().enumerate() {
            let f = format!("{R}.hugepageLimits[{i}]");
            let file = format!("hugetlb.{}.limit_in_bytes", h.page_size());
            put(dir, &file, &h.limit().to_string(), &f)?;
            // Reservations (kernel 5.7+) get the same limit, as youki does:
            // otherwise a reserved-but-unfaulted mapping escapes it.
            let rsvd = format!("hugetlb.{}.rsvd.limit_in_bytes", h.page_size());
            if dir.join(&rsvd).exists() {
                put(dir, &rsvd, &h.limit().to_string(), &f)?;
            }
        }
    }
    if let Some(n) = r.network() {
        if let Some(id) = n.class_id() {
            let f = format!("{R}.network.classID");
            put(
                need(dirs, "net_cls", &f)?,
                "net_cls.classid",
                &id.to_string(),
                &f,
            )?;
        }
        if let Some(prios) = n.priorities()
            && !prios.is_empty()
        {
            let f = format!("{R}.network.priorities");
            let dir = need(dirs, "net_prio", &f)?;
            for p in prios {
                put(
                    dir,
                    "net_prio.ifpriomap",
                    &format!("{} {}", p.name(), p.priority()),
                    &f,
                )?;
            }
        }
    }
    if let Some(rdma) = r.rdma()
        && !rdma.is_empty()
    {
        let f = format!("{R}.rdma");
        let dir = need(dirs, "rdma", &f)?;
        for (dev, l) in rdma {
            put(
                dir,
                "rdma.max",
                &super::v2::rdma_line(dev, l),
                &format!("{f}.{dev}"),
            )?;
        }
    }
    if let Some(rules) = r.devices()
        && !rules.is_empty()
    {
        let f = format!("{R}.devices");
        devices::apply_v1(need(dirs, "devices", &f)?, rules)?;
    }
    Ok(())
}

fn memory(dirs: &[CgroupDir], m: &oci_spec::runtime::LinuxMemory) -> Result<(), CgroupError> {
    let limit = m.limit().filter(|v| *v != 0);
    let swap = m.swap().filter(|v| *v != 0);
    let reservation = m.reservation().filter(|v| *v != 0);
    let any = limit.is_some()
        || swap.is_some()
        || reservation.is_some()
        || m.swappiness().is_some()
        || m.kernel_tcp().is_some()
        || m.disable_oom_killer() == Some(true);
    if m.kernel().is_some() {
        tracing::warn!("{R}.memory.kernel is ignored: kernel memory limits are deprecated");
    }
    if !any {
        return Ok(());
    }
    let dir = need(dirs, "memory", &format!("{R}.memory"))?;
    let lf = format!("{R}.memory.limit");
    let sf = format!("{R}.memory.swap");
    let limit_path = dir.join("memory.limit_in_bytes");
    let mut limit_done = false;
    if let Some(swap) = swap {
        let memsw = dir.join("memory.memsw.limit_in_bytes");
        if !memsw.exists() {
            return Err(CgroupError::unsupported(
                sf,
                "swap accounting is off (no memory.memsw.limit_in_bytes; boot with swapaccount=1)",
            ));
        }
        // memory+swap must stay >= memory: raise memsw first, or lower the
        // memory limit first, whichever the current values allow.
        if let Err(e) = write_raw(&memsw, &swap.to_string()) {
            match limit {
                Some(l) if e.raw_os_error() == Some(libc::EINVAL) => {
                    write_field(&limit_path, &l.to_string(), &lf)?;
                    limit_done = true;
                    write_field(&memsw, &swap.to_string(), &sf)?;
                }
                _ => {
                    return Err(CgroupError::Write {
                        field: sf,
                        path: memsw,
                        value: swap.to_string(),
                        source: e,
                    });
                }
            }
        }
    }
    if let Some(l) = limit
        && !limit_done
    {
        write_field(&limit_path, &l.to_string(), &lf)?;
    }
    if let Some(v) = reservation {
        put(
            dir,
            "memory.soft_limit_in_bytes",
            &v.to_string(),
            &format!("{R}.memory.reservation"),
        )?;
    }
    if let Some(v) = m.swappiness() {
        put(
            dir,
            "memory.swappiness",
            &v.to_string(),
            &format!("{R}.memory.swappiness"),
        )?;
    }
    if let Some(v) = m.kernel_tcp() {
        put(
            dir,
            "memory.kmem.tcp.limit_in_bytes",
            &v.to_string(),
            &format!("{R}.memory.kernelTCP"),
        )?;
    }
    if m.disable_oom_killer() == Some(true) {
        put(
            dir,
            "memory.oom_control",
            "1",
            &format!("{R}.memory.disableOOMKiller"),
        )?;
    }
    Ok(())
}

fn cpu(dirs: &[CgroupDir], c: &oci_spec::runtime::LinuxCpu) -> Result<(), CgroupError> {
    let shares = c.shares().filter(|v| *v != 0);
    let period = c.period().filter(|v| *v != 0);
    let quota = c.quota().filter(|v| *v != 0);
    let rt_period = c.realtime_period().filter(|v| *v != 0);
    let rt_runtime = c.realtime_runtime().filter(|v| *v != 0);
    let cpu_any = shares.is_some()
        || period.is_some()
        || quota.is_some()
        || rt_period.is_some()
        || rt_runtime.is_some()
        || c.burst().is_some()
        || c.idle().is_some();
    if cpu_any {
        let dir = need(dirs, "cpu", &format!("{R}.cpu"))?;
        if let Some(v) = shares {
            put(
                dir,
                "cpu.shares",
                &v.to_string(),
                &format!("{R}.cpu.shares"),
            )?;
        }
        if let Some(v) = period {
            put(
                dir,
                "cpu.cfs_period_us",
                &v.to_string(),
                &format!("{R}.cpu.period"),
            )?;
        }
        if let Some(v) = quota {
            // Any negative quota means "no limit", which v1 spells -1.
            let v = v.max(-1);
            put(
                dir,
                "cpu.cfs_quota_us",
                &v.to_string(),
                &format!("{R}.cpu.quota"),
            )?;
        }
        if let Some(v) = c.burst() {
            put(
                dir,
                "cpu.cfs_burst_us",
                &v.to_string(),
                &format!("{R}.cpu.burst"),
            )?;
        }
        if let Some(v) = rt_period {
            put(
                dir,
                "cpu.rt_period_us",
                &v.to_string(),
                &format!("{R}.cpu.realtimePeriod"),
            )?;
        }
        if let Some(v) = rt_runtime {
            put(
                dir,
                "cpu.rt_runtime_us",
                &v.to_string(),
                &format!("{R}.cpu.realtimeRuntime"),
            )?;
        }
        if let Some(v) = c.idle() {
            put(dir, "cpu.idle", &v.to_string(), &format!("{R}.cpu.idle"))?;
        }
    }
    let cpus = c.cpus().as_deref().filter(|s| !s.trim().is_empty());
    let mems = c.mems().as_deref().filter(|s| !s.trim().is_empty());
    if cpus.is_some() || mems.is_some() {
        let dir = need(dirs, "cpuset", &format!("{R}.cpu.cpus"))?;
        if let Some(v) = cpus {
            put(dir, "cpuset.cpus", v.trim(), &format!("{R}.cpu.cpus"))?;
        }
        if let Some(v) = mems {
            put(dir, "cpuset.mems", v.trim(), &format!("{R}.cpu.mems"))?;
        }
    }
    Ok(())
}

fn blkio(dirs: &[CgroupDir], b: &oci_spec::runtime::LinuxBlockIo) -> Result<(), CgroupError> {
    let weight = b.weight().filter(|v| *v != 0);
    let leaf = b.leaf_weight().filter(|v| *v != 0);
    let wdev = b.weight_device().as_deref().unwrap_or_default();
    let throttles = [
        (
            "throttleReadBpsDevice",
            "blkio.throttle.read_bps_device",
            b.throttle_read_bps_device(),
        ),
        (
            "throttleWriteBpsDevice",
            "blkio.throttle.write_bps_device",
            b.throttle_write_bps_device(),
        ),
        (
            "throttleReadIOPSDevice",
            "blkio.throttle.read_iops_device",
            b.throttle_read_iops_device(),
        ),
        (
            "throttleWriteIOPSDevice",
            "blkio.throttle.write_iops_device",
            b.throttle_write_iops_device(),
        ),
    ];
    let any_throttle = throttles
        .iter()
        .any(|(_, _, l)| l.as_ref().is_some_and(|l| !l.is_empty()));
    if weight.is_none() && leaf.is_none() && wdev.is_empty() && !any_throttle {
        return Ok(());
    }
    let dir = need(dirs, "blkio", &format!("{R}.blockIO"))?;
    // CFQ had blkio.weight; BFQ names it blkio.bfq.weight.
    let (wfile, wdfile) = if dir.join("blkio.weight").exists() {
        ("blkio.weight", "blkio.weight_device")
    } else {
        ("blkio.bfq.weight", "blkio.bfq.weight_device")
    };
    if let Some(w) = weight {
        put(dir, wfile, &w.to_string(), &format!("{R}.blockIO.weight"))?;
    }
    if let Some(w) = leaf {
        put(
            dir,
            "blkio.leaf_weight",
            &w.to_string(),
            &format!("{R}.blockIO.leafWeight"),
        )?;
    }
    for (i, d) in wdev.iter().enumerate() {
        let f = format!("{R}.blockIO.weightDevice[{i}]");
        if let Some(w) = d.weight().filter(|v| *v != 0) {
            put(dir, wdfile, &format!("{}:{} {w}", d.major(), d.minor()), &f)?;
        }
        if let Some(w) = d.leaf_weight().filter(|v| *v != 0) {
            put(
                dir,
                "blkio.leaf_weight_device",
                &format!("{}:{} {w}", d.major(), d.minor()),
                &f,
            )?;
        }
    }
    for (name, file, list) in throttles {
        for (i, d) in list.iter().flatten().enumerate() {
            let f = format!("{R}.blockIO.{name}[{i}]");
            put(
                dir,
                file,
                &format!("{}:{} {}", d.major(), d.minor(), d.rate()),
                &f,
            )?;
        }
    }
    Ok(())
}
