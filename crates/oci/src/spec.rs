//! Loading and validating a bundle's config.json.
//!
//! Parsing goes through `serde_path_to_error` so a malformed field is
//! reported by its JSON path (`process.user.uid: invalid type ...`).
//! [`validate`] then rejects what caixa cannot honour, before anything is
//! created on the host.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::error::{OciError, Result};

/// A loaded bundle: its directory, the parsed spec and the absolute rootfs.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// The bundle directory, absolute.
    pub path: PathBuf,
    /// The parsed and validated config.json.
    pub spec: Spec,
    /// `root.path` resolved against the bundle.
    pub rootfs: PathBuf,
}

/// Reads `bundle/config.json`, parses it and validates it for `create`.
pub fn load(bundle: &Path) -> Result<Bundle> {
    let path = std::path::absolute(bundle).map_err(|e| OciError::File {
        path: bundle.to_path_buf(),
        reason: e.to_string(),
    })?;
    let cfg = path.join("config.json");
    let data = std::fs::read(&cfg).map_err(|e| OciError::File {
        path: cfg.clone(),
        reason: e.to_string(),
    })?;
    let spec = parse(&data)?;
    let rootfs = validate(&spec, &path)?;
    Ok(Bundle { path, spec, rootfs })
}

/// Parses config.json bytes; errors name the JSON path of the bad field.
pub fn parse(data: &[u8]) -> Result<Spec> {
    let de = &mut serde_json::Deserializer::from_slice(data);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().to_string();
        let field = if field == "." {
            "(document)".to_string()
        } else {
            field
        };
        OciError::invalid(field, e.inner().to_string())
    })
}

fn ns_name(t: LinuxNamespaceType) -> &'static str {
    match t {
        LinuxNamespaceType::Mount => "mount",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "network",
        LinuxNamespaceType::Time => "time",
    }
}

/// The runtime-spec name of a namespace type (`network`, `mount`, ...).
pub fn namespace_name(t: LinuxNamespaceType) -> &'static str {
    ns_name(t)
}

/// Checks the spec for what caixa supports; returns the absolute rootfs.
pub fn validate(spec: &Spec, bundle: &Path) -> Result<PathBuf> {
    if !oci_version_ok(spec.version()) {
        return Err(OciError::invalid(
            "ociVersion",
            format!(
                "unsupported version {:?} (need a 1.x.y SemVer version)",
                spec.version()
            ),
        ));
    }
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| OciError::invalid("root", "missing"))?;
    let rootfs = bundle.join(root.path());
    match std::fs::metadata(&rootfs) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(OciError::invalid(
                "root.path",
                format!("{} is not a directory", rootfs.display()),
            ));
        }
        Err(e) => {
            return Err(OciError::invalid(
                "root.path",
                format!("{}: {e}", rootfs.display()),
            ));
        }
    }
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| OciError::invalid("process", "missing"))?;
    validate_process(process, "process")?;
    let linux = spec
        .linux()
        .as_ref()
        .ok_or_else(|| OciError::invalid("linux", "missing (required on Linux)"))?;

    let mut seen = HashSet::new();
    let mut new_ns = HashSet::new();
    for (i, ns) in linux.namespaces().iter().flatten().enumerate() {
        if !seen.insert(ns.typ()) {
            return Err(OciError::invalid(
                format!("linux.namespaces[{i}]"),
                format!("duplicate {} namespace", ns_name(ns.typ())),
            ));
        }
        match ns.path() {
            Some(p) => {
                if !p.is_absolute() {
                    return Err(OciError::invalid(
                        format!("linux.namespaces[{i}].path"),
                        format!("{} is not an absolute path", p.display()),
                    ));
                }
            }
            None => {
                new_ns.insert(ns.typ());
            }
        }
    }
    if !seen.contains(&LinuxNamespaceType::Mount) {
        // As runc: without a mount namespace nothing can be masked or made
        // read-only (the caller's mounts would change).
        for (field, list) in [
            ("linux.maskedPaths", linux.masked_paths()),
            ("linux.readonlyPaths", linux.readonly_paths()),
        ] {
            if list.as_ref().is_some_and(|l| !l.is_empty()) {
                return Err(OciError::invalid(
                    field,
                    "needs a mount namespace in linux.namespaces",
                ));
            }
        }
    }
    let has_maps = linux.uid_mappings().as_ref().is_some_and(|m| !m.is_empty())
        || linux.gid_mappings().as_ref().is_some_and(|m| !m.is_empty());
    if new_ns.contains(&LinuxNamespaceType::User) {
        if linux.uid_mappings().as_ref().is_none_or(|m| m.is_empty()) {
            return Err(OciError::invalid(
                "linux.uidMappings",
                "required with a new user namespace",
            ));
        }
        if linux.gid_mappings().as_ref().is_none_or(|m| m.is_empty()) {
            return Err(OciError::invalid(
                "linux.gidMappings",
                "required with a new user namespace",
            ));
        }
    } else if has_maps {
        return Err(OciError::invalid(
            "linux.uidMappings",
            "id mappings need a new user namespace in linux.namespaces",
        ));
    }
    if spec.hostname().as_deref().is_some_and(|h| !h.is_empty())
        && !seen.contains(&LinuxNamespaceType::Uts)
    {
        return Err(OciError::invalid(
            "hostname",
            "setting the hostname needs a uts namespace in linux.namespaces",
        ));
    }
    if spec.domainname().as_deref().is_some_and(|h| !h.is_empty())
        && !seen.contains(&LinuxNamespaceType::Uts)
    {
        return Err(OciError::invalid(
            "domainname",
            "setting the domainname needs a uts namespace in linux.namespaces",
        ));
    }
    if let Some(offsets) = linux.time_offsets() {
        if !offsets.is_empty() && !new_ns.contains(&LinuxNamespaceType::Time) {
            return Err(OciError::invalid(
                "linux.timeOffsets",
                "time offsets need a new time namespace",
            ));
        }
        for clock in offsets.keys() {
            if clock != "monotonic" && clock != "boottime" {
                return Err(OciError::invalid(
                    format!("linux.timeOffsets.{clock}"),
                    "unknown clock (monotonic or boottime)",
                ));
            }
        }
    }
    if linux.intel_rdt().is_some() {
        return Err(OciError::invalid("linux.intelRdt", "not supported"));
    }
    crate::netdev::validate(linux, seen.contains(&LinuxNamespaceType::Network))?;
    if let Some(mp) = linux.memory_policy() {
        crate::mempolicy::prepare(mp)?;
    }
    if let Some(p) = linux.personality() {
        crate::extras::personality_value(p).map_err(|e| OciError::invalid(e.field, e.reason))?;
    }
    for (name, hooks) in hook_lists(spec) {
        for (i, h) in hooks.iter().enumerate() {
            if !h.path().is_absolute() {
                return Err(OciError::invalid(
                    format!("hooks.{name}[{i}].path"),
                    format!("{} is not an absolute path", h.path().display()),
                ));
            }
        }
    }
    Ok(rootfs)
}

/// Whether `v` is a SemVer 2.0 version of runtime-spec 1 (`1.MINOR.PATCH`
/// with an optional `-pre-release` and `+build`).
fn oci_version_ok(v: &str) -> bool {
    let (v, build) = v.split_once('+').map_or((v, None), |(a, b)| (a, Some(b)));
    let (core, pre) = v.split_once('-').map_or((v, None), |(a, b)| (a, Some(b)));
    let ident_ok = |s: &str| {
        s.split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
    };
    let num_ok = |p: &str| {
        !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && (p == "0" || !p.starts_with('0'))
    };
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts[0] == "1"
        && num_ok(parts[1])
        && num_ok(parts[2])
        && pre.is_none_or(ident_ok)
        && build.is_none_or(ident_ok)
}

/// Checks a `process` object (also used for `exec --process`).
pub fn validate_process(process: &oci_spec::runtime::Process, field: &str) -> Result<()> {
    match process.args() {
        Some(a) if !a.is_empty() && !a[0].is_empty() => {}
        _ => {
            return Err(OciError::invalid(
                format!("{field}.args"),
                "must name a program",
            ));
        }
    }
    if !process.cwd().is_absolute() {
        return Err(OciError::invalid(
            format!("{field}.cwd"),
            format!("{} is not an absolute path", process.cwd().display()),
        ));
    }
    let mut seen = HashSet::new();
    for (i, r) in process.rlimits().iter().flatten().enumerate() {
        if !seen.insert(r.typ().to_string()) {
            return Err(OciError::invalid(
                format!("{field}.rlimits[{i}]"),
                format!("duplicate {}", r.typ()),
            ));
        }
        if r.soft() > r.hard() {
            return Err(OciError::invalid(
                format!("{field}.rlimits[{i}]"),
                format!("{}: soft limit above hard limit", r.typ()),
            ));
        }
    }
    for (i, e) in process.env().iter().flatten().enumerate() {
        if !e.contains('=') || e.contains('\0') {
            return Err(OciError::invalid(
                format!("{field}.env[{i}]"),
                format!("{e:?} is not NAME=VALUE"),
            ));
        }
    }
    let extra = |e: crate::extras::ExtrasError| OciError::invalid(e.field, e.reason);
    if let Some(s) = process.scheduler() {
        crate::extras::sched_attr(s).map_err(extra)?;
    }
    if let Some(a) = process.exec_cpu_affinity() {
        crate::extras::validate_exec_cpu_affinity(a).map_err(extra)?;
    }
    if let Some(p) = process.io_priority() {
        crate::extras::io_priority_value(p).map_err(extra)?;
    }
    if process
        .selinux_label()
        .as_deref()
        .is_some_and(|l| !l.is_empty())
    {
        return Err(OciError::invalid(
            format!("{field}.selinuxLabel"),
            "SELinux is not supported",
        ));
    }
    Ok(())
}

/// The spec's hook lists by runtime-spec name (empty lists omitted).
pub fn hook_lists(spec: &Spec) -> Vec<(&'static str, &[oci_spec::runtime::Hook])> {
    let mut out = Vec::new();
    if let Some(h) = spec.hooks() {
        let all: [(&'static str, &Option<Vec<oci_spec::runtime::Hook>>); 6] = [
            ("prestart", h.prestart()),
            ("createRuntime", h.create_runtime()),
            ("createContainer", h.create_container()),
            ("startContainer", h.start_container()),
            ("poststart", h.poststart()),
            ("poststop", h.poststop()),
        ];
        for (n, l) in all {
            if let Some(l) = l
                && !l.is_empty()
            {
                out.push((n, l.as_slice()));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_field_is_named() {
        let err = parse(br#"{"ociVersion":"1.0.2","process":{"user":{"uid":"x"},"cwd":"/"}}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("process.user.uid"), "{err}");
    }

    #[test]
    fn oci_version_must_be_1_x_y() {
        for good in ["1.0.0", "1.2.1", "1.0.2-dev", "1.1.0-rc.1", "1.0.0+build.7"] {
            assert!(oci_version_ok(good), "{good}");
        }
        for bad in [
            "invalid",
            "",
            "1",
            "1.0",
            "1.x.0",
            "2.0.0",
            "0.1.0",
            "1.0.0.0",
            "01.0.0",
            "1.00.0",
            "1.0.0-",
            "1.0.0-a..b",
            "v1.0.0",
        ] {
            assert!(!oci_version_ok(bad), "{bad}");
        }
        // validate() refuses it first, naming the field.
        let spec = parse(br#"{"ociVersion":"invalid"}"#).unwrap();
        let err = validate(&spec, Path::new("/nonexistent"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("ociVersion") && err.contains("\"invalid\""),
            "{err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
    }

    #[test]
    fn net_devices_are_checked() {
        let check = |linux: &str| {
            let doc = format!(
                r#"{{"ociVersion":"1.2.0","root":{{"path":"/"}},"process":{{"cwd":"/","args":["true"],"user":{{"uid":0,"gid":0}}}},"linux":{linux}}}"#
            );
            validate(&parse(doc.as_bytes()).unwrap(), Path::new("/")).map_err(|e| e.to_string())
        };
        let netns = r#""namespaces":[{"type":"network"}]"#;
        assert!(
            check(&format!(
                r#"{{{netns},"netDevices":{{"veth0":{{"name":"eth7"}}}}}}"#
            ))
            .is_ok()
        );
        let err = check(r#"{"netDevices":{"veth0":{}}}"#).unwrap_err();
        assert!(
            err.contains("linux.netDevices: needs a network namespace"),
            "{err}"
        );
        let err = check(&format!(
            r#"{{{netns},"netDevices":{{"a":{{"name":"x"}},"b":{{"name":"x"}}}}}}"#
        ))
        .unwrap_err();
        assert!(
            err.contains("linux.netDevices.b.name") && err.contains("two devices"),
            "{err}"
        );
        let err = check(&format!(
            r#"{{{netns},"netDevices":{{"a":{{"name":"lo"}}}}}}"#
        ))
        .unwrap_err();
        assert!(err.contains("linux.netDevices.a.name"), "{err}");
        let err = check(&format!(r#"{{{netns},"netDevices":{{"a b":{{}}}}}}"#)).unwrap_err();
        assert!(err.contains("linux.netDevices.a b"), "{err}");
        let err = check(&format!(
            r#"{{{netns},"netDevices":{{"a":{{"name":"x123456789abcdef"}}}}}}"#
        ))
        .unwrap_err();
        assert!(err.contains("longer than 15"), "{err}");
        // Templates never clash.
        assert!(
            check(&format!(
                r#"{{{netns},"netDevices":{{"a":{{"name":"n%d"}},"b":{{"name":"n%d"}}}}}}"#
            ))
            .is_ok()
        );
    }

    #[test]
    fn unknown_namespace_is_named() {
        let err = parse(br#"{"ociVersion":"1.0.2","linux":{"namespaces":[{"type":"bogus"}]}}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("linux.namespaces[0]"), "{err}");
    }
}
