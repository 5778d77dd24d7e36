//! pause/resume, update, events and features through the caixa-runtime
//! binary with real containers, checked in the cgroup files and /proc
//! (cgroup v1 here; v2 in ../shared/tools/run-in-v2vm).

mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::Stdio;

use common::{Ctr, Out};
use serde_json::Value;

fn is_v2() -> bool {
    // SAFETY: statfs fills the struct we pass for a valid C path.
    unsafe {
        let mut s: libc::statfs = std::mem::zeroed();
        libc::statfs(c"/sys/fs/cgroup".as_ptr(), &mut s) == 0
            && s.f_type == libc::CGROUP2_SUPER_MAGIC
    }
}

/// `file` in whichever of the container's cgroup directories has it.
fn cg_file(c: &Ctr, file: &str) -> PathBuf {
    let dirs = c.cgroup_dirs();
    dirs.iter()
        .map(|d| d.join(file))
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("no {file} in {dirs:?}"))
}

fn read(p: &PathBuf) -> String {
    std::fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .trim()
        .to_string()
}

/// Whether the kernel says the container's cgroup is frozen.
fn frozen(c: &Ctr) -> bool {
    if is_v2() {
        read(&cg_file(c, "cgroup.events")).contains("frozen 1")
    } else {
        read(&cg_file(c, "freezer.state")) == "FROZEN"
    }
}

/// The state letter of `pid` in /proc/PID/status ("S", "D", "R", ...).
fn proc_state(pid: i32) -> String {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("State:"))
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

fn stats(c: &Ctr) -> Value {
    let o = c.rt(&["events", "--stats", &c.id]).ok();
    let v: Value = serde_json::from_str(o.stdout.trim()).expect("stats json");
    assert_eq!(v["type"], "stats", "{v}");
    assert_eq!(v["id"], c.id.as_str(), "{v}");
    v["data"].clone()
}

/// A one-line error that names `needle`.
fn one_line_error(o: &Out, needle: &str) {
    assert_ne!(o.code, 0, "{o:?}");
    assert_eq!(o.stderr.trim().lines().count(), 1, "{o:?}");
    assert!(o.stderr.contains(needle), "{o:?}");
}

fn started(name: &str, script: &str) -> Ctr {
    let mut c = Ctr::new(name);
    c.sh(script);
    c.create().ok();
    c.start().ok();
    c
}

#[test]
fn pause_freezes_every_process_and_resume_thaws_them() {
    let c = started("pause", "sleep 1000 & while :; do :; done");
    let pid = c.pid();
    c.rt(&["pause", &c.id]).ok();
    assert!(frozen(&c));
    assert_eq!(c.status(), "paused");
    let list = c.rt(&["list", "--format", "json"]).ok();
    let list: Value = serde_json::from_str(&list.stdout).unwrap();
    assert_eq!(list[0]["status"], "paused", "{list}");
    if !is_v2() {
        // The v1 freezer parks tasks in the refrigerator (D).
        assert_eq!(proc_state(pid), "D");
    }
    // Frozen, the busy loop uses no CPU at all.
    let before = stats(&c)["cpu"]["usage"]["total"].as_u64().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let after = stats(&c)["cpu"]["usage"]["total"].as_u64().unwrap();
    assert_eq!(before, after);
    one_line_error(&c.rt(&["pause", &c.id]), "paused");
    c.rt(&["resume", &c.id]).ok();
    assert!(!frozen(&c));
    assert_eq!(c.status(), "running");
    assert_ne!(proc_state(pid), "D");
    one_line_error(&c.rt(&["resume", &c.id]), "not paused");
    // A paused container is deleted with --force (thawed to die), and
    // without it refused.
    c.rt(&["pause", &c.id]).ok();
    one_line_error(&c.delete(false), "paused");
    c.delete(true).ok();
    assert!(c.cgroup_dirs().is_empty(), "{:?}", c.cgroup_dirs());
}

#[test]
fn a_created_container_can_be_paused_and_resumed() {
    let mut c = Ctr::new("pausecreated");
    c.args(&["true"]);
    c.create().ok();
    c.rt(&["pause", &c.id]).ok();
    assert_eq!(c.status(), "paused");
    c.rt(&["resume", &c.id]).ok();
    assert_eq!(c.status(), "created");
}

#[test]
fn update_writes_the_cgroup_files() {
    let c = started("update", "sleep 1000");
    c.rt(&[
        "update",
        "--pids-limit",
        "5",
        "--cpu-quota",
        "20000",
        "--cpu-period",
        "100000",
        "--cpuset-cpus",
        "0",
        &c.id,
    ])
    .ok();
    assert_eq!(read(&cg_file(&c, "pids.max")), "5");
    if is_v2() {
        assert_eq!(read(&cg_file(&c, "cpu.max")), "20000 100000");
        assert_eq!(read(&cg_file(&c, "cpuset.cpus")), "0");
    } else {
        assert_eq!(read(&cg_file(&c, "cpu.cfs_quota_us")), "20000");
        assert_eq!(read(&cg_file(&c, "cpu.cfs_period_us")), "100000");
        assert_eq!(read(&cg_file(&c, "cpuset.cpus")), "0");
    }
    assert_eq!(stats(&c)["pids"]["limit"], 5);
    // -r from stdin merges: pids changes, the cpu quota stays.
    let mut cmd = c.cmd();
    cmd.args(["update", "-r", "-", &c.id])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(br#"{"pids": {"limit": 9}}"#)
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{o:?}");
    assert_eq!(read(&cg_file(&c, "pids.max")), "9");
    let quota = if is_v2() {
        "cpu.max"
    } else {
        "cpu.cfs_quota_us"
    };
    assert!(read(&cg_file(&c, quota)).starts_with("20000"));
    // 0 leaves a value as it is (runc).
    c.rt(&["update", "--pids-limit", "0", "--cpu-quota", "0", &c.id])
        .ok();
    assert_eq!(read(&cg_file(&c, "pids.max")), "9");
    assert!(read(&cg_file(&c, quota)).starts_with("20000"));
    // Bad values: one line naming the flag or field; limits unchanged.
    one_line_error(&c.rt(&["update", "--memory", "lots", &c.id]), "--memory");
    let bad = c.dir().join("bad.json");
    std::fs::write(&bad, r#"{"pids": {"limit": "many"}}"#).unwrap();
    one_line_error(
        &c.rt(&["update", "-r", bad.to_str().unwrap(), &c.id]),
        "pids.limit",
    );
    assert_eq!(read(&cg_file(&c, "pids.max")), "9");
}

#[test]
fn updated_memory_limit_is_enforced_and_the_oom_is_an_event() {
    let mut c = Ctr::new("updoom");
    // Waits for /go, then doubles a string until the kernel kills it.
    c.sh("while [ ! -e /go ]; do sleep 0.05; done; awk 'BEGIN { s = \"x\"; while (1) s = s s }'");
    c.create().ok();
    c.start().ok();
    let limit = (32u64 << 20).to_string();
    c.rt(&["update", "--memory", "32m", "--memory-swap", "32m", &c.id])
        .ok();
    let f = if is_v2() {
        "memory.max"
    } else {
        "memory.limit_in_bytes"
    };
    // Checked before the hog starts: without the limit it would eat the host.
    assert_eq!(read(&cg_file(&c, f)), limit);
    assert_eq!(stats(&c)["memory"]["usage"]["limit"].to_string(), limit);

    let mut ev = c
        .cmd()
        .args(["events", "--interval", "100ms", &c.id])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(ev.stdout.take().unwrap()).lines();
    // The first stats line: the OOM notifier is registered by now.
    let first: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(first["type"], "stats");
    assert!(
        first["data"]["pids"]["current"].as_u64().unwrap() >= 1,
        "{first}"
    );
    std::fs::write(c.bundle.join("rootfs/go"), "").unwrap();
    // The stream ends when the container's init exits after the kill.
    let mut ooms = 0;
    for l in lines {
        let v: Value = serde_json::from_str(&l.unwrap()).unwrap();
        if v["type"] == "oom" {
            assert_eq!(v["id"], c.id.as_str());
            ooms += 1;
        }
    }
    assert!(ev.wait().unwrap().success());
    assert!(ooms >= 1, "no oom event");
    assert_eq!(c.status(), "stopped");
    let counter = if is_v2() {
        "memory.events"
    } else {
        "memory.oom_control"
    };
    let text = read(&cg_file(&c, counter));
    let kills: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("oom_kill "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(kills >= 1, "{text}");
}

#[test]
fn stats_report_real_usage() {
    let c = started(
        "stats",
        "sleep 1000 & i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; wait",
    );
    let s = stats(&c);
    assert!(s["cpu"]["usage"]["total"].as_u64().unwrap() > 0, "{s}");
    assert!(s["memory"]["usage"]["usage"].as_u64().unwrap() > 0, "{s}");
    assert!(s["pids"]["current"].as_u64().unwrap() >= 1, "{s}");
}

#[test]
fn commands_on_missing_or_stopped_containers_fail_in_one_line() {
    let mut c = Ctr::new("opserr");
    let missing = format!("{}-missing", c.id);
    for args in [
        vec!["pause", &missing],
        vec!["resume", &missing],
        vec!["update", "--pids-limit", "3", &missing],
        vec!["events", "--stats", &missing],
        vec!["events", &missing],
    ] {
        one_line_error(&c.rt(&args), "does not exist");
    }
    c.args(&["true"]);
    c.create().ok();
    c.start().ok();
    c.wait_stopped();
    for args in [
        vec!["pause", &c.id],
        vec!["resume", &c.id],
        vec!["update", "--pids-limit", "3", &c.id],
        vec!["events", "--stats", &c.id],
    ] {
        one_line_error(&c.rt(&args), "stopped");
    }
    one_line_error(
        &c.rt(&["events", "--interval", "soon", &c.id]),
        "--interval",
    );
}

#[test]
fn features_document_lists_the_rootfs_mount_options() {
    let c = Ctr::new("features");
    let o = c.rt(&["features"]).ok();
    let f: Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(f["ociVersionMin"], "1.0.0");
    let opts = f["mountOptions"].as_array().unwrap();
    for o in ["rbind", "rro", "idmap", "nosymfollow"] {
        assert!(opts.iter().any(|x| x == o), "{o} missing from {opts:?}");
    }
    assert!(f["linux"]["namespaces"].as_array().unwrap().len() >= 7);
}

#[test]
fn a_new_memory_limit_alone_keeps_swap_off() {
    let mut c = Ctr::new("updswap");
    let m32 = 32i64 << 20;
    c.edit(|s| s["linux"]["resources"]["memory"] = serde_json::json!({"limit": m32, "swap": m32}));
    c.args(&["sleep", "1000"]);
    c.create().ok();
    c.rt(&["update", "--memory", "64m", &c.id]).ok();
    let m64 = (64u64 << 20).to_string();
    if is_v2() {
        assert_eq!(read(&cg_file(&c, "memory.max")), m64);
        assert_eq!(read(&cg_file(&c, "memory.swap.max")), "0");
    } else {
        assert_eq!(read(&cg_file(&c, "memory.limit_in_bytes")), m64);
        assert_eq!(read(&cg_file(&c, "memory.memsw.limit_in_bytes")), m64);
    }
    // The stored set is the base of the next update.
    c.rt(&["update", "--pids-limit", "4", &c.id]).ok();
    let f = if is_v2() {
        "memory.max"
    } else {
        "memory.limit_in_bytes"
    };
    assert_eq!(read(&cg_file(&c, f)), m64);
}

#[test]
fn ps_lists_the_container_processes() {
    let c = started("ps", "sleep 1000 & sleep 999 & touch /ready; wait");
    let ready = c.bundle.join("rootfs/ready");
    for _ in 0..1000 {
        if ready.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(ready.exists(), "the container never got ready");
    let o = c.rt(&["ps", "--format", "json", &c.id]).ok();
    let pids: Vec<i32> = serde_json::from_str(o.stdout.trim()).unwrap();
    assert_eq!(pids.len(), 3, "{pids:?}");
    assert!(pids.contains(&c.pid()), "{pids:?}");
    for p in &pids {
        let cg = std::fs::read_to_string(format!("/proc/{p}/cgroup")).unwrap();
        assert!(cg.contains(&c.id), "{p}: {cg}");
    }
    // Extra arguments go to ps(1); only the container's rows are shown.
    let o = c.rt(&["ps", &c.id, "-o", "pid,args"]).ok();
    let mut lines = o.stdout.lines();
    assert!(lines.next().unwrap().contains("PID"), "{}", o.stdout);
    let shown: Vec<i32> = lines
        .map(|l| l.split_whitespace().next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(shown, pids, "{}", o.stdout);
    one_line_error(
        &c.rt(&["ps", &format!("{}-missing", c.id)]),
        "does not exist",
    );
}
