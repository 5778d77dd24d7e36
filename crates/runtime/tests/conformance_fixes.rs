//! Fixes found by the OCI conformance suite (youki's contest): behaviour
//! that runc/crun have and that contest checks from the outside.

mod common;

use common::Ctr;
use serde_json::json;

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

/// createContainer/startContainer hooks without `env` get the container
/// process's environment, not the runtime's.
#[test]
fn container_hooks_default_to_the_process_env() {
    let mut c = Ctr::new("cf-hookenv");
    let out = c.dir().join("create-env");
    let create_cmd = format!(
        "echo \"$ONE $FOO ${{CARGO_MANIFEST_DIR:-unset}}\" > {}",
        out.display()
    );
    c.edit(|s| {
        s["process"]["env"] = json!(["PATH=/bin", "ONE=two", "FOO=bar"]);
        s["hooks"] = json!({
            "createContainer": [{"path": "/bin/sh", "args": ["sh", "-c", create_cmd]}],
            "startContainer": [{"path": "/bin/sh", "args": ["sh", "-c",
                "echo \"$ONE $FOO ${CARGO_MANIFEST_DIR:-unset}\" > /start-env"]},
                {"path": "/bin/sh", "args": ["sh", "-c", "echo \"${ONE:-none}\" > /explicit-env"],
                 "env": ["X=1"]}],
        });
    });
    c.args(&["true"]);
    let o = c.run();
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "two bar unset\n");
    let rootfs = c.bundle.join("rootfs");
    assert_eq!(
        std::fs::read_to_string(rootfs.join("start-env")).unwrap(),
        "two bar unset\n"
    );
    // A hook's own env still replaces everything.
    assert_eq!(
        std::fs::read_to_string(rootfs.join("explicit-env")).unwrap(),
        "none\n"
    );
}

/// linux.memoryPolicy is applied with set_mempolicy(2): visible from the
/// host in the process's /proc/PID/numa_maps; bad policies are refused at
/// create naming the field, leaving nothing behind.
#[test]
fn memory_policy_is_set_in_the_container() {
    let mut c = Ctr::new("cf-mpol");
    c.edit(|s| {
        s["linux"]["memoryPolicy"] =
            json!({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES"]});
    });
    c.args(&["sleep", "1000"]);
    c.create().ok();
    let maps = std::fs::read_to_string(format!("/proc/{}/numa_maps", c.pid())).unwrap();
    let policies: Vec<&str> = maps
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .collect();
    assert!(!policies.is_empty(), "{maps}");
    assert!(
        policies.iter().all(|p| *p == "bind=static:0"),
        "{policies:?}"
    );
    c.delete(true).ok();

    for (policy, field) in [
        (
            json!({"mode": "MPOL_DEFAULT", "nodes": "0-7"}),
            "linux.memoryPolicy.nodes",
        ),
        (
            json!({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES", "MPOL_F_RELATIVE_NODES"]}),
            "linux.memoryPolicy.flags",
        ),
        (
            json!({"mode": "MPOL_BIND", "nodes": "0-9876543210"}),
            "linux.memoryPolicy.nodes",
        ),
        (
            json!({"mode": "MPOL_INTERLEAVE"}),
            "linux.memoryPolicy.nodes",
        ),
    ] {
        c.edit(|s| s["linux"]["memoryPolicy"] = policy.clone());
        let o = c.create();
        assert_eq!(o.code, 1, "{policy}: {o:?}");
        assert!(o.stderr.contains(field), "{policy}: {o:?}");
        assert!(!c.root.join(&c.id).exists(), "{policy}: state left behind");
        assert!(c.cgroup_dirs().is_empty(), "{policy}: cgroup left behind");
    }
}

/// Without linux.cgroupsPath the container's cgroup is `/<id>` under each
/// hierarchy root (as runc/crun; contest reads it there), and on v1 a
/// hugepage limit is also written to the reservation limit.
#[test]
fn default_cgroup_is_id_under_the_root_and_hugetlb_rsvd_is_limited() {
    let mut c = Ctr::new("cf-cgdefault");
    let hugetlb = std::path::Path::new("/sys/fs/cgroup/hugetlb");
    let v1_hugetlb = hugetlb.join("hugetlb.2MB.limit_in_bytes").exists();
    c.edit(|s| {
        if let Some(l) = s["linux"].as_object_mut() {
            l.remove("cgroupsPath");
        }
        if v1_hugetlb {
            s["linux"]["resources"]["hugepageLimits"] =
                json!([{"pageSize": "2MB", "limit": 4194304}]);
        }
    });
    c.args(&["sleep", "1000"]);
    c.create().ok();
    let own = std::fs::read_to_string(format!("/proc/{}/cgroup", c.pid())).unwrap();
    let want = format!("/{}", c.id);
    for l in own.lines() {
        let path = l.splitn(3, ':').nth(2).unwrap_or_default();
        // Hierarchies caixa joins: every v1 controller line and v2's.
        if path.contains(&c.id) {
            assert_eq!(path, want, "{own}");
        }
    }
    assert!(own.lines().any(|l| l.ends_with(&want)), "{own}");
    if v1_hugetlb {
        let dir = hugetlb.join(&c.id);
        for f in [
            "hugetlb.2MB.limit_in_bytes",
            "hugetlb.2MB.rsvd.limit_in_bytes",
        ] {
            let p = dir.join(f);
            // The reservation file exists on kernels 5.7+.
            if !f.contains("rsvd") || p.exists() {
                assert_eq!(
                    std::fs::read_to_string(&p).unwrap().trim(),
                    "4194304",
                    "{}",
                    p.display()
                );
            }
        }
    }
    c.delete(true).ok();
    assert!(c.cgroup_dirs().is_empty(), "{:?}", c.cgroup_dirs());
}

/// linux.personality applies to exec'd processes too.
#[test]
fn exec_gets_the_personality() {
    if std::env::consts::ARCH != "x86_64" {
        return;
    }
    let mut c = Ctr::new("cf-pers");
    c.edit(|s| s["linux"]["personality"] = json!({"domain": "LINUX32"}));
    c.args(&["sleep", "1000"]);
    c.create().ok();
    c.start().ok();
    let o = c.rt(&["exec", &c.id, "uname", "-m"]).ok();
    assert_eq!(o.stdout.trim(), "i686", "{o:?}");
    // The runtime's own personality is untouched.
    let me = std::process::Command::new("uname")
        .arg("-m")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&me.stdout).trim(), "x86_64");
}

/// `exec --cgroup`: the process joins an existing sub-cgroup of the
/// container's cgroup (runc's `PATH` and `CTRL:PATH` forms).
#[test]
fn exec_cgroup_joins_a_sub_cgroup() {
    let c = running("cf-execcg");
    let dirs: Vec<_> = c
        .cgroup_dirs()
        .into_iter()
        .filter(|d| d.file_name().is_some_and(|n| n == c.id.as_str()))
        .collect();
    assert!(!dirs.is_empty());
    for d in &dirs {
        std::fs::create_dir(d.join("sub")).unwrap();
        // A v1 cpuset cgroup takes no task before it has cpus and mems.
        for f in ["cpuset.cpus", "cpuset.mems"] {
            if let Ok(v) = std::fs::read_to_string(d.join(f)) {
                std::fs::write(d.join("sub").join(f), v.trim()).unwrap();
            }
        }
    }
    let v1 = !std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let pids_dir = dirs
        .iter()
        .find(|d| d.parent().is_some_and(|p| p.ends_with("pids")));
    if let Some(p) = pids_dir {
        std::fs::create_dir(p.join("only-pids")).unwrap();
    }
    // The exec'd process's cgroups, read from the host.
    let cgroups_of = |extra: &[&str]| -> Vec<String> {
        let pid = c.exec_detached(extra, &["sleep", "1000"]);
        let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
        // SAFETY: signalling the process this test started.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        text.lines()
            .filter(|l| l.contains(&c.id))
            .map(String::from)
            .collect()
    };
    let lines = cgroups_of(&["--cgroup", "sub"]);
    assert!(!lines.is_empty());
    for l in &lines {
        assert!(l.ends_with(&format!("/{}/sub", c.id)), "{lines:?}");
    }
    if v1 && pids_dir.is_some() {
        let lines = cgroups_of(&["--cgroup", "pids:/only-pids"]);
        for l in &lines {
            let want = if l.contains(":pids:") {
                format!("/{}/only-pids", c.id)
            } else {
                format!("/{}", c.id)
            };
            assert!(l.ends_with(&want), "{lines:?}");
        }
    }
    for bad in ["..", "notexistspath", "cpu:notexistspath", "waaaaat:/"] {
        let o = c.rt(&["exec", "--cgroup", bad, &c.id, "true"]);
        assert_eq!(o.code, 1, "{bad}: {o:?}");
        assert!(o.stderr.contains("error: --cgroup"), "{bad}: {o:?}");
    }
    drop(c);
}

/// `checkpoint`/`restore` check their flags like runc and then fail at once
/// with the reason (no CRIU integration), leaving the container as it was.
#[test]
fn checkpoint_and_restore_validate_then_refuse() {
    let c = running("cf-ckpt");
    let images = c.dir().join("images");
    std::fs::create_dir(&images).unwrap();
    let img = images.to_str().unwrap();
    let abs = c.dir().join("parent-dir");
    std::fs::create_dir(&abs).unwrap();
    for parent in [abs.to_str().unwrap(), "./parent-dir"] {
        let o = c.rt(&[
            "checkpoint",
            "--image-path",
            img,
            "--parent-path",
            parent,
            &c.id,
        ]);
        assert_eq!(o.code, 1, "{parent}: {o:?}");
        assert!(
            o.stderr.starts_with("caixa-runtime: error: --parent-path"),
            "{o:?}"
        );
    }
    let o = c.rt(&["checkpoint", "--manage-cgroups-mode", "bogus", &c.id]);
    assert!(o.stderr.contains("error: --manage-cgroups-mode"), "{o:?}");
    let o = c.rt(&[
        "--criu",
        "/nonexistent/caixa-test-criu",
        "checkpoint",
        "--image-path",
        img,
        &c.id,
    ]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(
        o.stderr
            .contains("error: checkpoint needs CRIU, which is not installed"),
        "{o:?}"
    );
    let o = c.rt(&["checkpoint", "--image-path", img, "--leave-running", &c.id]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stderr.contains("error: checkpoint"), "{o:?}");
    assert!(o.stderr.contains("CRIU"), "{o:?}");
    assert_eq!(c.status(), "running");
    assert!(std::fs::read_dir(&images).unwrap().next().is_none());

    let o = c.rt(&["restore", "--image-path", img, "--bundle"]
        .iter()
        .copied()
        .chain([c.bundle.to_str().unwrap(), &c.id])
        .collect::<Vec<_>>());
    assert!(o.stderr.contains("already exists"), "{o:?}");
    let other = format!("{}-r", c.id);
    let o = c.rt(&["restore", "-d", "--image-path", img, "--bundle"]
        .iter()
        .copied()
        .chain([c.bundle.to_str().unwrap(), &other])
        .collect::<Vec<_>>());
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stderr.contains("error: restore"), "{o:?}");
    assert!(o.stderr.contains("CRIU"), "{o:?}");
    assert!(!c.root.join(&other).exists());
}

/// Time offsets with a new user namespace too (the offsets are written by
/// the stage, root of the new user namespace, before the init enters the
/// time namespace); checked from the host in /proc/PID/timens_offsets.
#[test]
fn time_offsets_with_a_user_namespace() {
    if !std::path::Path::new("/proc/self/timens_offsets").exists() {
        return;
    }
    let mut c = Ctr::new("cf-timens");
    c.edit(|s| {
        let ns = s["linux"]["namespaces"].as_array_mut().unwrap();
        ns.retain(|n| n["type"] != "user" && n["type"] != "time");
        ns.push(json!({"type": "user"}));
        ns.push(json!({"type": "time"}));
        s["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65534}]);
        s["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 200000, "size": 65534}]);
        s["linux"]["timeOffsets"] = json!({
            "monotonic": {"secs": 1337, "nanosecs": 3},
            "boottime": {"secs": 7331, "nanosecs": 0},
        });
    });
    c.args(&["sleep", "1000"]);
    let o = c.create();
    assert_eq!(o.code, 0, "{o:?}");
    let pid = c.pid();
    let text = std::fs::read_to_string(format!("/proc/{pid}/timens_offsets")).unwrap();
    assert!(
        text.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["monotonic", "1337", "3"]),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["boottime", "7331", "0"]),
        "{text}"
    );
    let uid_map = std::fs::read_to_string(format!("/proc/{pid}/uid_map")).unwrap();
    assert_eq!(
        uid_map.split_whitespace().collect::<Vec<_>>(),
        ["0", "100000", "65534"]
    );
}

/// No namespaces at all (runc accepts it when nothing is masked or made
/// read-only): the process shares every namespace with the caller; the
/// rootfs bind is the only change to the caller's mount table and goes
/// away at delete.
#[test]
fn no_namespaces_shares_the_callers_and_cleans_up() {
    let mut c = Ctr::new("cf-nons");
    c.edit(|s| {
        s["linux"]["namespaces"] = json!([]);
        s["linux"]["maskedPaths"] = json!([]);
        s["linux"]["readonlyPaths"] = json!([]);
        s["linux"].as_object_mut().unwrap().remove("uidMappings");
        s["linux"].as_object_mut().unwrap().remove("gidMappings");
        s.as_object_mut().unwrap().remove("hostname");
    });
    c.args(&["sleep", "1000"]);
    let before = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let o = c.create();
    assert_eq!(o.code, 0, "{o:?}");
    let pid = c.pid();
    for ns in ["mnt", "pid", "net", "uts", "ipc", "cgroup", "user"] {
        assert_eq!(
            std::fs::read_link(format!("/proc/{pid}/ns/{ns}")).unwrap(),
            std::fs::read_link(format!("/proc/self/ns/{ns}")).unwrap(),
            "{ns}"
        );
    }
    let rootfs = std::fs::canonicalize(c.bundle.join("rootfs")).unwrap();
    let rootfs = rootfs.to_str().unwrap().to_string();
    // Chrooted into its rootfs.
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/root")).unwrap(),
        std::path::PathBuf::from(&rootfs)
    );
    assert!(!common::host_mounts_with(&rootfs).is_empty());
    c.delete(true).ok();
    assert!(
        common::host_mounts_with(&rootfs).is_empty(),
        "{:?}",
        common::host_mounts_with(&rootfs)
    );
    let after = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert_eq!(before.lines().count(), after.lines().count());

    // Masked or read-only paths need a mount namespace.
    c.edit(|s| s["linux"]["maskedPaths"] = json!(["/proc/kcore"]));
    let o = c.create();
    assert_eq!(o.code, 1, "{o:?}");
    assert!(
        o.stderr
            .contains("linux.maskedPaths: needs a mount namespace"),
        "{o:?}"
    );
    assert!(common::host_mounts_with(&rootfs).is_empty());
    // A failing process start takes the rootfs bind away too.
    c.edit(|s| {
        s["linux"]["maskedPaths"] = json!([]);
        s["process"]["args"] = json!(["/nonexistent-caixa-test"]);
    });
    let o = c.create();
    assert_ne!(o.code, 0, "{o:?}");
    assert!(
        common::host_mounts_with(&rootfs).is_empty(),
        "{:?}",
        common::host_mounts_with(&rootfs)
    );
}

/// A process.json for `exec --process` with `execCPUAffinity`.
fn affinity_process(c: &Ctr, initial: &str, fin: &str) -> std::path::PathBuf {
    let pf = c.dir().join("affinity-process.json");
    std::fs::write(
        &pf,
        serde_json::to_vec(&json!({
            "args": ["grep", "Cpus_allowed_list", "/proc/self/status"],
            "env": ["PATH=/bin"],
            "cwd": "/",
            "user": {"uid": 0, "gid": 0},
            "execCPUAffinity": {"initial": initial, "final": fin}
        }))
        .unwrap(),
    )
    .unwrap();
    pf
}

/// With --debug, exec logs the new process's CPU affinity once
/// execCPUAffinity.initial is applied (as runc's nsexec; contest greps
/// stderr for it); without --debug it says nothing.
#[test]
fn exec_debug_logs_the_initial_cpu_affinity() {
    let c = running("cf-affinity");
    let pf = affinity_process(&c, "0", "0");
    let pf = pf.to_str().unwrap();
    let o = c.rt(&["--debug", "exec", "--process", pf, &c.id]).ok();
    let line = o.stderr.lines().find(|l| l.contains("affinity: 0x"));
    assert_eq!(line, Some("caixa-runtime: debug: affinity: 0x1"), "{o:?}");
    assert_eq!(o.stdout.split_whitespace().nth(1), Some("0"), "{o:?}");
    let o = c.rt(&["exec", "--process", pf, &c.id]).ok();
    assert_eq!(o.stderr, "", "{o:?}");
}

/// --log FILE: text lines in logrus' form, or --log-format json objects with
/// level/msg/time; an error also stays on stderr as one line.
#[test]
fn log_file_in_text_and_json() {
    let c = running("cf-log");
    let text = c.dir().join("log.txt");
    let pf = affinity_process(&c, "0", "0");
    let o = c
        .rt(&[
            "--debug",
            "--log",
            text.to_str().unwrap(),
            "exec",
            "--process",
            pf.to_str().unwrap(),
            &c.id,
        ])
        .ok();
    assert_eq!(o.stderr, "", "{o:?}");
    let logged = std::fs::read_to_string(&text).unwrap();
    let line = logged
        .lines()
        .find(|l| l.contains("affinity"))
        .unwrap_or_else(|| panic!("no affinity line in {logged:?}"));
    assert!(line.starts_with("time=\""), "{line}");
    assert!(
        line.ends_with(" level=debug msg=\"affinity: 0x1\""),
        "{line}"
    );

    let json_log = c.dir().join("log.json");
    let o = c.rt(&[
        "--log",
        json_log.to_str().unwrap(),
        "--log-format",
        "json",
        "delete",
        "caixa-test-no-such-container",
    ]);
    assert_eq!(o.code, 1, "{o:?}");
    assert_eq!(
        o.stderr,
        "caixa-runtime: error: container caixa-test-no-such-container: does not exist\n"
    );
    let logged = std::fs::read_to_string(&json_log).unwrap();
    let lines: Vec<&str> = logged.lines().collect();
    assert_eq!(lines.len(), 1, "{logged:?}");
    let v: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(v["level"], "error", "{v}");
    assert_eq!(
        v["msg"],
        "container caixa-test-no-such-container: does not exist"
    );
    let time = v["time"].as_str().unwrap_or_default();
    assert!(
        chrono::DateTime::parse_from_rfc3339(time).is_ok(),
        "time {time:?}"
    );
    // Appended, not truncated.
    c.rt(&[
        "--log",
        json_log.to_str().unwrap(),
        "--log-format",
        "json",
        "delete",
        "caixa-test-no-such-container",
    ]);
    assert_eq!(
        std::fs::read_to_string(&json_log).unwrap().lines().count(),
        2
    );
}

/// Poststart hooks that write NAME to `out`; the second one fails.
fn poststart_hooks(out: &std::path::Path) -> serde_json::Value {
    let out = out.display();
    json!({"poststart": [
        {"path": "/bin/sh", "args": ["sh", "-c", format!("echo one >> {out}")]},
        {"path": "/bin/sh", "args": ["sh", "-c", format!("echo two >> {out}; exit 3")]},
        {"path": "/bin/sh", "args": ["sh", "-c", format!("echo three >> {out}")]}
    ]})
}

/// A failing poststart hook: the later hooks do not run, the container is
/// stopped and `start` (or `run`) fails, as the runtime spec says.
#[test]
fn failing_poststart_hook_stops_the_container() {
    let mut c = Ctr::new("cf-poststart");
    let out = c.dir().join("hooks.out");
    let hooks = poststart_hooks(&out);
    c.args(&["sleep", "1000"]).edit(|s| s["hooks"] = hooks);
    c.create().ok();
    let pid = c.pid();
    let o = c.start();
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stderr.starts_with("caixa-runtime: error: "), "{o:?}");
    assert!(o.stderr.contains("poststart"), "{o:?}");
    assert!(o.stderr.contains("exited with status 3"), "{o:?}");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "one\ntwo\n");
    assert_eq!(c.status(), "stopped");
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    assert!(
        stat.is_empty() || stat.contains(") Z"),
        "init alive: {stat}"
    );
    c.delete(false).ok();
    assert!(c.cgroup_dirs().is_empty(), "{:?}", c.cgroup_dirs());

    // `run`: the same, and nothing is left.
    std::fs::remove_file(&out).unwrap();
    let o = c.run();
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stderr.contains("poststart"), "{o:?}");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "one\ntwo\n");
    assert!(!c.root.join(&c.id).exists());
    assert!(c.cgroup_dirs().is_empty(), "{:?}", c.cgroup_dirs());
}
