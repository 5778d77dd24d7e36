//! Fixes found by the OCI conformance suite (youki's contest): behaviour
//! that runc/crun have and that contest checks from the outside.

mod common;

use common::Ctr;

fn running(name: &str) -> Ctr {
    let mut c = Ctr::new(name);
    c.args(&["sleep", "1000"]);
    c.create().ok();
    c.start().ok();
    c
}

/// contest calls a command failed only when its stderr says "error".
#[test]
fn errors_say_error_and_a_bad_id_is_not_a_config_field() {
    let c = Ctr::new("cf-err");
    let o = c.rt(&["delete", &c.id]);
    assert_eq!(o.code, 1, "{o:?}");
    assert_eq!(
        o.stderr.trim(),
        format!("caixa-runtime: error: container {}: does not exist", c.id)
    );
    let o = c.rt(&["kill", "", "KILL"]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stderr.contains("error"), "{o:?}");
    assert!(o.stderr.contains("invalid container id"), "{o:?}");
    assert!(!o.stderr.contains("config.json"), "{o:?}");
    assert_eq!(o.stderr.lines().count(), 1, "{o:?}");
}

fn cap_line(status: &str, key: &str) -> u64 {
    let l = status
        .lines()
        .find(|l| l.starts_with(key))
        .unwrap_or_else(|| panic!("{key} missing in {status}"));
    u64::from_str_radix(l.split_whitespace().nth(1).unwrap(), 16).unwrap()
}

/// `exec --cap` adds to bounding/effective/permitted, never inheritable or
/// ambient (runc since CVE-2022-29162).
#[test]
fn exec_cap_skips_inheritable_and_ambient() {
    let c = running("cf-cap");
    let o = c
        .rt(&[
            "exec",
            "--cap",
            "CAP_SYS_ADMIN",
            "--cap",
            "net_admin",
            &c.id,
            "cat",
            "/proc/self/status",
        ])
        .ok();
    let want = (1u64 << 21) | (1u64 << 12);
    for key in ["CapBnd:", "CapEff:", "CapPrm:"] {
        assert_eq!(cap_line(&o.stdout, key) & want, want, "{key}: {}", o.stdout);
    }
    assert_eq!(cap_line(&o.stdout, "CapInh:"), 0, "{}", o.stdout);
    assert_eq!(cap_line(&o.stdout, "CapAmb:"), 0, "{}", o.stdout);
    // The default spec's process has neither capability.
    let o = c.rt(&["exec", &c.id, "cat", "/proc/self/status"]).ok();
    assert_eq!(cap_line(&o.stdout, "CapEff:") & want, 0, "{}", o.stdout);
}
