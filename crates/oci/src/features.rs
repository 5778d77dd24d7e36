//! The runtime-spec "features" document (`caixa-runtime features`): what
//! this runtime understands, so that a caller (containerd, podman) can
//! decide which config fields it may use.
//!
//! Static facts (hooks, namespaces, seccomp actions and operators) are
//! what the code implements; seccomp architectures and supported filter
//! flags are probed from libseccomp and the kernel; AppArmor reflects the
//! running host (the init applies a profile only where it is enabled).

use oci_spec::runtime::Arch;
use serde_json::{Value, json};

use crate::seccomp;

/// Oldest runtime-spec version accepted in config.json.
pub const OCI_VERSION_MIN: &str = "1.0.0";
/// Newest runtime-spec version implemented.
pub const OCI_VERSION_MAX: &str = "1.2.1";

/// Hook kinds run by the runtime, in execution order.
pub const HOOKS: &[&str] = &[
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
];

/// Mount options recognised in `mounts[].options`: the rootfs code's own
/// list, so the document cannot drift from what is implemented.
pub const MOUNT_OPTIONS: &[&str] = crate::rootfs::MOUNT_OPTIONS;

/// Namespace types the runtime can create or join.
pub const NAMESPACES: &[&str] = &[
    "cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts",
];

/// seccomp actions accepted in profiles.
pub const SECCOMP_ACTIONS: &[&str] = &[
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_LOG",
    "SCMP_ACT_NOTIFY",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_TRAP",
];

/// seccomp argument operators accepted in profiles.
pub const SECCOMP_OPERATORS: &[&str] = &[
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_LE",
    "SCMP_CMP_LT",
    "SCMP_CMP_MASKED_EQ",
    "SCMP_CMP_NE",
];

/// seccomp filter flags known to the runtime (and their kernel bits).
const SECCOMP_FLAGS: &[(&str, u32)] = &[
    ("SECCOMP_FILTER_FLAG_TSYNC", seccomp::FLAG_TSYNC),
    ("SECCOMP_FILTER_FLAG_LOG", seccomp::FLAG_LOG),
    ("SECCOMP_FILTER_FLAG_SPEC_ALLOW", seccomp::FLAG_SPEC_ALLOW),
    (
        "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
        seccomp::FLAG_WAIT_KILLABLE_RECV,
    ),
];

const ALL_ARCHES: &[Arch] = &[
    Arch::ScmpArchX86,
    Arch::ScmpArchX86_64,
    Arch::ScmpArchX32,
    Arch::ScmpArchArm,
    Arch::ScmpArchAarch64,
    Arch::ScmpArchMips,
    Arch::ScmpArchMips64,
    Arch::ScmpArchMips64n32,
    Arch::ScmpArchMipsel,
    Arch::ScmpArchMipsel64,
    Arch::ScmpArchMipsel64n32,
    Arch::ScmpArchPpc,
    Arch::ScmpArchPpc64,
    Arch::ScmpArchPpc64le,
    Arch::ScmpArchS390,
    Arch::ScmpArchS390x,
    Arch::ScmpArchParisc,
    Arch::ScmpArchParisc64,
    Arch::ScmpArchRiscv64,
    Arch::ScmpArchLoongarch64,
    Arch::ScmpArchM68k,
    Arch::ScmpArchSh,
    Arch::ScmpArchSheb,
];

/// Every capability the caps crate knows, as `CAP_*`, in kernel order.
pub fn known_capabilities() -> Vec<String> {
    let mut all: Vec<caps::Capability> = caps::all().into_iter().collect();
    all.sort_by_key(|c| c.index());
    all.iter().map(|c| c.to_string()).collect()
}

/// The runtime-spec features document as JSON.
pub fn features_json() -> Value {
    let supported = seccomp::supported_flags();
    let known_flags: Vec<&str> = SECCOMP_FLAGS.iter().map(|(n, _)| *n).collect();
    let supported_flags: Vec<&str> = SECCOMP_FLAGS
        .iter()
        .filter(|(_, bit)| supported & bit != 0)
        .map(|(n, _)| *n)
        .collect();
    let archs: Vec<Arch> = ALL_ARCHES
        .iter()
        .copied()
        .filter(|a| seccomp::arch_supported(*a))
        .collect();
    json!({
        "ociVersionMin": OCI_VERSION_MIN,
        "ociVersionMax": OCI_VERSION_MAX,
        "hooks": HOOKS,
        "mountOptions": MOUNT_OPTIONS,
        "linux": {
            "namespaces": NAMESPACES,
            "capabilities": known_capabilities(),
            "cgroup": {
                "v1": true,
                "v2": true,
                "systemd": false,
                "systemdUser": false,
                "rdma": true,
            },
            "seccomp": {
                "enabled": true,
                "actions": SECCOMP_ACTIONS,
                "operators": SECCOMP_OPERATORS,
                "archs": archs,
                "knownFlags": known_flags,
                "supportedFlags": supported_flags,
            },
            "apparmor": {
                "enabled": std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
                    .map(|s| s.trim() == "Y")
                    .unwrap_or(false),
            },
            // selinuxLabel and linux.intelRdt are refused by spec validation.
            "selinux": { "enabled": false },
            "intelRdt": { "enabled": false },
            // netdev.rs moves linux.netDevices into the container.
            "netDevices": { "enabled": true },
            "mountExtensions": {
                // rootfs/idmap.rs implements the idmap/ridmap options.
                "idmap": { "enabled": MOUNT_OPTIONS.contains(&"idmap") },
            },
        },
        "annotations": {
            "io.github.seccomp.libseccomp.version": seccomp::libseccomp_version(),
            "dev.caixa.runtime.version": env!("CARGO_PKG_VERSION"),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_has_the_spec_shape() {
        let f = features_json();
        assert_eq!(f["ociVersionMin"], OCI_VERSION_MIN);
        assert_eq!(f["hooks"].as_array().unwrap().len(), 6);
        let caps = f["linux"]["capabilities"].as_array().unwrap();
        assert_eq!(caps[0], "CAP_CHOWN");
        assert!(caps.iter().any(|c| c == "CAP_SYS_ADMIN"));
        let sc = &f["linux"]["seccomp"];
        assert_eq!(sc["actions"].as_array().unwrap().len(), 9);
        assert_eq!(sc["operators"].as_array().unwrap().len(), 7);
        let archs = sc["archs"].as_array().unwrap();
        assert!(archs.iter().any(|a| a == "SCMP_ARCH_X86_64"), "{archs:?}");
        // Every supported flag is a known flag.
        for flag in sc["supportedFlags"].as_array().unwrap() {
            assert!(sc["knownFlags"].as_array().unwrap().contains(flag));
        }
        // Mount options are the rootfs code's list (recursive forms too).
        let opts = f["mountOptions"].as_array().unwrap();
        assert_eq!(opts.len(), crate::rootfs::MOUNT_OPTIONS.len());
        assert!(opts.iter().any(|o| o == "rro"), "{opts:?}");
        // The document deserialises into oci-spec's Features type.
        let typed: oci_spec::runtime::Features = serde_json::from_value(f).unwrap();
        assert_eq!(typed.oci_version_max(), OCI_VERSION_MAX);
        let nd = typed.linux().as_ref().and_then(|l| l.net_devices().clone());
        assert_eq!(nd.and_then(|n| *n.enabled()), Some(true));
    }
}
