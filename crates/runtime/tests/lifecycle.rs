//! The container lifecycle through the real binary: create/start/state/
//! kill/delete/run/list/spec, exit codes, signals, rollback.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use common::{Ctr, host_mounts_with};
use serde_json::json;

#[test]
fn run_propagates_exit_code() {
    let mut c = Ctr::new("exitcode");
    c.sh("echo out; echo err >&2; exit 3");
    let o = c.run();
    assert_eq!(o.code, 3, "{o:?}");
    assert_eq!(o.stdout, "out\n");
    assert_eq!(o.stderr, "err\n");
    // run deletes the container afterwards.
    assert!(!c.root.join(&c.id).exists());
}

#[test]
fn run_exits_128_plus_signal() {
    // Without a pid namespace the shell is not an init, so it can die of
    // its own SIGTERM.
    let mut c = Ctr::new("selfsignal");
    c.edit(|s| {
        let ns = s["linux"]["namespaces"].as_array_mut().unwrap();
        ns.retain(|n| n["type"] != "pid");
    });
    c.sh("kill -TERM $$; sleep 5");
    let o = c.run();
    assert_eq!(o.code, 128 + 15, "{o:?}");
}

/// Spawns `run` in the foreground with stdout piped and waits for the
/// container to print "ready".
fn run_until_ready(c: &Ctr) -> (std::process::Child, BufReader<std::process::ChildStdout>) {
    let mut child = c
        .cmd()
        .args(["run", &c.id, "--bundle"])
        .arg(&c.bundle)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn run");
    let mut r = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    r.read_line(&mut line).expect("read");
    assert_eq!(line, "ready\n");
    (child, r)
}

#[test]
fn kill_delivers_and_sigkill_gives_137() {
    let mut c = Ctr::new("kill");
    c.sh("trap 'echo got-usr1' USR1; echo ready; while :; do sleep 0.05; done");
    let (mut child, mut r) = run_until_ready(&c);
    c.rt(&["kill", &c.id, "SIGUSR1"]).ok();
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert_eq!(line, "got-usr1\n");
    c.rt(&["kill", &c.id, "9"]).ok();
    let st = child.wait().unwrap();
    assert_eq!(st.code(), Some(137));
}

#[test]
fn state_transitions_creating_created_running_stopped() {
    let mut c = Ctr::new("states");
    let probe = c.dir().join("creating.json");
    let bin = common::runtime_bin();
    let hook = format!(
        "{} --root {} state {} > {}",
        bin.display(),
        c.root.display(),
        c.id,
        probe.display()
    );
    c.edit(|s| {
        s["hooks"] = json!({"createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", hook]}]});
    });
    c.args(&["sleep", "1000"]);
    c.create().ok();
    let creating: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&probe).expect("hook output")).unwrap();
    assert_eq!(creating["status"], "creating");
    let st = c.state();
    assert_eq!(st["status"], "created");
    assert_eq!(st["id"], c.id.as_str());
    assert_eq!(st["bundle"], c.bundle.to_str().unwrap());
    assert!(st["ociVersion"].as_str().unwrap().starts_with("1."));
    let pid = st["pid"].as_i64().unwrap();
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    c.start().ok();
    assert_eq!(c.status(), "running");
    // A second start is refused.
    let again = c.start();
    assert_ne!(again.code, 0);
    assert!(again.stderr.contains("running"), "{again:?}");
    c.rt(&["kill", &c.id, "KILL"]).ok();
    c.wait_stopped();
    assert_eq!(c.status(), "stopped");
    let k = c.rt(&["kill", &c.id, "KILL"]);
    assert_ne!(k.code, 0, "kill of a stopped container must fail");
    c.delete(false).ok();
    let gone = c.rt(&["state", &c.id]);
    assert_ne!(gone.code, 0);
    assert!(gone.stderr.contains("does not exist"), "{gone:?}");
}

#[test]
fn created_container_runs_only_after_start() {
    let mut c = Ctr::new("startsplit");
    c.sh("echo started");
    c.create().ok();
    assert_eq!(c.container_output(), "");
    // The init already sits in its own namespaces before start.
    let pid = c.pid();
    for ns in ["mnt", "net", "uts", "ipc", "pid"] {
        let host = std::fs::read_link(format!("/proc/self/ns/{ns}")).unwrap();
        let ctr = std::fs::read_link(format!("/proc/{pid}/ns/{ns}")).unwrap();
        assert_ne!(host, ctr, "{ns} namespace not separate before start");
    }
    c.start().ok();
    c.wait_stopped();
    assert_eq!(c.container_output(), "started\n");
    c.delete(false).ok();
}

#[test]
fn delete_removes_cgroup_state_and_mounts() {
    let mut c = Ctr::new("delete");
    c.args(&["sleep", "1000"]);
    c.create().ok();
    c.start().ok();
    assert!(!c.cgroup_dirs().is_empty(), "no cgroup for the container");
    let refused = c.delete(false);
    assert_ne!(
        refused.code, 0,
        "deleting a running container needs --force"
    );
    assert!(refused.stderr.contains("--force"), "{refused:?}");
    let pid = c.pid();
    c.delete(true).ok();
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists() || {
            // A zombie waiting for its reaper is gone for all purposes.
            std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| s.contains(") Z"))
        }
    );
    assert!(c.cgroup_dirs().is_empty(), "{:?}", c.cgroup_dirs());
    assert!(!c.root.join(&c.id).exists());
    assert!(host_mounts_with(c.bundle.to_str().unwrap()).is_empty());
}

#[test]
fn failed_create_leaves_nothing() {
    let mut c = Ctr::new("badexec");
    c.args(&["/no/such/program"]);
    let o = c.create();
    assert_ne!(o.code, 0);
    assert!(o.stderr.contains("process.args[0]"), "{o:?}");
    assert_eq!(o.stderr.trim().lines().count(), 1, "one-line error: {o:?}");
    assert!(!c.root.join(&c.id).exists());
    assert!(c.cgroup_dirs().is_empty(), "{:?}", c.cgroup_dirs());
    assert!(host_mounts_with(c.bundle.to_str().unwrap()).is_empty());
}

#[test]
fn non_executable_program_fails_create_with_permission_denied() {
    let mut c = Ctr::new("noexec");
    c.args(&["/etc/passwd"]);
    std::fs::create_dir_all(c.bundle.join("rootfs/etc")).unwrap();
    std::fs::write(
        c.bundle.join("rootfs/etc/passwd"),
        "root:x:0:0::/:/bin/sh\n",
    )
    .unwrap();
    let o = c.create();
    assert_ne!(o.code, 0);
    assert!(o.stderr.contains("permission denied"), "{o:?}");
    assert_eq!(o.stderr.trim().lines().count(), 1, "one-line error: {o:?}");
    assert!(!c.root.join(&c.id).exists());
    assert!(c.cgroup_dirs().is_empty(), "{:?}", c.cgroup_dirs());
}

#[test]
fn malformed_and_unsupported_fields_are_named() {
    type Edit = Box<dyn Fn(&mut serde_json::Value)>;
    let cases: Vec<(&str, Edit)> = vec![
        (
            "process.user.uid",
            Box::new(|s| s["process"]["user"]["uid"] = json!("root")),
        ),
        (
            "linux.namespaces[0]",
            Box::new(|s| s["linux"]["namespaces"][0] = json!({"type": "bogus"})),
        ),
        (
            "linux.intelRdt",
            Box::new(|s| s["linux"]["intelRdt"] = json!({"closID": "x"})),
        ),
        (
            "process.capabilities.bounding",
            Box::new(|s| s["process"]["capabilities"]["bounding"] = json!(["CAP_NOPE"])),
        ),
        (
            "linux.namespaces[1].path",
            Box::new(|s| {
                s["linux"]["namespaces"][1] =
                    json!({"type": "network", "path": "/proc/self/ns/uts"})
            }),
        ),
        (
            "process.rlimits[0]",
            Box::new(|s| {
                s["process"]["rlimits"] =
                    json!([{"type": "RLIMIT_NOFILE", "hard": u64::MAX - 1, "soft": 1024}])
            }),
        ),
    ];
    for (field, f) in cases {
        let mut c = Ctr::new("badfield");
        c.edit(|s| f(s));
        let o = c.create();
        assert_ne!(o.code, 0, "{field}: {o:?}");
        assert!(o.stderr.contains(field), "{field}: {o:?}");
        assert_eq!(o.stderr.trim().lines().count(), 1, "{field}: {o:?}");
        assert!(!c.root.join(&c.id).exists(), "{field}: state dir left");
        assert!(c.cgroup_dirs().is_empty(), "{field}: cgroup left");
    }
}

#[test]
fn pid_file_list_and_options_before_id() {
    let mut c = Ctr::new("pidfile");
    c.args(&["sleep", "1000"]);
    let pf = c.dir().join("init.pid");
    // Options before the id this time.
    let st = c
        .cmd()
        .arg("create")
        .arg("--pid-file")
        .arg(&pf)
        .arg("-b")
        .arg(&c.bundle)
        .arg(&c.id)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    let pid: i32 = std::fs::read_to_string(&pf)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(pid, c.pid());
    let q = c.rt(&["list", "-q"]).ok();
    assert_eq!(q.stdout.trim(), c.id);
    let j = c.rt(&["list", "--format", "json"]).ok();
    let v: serde_json::Value = serde_json::from_str(&j.stdout).unwrap();
    assert_eq!(v[0]["id"], c.id.as_str());
    assert_eq!(v[0]["status"], "created");
    let t = c.rt(&["list"]).ok();
    assert!(t.stdout.starts_with("ID"), "{t:?}");
    assert!(t.stdout.contains("created"));
    // A created container can be deleted without --force (as with runc).
    c.delete(false).ok();
    assert!(!std::path::Path::new(&format!("/proc/{pid}/exe")).exists());
}

#[test]
fn duplicate_id_is_refused() {
    let mut c = Ctr::new("dup");
    c.args(&["sleep", "1000"]);
    c.create().ok();
    let o = c.create();
    assert_ne!(o.code, 0);
    assert!(o.stderr.contains("already exists"), "{o:?}");
    assert_eq!(c.status(), "created");
}

#[test]
fn spec_writes_a_default_config() {
    let dir = tempfile::Builder::new()
        .prefix("caixa-test-spec-")
        .tempdir()
        .unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(common::runtime_bin())
            .args(args)
            .arg("--bundle")
            .arg(dir.path())
            .output()
            .unwrap()
    };
    assert!(run(&["spec"]).status.success());
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("config.json")).unwrap()).unwrap();
    assert_eq!(v["process"]["args"], json!(["sh"]));
    assert_eq!(v["root"]["path"], "rootfs");
    let again = run(&["spec"]);
    assert!(
        !again.status.success(),
        "spec must not overwrite config.json"
    );
    std::fs::remove_file(dir.path().join("config.json")).unwrap();
    assert!(run(&["spec", "--rootless"]).status.success());
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("config.json")).unwrap()).unwrap();
    let ns = v["linux"]["namespaces"].as_array().unwrap();
    assert!(ns.iter().any(|n| n["type"] == "user"));
    assert!(v["linux"]["uidMappings"].is_array());
}

#[test]
fn systemd_cgroup_without_systemd_is_a_clear_error() {
    if std::path::Path::new("/run/systemd/system").exists() {
        return;
    }
    let c = Ctr::new("systemd");
    let o = c.rt(&["--systemd-cgroup", "list"]);
    assert_ne!(o.code, 0);
    assert!(o.stderr.contains("systemd is not running"), "{o:?}");
}

#[test]
fn json_log_gets_the_error() {
    let c = Ctr::new("log");
    let log = c.dir().join("log.json");
    let o = c.rt(&[
        "--log",
        log.to_str().unwrap(),
        "--log-format",
        "json",
        "start",
        "nope",
    ]);
    assert_ne!(o.code, 0);
    let line = std::fs::read_to_string(&log).unwrap();
    let v: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
    assert_eq!(v["level"], "error");
    assert!(v["msg"].as_str().unwrap().contains("does not exist"));
}

#[test]
fn foreground_run_with_a_terminal_proxies_the_pty() {
    let mut c = Ctr::new("tty");
    c.edit(|s| {
        s["process"]["terminal"] = json!(true);
        s["process"]["consoleSize"] = json!({"height": 30, "width": 100});
    });
    c.sh("[ -t 0 ] && [ -t 1 ] && echo is-a-tty; stty size; exit 4");
    let o = c.run();
    assert_eq!(o.code, 4, "{o:?}");
    assert!(o.stdout.contains("is-a-tty"), "{o:?}");
    assert!(o.stdout.contains("30 100"), "{o:?}");
}

#[test]
fn sigterm_ends_a_created_container() {
    let mut c = Ctr::new("termcreated");
    c.args(&["sleep", "1000"]);
    c.create().ok();
    c.rt(&["kill", &c.id, "TERM"]).ok();
    c.wait_stopped();
    assert_eq!(c.status(), "stopped");
    assert_eq!(c.container_output(), "");
}
