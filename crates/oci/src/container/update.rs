//! `update`: change the cgroup limits of a live container.
//!
//! The container's current resources are `ROOT/ID/resources.json` once an
//! update happened, else its bundle's `linux.resources`. The change (from
//! `-r resources.json` and/or runc's flags) is merged into them field by
//! field, the merged set is written through [`crate::cgroups::Manager::apply`] (devices
//! excepted: like runc, `update` leaves the device rules alone) and then
//! stored. If the kernel refuses a value, the previous set is re-applied,
//! so a failed update leaves the old limits in place.

use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;
use serde_json::{Map, Value};

use crate::error::{OciError, Result};
use crate::state::{self, ContainerState, Status};

/// runc's `update` flags; `None` leaves the field as it is.
#[derive(Debug, Clone, Default)]
pub struct UpdateFlags {
    /// `--memory`: memory limit in bytes (-1: unlimited).
    pub memory: Option<i64>,
    /// `--memory-swap`: memory+swap limit in bytes (-1: unlimited).
    pub memory_swap: Option<i64>,
    /// `--memory-reservation`: soft limit in bytes.
    pub memory_reservation: Option<i64>,
    /// `--cpu-quota`: CFS quota in µs per period (-1: unlimited).
    pub cpu_quota: Option<i64>,
    /// `--cpu-period`: CFS period in µs.
    pub cpu_period: Option<u64>,
    /// `--cpu-shares`: relative weight (v1 shares).
    pub cpu_shares: Option<u64>,
    /// `--cpuset-cpus`: CPUs allowed, e.g. "0-1".
    pub cpuset_cpus: Option<String>,
    /// `--cpuset-mems`: memory nodes allowed.
    pub cpuset_mems: Option<String>,
    /// `--pids-limit`: maximum number of tasks (-1: unlimited).
    pub pids_limit: Option<i64>,
    /// `--blkio-weight`: block IO weight (10-1000).
    pub blkio_weight: Option<u16>,
}

impl UpdateFlags {
    /// The flags as a partial `linux.resources` document.
    fn to_json(&self) -> Value {
        let mut mem = Map::new();
        put(&mut mem, "limit", self.memory);
        put(&mut mem, "swap", self.memory_swap);
        put(&mut mem, "reservation", self.memory_reservation);
        let mut cpu = Map::new();
        put(&mut cpu, "quota", self.cpu_quota);
        put(&mut cpu, "period", self.cpu_period);
        put(&mut cpu, "shares", self.cpu_shares);
        put(&mut cpu, "cpus", self.cpuset_cpus.clone());
        put(&mut cpu, "mems", self.cpuset_mems.clone());
        let mut out = Map::new();
        if !mem.is_empty() {
            out.insert("memory".into(), Value::Object(mem));
        }
        if !cpu.is_empty() {
            out.insert("cpu".into(), Value::Object(cpu));
        }
        if let Some(l) = self.pids_limit {
            out.insert("pids".into(), serde_json::json!({ "limit": l }));
        }
        if let Some(w) = self.blkio_weight {
            out.insert("blockIO".into(), serde_json::json!({ "weight": w }));
        }
        Value::Object(out)
    }
}

fn put<T: Into<Value>>(m: &mut Map<String, Value>, k: &str, v: Option<T>) {
    if let Some(v) = v {
        m.insert(k.into(), v.into());
    }
}

/// Parses a size like runc/docker: a byte count with an optional binary
/// suffix (`k`, `m`, `g`, `t`, optionally followed by `b`), or `-1` for
/// unlimited. The error is one line naming `flag`.
pub fn parse_size(flag: &str, s: &str) -> std::result::Result<i64, String> {
    let t = s.trim();
    if t == "-1" {
        return Ok(-1);
    }
    let lower = t.to_ascii_lowercase();
    let body = lower.strip_suffix('b').unwrap_or(&lower);
    let (num, shift) = match body.chars().last() {
        Some('k') => (&body[..body.len() - 1], 10),
        Some('m') => (&body[..body.len() - 1], 20),
        Some('g') => (&body[..body.len() - 1], 30),
        Some('t') => (&body[..body.len() - 1], 40),
        _ => (body, 0),
    };
    let bad = || format!("{flag}: {s:?} is not a size (e.g. 512m, 1g, -1)");
    let n: f64 = num.trim().parse().map_err(|_| bad())?;
    if !n.is_finite() || n < 0.0 {
        return Err(bad());
    }
    let v = n * (1u64 << shift) as f64;
    if v >= i64::MAX as f64 {
        return Err(bad());
    }
    Ok(v as i64)
}

/// Parses a `linux.resources` document (`update -r`); `what` names its
/// source in errors.
pub fn parse_resources(what: &str, data: &[u8]) -> Result<LinuxResources> {
    let de = &mut serde_json::Deserializer::from_slice(data);
    serde_path_to_error::deserialize(de).map_err(|e| OciError::File {
        path: PathBuf::from(what),
        reason: format!("{}: {}", e.path(), e.inner()),
    })
}

fn resources_file(root: &Path, id: &str) -> PathBuf {
    state::dir(root, id).join("resources.json")
}

/// The container's current resources: the last update's, else the
/// bundle's `linux.resources` (empty when it has none).
pub fn current_resources(root: &Path, st: &ContainerState) -> Result<LinuxResources> {
    let stored = resources_file(root, &st.id);
    match std::fs::read(&stored) {
        Ok(d) => return parse_resources(&stored.display().to_string(), &d),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(OciError::File {
                path: stored,
                reason: e.to_string(),
            });
        }
    }
    let cfg = st.bundle.join("config.json");
    let data = std::fs::read(&cfg).map_err(|e| OciError::File {
        path: cfg.clone(),
        reason: e.to_string(),
    })?;
    let spec = crate::spec::parse(&data)?;
    Ok(spec
        .linux()
        .as_ref()
        .and_then(|l| l.resources().clone())
        .unwrap_or_default())
}

/// Overlays `change` on `base`: objects merge key by key, anything else
/// (numbers, strings, arrays) in `change` replaces; nulls are ignored.
fn merge(base: &mut Value, change: &Value) {
    match (base, change) {
        (Value::Object(b), Value::Object(c)) => {
            for (k, v) in c {
                if v.is_null() {
                    continue;
                }
                match b.get_mut(k) {
                    Some(slot) if slot.is_object() && v.is_object() => merge(slot, v),
                    _ => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, c) if !c.is_null() => *b = c.clone(),
        _ => {}
    }
}

fn to_value(r: &LinuxResources) -> Value {
    serde_json::to_value(r).unwrap_or(Value::Object(Map::new()))
}

/// Merges `file` (from `-r`) and then `flags` into the current resources
/// of container `id`, applies them and stores them; returns the new set.
pub fn update(
    root: &Path,
    id: &str,
    file: Option<&LinuxResources>,
    flags: &UpdateFlags,
) -> Result<LinuxResources> {
    let st = ContainerState::load(root, id)?;
    let status = st.status(root);
    if !matches!(status, Status::Created | Status::Running | Status::Paused) {
        return Err(OciError::container(
            id,
            format!("cannot update a container that is {status}"),
        ));
    }
    let old = current_resources(root, &st)?;
    let old_json = to_value(&old);
    let mut merged = old_json.clone();
    if let Some(f) = file {
        merge(&mut merged, &to_value(f));
    }
    let change = flags.to_json();
    // Without swap (memory+swap == memory), a new --memory alone keeps
    // swap off, as runc does, instead of tripping over the old swap limit.
    if flags.memory.is_some() && flags.memory_swap.is_none() {
        let m = &old_json["memory"];
        if !m["limit"].is_null() && m["swap"] == m["limit"] {
            merged["memory"]["swap"] = change["memory"]["limit"].clone();
        }
    }
    merge(&mut merged, &change);
    let new: LinuxResources = serde_json::from_value(merged)
        .map_err(|e| OciError::invalid("linux.resources", e.to_string()))?;
    let cg = super::cgroup_of(&st)?;
    let without_devices = |r: &LinuxResources| {
        let mut r = r.clone();
        r.set_devices(None);
        r
    };
    if let Err(e) = cg.apply(&without_devices(&new)) {
        let _ = cg.apply(&without_devices(&old));
        return Err(e.into());
    }
    let path = resources_file(root, id);
    let tmp = path.with_extension("json.tmp");
    let data = serde_json::to_vec(&new).unwrap_or_default();
    std::fs::write(&tmp, data)
        .and_then(|()| std::fs::rename(&tmp, &path))
        .map_err(|e| OciError::File {
            path: path.clone(),
            reason: e.to_string(),
        })?;
    Ok(new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("--memory", "1024").unwrap(), 1024);
        assert_eq!(parse_size("--memory", "64m").unwrap(), 64 << 20);
        assert_eq!(parse_size("--memory", "1G").unwrap(), 1 << 30);
        assert_eq!(parse_size("--memory", "2kb").unwrap(), 2048);
        assert_eq!(parse_size("--memory", "1.5k").unwrap(), 1536);
        assert_eq!(parse_size("--memory", "-1").unwrap(), -1);
        let e = parse_size("--memory", "lots").unwrap_err();
        assert!(e.contains("--memory") && e.contains("lots"), "{e}");
        assert!(parse_size("--memory", "-5m").is_err());
    }

    #[test]
    fn merge_overlays_fields() {
        let mut base = serde_json::json!({
            "memory": {"limit": 10, "swap": 10},
            "cpu": {"shares": 5, "cpus": "0"},
            "devices": [{"allow": false, "access": "rwm"}],
        });
        let change = serde_json::json!({"memory": {"limit": 20}, "pids": {"limit": 3}});
        merge(&mut base, &change);
        assert_eq!(base["memory"]["limit"], 20);
        assert_eq!(base["memory"]["swap"], 10);
        assert_eq!(base["cpu"]["cpus"], "0");
        assert_eq!(base["pids"]["limit"], 3);
        assert_eq!(base["devices"][0]["access"], "rwm");
    }

    #[test]
    fn flags_become_resources() {
        let f = UpdateFlags {
            memory: Some(1 << 20),
            cpu_quota: Some(5000),
            pids_limit: Some(7),
            blkio_weight: Some(300),
            ..Default::default()
        };
        let r: LinuxResources = serde_json::from_value(f.to_json()).unwrap();
        assert_eq!(r.memory().as_ref().unwrap().limit(), Some(1 << 20));
        assert_eq!(r.cpu().as_ref().unwrap().quota(), Some(5000));
        assert_eq!(r.pids().as_ref().unwrap().limit(), 7);
        assert_eq!(r.block_io().as_ref().unwrap().weight(), Some(300));
    }
}
