//! Helpers shared by caixa-seccomp's integration tests.
#![allow(dead_code)]

use nix::sys::wait::WaitStatus;

/// A BPF cache dir for one test (named "caixa-test-*" so leaks are found).
pub fn cache_dir(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!(
            "caixa-test-seccomp-{name}-{}-",
            std::process::id()
        ))
        .tempdir()
        .unwrap()
}

/// Parses a runtime-spec seccomp profile.
pub fn profile(json: &str) -> oci_spec::runtime::LinuxSeccomp {
    caixa_seccomp::parse_profile(json.as_bytes()).unwrap()
}

/// Asserts a forked child exited 0.
pub fn assert_exit0(st: WaitStatus) {
    assert!(
        matches!(st, WaitStatus::Exited(_, 0)),
        "child failed: {st:?}"
    );
}
