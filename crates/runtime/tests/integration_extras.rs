//! Integration of finished modules into create/init, through the real
//! binary: relative bind sources resolve against the bundle, and a relative
//! `cgroupsPath` is found again by commands run from another cgroup.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Ctr, runtime_bin};
use serde_json::json;

#[test]
fn relative_bind_source_resolves_against_the_bundle() {
    let mut c = Ctr::new("relbind");
    std::fs::create_dir(c.bundle.join("data")).expect("mkdir data");
    std::fs::write(c.bundle.join("data/hello"), "from the bundle\n").expect("write");
    c.edit(|s| {
        s["mounts"].as_array_mut().expect("mounts").push(json!({
            "destination": "/data",
            "type": "bind",
            "source": "data",
            "options": ["rbind", "ro"]
        }));
    });
    c.args(&["cat", "/data/hello"]);
    // The runtime's own cwd is elsewhere (the test's); only the bundle has data/.
    let o = c.run().ok();
    assert_eq!(o.stdout, "from the bundle\n", "{o:?}");
}

/// The caller's cgroup dir on the hierarchy that carries `pids` (v1) or
/// the unified one (v2), or None when neither can be found.
fn caller_pids_cgroup() -> Option<(PathBuf, String)> {
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let v2 = !Path::new("/sys/fs/cgroup/pids").exists();
    for l in text.lines() {
        let mut it = l.splitn(3, ':');
        let (_, ctrl, path) = (it.next()?, it.next()?, it.next()?);
        if v2 && ctrl.is_empty() {
            return Some((PathBuf::from("/sys/fs/cgroup"), path.to_string()));
        }
        if !v2 && ctrl.split(',').any(|c| c == "pids") {
            return Some((PathBuf::from("/sys/fs/cgroup/pids"), path.to_string()));
        }
    }
    None
}

/// Removes a cgroup dir when dropped (its processes have exited by then).
struct TmpCgroup(PathBuf);

impl Drop for TmpCgroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

#[test]
fn relative_cgroups_path_is_found_from_another_cgroup() {
    let Some((mnt, own)) = caller_pids_cgroup() else {
        panic!("no pids/unified cgroup in /proc/self/cgroup");
    };
    let mut c = Ctr::new("relcg");
    let rel = format!("caixa-test-relcg-{}", std::process::id());
    c.edit(|s| s["linux"]["cgroupsPath"] = json!(rel));
    c.args(&["sleep", "1000"]);
    assert_eq!(c.create().code, 0, "{}", c.container_output());
    let created_dirs = c.cgroup_dirs();
    let pid = c.pid();
    let in_cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("cgroup");
    assert!(in_cg.contains(&rel), "{in_cg}");

    // A sibling cgroup of the caller's on the same hierarchy: from there, the
    // relative path would resolve to a different (nonexistent) directory.
    let own_dir = mnt.join(own.trim_start_matches('/'));
    let other = own_dir.join(format!("caixa-test-relcg-caller-{}", std::process::id()));
    std::fs::create_dir(&other).expect("mkdir caller cgroup");
    let _guard = TmpCgroup(other.clone());
    let from_other = |args: &[&str]| {
        let procs = other.join("cgroup.procs");
        let mut cmd = Command::new("/bin/sh");
        cmd.arg("-c")
            .arg(r#"echo $$ > "$1" && shift && exec "$@""#)
            .arg("sh")
            .arg(&procs)
            .arg(runtime_bin())
            .arg("--root")
            .arg(&c.root)
            .args(args);
        cmd.output().expect("run from the other cgroup")
    };
    let o = from_other(&["pause", &c.id]);
    assert!(o.status.success(), "pause: {o:?}");
    assert_eq!(c.status(), "paused");
    let o = from_other(&["resume", &c.id]);
    assert!(o.status.success(), "resume: {o:?}");
    let o = from_other(&["delete", "--force", &c.id]);
    assert!(o.status.success(), "delete: {o:?}");
    // Gone, or a zombie waiting for whoever inherited it.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    assert!(
        stat.is_empty() || stat.contains(") Z "),
        "init still alive: {stat}"
    );
    assert!(!c.root.join(&c.id).exists());
    for d in &created_dirs {
        assert!(!d.exists(), "cgroup {} left behind", d.display());
    }
    assert!(c.cgroup_dirs().is_empty(), "{:?}", c.cgroup_dirs());
}

type AgentResult = (serde_json::Value, Vec<i32>);

/// A seccomp agent on `sock` for `n` listeners: for each connection, takes
/// the listener fd and the container process state, then answers every
/// notification with success (0) until the filtered processes are gone.
/// Returns (state, notified syscalls) per connection, in order.
fn seccomp_agent(sock: &Path, n: usize) -> std::thread::JoinHandle<Vec<AgentResult>> {
    let listener = std::os::unix::net::UnixListener::bind(sock).expect("bind agent socket");
    std::thread::spawn(move || {
        let mut served = Vec::new();
        for _ in 0..n {
            let (conn, _) = listener.accept().expect("accept");
            served.push(std::thread::spawn(move || serve_listener(conn)));
        }
        served
            .into_iter()
            .map(|h| h.join().expect("agent thread"))
            .collect()
    })
}

fn serve_listener(conn: std::os::unix::net::UnixStream) -> AgentResult {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

    use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
    let mut buf = vec![0u8; 1 << 16];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let msg = recvmsg::<()>(
        conn.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .expect("recvmsg");
    let mut fd = None;
    for c in msg.cmsgs().expect("cmsgs") {
        if let ControlMessageOwned::ScmRights(fds) = c {
            // SAFETY: SCM_RIGHTS gave us this new fd.
            fd = fds.first().map(|&f| unsafe { OwnedFd::from_raw_fd(f) });
        }
    }
    let n = msg.bytes;
    let state: serde_json::Value = serde_json::from_slice(&buf[..n]).expect("state json");
    let fd = fd.expect("no listener fd");
    let mut nrs = Vec::new();
    loop {
        let mut p = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one pollfd on the stack.
        if unsafe { libc::poll(&mut p, 1, -1) } < 0 || p.revents & libc::POLLIN == 0 {
            break; // POLLHUP: no filtered process is left.
        }
        // SAFETY: seccomp_notif is plain data; the kernel fills it in.
        let mut req: libc::seccomp_notif = unsafe { std::mem::zeroed() };
        // SAFETY: NOTIF_RECV writes one seccomp_notif into `req`.
        if unsafe { libc::ioctl(fd.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_RECV, &mut req) } != 0 {
            continue; // The caller went away meanwhile.
        }
        nrs.push(req.data.nr);
        let resp = libc::seccomp_notif_resp {
            id: req.id,
            val: 0,
            error: 0,
            flags: 0,
        };
        // SAFETY: NOTIF_SEND reads one seccomp_notif_resp.
        unsafe { libc::ioctl(fd.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_SEND, &resp) };
    }
    (state, nrs)
}

#[test]
fn seccomp_notify_listener_reaches_the_agent_which_answers() {
    let mut c = Ctr::new("scnotify");
    let sock = c.dir().join("agent.sock");
    let sock_s = sock.to_string_lossy().into_owned();
    c.edit(|s| {
        s["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": sock_s,
            "listenerMetadata": "caixa-test-meta",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]
        });
    });
    // The agent fakes success: mkdir returns 0 but no directory appears
    // (with no agent answering, the call would fail).
    c.sh("mkdir /tmp/caixa-x; echo rc=$?; [ -d /tmp/caixa-x ] && echo exists || echo absent");
    let agent = seccomp_agent(&sock, 1);
    let o = c.run();
    let (state, nrs) = agent.join().expect("agent").remove(0);
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(o.stdout, "rc=0\nabsent\n", "{o:?}");
    assert!(
        nrs.iter()
            .all(|&n| n == libc::SYS_mkdir as i32 || n == libc::SYS_mkdirat as i32),
        "{nrs:?}"
    );
    assert!(!nrs.is_empty());
    assert_eq!(state["fds"], json!(["seccompFd"]), "{state}");
    assert_eq!(state["metadata"], "caixa-test-meta", "{state}");
    assert_eq!(state["state"]["id"], c.id.as_str(), "{state}");
    assert_eq!(state["pid"], state["state"]["pid"], "{state}");
    assert!(state["pid"].as_i64().unwrap_or(0) > 0, "{state}");
}

#[test]
fn seccomp_notify_without_a_listening_agent_fails_create_cleanly() {
    let mut c = Ctr::new("scnoagent");
    let sock = c.dir().join("nobody.sock");
    let sock_s = sock.to_string_lossy().into_owned();
    c.edit(|s| {
        s["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": sock_s,
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]
        });
    });
    let o = c.create();
    assert_ne!(o.code, 0);
    assert!(o.stderr.contains("listenerPath"), "{o:?}");
    assert_eq!(o.stderr.trim().lines().count(), 1, "{o:?}");
    assert!(!c.root.join(&c.id).exists());
    assert!(c.cgroup_dirs().is_empty(), "{:?}", c.cgroup_dirs());
}

#[test]
fn seccomp_notify_listener_of_an_exec_process_reaches_the_agent() {
    let mut c = Ctr::new("scnotifyexec");
    let sock = c.dir().join("agent.sock");
    let sock_s = sock.to_string_lossy().into_owned();
    c.edit(|s| {
        s["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": sock_s,
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]
        });
    });
    c.args(&["sleep", "1000"]);
    let agent = seccomp_agent(&sock, 2);
    assert_eq!(c.create().code, 0, "{}", c.container_output());
    c.start().ok();
    let init = c.pid();
    let o = c.rt(&[
        "exec",
        &c.id,
        "sh",
        "-c",
        "mkdir /tmp/caixa-y; echo rc=$?; [ -d /tmp/caixa-y ] && echo exists || echo absent",
    ]);
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(o.stdout, "rc=0\nabsent\n", "{o:?}");
    c.delete(true).ok();
    let r = agent.join().expect("agent");
    assert_eq!(r[0].0["pid"], init, "{:?}", r[0].0);
    assert_eq!(r[0].0["state"]["status"], "creating", "{:?}", r[0].0);
    let exec_pid = r[1].0["pid"].as_i64().unwrap_or(0);
    assert!(exec_pid > 0 && exec_pid != i64::from(init), "{:?}", r[1].0);
    assert_eq!(r[1].0["state"]["status"], "running", "{:?}", r[1].0);
    assert!(r[0].1.is_empty(), "the init made no mkdir: {:?}", r[0].1);
    assert!(!r[1].1.is_empty());
}

#[test]
fn exec_applies_scheduler_and_cpu_affinity() {
    let ncpu = std::thread::available_parallelism().map_or(1, |n| n.get());
    let last = ncpu - 1;
    let mut c = Ctr::new("execextras");
    c.args(&["sleep", "1000"]);
    assert_eq!(c.create().code, 0, "{}", c.container_output());
    c.start().ok();
    let process = json!({
        "args": ["sh", "-c", "grep -E '^policy' /proc/self/sched | tr -d ' '; \
                 cut -d' ' -f19 /proc/self/stat; grep Cpus_allowed_list /proc/self/status"],
        "cwd": "/",
        "user": {"uid": 0, "gid": 0},
        "env": ["PATH=/bin"],
        "scheduler": {"policy": "SCHED_BATCH", "nice": 7},
        "execCPUAffinity": {"initial": "0", "final": last.to_string()}
    });
    let file = c.dir().join("process.json");
    std::fs::write(&file, serde_json::to_vec(&process).expect("json")).expect("write");
    let o = c.rt(&["exec", "--process", &file.to_string_lossy(), &c.id]);
    assert_eq!(o.code, 0, "{o:?}");
    let l: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(l.first(), Some(&"policy:3"), "SCHED_BATCH: {o:?}");
    assert_eq!(l.get(1), Some(&"7"), "nice: {o:?}");
    assert_eq!(
        l.get(2)
            .map(|s| s.trim_start_matches("Cpus_allowed_list:").trim()),
        Some(last.to_string().as_str()),
        "{o:?}"
    );
    // A bad value is refused before anything runs, naming the field.
    let bad = json!({"args": ["true"], "cwd": "/", "user": {"uid": 0, "gid": 0},
                     "execCPUAffinity": {"final": "0-zz"}});
    std::fs::write(&file, serde_json::to_vec(&bad).expect("json")).expect("write");
    let o = c.rt(&["exec", "--process", &file.to_string_lossy(), &c.id]);
    assert_ne!(o.code, 0);
    assert!(o.stderr.contains("execCPUAffinity"), "{o:?}");
    assert_eq!(o.stderr.trim().lines().count(), 1, "{o:?}");
}
