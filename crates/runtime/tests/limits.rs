//! cgroup limits, enforced and visible in the cgroup files, on whichever
//! hierarchy the host has (v1 here; v2 in ../shared/tools/run-in-v2vm).

mod common;

use std::path::PathBuf;

use common::Ctr;
use serde_json::json;

fn is_v2() -> bool {
    // SAFETY: statfs fills the struct we pass for a valid C path.
    unsafe {
        let mut s: libc::statfs = std::mem::zeroed();
        libc::statfs(c"/sys/fs/cgroup".as_ptr(), &mut s) == 0
            && s.f_type == libc::CGROUP2_SUPER_MAGIC
    }
}

/// The host path of `file` in the cgroup of `pid` for `controller`.
fn cgroup_file(pid: i32, controller: &str, file: &str) -> PathBuf {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    for line in text.lines() {
        let mut it = line.splitn(3, ':');
        let (_, ctrls, path) = (it.next().unwrap(), it.next().unwrap(), it.next().unwrap());
        let rel = path.trim_start_matches('/');
        if is_v2() {
            if ctrls.is_empty() {
                return PathBuf::from("/sys/fs/cgroup").join(rel).join(file);
            }
        } else if ctrls.split(',').any(|c| c == controller) {
            return PathBuf::from("/sys/fs/cgroup")
                .join(ctrls)
                .join(rel)
                .join(file);
        }
    }
    panic!("no {controller} cgroup for {pid} in {text}");
}

fn read(p: &PathBuf) -> String {
    std::fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .trim()
        .to_string()
}

#[test]
fn memory_hog_is_oom_killed_under_a_memory_limit() {
    let limit = 32 << 20;
    let mut c = Ctr::new("oom");
    c.edit(|s| {
        s["linux"]["resources"]["memory"] = json!({"limit": limit, "swap": limit});
    });
    c.args(&["sleep", "1000"]);
    c.create().ok();
    let pid = c.pid();
    let f = if is_v2() {
        cgroup_file(pid, "memory", "memory.max")
    } else {
        cgroup_file(pid, "memory", "memory.limit_in_bytes")
    };
    assert_eq!(read(&f), limit.to_string());
    c.delete(true).ok();

    let mut c = Ctr::new("oomrun");
    c.edit(|s| {
        s["linux"]["resources"]["memory"] = json!({"limit": limit, "swap": limit});
    });
    // Doubles a string until the kernel kills it.
    c.args(&["awk", "BEGIN { s = \"x\"; while (1) s = s s }"]);
    let o = c.run();
    assert_eq!(o.code, 128 + 9, "{o:?}");
}

#[test]
fn fork_loop_stops_at_the_pids_limit() {
    use std::io::BufRead;
    let mut c = Ctr::new("pids");
    c.edit(|s| s["linux"]["resources"]["pids"] = json!({"limit": 8}));
    // The subshell forks until the kernel refuses (then it gives up).
    c.sh(
        "(i=0; while [ $i -lt 30 ]; do sleep 1000 & i=$((i+1)); done) 2>/dev/null; \
         echo spawned; exec sleep 1000",
    );
    let mut child = c
        .cmd()
        .args(["run", &c.id, "--bundle"])
        .arg(&c.bundle)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line, "spawned\n");
    let procs = cgroup_file(c.pid(), "pids", "cgroup.procs");
    let n = read(&procs).lines().count();
    c.rt(&["kill", &c.id, "KILL"]).ok();
    let _ = child.wait();
    // pid 1 and the sleeps that could be forked: fewer than 30, at most 8.
    assert!((2..=8).contains(&n), "{n} processes under a limit of 8");
}

#[test]
fn pids_limit_is_in_the_cgroup_file() {
    let mut c = Ctr::new("pidsfile");
    c.edit(|s| s["linux"]["resources"]["pids"] = json!({"limit": 42}));
    c.args(&["sleep", "1000"]);
    c.create().ok();
    assert_eq!(read(&cgroup_file(c.pid(), "pids", "pids.max")), "42");
}

#[test]
fn cpu_quota_and_cpuset_are_in_the_cgroup_files() {
    let mut c = Ctr::new("cpu");
    c.edit(|s| {
        s["linux"]["resources"]["cpu"] =
            json!({"quota": 50000, "period": 100000, "cpus": "0", "mems": "0"});
    });
    c.args(&["sleep", "1000"]);
    c.create().ok();
    let pid = c.pid();
    if is_v2() {
        assert_eq!(read(&cgroup_file(pid, "cpu", "cpu.max")), "50000 100000");
    } else {
        assert_eq!(read(&cgroup_file(pid, "cpu", "cpu.cfs_quota_us")), "50000");
        assert_eq!(
            read(&cgroup_file(pid, "cpu", "cpu.cfs_period_us")),
            "100000"
        );
    }
    assert_eq!(read(&cgroup_file(pid, "cpuset", "cpuset.cpus")), "0");
    assert_eq!(read(&cgroup_file(pid, "cpuset", "cpuset.mems")), "0");
    // And the container is confined to CPU 0.
    c.delete(true).ok();
    let mut c = Ctr::new("cpurun");
    c.edit(|s| s["linux"]["resources"]["cpu"] = json!({"cpus": "0"}));
    c.sh("grep Cpus_allowed_list /proc/self/status");
    let o = c.run().ok();
    assert!(o.stdout.trim().ends_with("\t0"), "{o:?}");
}

#[test]
fn delete_removes_the_limited_cgroup() {
    let mut c = Ctr::new("cgdel");
    c.edit(|s| s["linux"]["resources"]["pids"] = json!({"limit": 10}));
    c.args(&["sleep", "1000"]);
    c.create().ok();
    let f = cgroup_file(c.pid(), "pids", "pids.max");
    let dir = f.parent().unwrap().to_path_buf();
    assert!(dir.exists());
    c.start().ok();
    c.delete(true).ok();
    assert!(!dir.exists(), "{} left behind", dir.display());
    assert!(c.cgroup_dirs().is_empty());
}
