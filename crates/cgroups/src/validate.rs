//! Checks `linux.resources` before anything is written, so a malformed
//! config.json fails with the field named and the cgroup untouched.

use oci_spec::runtime::LinuxResources;

use super::{CgroupError, Hierarchy};

const R: &str = "linux.resources";

fn bad(field: String, reason: impl Into<String>) -> CgroupError {
    CgroupError::invalid(field, reason)
}

/// A bytes value: -1 (unlimited), 0 (unset) or positive.
fn bytes(field: &str, v: Option<i64>) -> Result<(), CgroupError> {
    match v {
        Some(v) if v < -1 => Err(bad(
            format!("{R}.{field}"),
            format!("{v} is negative (use -1 for unlimited)"),
        )),
        _ => Ok(()),
    }
}

/// A cpu or memory-node list such as "0-3,7".
pub(crate) fn check_list(field: &str, s: &str) -> Result<(), CgroupError> {
    let ok = s.trim().is_empty()
        || s.trim().split(',').all(|part| {
            let mut it = part.splitn(2, '-');
            let a = it.next().map(|x| x.parse::<u32>().is_ok()).unwrap_or(false);
            let b = it.next().map(|x| x.parse::<u32>().is_ok()).unwrap_or(true);
            a && b
        });
    if ok {
        Ok(())
    } else {
        Err(bad(
            format!("{R}.{field}"),
            format!("{s:?} is not a list like \"0-3,7\""),
        ))
    }
}

fn weight(field: String, w: Option<u16>) -> Result<(), CgroupError> {
    match w {
        Some(w) if w != 0 && !(10..=1000).contains(&w) => {
            Err(bad(field, format!("{w} is outside 10..1000")))
        }
        _ => Ok(()),
    }
}

fn dev_num(field: String, v: i64) -> Result<(), CgroupError> {
    if v < 0 {
        Err(bad(field, format!("{v} is not a device number")))
    } else {
        Ok(())
    }
}

/// A hugepage size as the kernel names its files: "2MB", "1GB", "64KB".
pub(crate) fn check_page_size(field: &str, s: &str) -> Result<(), CgroupError> {
    let digits = s.trim_end_matches(['K', 'M', 'G', 'B']);
    let unit = &s[digits.len()..];
    if !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && ["KB", "MB", "GB"].contains(&unit)
    {
        Ok(())
    } else {
        Err(bad(
            field.to_string(),
            format!("{s:?} is not a page size like \"2MB\""),
        ))
    }
}

/// Every check on `r` that needs no cgroup file.
pub(crate) fn resources(h: Hierarchy, r: &LinuxResources) -> Result<(), CgroupError> {
    if let Some(m) = r.memory() {
        bytes("memory.limit", m.limit())?;
        bytes("memory.reservation", m.reservation())?;
        bytes("memory.swap", m.swap())?;
        if let Some(s) = m.swappiness()
            && s > 100
        {
            return Err(bad(
                format!("{R}.memory.swappiness"),
                format!("{s} is above 100"),
            ));
        }
        let limit = m.limit().unwrap_or(0);
        let swap = m.swap().unwrap_or(0);
        if limit > 0 && swap > 0 && swap < limit {
            return Err(bad(
                format!("{R}.memory.swap"),
                format!("{swap} is below memory.limit {limit} (swap counts memory+swap)"),
            ));
        }
        if h == Hierarchy::V2 && swap > 0 && limit <= 0 {
            return Err(bad(
                format!("{R}.memory.swap"),
                "a swap limit needs memory.limit on cgroup v2",
            ));
        }
    }
    if let Some(c) = r.cpu() {
        if let Some(s) = c.shares()
            && s != 0
            && !(2..=262_144).contains(&s)
        {
            return Err(bad(
                format!("{R}.cpu.shares"),
                format!("{s} is outside 2..262144"),
            ));
        }
        if let Some(p) = c.period()
            && p != 0
            && !(1000..=1_000_000).contains(&p)
        {
            return Err(bad(
                format!("{R}.cpu.period"),
                format!("{p} is outside 1000..1000000 us"),
            ));
        }
        if let Some(q) = c.realtime_runtime()
            && q < -1
        {
            return Err(bad(
                format!("{R}.cpu.realtimeRuntime"),
                format!("{q} is negative"),
            ));
        }
        if let Some(i) = c.idle()
            && !(0..=1).contains(&i)
        {
            return Err(bad(format!("{R}.cpu.idle"), format!("{i} is not 0 or 1")));
        }
        if let Some(s) = c.cpus() {
            check_list("cpu.cpus", s)?;
        }
        if let Some(s) = c.mems() {
            check_list("cpu.mems", s)?;
        }
    }
    if let Some(b) = r.block_io() {
        weight(format!("{R}.blockIO.weight"), b.weight())?;
        weight(format!("{R}.blockIO.leafWeight"), b.leaf_weight())?;
        for (i, d) in b.weight_device().iter().flatten().enumerate() {
            let f = format!("{R}.blockIO.weightDevice[{i}]");
            dev_num(format!("{f}.major"), d.major())?;
            dev_num(format!("{f}.minor"), d.minor())?;
            weight(format!("{f}.weight"), d.weight())?;
            weight(format!("{f}.leafWeight"), d.leaf_weight())?;
        }
        let throttles = [
            ("throttleReadBpsDevice", b.throttle_read_bps_device()),
            ("throttleWriteBpsDevice", b.throttle_write_bps_device()),
            ("throttleReadIOPSDevice", b.throttle_read_iops_device()),
            ("throttleWriteIOPSDevice", b.throttle_write_iops_device()),
        ];
        for (name, list) in throttles {
            for (i, d) in list.iter().flatten().enumerate() {
                dev_num(format!("{R}.blockIO.{name}[{i}].major"), d.major())?;
                dev_num(format!("{R}.blockIO.{name}[{i}].minor"), d.minor())?;
            }
        }
    }
    for (i, h) in r.hugepage_limits().iter().flatten().enumerate() {
        check_page_size(&format!("{R}.hugepageLimits[{i}].pageSize"), h.page_size())?;
        if h.limit() < 0 {
            return Err(bad(
                format!("{R}.hugepageLimits[{i}].limit"),
                format!("{} is negative", h.limit()),
            ));
        }
    }
    if let Some(n) = r.network() {
        for (i, p) in n.priorities().iter().flatten().enumerate() {
            if p.name().is_empty()
                || p.name().contains(char::is_whitespace)
                || p.name().contains('/')
            {
                return Err(bad(
                    format!("{R}.network.priorities[{i}].name"),
                    format!("{:?} is not an interface name", p.name()),
                ));
            }
        }
    }
    if let Some(u) = r.unified()
        && !u.is_empty()
    {
        if h == Hierarchy::V1 {
            return Err(CgroupError::unsupported(
                format!("{R}.unified"),
                "needs cgroup v2; this host uses cgroup v1",
            ));
        }
        for (k, v) in u {
            let f = format!("{R}.unified.{k}");
            if k.is_empty()
                || k.contains('/')
                || k.contains(char::is_whitespace)
                || !k.contains('.')
                || k.starts_with('.')
            {
                return Err(bad(f, "not a cgroup file name"));
            }
            if [
                "cgroup.procs",
                "cgroup.threads",
                "cgroup.kill",
                "cgroup.freeze",
                "cgroup.subtree_control",
            ]
            .contains(&k.as_str())
            {
                return Err(bad(f, "is managed by the runtime, not a resource"));
            }
            if v.contains('\n') {
                return Err(bad(f, "value contains a newline"));
            }
        }
    }
    for (i, d) in r.devices().iter().flatten().enumerate() {
        let f = format!("{R}.devices[{i}]");
        if let Some(a) = d.access()
            && !a.chars().all(|c| matches!(c, 'r' | 'w' | 'm'))
        {
            return Err(bad(
                format!("{f}.access"),
                format!("{a:?} is not a subset of \"rwm\""),
            ));
        }
        for (name, v) in [("major", d.major()), ("minor", d.minor())] {
            if let Some(v) = v
                && v < -1
            {
                return Err(bad(
                    format!("{f}.{name}"),
                    format!("{v} is not a device number"),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_page_sizes() {
        assert!(check_list("f", "0-3,7").is_ok());
        assert!(check_list("f", "0").is_ok());
        assert!(check_list("f", "a").is_err());
        assert!(check_list("f", "1-").is_err());
        assert!(check_page_size("f", "2MB").is_ok());
        assert!(check_page_size("f", "1GB").is_ok());
        assert!(check_page_size("f", "2M").is_err());
        assert!(check_page_size("f", "../x").is_err());
    }
}
