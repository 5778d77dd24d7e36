//! `exec` (joins the container's namespaces and cgroup, same process
//! setup as the init) and `ps`.

mod common;

use common::Ctr;
use serde_json::json;

fn running(name: &str) -> Ctr {
    let mut c = Ctr::new(name);
    c.edit(|s| s["hostname"] = json!("exec-box"));
    c.args(&["sleep", "1000"]);
    c.create().ok();
    c.start().ok();
    c
}

#[test]
fn exec_joins_namespaces_and_propagates_exit_code() {
    let c = running("exec");
    let o = c
        .rt(&[
            "exec",
            &c.id,
            "sh",
            "-c",
            "echo $$; cat /proc/1/comm; hostname; exit 5",
        ])
        .clone();
    assert_eq!(o.code, 5, "{o:?}");
    let l: Vec<&str> = o.stdout.lines().collect();
    assert_ne!(l[0], "1");
    assert_eq!(l[1], "sleep");
    assert_eq!(l[2], "exec-box");
    // Same namespaces as the init.
    let pid = c.pid();
    let o = c
        .rt(&[
            "exec",
            &c.id,
            "sh",
            "-c",
            "readlink /proc/self/ns/net; readlink /proc/self/ns/mnt",
        ])
        .ok();
    let want = format!(
        "{}\n{}\n",
        std::fs::read_link(format!("/proc/{pid}/ns/net"))
            .unwrap()
            .display(),
        std::fs::read_link(format!("/proc/{pid}/ns/mnt"))
            .unwrap()
            .display()
    );
    assert_eq!(o.stdout, want);
}

#[test]
fn exec_detached_joins_the_cgroup_and_ps_lists_it() {
    let c = running("execd");
    // Detached: the process keeps stdout, so do not wait for it to close.
    let pid = c.exec_detached(&[], &["sleep", "999"]);
    // Same cgroup as the init (the pids controller on v1, the one
    // hierarchy on v2).
    let cg = |p: i32| {
        let text = std::fs::read_to_string(format!("/proc/{p}/cgroup")).unwrap();
        let v2 = !text.contains(":pids:");
        text.lines()
            .find(|l| {
                if v2 {
                    l.starts_with("0::")
                } else {
                    l.contains(":pids:")
                }
            })
            .unwrap()
            .to_string()
    };
    assert_eq!(cg(c.pid()), cg(pid));
    assert!(cg(pid).contains(&c.id), "{}", cg(pid));
    let j = c.rt(&["ps", "--format", "json", &c.id]).ok();
    let pids: Vec<i32> = serde_json::from_str(&j.stdout).unwrap();
    assert!(pids.contains(&pid) && pids.contains(&c.pid()), "{pids:?}");
    let t = c.rt(&["ps", &c.id]).ok();
    assert!(t.stdout.lines().next().unwrap().contains("PID"), "{t:?}");
    assert!(t.stdout.contains("sleep 999"), "{t:?}");
}

#[test]
fn exec_user_env_cwd_and_caps() {
    let c = running("execopts");
    let o = c
        .rt(&[
            "exec",
            "-u",
            "1000:1001",
            "-e",
            "FOO=bar",
            "--cwd",
            "/tmp",
            &c.id,
            "sh",
            "-c",
            "id -u; id -g; echo $FOO; pwd",
        ])
        .ok();
    assert_eq!(o.stdout, "1000\n1001\nbar\n/tmp\n");
    let denied = c.rt(&["exec", &c.id, "mount", "-t", "tmpfs", "none", "/tmp"]);
    assert_ne!(denied.code, 0, "{denied:?}");
    c.rt(&[
        "exec",
        "--cap",
        "CAP_SYS_ADMIN",
        &c.id,
        "mount",
        "-t",
        "tmpfs",
        "none",
        "/tmp",
    ])
    .ok();
}

#[test]
fn exec_process_file() {
    let c = running("execproc");
    let pf = c.dir().join("process.json");
    std::fs::write(
        &pf,
        serde_json::to_vec(&json!({
            "args": ["sh", "-c", "echo from-file $X"],
            "env": ["PATH=/bin", "X=1"],
            "cwd": "/",
            "user": {"uid": 0, "gid": 0}
        }))
        .unwrap(),
    )
    .unwrap();
    let o = c
        .rt(&["exec", "--process", pf.to_str().unwrap(), &c.id])
        .ok();
    assert_eq!(o.stdout, "from-file 1\n");
}

#[test]
fn exec_errors_are_one_line() {
    let c = running("execerr");
    let o = c.rt(&["exec", &c.id, "/no/such/thing"]);
    assert_ne!(o.code, 0);
    assert!(o.stderr.contains("process.args[0]"), "{o:?}");
    assert_eq!(o.stderr.trim().lines().count(), 1, "{o:?}");
    c.rt(&["kill", &c.id, "KILL"]).ok();
    c.wait_stopped();
    let o = c.rt(&["exec", &c.id, "true"]);
    assert_ne!(o.code, 0);
    assert!(o.stderr.contains("stopped"), "{o:?}");
}

#[test]
fn kill_all_reaches_exec_processes() {
    let c = running("killall");
    let pid = c.exec_detached(&[], &["sleep", "998"]);
    // TERM: the exec'd sleep dies of it; the init, pid 1 of its namespace
    // without a handler, does not. So only --all can have ended the former.
    c.rt(&["kill", "--all", &c.id, "TERM"]).ok();
    // SAFETY: pidfd_open/poll/close on a pid we were given, to wait for it.
    unsafe {
        let fd = libc::syscall(libc::SYS_pidfd_open, pid, 0) as i32;
        if fd >= 0 {
            let mut p = libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            };
            libc::poll(&mut p, 1, -1);
            libc::close(fd);
        }
    }
    let alive = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.contains(") Z"))
        .unwrap_or(false);
    assert!(!alive, "exec'd process {pid} survived kill --all");
    assert_eq!(c.status(), "running");
}

/// `exec --ignore-paused`: the process joins the frozen cgroup and only runs
/// once the container is resumed; without the flag a paused container is
/// refused.
#[test]
fn exec_ignore_paused_runs_after_resume() {
    let c = running("execpaused");
    c.rt(&["pause", &c.id]).ok();
    assert_eq!(c.status(), "paused");
    let o = c.rt(&["exec", &c.id, "true"]);
    assert_ne!(o.code, 0, "{o:?}");
    assert!(o.stderr.contains("paused"), "{o:?}");
    let mut child = c
        .cmd()
        .args(["exec", "--ignore-paused", &c.id, "echo", "ran-after-resume"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The exec's stage shows up in the container's cgroup, where it is
    // frozen: the exec cannot finish while the container stays paused.
    let mut joined = false;
    for _ in 0..2000 {
        let j = c.rt(&["ps", "--format", "json", &c.id]).ok();
        let pids: Vec<i32> = serde_json::from_str(&j.stdout).unwrap();
        if pids.len() >= 2 {
            joined = true;
            break;
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    if !joined {
        let _ = child.kill();
        c.rt(&["resume", &c.id]).ok();
        panic!(
            "exec never joined the paused container: {:?}",
            child.wait_with_output()
        );
    }
    assert!(child.try_wait().unwrap().is_none(), "exec ran while paused");
    assert_eq!(c.status(), "paused");
    c.rt(&["resume", &c.id]).ok();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{o:?}");
    assert_eq!(String::from_utf8_lossy(&o.stdout), "ran-after-resume\n");
    assert_eq!(c.status(), "running");
}

/// A running container whose spec (so the init too) has `seccomp`, with
/// noNewPrivileges off: the filter goes in while the process still has
/// CAP_SYS_ADMIN, after the runtime's own calls.
fn running_with_seccomp(name: &str, seccomp: serde_json::Value) -> Ctr {
    let mut c = Ctr::new(name);
    c.edit(|s| {
        s["process"]["noNewPrivileges"] = json!(false);
        s["linux"]["seccomp"] = seccomp;
    });
    c.args(&["sleep", "1000"]);
    c.create().ok();
    c.start().ok();
    c
}

#[test]
fn exec_runtime_calls_come_before_a_filter_that_denies_them() {
    // close_range (fd hygiene) and getcwd (the CVE-2024-21626 cwd check)
    // are the runtime's calls: a profile refusing them must not fail exec.
    let c = running_with_seccomp(
        "execscdeny",
        json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [{"names": ["close_range", "getcwd"], "action": "SCMP_ACT_ERRNO"}]
        }),
    );
    let script = "echo ran; grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status; \
                  /bin/pwd -P 2>/dev/null || echo getcwd-denied";
    // Without no_new_privs (the spec's) and with --no-new-privs (the
    // filter then goes in last).
    for (extra, nnp) in [(None, 0), (Some("--no-new-privs"), 1)] {
        let mut args = vec!["exec", "--cwd", "/tmp"];
        args.extend(extra);
        args.extend([c.id.as_str(), "sh", "-c", script]);
        let o = c.rt(&args).ok();
        assert_eq!(
            o.stdout,
            format!("ran\nNoNewPrivs:\t{nnp}\nSeccomp:\t2\ngetcwd-denied\n"),
            "{extra:?}: {o:?}"
        );
    }
    assert_eq!(c.status(), "running");
}

/// `pid` of each container-process-state message queued at `agent`
/// (`n` connections, each one message, as the runtime sends them).
fn agent_pids(agent: &std::os::unix::net::UnixListener, n: usize) -> Vec<i64> {
    (0..n)
        .map(|_| {
            let (mut conn, _) = agent.accept().unwrap();
            let mut got = Vec::new();
            std::io::Read::read_to_end(&mut conn, &mut got).unwrap();
            let v: serde_json::Value = serde_json::from_slice(&got)
                .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&got)));
            v["pid"].as_i64().unwrap_or_else(|| panic!("no pid: {v}"))
        })
        .collect()
}

#[test]
fn exec_notify_filter_does_not_catch_the_runtime_calls() {
    // The agent never answers (it does not even accept until the end): had
    // exec's own close_range or getcwd come after the notifying filter,
    // `exec -d` would hang instead of returning with the listener handed
    // over.
    let dir = tempfile::Builder::new()
        .prefix("caixa-test-execnotify-agent-")
        .tempdir()
        .unwrap();
    let sock = dir.path().join("agent.sock");
    let agent = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let c = running_with_seccomp(
        "execnotify",
        json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": sock.display().to_string(),
            "syscalls": [{"names": ["getcwd", "close_range"], "action": "SCMP_ACT_NOTIFY"}]
        }),
    );
    let pf = c.dir().join("exec.pid");
    let err = c.dir().join("exec.stderr");
    // `timeout` only guards against a hang (the failure being tested).
    let st = std::process::Command::new("timeout")
        .arg("60")
        .arg(common::runtime_bin())
        .arg("--root")
        .arg(&c.root)
        .args(["exec", "-d", "--cwd", "/tmp", "--pid-file"])
        .arg(&pf)
        .args([&c.id, "sleep", "997"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&err).unwrap())
        .status()
        .unwrap();
    let err = std::fs::read_to_string(&err).unwrap_or_default();
    assert!(st.success(), "{st:?} {err}");
    let pid: i32 = std::fs::read_to_string(&pf)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // The exec'd process runs sleep under the filter, in /tmp.
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert!(status.contains("\nSeccomp:\t2\n"), "{status}");
    assert_eq!(
        std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap(),
        "sleep\n"
    );
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap(),
        std::path::Path::new("/tmp")
    );
    // The agent got two listeners: the init's (from create) and the exec'd
    // process's.
    let mut pids = agent_pids(&agent, 2);
    pids.sort();
    let mut want = vec![i64::from(c.pid()), i64::from(pid)];
    want.sort();
    assert_eq!(pids, want);
    assert_eq!(c.status(), "running");
}
