//! Real cgroup tests (root): create/apply/delete on the host's hierarchy,
//! checked through the files in /sys/fs/cgroup and /proc. On this machine
//! they exercise cgroup v1; run the same binary inside
//! `../shared/tools/run-in-v2vm` for cgroup v2.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};

use caixa_cgroups::{CgroupError, Hierarchy, Manager};
use oci_spec::runtime::LinuxResources;

const BUSYBOX: &str = "/bin/busybox";

/// Deletes the cgroup (killing what is left in it) even when a test fails.
struct Cg(Manager);

impl Drop for Cg {
    fn drop(&mut self) {
        let _ = self.0.kill_all(libc::SIGKILL);
        let res = self.0.delete();
        // A test that passed must also leave nothing behind.
        if !std::thread::panicking() {
            res.expect("delete after kill_all");
            assert_gone(&self.0.paths());
        }
    }
}

impl std::ops::Deref for Cg {
    type Target = Manager;
    fn deref(&self) -> &Manager {
        &self.0
    }
}

/// A child process killed and reaped on drop.
struct Kid {
    child: Child,
    out: BufReader<ChildStdout>,
}

impl Drop for Kid {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Kid {
    /// Starts `busybox sh -c script` that waits for a line on stdin first,
    /// so it can be moved into a cgroup before it does anything.
    fn gated(script: &str) -> Kid {
        let mut child = Command::new(BUSYBOX)
            .args(["sh", "-c", &format!("read go; {script}")])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn busybox");
        let out = BufReader::new(child.stdout.take().expect("stdout"));
        Kid { child, out }
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    fn go(&mut self) {
        let stdin = self.child.stdin.as_mut().expect("stdin");
        stdin.write_all(b"go\n").expect("write go");
        stdin.flush().expect("flush");
    }

    fn line(&mut self) -> String {
        let mut s = String::new();
        self.out.read_line(&mut s).expect("read line");
        s.trim().to_string()
    }

    fn stderr(&mut self) -> String {
        let mut s = String::new();
        if let Some(e) = self.child.stderr.as_mut() {
            let _ = e.read_to_string(&mut s);
        }
        s
    }
}

fn name(test: &str) -> String {
    format!("/caixa-test-{test}-{}", std::process::id())
}

fn res(json: &str) -> LinuxResources {
    serde_json::from_str(json).expect("resources json")
}

fn new_cg(test: &str) -> Cg {
    let m = Manager::new(Some(&name(test)), "unused").expect("new");
    m.create().expect("create");
    Cg(m)
}

fn v2() -> bool {
    Manager::hierarchy().expect("hierarchy") == Hierarchy::V2
}

fn read(m: &Manager, ctrl: &str, file: &str) -> String {
    let dir = m.controller_path(ctrl).expect("controller mounted");
    std::fs::read_to_string(dir.join(file))
        .unwrap_or_else(|e| panic!("read {}/{file}: {e}", dir.display()))
        .trim()
        .to_string()
}

fn proc_state(pid: i32) -> char {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let i = stat.rfind(')').expect("comm");
    stat[i + 2..].chars().next().expect("state")
}

fn assert_gone(paths: &[PathBuf]) {
    for p in paths {
        assert!(!p.exists(), "{} still exists", p.display());
    }
}

#[test]
fn create_apply_delete_writes_the_limit_files() {
    let cg = new_cg("limits");
    let paths = cg.paths();
    for p in &paths {
        assert!(p.is_dir(), "{} not created", p.display());
    }
    cg.apply(&res(
        r#"{"memory":{"limit":67108864,"reservation":33554432},
            "cpu":{"shares":512,"quota":50000,"period":100000,"cpus":"0","mems":"0"},
            "pids":{"limit":20}}"#,
    ))
    .expect("apply");
    if v2() {
        assert_eq!(read(&cg, "memory", "memory.max"), "67108864");
        assert_eq!(read(&cg, "memory", "memory.low"), "33554432");
        // runc's (1.3+) and crun's mapping: 1024 shares → weight 100.
        assert_eq!(read(&cg, "cpu", "cpu.weight"), "59");
        assert_eq!(read(&cg, "cpu", "cpu.max"), "50000 100000");
    } else {
        assert_eq!(read(&cg, "memory", "memory.limit_in_bytes"), "67108864");
        assert_eq!(
            read(&cg, "memory", "memory.soft_limit_in_bytes"),
            "33554432"
        );
        assert_eq!(read(&cg, "cpu", "cpu.shares"), "512");
        assert_eq!(read(&cg, "cpu", "cpu.cfs_quota_us"), "50000");
        assert_eq!(read(&cg, "cpu", "cpu.cfs_period_us"), "100000");
    }
    assert_eq!(read(&cg, "cpuset", "cpuset.cpus"), "0");
    assert_eq!(read(&cg, "cpuset", "cpuset.mems"), "0");
    assert_eq!(read(&cg, "pids", "pids.max"), "20");
    // A second apply (an `update`) changes the values in place.
    cg.apply(&res(r#"{"cpu":{"quota":-9999},"pids":{"limit":-1}}"#))
        .expect("update");
    assert_eq!(read(&cg, "pids", "pids.max"), "max");
    if v2() {
        assert_eq!(read(&cg, "cpu", "cpu.max"), "max 100000");
    } else {
        assert_eq!(read(&cg, "cpu", "cpu.cfs_quota_us"), "-1");
    }
    cg.delete().expect("delete");
    assert_gone(&paths);
}

#[test]
fn swap_is_memory_plus_swap_on_v1_and_swap_only_on_v2() {
    let cg = new_cg("swap");
    let r = res(r#"{"memory":{"limit":33554432,"swap":50331648}}"#);
    let swap_file = if v2() {
        "memory.swap.max"
    } else {
        "memory.memsw.limit_in_bytes"
    };
    let dir = cg.controller_path("memory").expect("memory").to_path_buf();
    if !dir.join(swap_file).exists() {
        let e = cg.apply(&r).expect_err("no swap accounting");
        assert!(e.to_string().contains("linux.resources.memory.swap"), "{e}");
        return;
    }
    cg.apply(&r).expect("apply");
    let want = if v2() { "16777216" } else { "50331648" };
    assert_eq!(read(&cg, "memory", swap_file), want);
    // Raising both at once needs the v1 order memsw first.
    cg.apply(&res(r#"{"memory":{"limit":100663296,"swap":134217728}}"#))
        .expect("raise");
    let want = if v2() { "33554432" } else { "134217728" };
    assert_eq!(read(&cg, "memory", swap_file), want);
}

#[test]
fn a_process_moved_in_is_listed() {
    let cg = new_cg("procs");
    let kid = Kid::gated("exec /bin/busybox sleep 100");
    cg.add_task(kid.pid()).expect("add_task");
    assert_eq!(cg.pids().expect("pids"), vec![kid.pid()]);
    for (_, dir) in cg.mount_sources().expect("mount sources") {
        let procs = std::fs::read_to_string(dir.join("cgroup.procs")).expect("cgroup.procs");
        assert!(
            procs.lines().any(|l| l == kid.pid().to_string()),
            "{}",
            dir.display()
        );
    }
    let own = std::fs::read_to_string(format!("/proc/{}/cgroup", kid.pid())).expect("cgroup");
    assert!(own.contains(&name("procs")), "{own}");
}

#[test]
fn a_memory_hog_is_oom_killed_and_counted() {
    let cg = new_cg("oom");
    let mut mem = r#"{"memory":{"limit":16777216"#.to_string();
    let dir = cg.controller_path("memory").expect("memory").to_path_buf();
    if dir.join("memory.memsw.limit_in_bytes").exists() || dir.join("memory.swap.max").exists() {
        mem.push_str(r#","swap":16777216"#);
    }
    mem.push_str("}}");
    cg.apply(&res(&mem)).expect("apply");
    assert_eq!(cg.oom_kill_count().expect("count"), 0);
    let notifier = cg.oom_notifier().expect("notifier");
    // dd's 64 MiB buffer is filled from /dev/zero: 4x the limit.
    let mut kid = Kid::gated("exec /bin/busybox dd if=/dev/zero of=/dev/null bs=64M count=1");
    cg.add_task(kid.pid()).expect("add_task");
    kid.go();
    let status = kid.child.wait().expect("wait");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{status:?}");
    // The notification arrived (a generous bound, not a timing check).
    assert!(
        notifier
            .wait(Some(std::time::Duration::from_secs(30)))
            .expect("wait")
    );
    assert!(cg.oom_kill_count().expect("count") >= 1);
    assert!(cg.stats().expect("stats").oom_kill_count >= 1);
}

#[test]
fn a_fork_loop_stops_at_pids_max() {
    let cg = new_cg("forks");
    cg.apply(&res(r#"{"pids":{"limit":4}}"#)).expect("apply");
    // busybox sh gives up ("can't fork") at the first refused fork.
    let mut kid = Kid::gated(
        "i=0; while [ $i -lt 10 ]; do /bin/busybox sleep 100 </dev/null >/dev/null 2>&1 & \
         i=$((i+1)); done; echo looped",
    );
    cg.add_task(kid.pid()).expect("add_task");
    kid.go();
    let status = kid.child.wait().expect("wait");
    assert!(!status.success());
    assert_eq!(kid.line(), "", "the loop must not finish");
    assert!(kid.stderr().contains("can't fork"));
    // The shell took one of the 4 pids; 3 sleeps got the others.
    let pids = cg.pids().expect("pids");
    assert_eq!(pids.len(), 3, "{pids:?}");
    let st = cg.stats().expect("stats");
    assert_eq!(st.pids_limit, Some(4));
    assert_eq!(st.pids_current, 3);
}

#[test]
fn freeze_and_thaw_stop_and_resume_a_busy_process() {
    let cg = new_cg("freeze");
    let mut kid = Kid::gated("echo running; while :; do :; done");
    cg.add_task(kid.pid()).expect("add_task");
    kid.go();
    assert_eq!(kid.line(), "running");
    while proc_state(kid.pid()) != 'R' {
        std::thread::yield_now();
    }
    cg.freeze().expect("freeze");
    assert!(cg.is_frozen().expect("is_frozen"));
    assert_ne!(proc_state(kid.pid()), 'R');
    cg.thaw().expect("thaw");
    assert!(!cg.is_frozen().expect("is_frozen"));
    while proc_state(kid.pid()) != 'R' {
        std::thread::yield_now();
    }
}

#[test]
fn device_rules_deny_and_allow_dev_null() {
    let cg = new_cg("devices");
    let script = "if echo x > /dev/null; then echo allowed; else echo denied; fi";
    cg.apply(&res(r#"{"devices":[{"allow":false,"access":"rwm"}]}"#))
        .expect("deny all");
    let mut kid = Kid::gated(script);
    cg.add_task(kid.pid()).expect("add_task");
    kid.go();
    assert_eq!(kid.line(), "denied");
    drop(kid);
    // An update that allows /dev/null (char 1:3) again.
    cg.apply(&res(r#"{"devices":[{"allow":false,"access":"rwm"},
                       {"allow":true,"type":"c","major":1,"minor":3,"access":"rw"}]}"#))
        .expect("allow null");
    let mut kid = Kid::gated(script);
    cg.add_task(kid.pid()).expect("add_task");
    kid.go();
    assert_eq!(kid.line(), "allowed");
    drop(kid);
    // Without a leading wildcard the list is deny-by-default too (runc):
    // allowing only /dev/zero (1:5) leaves /dev/null (1:3) denied.
    cg.apply(&res(
        r#"{"devices":[{"allow":true,"type":"c","major":1,"minor":5,"access":"rwm"}]}"#,
    ))
    .expect("allow zero only");
    let mut kid = Kid::gated(script);
    cg.add_task(kid.pid()).expect("add_task");
    kid.go();
    assert_eq!(kid.line(), "denied");
}

#[test]
fn kill_all_signals_every_process() {
    let cg = new_cg("killall");
    let mut kid =
        Kid::gated("/bin/busybox sleep 100 & /bin/busybox sleep 100 & echo started; wait");
    cg.add_task(kid.pid()).expect("add_task");
    kid.go();
    assert_eq!(kid.line(), "started");
    assert_eq!(cg.pids().expect("pids").len(), 3);
    cg.kill_all(libc::SIGTERM).expect("kill_all");
    let _ = kid.child.wait();
    // The sleeps were reparented; wait for them to finish dying.
    while !cg.pids().expect("pids").is_empty() {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    let paths = cg.paths();
    cg.delete().expect("delete after the processes died");
    assert_gone(&paths);
}

#[test]
fn delete_removes_parents_it_created() {
    let parent = name("parent");
    let m = Manager::new(Some(&format!("{parent}/a/leaf")), "x").expect("new");
    let cg = Cg(m);
    cg.create().expect("create");
    let leaf = cg.paths();
    let tops: Vec<PathBuf> = leaf
        .iter()
        .map(|p| {
            p.parent()
                .and_then(Path::parent)
                .expect("parent")
                .to_path_buf()
        })
        .collect();
    cg.delete().expect("delete");
    assert_gone(&leaf);
    assert_gone(&tops);
}

#[test]
fn default_and_relative_paths_resolve_like_runc() {
    let id = format!("caixa-test-default-{}", std::process::id());
    let m = Manager::new(None, &id).expect("new");
    for p in m.paths() {
        // As runc and crun: directly under a hierarchy's root.
        assert_eq!(p.file_name().and_then(|n| n.to_str()), Some(id.as_str()));
        let parent = p.parent().expect("parent").to_string_lossy().into_owned();
        let mounts = std::fs::read_to_string("/proc/self/mounts").expect("mounts");
        assert!(
            mounts.lines().any(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                f.len() > 2 && f[1] == parent && f[2].starts_with("cgroup")
            }),
            "{} is not under a cgroup mount root",
            p.display()
        );
    }
    let rel = format!("caixa-test-rel-{}", std::process::id());
    let m = Manager::new(Some(&rel), "x").expect("new");
    let own = std::fs::read_to_string("/proc/self/cgroup").expect("own cgroup");
    let mem = m.controller_path("memory").expect("memory").to_path_buf();
    let own_mem = own
        .lines()
        .find_map(|l| {
            let mut it = l.splitn(3, ':');
            let _ = it.next();
            let c = it.next()?;
            let p = it.next()?;
            (if v2() {
                c.is_empty()
            } else {
                c.split(',').any(|c| c == "memory")
            })
            .then(|| p.to_string())
        })
        .expect("memory line");
    assert!(
        mem.ends_with(Path::new(own_mem.trim_start_matches('/')).join(&rel)),
        "{}",
        mem.display()
    );
    let cg = Cg(m);
    cg.create().expect("create relative");
    assert!(mem.is_dir());
    // Re-opened from its saved directories (as a later `delete` would).
    let again = Manager::from_mount_sources(&cg.mount_sources().expect("sources")).expect("reopen");
    assert_eq!(again.paths(), cg.paths());
    again.delete().expect("delete");
    assert!(!mem.exists());
    match Manager::new(Some("/caixa-test/../etc"), "x") {
        Err(e) => assert!(e.to_string().contains("linux.cgroupsPath"), "{e}"),
        Ok(_) => panic!("a path with .. was accepted"),
    }
}

#[test]
fn parallel_default_cgroups_do_not_trip_over_the_shared_parent() {
    let threads: Vec<_> = (0..6)
        .map(|t| {
            std::thread::spawn(move || {
                for i in 0..15 {
                    let id = format!("caixa-test-race-{}-{t}-{i}", std::process::id());
                    let m = Manager::new(None, &id).expect("new");
                    let cg = Cg(m);
                    cg.create_and_apply(Some(&res(r#"{"pids":{"limit":9},"cpu":{"cpus":"0"}}"#)))
                        .expect("create under a parent others prune");
                    assert_eq!(read(&cg, "pids", "pids.max"), "9");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread");
    }
}

#[test]
fn invalid_values_name_the_field_and_leave_nothing() {
    let m = Manager::new(Some(&name("invalid")), "x").expect("new");
    let paths = m.paths();
    let cases = [
        (r#"{"cpu":{"shares":1}}"#, "linux.resources.cpu.shares"),
        (r#"{"cpu":{"cpus":"zero"}}"#, "linux.resources.cpu.cpus"),
        (r#"{"memory":{"limit":-5}}"#, "linux.resources.memory.limit"),
        (
            r#"{"memory":{"limit":2000000,"swap":1000000}}"#,
            "linux.resources.memory.swap",
        ),
        (
            r#"{"blockIO":{"weight":5}}"#,
            "linux.resources.blockIO.weight",
        ),
        (
            r#"{"hugepageLimits":[{"pageSize":"../2MB","limit":1}]}"#,
            "linux.resources.hugepageLimits[0].pageSize",
        ),
        (
            r#"{"devices":[{"allow":true,"access":"rwx"}]}"#,
            "linux.resources.devices[0].access",
        ),
        // Only the kernel knows this host has fewer than 1000 cpus.
        (r#"{"cpu":{"cpus":"999"}}"#, "linux.resources.cpu.cpus"),
    ];
    for (json, field) in cases {
        let e = m.create_and_apply(Some(&res(json))).expect_err(json);
        assert!(e.to_string().starts_with(field), "{json}: {e}");
        assert_gone(&paths);
    }
    let unified = res(r#"{"unified":{"pids.max":"7"}}"#);
    if v2() {
        let cg = Cg(m.clone());
        cg.create_and_apply(Some(&unified)).expect("unified on v2");
        assert_eq!(read(&cg, "pids", "pids.max"), "7");
    } else {
        let e = m
            .create_and_apply(Some(&unified))
            .expect_err("unified on v1");
        assert!(matches!(e, CgroupError::Unsupported { .. }));
        assert!(e.to_string().starts_with("linux.resources.unified"), "{e}");
        assert_gone(&paths);
    }
}

#[test]
fn controllers_the_host_lacks_fail_only_when_asked_for() {
    let cg = new_cg("lacks");
    let huge = res(r#"{"hugepageLimits":[{"pageSize":"2MB","limit":4194304}]}"#);
    let hugetlb = if v2() {
        cg.paths()[0].join("hugetlb.2MB.max").exists()
    } else {
        cg.controller_path("hugetlb").is_some()
    };
    match cg.apply(&huge) {
        Ok(()) => assert!(hugetlb, "hugepage limits applied without hugetlb"),
        Err(e) => {
            assert!(!hugetlb, "{e}");
            assert!(
                e.to_string().starts_with("linux.resources.hugepageLimits"),
                "{e}"
            );
        }
    }
    let net = res(r#"{"network":{"classID":1048577}}"#);
    let net_cls = !v2() && cg.controller_path("net_cls").is_some();
    match cg.apply(&net) {
        Ok(()) => assert!(net_cls),
        Err(e) => assert!(
            e.to_string().starts_with("linux.resources.network.classID"),
            "{e}"
        ),
    }
    // Nothing requested, nothing needed.
    cg.apply(&res("{}")).expect("empty resources");
}

#[test]
fn realtime_cpu_fields_are_v1_only() {
    let cg = new_cg("rt");
    let rt = res(r#"{"cpu":{"realtimePeriod":1000000,"realtimeRuntime":10000}}"#);
    if v2() {
        let e = cg.apply(&rt).expect_err("realtime on v2");
        assert!(
            e.to_string().starts_with("linux.resources.cpu.realtime"),
            "{e}"
        );
        return;
    }
    let dir = cg.controller_path("cpu").expect("cpu").to_path_buf();
    if !dir.join("cpu.rt_runtime_us").exists() {
        let e = cg.apply(&rt).expect_err("no RT group scheduling");
        assert!(
            e.to_string().starts_with("linux.resources.cpu.realtime"),
            "{e}"
        );
        return;
    }
    cg.apply(&rt).expect("realtime");
    assert_eq!(read(&cg, "cpu", "cpu.rt_period_us"), "1000000");
    assert_eq!(read(&cg, "cpu", "cpu.rt_runtime_us"), "10000");
}

#[test]
fn cpu_quota_throttles_a_busy_process_and_stats_show_it() {
    let cg = new_cg("throttle");
    cg.apply(&res(r#"{"cpu":{"quota":1000,"period":10000}}"#))
        .expect("apply");
    let mut kid = Kid::gated("echo busy; while :; do :; done");
    cg.add_task(kid.pid()).expect("add_task");
    kid.go();
    assert_eq!(kid.line(), "busy");
    // Waits for the kernel to throttle (10% of one cpu); bounded so a
    // broken quota fails instead of hanging.
    let mut st = cg.stats().expect("stats");
    for _ in 0..6000 {
        if st.cpu_throttled_periods > 0 && st.cpu_throttled_ns > 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
        st = cg.stats().expect("stats");
    }
    assert!(st.cpu_throttled_periods > 0, "{st:?}");
    assert!(st.cpu_throttled_ns > 0, "{st:?}");
}

#[test]
fn block_io_weight_and_throttle() {
    let cg = new_cg("blkio");
    // The throttle files exist wherever blkio/io does; 1:3 is /dev/null's
    // number, which the kernel rejects as not a block device.
    let disk = std::fs::read_dir("/sys/dev/block")
        .expect("/sys/dev/block")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| n.ends_with(":0") && !n.starts_with("7:") && !n.starts_with("1:"));
    let Some(disk) = disk else { return };
    let (maj, min) = disk.split_once(':').expect("maj:min");
    cg.apply(&res(&format!(
        r#"{{"blockIO":{{"throttleReadBpsDevice":[{{"major":{maj},"minor":{min},"rate":1048576}}]}}}}"#
    )))
    .expect("throttle");
    if v2() {
        let io_max = read(&cg, "io", "io.max");
        assert!(io_max.contains(&format!("{disk} rbps=1048576")), "{io_max}");
    } else {
        let v = read(&cg, "blkio", "blkio.throttle.read_bps_device");
        assert_eq!(v, format!("{disk} 1048576"));
    }
    let weight = cg.apply(&res(r#"{"blockIO":{"weight":500}}"#));
    let dir = cg
        .controller_path(if v2() { "io" } else { "blkio" })
        .expect("dir")
        .to_path_buf();
    let has = [
        "blkio.weight",
        "blkio.bfq.weight",
        "io.weight",
        "io.bfq.weight",
    ]
    .iter()
    .find(|f| dir.join(f).exists());
    match (has, weight) {
        (Some(f), Ok(())) => {
            let v = std::fs::read_to_string(dir.join(f)).expect("weight");
            assert!(v.contains("500") || v.contains("4950"), "{f}: {v}");
        }
        (None, Err(e)) => assert!(
            e.to_string().starts_with("linux.resources.blockIO.weight"),
            "{e}"
        ),
        (h, w) => panic!("weight file {h:?} but apply gave {w:?}"),
    }
}

/// struct clone_args (CLONE_ARGS_SIZE_VER2).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// Starts `busybox sleep 100` directly inside the cgroup of `dir`.
fn clone_into_cgroup(dir: &std::os::fd::OwnedFd) -> i32 {
    use std::ffi::CString;
    use std::os::fd::AsRawFd;
    const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;
    let prog = CString::new(BUSYBOX).expect("path");
    let argv_s = [c"busybox", c"sleep", c"100"];
    let argv: Vec<*const libc::c_char> = argv_s
        .iter()
        .map(|a| a.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect();
    let mut args = CloneArgs {
        flags: CLONE_INTO_CGROUP,
        exit_signal: libc::SIGCHLD as u64,
        cgroup: dir.as_raw_fd() as u64,
        ..Default::default()
    };
    // SAFETY: clone3 with a valid clone_args; the child only calls execv
    // and _exit (async-signal-safe) on memory prepared before the clone.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    if pid == 0 {
        // SAFETY: see above; in the child.
        unsafe {
            libc::execv(prog.as_ptr(), argv.as_ptr());
            libc::_exit(127);
        }
    }
    assert!(pid > 0, "clone3: {}", std::io::Error::last_os_error());
    pid as i32
}

#[test]
fn stats_and_v2_dir_fd() {
    let cg = new_cg("stats");
    cg.apply(&res(r#"{"memory":{"limit":67108864},"pids":{"limit":10}}"#))
        .expect("apply");
    let mut kid = Kid::gated(
        "i=0; while [ $i -lt 500 ]; do i=$((i+1)); done; echo done; exec /bin/busybox sleep 100",
    );
    cg.add_task(kid.pid()).expect("add_task");
    kid.go();
    assert_eq!(kid.line(), "done");
    // The kernel charges the loop's CPU time when the shell is next
    // descheduled, which may be just after "done" is read: wait (bounded)
    // for the charge rather than racing it.
    let mut s = cg.stats().expect("stats");
    for _ in 0..100 {
        if s.cpu_usage_ns > 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        s = cg.stats().expect("stats");
    }
    assert!(s.cpu_usage_ns > 0, "{s:?}");
    assert!(s.memory_usage > 0, "{s:?}");
    assert_eq!(s.memory_limit, Some(67108864));
    assert_eq!(s.pids_current, 1);
    assert_eq!(s.pids_limit, Some(10));
    assert_eq!(s.oom_kill_count, 0);
    assert_eq!(cg.v2_dir_fd().is_some(), v2());
    if let Some(fd) = cg.v2_dir_fd() {
        let pid = clone_into_cgroup(&fd);
        let listed = cg.pids().expect("pids").contains(&pid);
        // SAFETY: kill/waitpid on the child we just made.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
            libc::waitpid(pid, std::ptr::null_mut(), 0);
        }
        assert!(
            listed,
            "clone3(CLONE_INTO_CGROUP) child {pid} not in the cgroup"
        );
    }
    let sources = cg.mount_sources().expect("sources");
    if v2() {
        assert_eq!(sources.len(), 1);
        assert_eq!(sources[0].0, "");
    } else {
        assert!(
            sources
                .iter()
                .any(|(s, _)| s.split(',').any(|c| c == "memory"))
        );
    }
}
