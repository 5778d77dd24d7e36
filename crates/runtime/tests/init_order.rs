//! What the init does before `created` and what after `start`: the
//! process's user, capabilities, cwd and seccomp filter are applied
//! before `create` returns (so their errors fail `create` and leave
//! nothing), the runtime's own calls come before the filter, and only the
//! startContainer hooks and the execve follow `start`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::Ctr;
use serde_json::{Value, json};

/// Every x86_64 syscall name the kernel headers know, minus `except`.
fn all_syscalls_except(except: &[&str]) -> Vec<String> {
    let h = "/usr/include/x86_64-linux-gnu/asm/unistd_64.h";
    let text = std::fs::read_to_string(h).unwrap_or_else(|e| panic!("{h} (linux-libc-dev): {e}"));
    let names: Vec<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("#define __NR_"))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| !except.contains(n))
        .map(String::from)
        .collect();
    assert!(names.len() > 300, "{h}: only {} syscalls", names.len());
    names
}

/// Host processes whose root is inside `dir` (a container left behind).
fn processes_rooted_in(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if let Ok(root) = std::fs::read_link(e.path().join("root"))
            && root.starts_with(dir)
        {
            out.push(name);
        }
    }
    out
}

/// `create` failed with one line naming `field`, and left no state dir,
/// cgroup or process.
fn assert_create_failed_cleanly(c: &Ctr, field: &str) {
    let o = c.create();
    assert_ne!(o.code, 0, "create succeeded: {o:?}");
    let err = o.stderr.trim();
    assert_eq!(err.lines().count(), 1, "{o:?}");
    assert!(err.contains(field), "{o:?}");
    assert!(!c.root.join(&c.id).exists(), "state dir left: {o:?}");
    assert!(c.cgroup_dirs().is_empty(), "{:?}", c.cgroup_dirs());
    assert!(processes_rooted_in(c.dir()).is_empty());
    let dir = c.dir().to_str().unwrap();
    assert!(common::host_mounts_with(dir).is_empty(), "mount left");
}

fn status_field(pid: i32, key: &str) -> String {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix(key))
        .unwrap_or_else(|| panic!("{key} not in /proc/{pid}/status"))
        .trim()
        .to_string()
}

#[test]
fn runtime_calls_come_before_a_filter_that_denies_them() {
    // Without noNewPrivileges the filter goes in while the init still has
    // CAP_SYS_ADMIN; close_range, getcwd (the CVE-2024-21626 check) and
    // the credential calls must not be subject to it.
    let mut c = Ctr::new("scdeny");
    c.edit(|s| {
        s["process"]["noNewPrivileges"] = json!(false);
        s["process"]["cwd"] = json!("/tmp");
        s["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [{"names": ["close_range", "getcwd"], "action": "SCMP_ACT_ERRNO"}]
        });
    });
    c.sh(
        "echo ran; grep Seccomp: /proc/self/status; /bin/pwd -P 2>/dev/null || echo getcwd-denied",
    );
    let o = c.run().ok();
    assert_eq!(o.stdout, "ran\nSeccomp:\t2\ngetcwd-denied\n", "{o:?}");

    // An allowlist without close_range, with and without no_new_privs.
    for nnp in [false, true] {
        let mut c = Ctr::new(&format!("scallow{nnp}"));
        c.edit(|s| {
            s["process"]["noNewPrivileges"] = json!(nnp);
            s["linux"]["seccomp"] = json!({
                "defaultAction": "SCMP_ACT_ERRNO",
                "architectures": ["SCMP_ARCH_X86_64"],
                "syscalls": [{"names": all_syscalls_except(&["close_range"]),
                              "action": "SCMP_ACT_ALLOW"}]
            });
        });
        c.sh("echo ran; grep Seccomp: /proc/self/status");
        let o = c.run().ok();
        assert_eq!(o.stdout, "ran\nSeccomp:\t2\n", "nnp={nnp}: {o:?}");
    }
}

#[test]
fn created_init_already_has_the_user_caps_and_filter() {
    let mut c = Ctr::new("created");
    c.edit(|s| {
        s["process"]["noNewPrivileges"] = json!(true);
        s["process"]["user"] = json!({"uid": 1234, "gid": 2345, "additionalGids": [7]});
        s["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]
        });
    });
    c.sh("id -u; mkdir /tmp/x 2>/dev/null || echo mkdir-denied");
    c.create().ok();
    assert_eq!(c.status(), "created");
    let pid = c.pid();
    assert!(status_field(pid, "Uid:").starts_with("1234\t"));
    assert!(status_field(pid, "Gid:").starts_with("2345\t"));
    assert_eq!(status_field(pid, "Groups:"), "7");
    assert_eq!(status_field(pid, "Seccomp:"), "2");
    assert_eq!(status_field(pid, "NoNewPrivs:"), "1");
    // The spec's effective set (AUDIT_WRITE, KILL, NET_BIND_SERVICE); the
    // execve as a non-root user then clears it.
    assert_eq!(status_field(pid, "CapEff:"), "0000000020000420");
    c.start().ok();
    c.wait_stopped();
    assert_eq!(c.container_output(), "1234\nmkdir-denied\n");
    c.delete(false).ok();
}

/// A capability missing from this process's bounding set (the container's
/// init cannot have it either), if there is one.
fn cap_outside_bounding_set() -> Option<&'static str> {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    let bnd = s.lines().find_map(|l| l.strip_prefix("CapBnd:")).unwrap();
    let bnd = u64::from_str_radix(bnd.trim(), 16).unwrap();
    [
        (24, "CAP_SYS_RESOURCE"),
        (25, "CAP_SYS_TIME"),
        (16, "CAP_SYS_MODULE"),
        (22, "CAP_SYS_BOOT"),
    ]
    .into_iter()
    .find(|(bit, _)| bnd & (1 << bit) == 0)
    .map(|(_, n)| n)
}

#[test]
fn a_capability_outside_the_bounding_set_fails_create() {
    let Some(cap) = cap_outside_bounding_set() else {
        eprintln!("skipped: this host's bounding set has every capability tried");
        return;
    };
    let mut c = Ctr::new("capfail");
    c.edit(|s| {
        for set in ["bounding", "effective", "permitted"] {
            s["process"]["capabilities"][set]
                .as_array_mut()
                .unwrap()
                .push(json!(cap));
        }
    });
    c.args(&["true"]);
    assert_create_failed_cleanly(&c, "process.capabilities");

    // Without a mount namespace the rootfs bind is in our mount table; a
    // cap only in permitted fails after the effective set is lowered, and
    // the bind must still go.
    let mut c = Ctr::new("capfailshared");
    c.edit(|s| {
        let l = &mut s["linux"];
        l["namespaces"]
            .as_array_mut()
            .unwrap()
            .retain(|n| n["type"] != "mount");
        l.as_object_mut().unwrap().remove("maskedPaths");
        l.as_object_mut().unwrap().remove("readonlyPaths");
        s["mounts"] = json!([]);
        for set in ["bounding", "permitted"] {
            s["process"]["capabilities"][set]
                .as_array_mut()
                .unwrap()
                .push(json!(cap));
        }
    });
    c.args(&["true"]);
    assert_create_failed_cleanly(&c, "process.capabilities.permitted");
}

#[test]
fn a_user_the_kernel_refuses_fails_create() {
    // Gid 70000 is not mapped in the user namespace: setgroups refuses it.
    let mut c = Ctr::new("badgroups");
    c.edit(|s| {
        common::with_userns(s);
        s["process"]["user"] = json!({"uid": 0, "gid": 0, "additionalGids": [70000]});
    });
    c.args(&["true"]);
    assert_create_failed_cleanly(&c, "process.user.additionalGids");

    // Likewise an unmapped uid.
    let mut c = Ctr::new("baduid");
    c.edit(|s| {
        common::with_userns(s);
        s["process"]["user"] = json!({"uid": 70000, "gid": 0});
    });
    c.args(&["true"]);
    assert_create_failed_cleanly(&c, "process.user.uid");
}

#[test]
fn start_container_hooks_run_as_the_container_user() {
    let mut c = Ctr::new("hookuser");
    c.edit(|s| {
        s["process"]["user"] = json!({"uid": 1234, "gid": 2345});
        s["hooks"] = json!({"startContainer": [{"path": "/bin/sh",
            "args": ["sh", "-c", "id -u > /tmp/hook.out; echo \"$CAIXA_TEST_VAR\" >> /tmp/hook.out"]}]});
        s["process"]["env"]
            .as_array_mut()
            .unwrap()
            .push(json!("CAIXA_TEST_VAR=from-process-env"));
        let mut m = s["mounts"].as_array().unwrap().clone();
        m.push(json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
                      "options": ["mode=1777"]}));
        s["mounts"] = Value::Array(m);
    });
    c.sh("cat /tmp/hook.out");
    let o = c.run().ok();
    assert_eq!(o.stdout, "1234\nfrom-process-env\n", "{o:?}");
}

/// A uts namespace kept alive by a bind mount on a file (removed on drop).
struct PinnedUts(PathBuf);

impl PinnedUts {
    fn new(dir: &Path) -> PinnedUts {
        let f = dir.join("uts");
        std::fs::write(&f, "").unwrap();
        let st = Command::new("unshare")
            .arg(format!("--uts={}", f.display()))
            .arg("true")
            .status()
            .expect("unshare");
        assert!(st.success(), "unshare --uts");
        PinnedUts(f)
    }

    fn hostname(&self) -> String {
        let o = Command::new("nsenter")
            .arg(format!("--uts={}", self.0.display()))
            .arg("hostname")
            .output()
            .expect("nsenter");
        assert!(o.status.success(), "{o:?}");
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    }
}

impl Drop for PinnedUts {
    fn drop(&mut self) {
        let _ = rustix::mount::unmount(&self.0, rustix::mount::UnmountFlags::DETACH);
    }
}

#[test]
fn hostname_is_set_in_a_uts_namespace_joined_by_path() {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let mut c = Ctr::new("utspath");
    let uts = PinnedUts::new(c.dir());
    let path = uts.0.display().to_string();
    c.edit(|s| {
        for n in s["linux"]["namespaces"].as_array_mut().unwrap() {
            if n["type"] == "uts" {
                n["path"] = json!(path);
            }
        }
        s["hostname"] = json!("caixa-test-joined");
    });
    c.args(&["hostname"]);
    let o = c.run().ok();
    assert_eq!(o.stdout, "caixa-test-joined\n");
    assert_eq!(uts.hostname(), "caixa-test-joined");
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap(),
        host
    );
    drop(uts);
    assert!(common::host_mounts_with(c.dir().to_str().unwrap()).is_empty());
}

#[test]
fn a_notify_filter_does_not_catch_the_runtime_calls() {
    // The agent takes the listener and never answers: had the init's own
    // getcwd (the cwd check) come after the filter, create would hang.
    let mut c = Ctr::new("notifycwd");
    let sock = c.dir().join("agent.sock");
    let agent = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let path = sock.display().to_string();
    c.edit(|s| {
        s["process"]["noNewPrivileges"] = json!(false);
        s["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": path,
            "syscalls": [{"names": ["getcwd", "close_range"], "action": "SCMP_ACT_NOTIFY"}]
        });
    });
    c.args(&["true"]);
    // `timeout` only guards against a hang (the failure being tested);
    // output to files, as the init keeps create's stdio.
    let err = c.dir().join("create.stderr");
    let st = Command::new("timeout")
        .arg("60")
        .arg(common::runtime_bin())
        .arg("--root")
        .arg(&c.root)
        .args(["create", &c.id, "--bundle"])
        .arg(&c.bundle)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&err).unwrap())
        .status()
        .unwrap();
    let err = std::fs::read_to_string(&err).unwrap_or_default();
    assert!(st.success(), "{st:?} {err}");
    let (mut conn, _) = agent.accept().unwrap();
    let mut got = Vec::new();
    std::io::Read::read_to_end(&mut conn, &mut got).unwrap();
    assert!(String::from_utf8_lossy(&got).contains(&c.id));
    assert_eq!(c.status(), "created");
    assert_eq!(status_field(c.pid(), "Seccomp:"), "2");
    c.delete(true).ok();
}
