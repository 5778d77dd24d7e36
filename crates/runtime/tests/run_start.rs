//! `run` starts the container itself (create + start in one process): the
//! init waits on a pipe instead of `exec.fifo`, hooks still see the states.

mod common;

use common::Ctr;
use serde_json::json;

#[test]
fn run_starts_through_a_pipe_and_hooks_see_creating_then_running() {
    let mut c = Ctr::new("runstart");
    let probe = c.dir().join("probe");
    std::fs::create_dir(&probe).expect("mkdir probe");
    let bin = common::runtime_bin();
    let state = format!(
        "{} --root {} state {}",
        bin.display(),
        c.root.display(),
        c.id
    );
    let created = format!("{state} > {}/creating.json", probe.display());
    // The container waits for `go`, so poststart sees it running; the
    // listing shows what `run` made in the state dir.
    let post = format!(
        "{state} > {p}/post.json; ls {}/{} > {p}/ls.txt; touch {p}/go",
        c.root.display(),
        c.id,
        p = probe.display()
    );
    let src = probe.to_str().unwrap().to_string();
    c.edit(|s| {
        s["hooks"] = json!({
            "createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", created]}],
            "poststart": [{"path": "/bin/sh", "args": ["sh", "-c", post]}],
        });
        s["mounts"].as_array_mut().unwrap().push(
            json!({"destination": "/probe", "type": "bind", "source": src,
                         "options": ["rbind", "rw"]}),
        );
    });
    c.sh("while [ ! -e /probe/go ]; do sleep 0.01; done; echo started; exit 4");
    let o = c.run();
    assert_eq!(o.code, 4, "{o:?}");
    assert_eq!(o.stdout, "started\n");
    let read = |f: &str| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(probe.join(f)).expect(f)).expect(f)
    };
    assert_eq!(read("creating.json")["status"], "creating");
    let running = read("post.json");
    assert_eq!(running["status"], "running");
    assert!(running["pid"].as_i64().unwrap() > 0);
    let ls = std::fs::read_to_string(probe.join("ls.txt")).unwrap();
    assert!(ls.contains("state.json"), "{ls}");
    assert!(!ls.contains("exec.fifo"), "run made a fifo: {ls}");
    // Deleted afterwards.
    assert!(!c.root.join(&c.id).exists());
}

#[test]
fn created_container_still_waits_on_exec_fifo() {
    let mut c = Ctr::new("fifostart");
    c.args(&["true"]);
    c.create().ok();
    assert!(c.root.join(&c.id).join("exec.fifo").exists());
    assert_eq!(c.status(), "created");
    c.start().ok();
    assert!(!c.root.join(&c.id).join("exec.fifo").exists());
    c.wait_stopped();
    c.delete(false).ok();
    assert!(!c.root.join(&c.id).exists());
}

/// Host cgroup v1 controller lines of /proc/PID/cgroup (`N:ctrl:/path`).
fn v1_lines(cgroup: &str) -> Vec<&str> {
    cgroup
        .lines()
        .filter(|l| !l.starts_with("0::") && !l.contains(":name="))
        .collect()
}

#[test]
fn init_forked_directly_is_pid_1_in_its_cgroup_with_the_cgroup_as_namespace_root() {
    // Default spec: no user namespace, nothing joined, no hooks: the
    // runtime forks the init itself, which sets up its rootfs while being
    // moved into the cgroup and makes its cgroup namespace after that.
    let mut c = Ctr::new("directinit");
    c.sh("cat /proc/self/cgroup; echo pid=$$");
    c.create().ok();
    let pid = c.pid();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let nspid = status.lines().find(|l| l.starts_with("NSpid:")).unwrap();
    assert!(
        nspid.ends_with("\t1"),
        "not pid 1 of a new namespace: {nspid}"
    );
    let host_cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("cgroup");
    let lines = v1_lines(&host_cg);
    for l in &lines {
        assert!(l.contains(&c.id), "init not in the container cgroup: {l}");
    }
    let ns = |p: &str, t: &str| std::fs::read_link(format!("/proc/{p}/ns/{t}")).unwrap();
    for t in ["cgroup", "pid", "net", "mnt"] {
        assert_ne!(ns(&pid.to_string(), t), ns("self", t), "{t} namespace");
    }
    c.start().ok();
    c.wait_stopped();
    let out = c.container_output();
    assert!(out.contains("pid=1"), "{out}");
    // Inside, the container's cgroup is the namespace root.
    for l in v1_lines(&out).iter().filter(|l| !l.starts_with("pid=")) {
        assert!(
            l.ends_with(":/"),
            "cgroup namespace root is not the cgroup: {l}"
        );
    }
    c.delete(false).ok();
    assert!(c.cgroup_dirs().is_empty());
}

#[test]
fn rootfs_failure_of_a_pipelined_init_is_reported_and_leaves_nothing() {
    let mut c = Ctr::new("directfail");
    let missing = c.dir().join("no-such-source");
    c.args(&["true"]).edit(|s| {
        s["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/data", "type": "bind",
            "source": missing.to_str().unwrap(), "options": ["rbind"]}));
    });
    let o = c.create();
    assert_ne!(o.code, 0, "{o:?}");
    assert!(o.stderr.contains("no-such-source"), "{}", o.stderr);
    assert_eq!(o.stderr.lines().count(), 1, "{}", o.stderr);
    assert!(!c.root.join(&c.id).exists(), "state dir left");
    assert!(c.cgroup_dirs().is_empty(), "cgroup left");
}

#[test]
fn hooks_run_in_the_runtimes_pid_namespace_after_the_init_is_forked() {
    // With hooks the init is still forked directly (into a new pid
    // namespace the runtime unshares for it): the runtime's next children,
    // the hooks, must be back in its own pid namespace.
    let mut c = Ctr::new("directhooks");
    let probe = c.dir().join("hookns");
    let cmd = format!("readlink /proc/self/ns/pid > {}", probe.display());
    c.args(&["true"]).edit(|s| {
        s["hooks"] = json!({
            "prestart": [{"path": "/bin/sh", "args": ["sh", "-c", cmd]}],
        });
    });
    let o = c.run();
    assert_eq!(o.code, 0, "{o:?}");
    let hook_ns = std::fs::read_to_string(&probe).expect("hook output");
    let own = std::fs::read_link("/proc/self/ns/pid").unwrap();
    assert_eq!(hook_ns.trim(), own.to_string_lossy());
    assert!(!c.root.join(&c.id).exists());
}
