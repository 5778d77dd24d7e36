//! Docker-format seccomp profiles, resolved to runtime-spec `LinuxSeccomp`.
//!
//! Docker's format is the runtime-spec one plus, per rule, `includes` /
//! `excludes` conditions (`caps`, `arches`, `minKernel`) and a top-level
//! `archMap` (native arch → sub-architectures). The conditions are decided
//! when the container is created, for its capability set (Docker uses the
//! bounding set), the CPU architecture and the running kernel; the result is
//! an ordinary `linux.seccomp` for the runtime.
//!
//! caixa ships Docker's default policy in this format as
//! `profiles/docker-default-seccomp.json` ([`DEFAULT_PROFILE_JSON`]); users'
//! own Docker profiles (`--security-opt seccomp=FILE`) go through
//! [`resolve`] too.

use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompFilterFlag, LinuxSyscall,
};
use serde::Deserialize;

use super::SeccompError;

/// Docker's default capability set.
pub const DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Docker's default seccomp profile, in Docker's format.
pub const DEFAULT_PROFILE_JSON: &str =
    include_str!("../../../profiles/docker-default-seccomp.json");

/// A Docker-format seccomp profile.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DockerProfile {
    /// Action when no rule matches.
    pub default_action: LinuxSeccompAction,
    /// errno for a default action of SCMP_ACT_ERRNO.
    #[serde(default)]
    pub default_errno_ret: Option<u32>,
    /// Explicit architectures (old style; overrides `archMap`).
    #[serde(default)]
    pub architectures: Vec<Arch>,
    /// Native architecture → architectures allowed with it.
    #[serde(default)]
    pub arch_map: Vec<ArchMap>,
    /// seccomp(2) filter flags.
    #[serde(default)]
    pub flags: Vec<LinuxSeccompFilterFlag>,
    /// Seccomp agent socket for SCMP_ACT_NOTIFY.
    #[serde(default)]
    pub listener_path: Option<std::path::PathBuf>,
    /// Opaque data for the seccomp agent.
    #[serde(default)]
    pub listener_metadata: Option<String>,
    /// The rules.
    #[serde(default)]
    pub syscalls: Vec<DockerSyscall>,
}

/// One `archMap` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArchMap {
    /// The native architecture this entry applies to.
    pub architecture: Arch,
    /// Architectures added to the filter with it.
    #[serde(default)]
    pub sub_architectures: Option<Vec<Arch>>,
}

/// One Docker-format rule.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DockerSyscall {
    /// Old single-name form.
    #[serde(default)]
    pub name: Option<String>,
    /// Syscall names.
    #[serde(default)]
    pub names: Vec<String>,
    /// The action.
    pub action: LinuxSeccompAction,
    /// errno for SCMP_ACT_ERRNO / SCMP_ACT_TRACE.
    #[serde(default)]
    pub errno_ret: Option<u32>,
    /// Argument conditions.
    #[serde(default)]
    pub args: Option<Vec<LinuxSeccompArg>>,
    /// Free text.
    #[serde(default)]
    pub comment: Option<String>,
    /// Conditions that must all hold for the rule to apply.
    #[serde(default)]
    pub includes: Condition,
    /// Conditions any of which drops the rule.
    #[serde(default)]
    pub excludes: Condition,
}

/// `includes` / `excludes` of a Docker rule.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// Capabilities (`CAP_SYS_ADMIN`).
    #[serde(default)]
    pub caps: Vec<String>,
    /// Go architecture names (`amd64`, `arm64`, `x86`, `x32`, ...).
    #[serde(default)]
    pub arches: Vec<String>,
    /// Kernel version `MAJOR.MINOR`.
    #[serde(default)]
    pub min_kernel: Option<String>,
}

/// Where a profile is resolved: Go arch name and kernel (major, minor).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    /// Go's name for the architecture (`amd64`, `arm64`, ...).
    pub arch: String,
    /// Running kernel version.
    pub kernel: (u32, u32),
}

impl Platform {
    /// The machine this process runs on.
    pub fn host() -> Platform {
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "x86" => "386",
            "aarch64" => "arm64",
            "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
            "powerpc64" => "ppc64",
            "loongarch64" => "loong64",
            other => other,
        };
        let release = rustix::system::uname();
        let kernel = parse_kernel(&release.release().to_string_lossy()).unwrap_or((0, 0));
        Platform {
            arch: arch.into(),
            kernel,
        }
    }
}

fn parse_kernel(s: &str) -> Option<(u32, u32)> {
    let mut it = s.split(|c: char| !c.is_ascii_digit());
    let major = it.next()?.parse().ok()?;
    let minor = it.next()?.parse().ok()?;
    Some((major, minor))
}

/// The libseccomp native arch for a Go arch name.
fn native_scmp_arch(go_arch: &str) -> Option<Arch> {
    Some(match go_arch {
        "amd64" => Arch::ScmpArchX86_64,
        "386" => Arch::ScmpArchX86,
        "arm64" => Arch::ScmpArchAarch64,
        "arm" => Arch::ScmpArchArm,
        "mips64" => Arch::ScmpArchMips64,
        "mips64n32" => Arch::ScmpArchMips64n32,
        "mipsle" => Arch::ScmpArchMipsel,
        "mips64le" => Arch::ScmpArchMipsel64,
        "mips64len32" => Arch::ScmpArchMipsel64n32,
        "mips" => Arch::ScmpArchMips,
        "ppc64" => Arch::ScmpArchPpc64,
        "ppc64le" => Arch::ScmpArchPpc64le,
        "s390x" => Arch::ScmpArchS390x,
        "s390" => Arch::ScmpArchS390,
        "riscv64" => Arch::ScmpArchRiscv64,
        "loong64" => Arch::ScmpArchLoongarch64,
        _ => return None,
    })
}

/// `CAP_X` in upper case, whatever the caller passed (`sys_admin`, `CAP_SYS_ADMIN`).
fn normalize_cap(c: &str) -> String {
    let up = c.trim().to_ascii_uppercase();
    if up.starts_with("CAP_") {
        up
    } else {
        format!("CAP_{up}")
    }
}

/// Parses a Docker-format profile, naming the offending field on error.
pub fn parse(json: &[u8]) -> Result<DockerProfile, SeccompError> {
    let de = &mut serde_json::Deserializer::from_slice(json);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().to_string();
        SeccompError::invalid(field, e.into_inner().to_string())
    })
}

/// Resolves a Docker-format profile for `caps` on this host.
pub fn resolve(json: &[u8], caps: &[String]) -> Result<LinuxSeccomp, SeccompError> {
    resolve_for(&parse(json)?, caps, &Platform::host())
}

/// Docker's default profile resolved for `caps` (the container's bounding
/// capabilities) on this host.
pub fn default_profile(caps: &[String]) -> Result<LinuxSeccomp, SeccompError> {
    resolve(DEFAULT_PROFILE_JSON.as_bytes(), caps)
}

/// Resolves `profile` for `caps` on `platform` (Docker's rules: every
/// `includes` condition must hold and no `excludes` condition may).
pub fn resolve_for(
    profile: &DockerProfile,
    caps: &[String],
    platform: &Platform,
) -> Result<LinuxSeccomp, SeccompError> {
    let caps: Vec<String> = caps.iter().map(|c| normalize_cap(c)).collect();
    let has_cap = |c: &String| caps.contains(&normalize_cap(c));
    let kernel_at_least = |field: String, v: &str| -> Result<bool, SeccompError> {
        let want = parse_kernel(v).ok_or_else(|| {
            SeccompError::invalid(field, format!("{v:?} is not a MAJOR.MINOR kernel version"))
        })?;
        Ok(platform.kernel >= want)
    };

    let mut arches = profile.architectures.clone();
    if arches.is_empty()
        && let Some(native) = native_scmp_arch(&platform.arch)
    {
        for m in profile.arch_map.iter().filter(|m| m.architecture == native) {
            arches.push(m.architecture);
            arches.extend(m.sub_architectures.iter().flatten().copied());
        }
    }

    let mut rules = Vec::new();
    for (i, sc) in profile.syscalls.iter().enumerate() {
        let names = match (&sc.name, sc.names.is_empty()) {
            (Some(_), false) => {
                return Err(SeccompError::invalid(
                    format!("syscalls[{i}]"),
                    "has both name and names",
                ));
            }
            (Some(n), true) => vec![n.clone()],
            (None, _) => sc.names.clone(),
        };
        let ex = &sc.excludes;
        if ex.arches.contains(&platform.arch) || ex.caps.iter().any(has_cap) {
            continue;
        }
        if let Some(v) = &ex.min_kernel
            && kernel_at_least(format!("syscalls[{i}].excludes.minKernel"), v)?
        {
            continue;
        }
        let inc = &sc.includes;
        if !inc.arches.is_empty() && !inc.arches.contains(&platform.arch) {
            continue;
        }
        if !inc.caps.iter().all(has_cap) {
            continue;
        }
        if let Some(v) = &inc.min_kernel
            && !kernel_at_least(format!("syscalls[{i}].includes.minKernel"), v)?
        {
            continue;
        }
        let mut rule = LinuxSyscall::default();
        rule.set_names(names);
        rule.set_action(sc.action);
        rule.set_errno_ret(sc.errno_ret);
        rule.set_args(sc.args.clone());
        rules.push(rule);
    }

    let mut out = LinuxSeccomp::default();
    out.set_default_action(profile.default_action);
    out.set_default_errno_ret(profile.default_errno_ret);
    out.set_architectures((!arches.is_empty()).then_some(arches));
    out.set_flags((!profile.flags.is_empty()).then(|| profile.flags.clone()));
    out.set_listener_path(profile.listener_path.clone());
    out.set_listener_metadata(profile.listener_metadata.clone());
    out.set_syscalls(Some(rules));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amd64() -> Platform {
        Platform {
            arch: "amd64".into(),
            kernel: (6, 1),
        }
    }

    fn names_for(p: &LinuxSeccomp, name: &str) -> Vec<LinuxSyscall> {
        p.syscalls()
            .iter()
            .flatten()
            .filter(|s| s.names().iter().any(|n| n == name))
            .cloned()
            .collect()
    }

    #[test]
    fn default_profile_resolves_caps_and_arches() {
        let prof = parse(DEFAULT_PROFILE_JSON.as_bytes()).unwrap();
        let plain = resolve_for(&prof, &["CAP_CHOWN".into()], &amd64()).unwrap();
        assert_eq!(
            plain.architectures().as_deref(),
            Some(&[Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32][..])
        );
        assert!(names_for(&plain, "mount").is_empty());
        assert!(names_for(&plain, "unshare").is_empty());
        assert_eq!(names_for(&plain, "arch_prctl").len(), 1);
        assert!(names_for(&plain, "s390_runtime_instr").is_empty());
        let clone3 = names_for(&plain, "clone3");
        assert_eq!(clone3.len(), 1);
        assert_eq!(clone3[0].errno_ret(), Some(38));
        // clone is only allowed with the namespace mask check.
        let clone = names_for(&plain, "clone");
        assert_eq!(clone.len(), 1);
        assert!(clone[0].args().is_some());

        let admin = resolve_for(&prof, &["sys_admin".into()], &amd64()).unwrap();
        assert_eq!(names_for(&admin, "mount").len(), 1);
        assert!(
            names_for(&admin, "clone3")
                .iter()
                .all(|r| r.errno_ret().is_none())
        );
        let clone = names_for(&admin, "clone");
        assert_eq!(clone.len(), 1);
        assert!(clone[0].args().is_none());

        let old = Platform {
            arch: "amd64".into(),
            kernel: (4, 4),
        };
        let old = resolve_for(&prof, &[], &old).unwrap();
        assert!(names_for(&old, "ptrace").is_empty());
        assert_eq!(names_for(&plain, "ptrace").len(), 1);
    }

    #[test]
    fn bad_docker_profile_names_the_field() {
        let err = parse(br#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["x"],"action":"SCMP_ACT_ALLOW","includes":{"caps":7}}]}"#)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("linux.seccomp.syscalls[0].includes.caps:"),
            "{err}"
        );
        let prof = parse(br#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["x"],"action":"SCMP_ACT_ALLOW","includes":{"minKernel":"new"}}]}"#).unwrap();
        let err = resolve_for(&prof, &[], &amd64()).unwrap_err().to_string();
        assert!(err.contains("syscalls[0].includes.minKernel"), "{err}");
    }
}
