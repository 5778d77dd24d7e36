//! Supervision and introspection through the real `caixa` binary: restart
//! policies with back-off, --init, OOM kills, stats, health checks and
//! `explain` checked against /proc and /sys. Needs root.

mod containers_support;

use containers_support::{Env, exec_pid, pid_of};

#[test]
fn restart_policy_restarts_a_crashing_container_with_backoff() {
    let env = Env::new("restart");
    env.ok(&[
        "run",
        "-d",
        "--name",
        "crash",
        "--restart",
        "on-failure:3",
        "busybox",
        "sh",
        "-c",
        "echo run; exit 1",
    ]);
    env.until("3 restarts then exit", 30, || {
        env.inspect("crash", "{{.State.Status}} {{.RestartCount}}") == "exited 3"
    });
    assert_eq!(
        env.inspect(
            "crash",
            "{{.State.ExitCode}} {{.HostConfig.RestartPolicy.Name}}"
        ),
        "1 on-failure"
    );
    // Four runs, each logged; the monitor waited 100, 200, 400 ms between them.
    let logs = env.ok(&["logs", "crash"]);
    assert_eq!(logs.lines().count(), 4, "{logs}");
    let id = env.inspect("crash", "{{.Id}}");
    let state =
        std::fs::read_to_string(env.root.join("containers").join(&id).join("state")).unwrap();
    assert!(
        state.lines().any(|l| l == "restart_delays_ms=100,200,400"),
        "{state}"
    );
    // always: restarted until stopped by the user, which is not a crash.
    env.ok(&[
        "run",
        "-d",
        "--name",
        "always",
        "--restart",
        "always",
        "busybox",
        "sh",
        "-c",
        "exit 2",
    ]);
    env.until("a restart", 30, || {
        env.inspect("always", "{{.RestartCount}}") != "0"
    });
    env.ok(&["stop", "-t", "1", "always"]);
    let after = env.inspect("always", "{{.State.Status}} {{.RestartCount}}");
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(
        env.inspect("always", "{{.State.Status}} {{.RestartCount}}"),
        after
    );
    assert!(after.starts_with("exited"), "{after}");
    env.finish();
}

#[test]
fn init_reaps_zombies_and_forwards_signals() {
    let env = Env::new("init");
    // The orphan (sleep 0.2) is re-parented to PID 1 and must be reaped.
    env.ok(&[
        "run",
        "-d",
        "--name",
        "in",
        "--init",
        "busybox",
        "sh",
        "-c",
        "(sleep 0.2 &); (sleep 0.2 &); exec sleep 60",
    ]);
    let pid = pid_of(&env, "in");
    // `start` returns once the runtime released the init; the exec follows.
    env.until("the init to exec", 10, || {
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        String::from_utf8_lossy(&cmd).contains("caixa-monitor\0--init")
    });
    std::thread::sleep(std::time::Duration::from_millis(800));
    let zombies: Vec<_> = containers_support::processes_in_pidns(pid)
        .into_iter()
        .filter(|(_, state)| *state == 'Z')
        .collect();
    assert!(zombies.is_empty(), "zombies: {zombies:?}");
    // SIGTERM reaches `sleep` through the init: it dies of it (143), no SIGKILL needed.
    env.ok(&["stop", "-t", "20", "in"]);
    assert_eq!(env.inspect("in", "{{.State.ExitCode}}"), "143");
    env.finish();
}

#[test]
fn oom_killed_container_is_reported() {
    let env = Env::new("oom");
    let o = env.run(&[
        "run",
        "--name",
        "hog",
        "-m",
        "16m",
        "--memory-swap",
        "16m",
        "busybox",
        "sh",
        "-c",
        "x=$(head -c 64000000 /dev/zero | tr '\\0' a); echo survived",
    ]);
    assert_eq!(
        o.status.code(),
        Some(137),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert_eq!(
        env.inspect(
            "hog",
            "{{.State.OOMKilled}} {{.State.ExitCode}} {{.HostConfig.Memory}}"
        ),
        "true 137 16777216"
    );
    env.ok(&["run", "--name", "fine", "-m", "64m", "busybox", "true"]);
    assert_eq!(env.inspect("fine", "{{.State.OOMKilled}}"), "false");
    env.finish();
}

#[test]
fn stats_show_real_numbers() {
    let env = Env::new("stats");
    env.ok(&[
        "run",
        "-d",
        "--name",
        "busy",
        "-m",
        "64m",
        "--pids-limit",
        "50",
        "busybox",
        "sh",
        "-c",
        "x=$(head -c 8000000 /dev/zero | tr '\\0' a); sleep 1 & sleep 1 & while :; do :; done",
    ]);
    env.until("memory in use", 20, || {
        let v: serde_json::Value =
            serde_json::from_str(&env.ok(&["stats", "--no-stream", "--format", "json", "busy"]))
                .unwrap();
        v["Raw"]["mem_usage"].as_u64().unwrap() > 4_000_000
    });
    let v: serde_json::Value =
        serde_json::from_str(&env.ok(&["stats", "--no-stream", "--format", "json", "busy"]))
            .unwrap();
    assert_eq!(v["Raw"]["mem_limit"].as_u64(), Some(64 << 20), "{v}");
    assert!(v["Raw"]["cpu_ns"].as_u64().unwrap() > 0, "{v}");
    let cpu: f64 = v["CPUPerc"]
        .as_str()
        .unwrap()
        .trim_end_matches('%')
        .parse()
        .unwrap();
    assert!(cpu > 10.0, "a busy loop should show CPU use: {v}");
    assert!(v["Raw"]["pids"].as_u64().unwrap() >= 1, "{v}");
    assert!(v["MemUsage"].as_str().unwrap().ends_with("/ 64MiB"), "{v}");
    // The table form has Docker's columns.
    let t = env.ok(&["stats", "--no-stream"]);
    assert!(t.starts_with("CONTAINER ID"), "{t}");
    assert!(t.contains("MEM USAGE / LIMIT") && t.contains("busy"), "{t}");
    env.finish();
}

#[test]
fn health_check_turns_unhealthy() {
    let env = Env::new("health");
    env.ok(&[
        "run",
        "-d",
        "--name",
        "hc",
        "--health-cmd",
        "test -e /tmp/ok",
        "--health-interval",
        "200ms",
        "--health-retries",
        "2",
        "busybox",
        "sh",
        "-c",
        "touch /tmp/ok; sleep 60",
    ]);
    env.until("healthy", 30, || {
        env.inspect("hc", "{{.State.Health.Status}}") == "healthy"
    });
    assert!(
        env.ok(&["ps", "--format", "{{.Status}}"])
            .ends_with("(healthy)")
    );
    env.ok(&["exec", "hc", "rm", "/tmp/ok"]);
    env.until("unhealthy", 30, || {
        env.inspect("hc", "{{.State.Health.Status}}") == "unhealthy"
    });
    assert!(
        env.ok(&["ps", "--format", "{{.Status}}"])
            .ends_with("(unhealthy)")
    );
    assert_eq!(
        env.ok(&["ps", "-q", "--filter", "health=unhealthy"]).len(),
        12
    );
    env.finish();
}

#[test]
fn explain_matches_proc_and_sys() {
    let env = Env::new("explain");
    env.ok(&[
        "run",
        "-d",
        "--name",
        "x1",
        "-m",
        "32m",
        "--cap-drop",
        "NET_RAW",
        "busybox",
        "sleep",
        "60",
    ]);
    let pid = exec_pid(&env, "x1", "sleep 60");
    let v: serde_json::Value =
        serde_json::from_str(&env.ok(&["explain", "--format", "json", "x1"])).unwrap();
    // Namespaces: inodes as the kernel shows them; pid/net/mnt private, user shared with the host.
    for ns in v["namespaces"].as_array().unwrap() {
        let t = ns["type"].as_str().unwrap();
        let link = std::fs::read_link(format!("/proc/{pid}/ns/{t}")).unwrap();
        assert_eq!(
            link.to_string_lossy(),
            format!("{t}:[{}]", ns["inode"]),
            "{t}"
        );
        let host = std::fs::read_link(format!("/proc/self/ns/{t}")).unwrap() == link;
        assert_eq!(ns["shared_with_host"].as_bool(), Some(host), "{t}");
    }
    let private = |t: &str| {
        v["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["type"] == t)
            .unwrap()["shared_with_host"]
            == false
    };
    assert!(private("pid") && private("net") && private("mnt") && private("uts") && private("ipc"));
    assert!(!private("user"));
    // cgroup memory limit as the file says.
    let mem = &v["cgroup"]["limits"]["memory"];
    let file = mem["file"].as_str().unwrap();
    assert_eq!(
        std::fs::read_to_string(file).unwrap().trim(),
        mem["value"].as_str().unwrap()
    );
    assert_eq!(mem["value"].as_str(), Some("33554432"));
    // Capabilities from /proc/PID/status: Docker's default set minus NET_RAW.
    let caps: Vec<&str> = v["capabilities"]["effective"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert!(
        caps.contains(&"CAP_CHOWN")
            && !caps.contains(&"CAP_NET_RAW")
            && !caps.contains(&"CAP_SYS_ADMIN"),
        "{caps:?}"
    );
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let capeff = status
        .lines()
        .find(|l| l.starts_with("CapEff:"))
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap();
    assert_eq!(
        u64::from_str_radix(capeff, 16).unwrap().count_ones() as usize,
        caps.len()
    );
    // Rootfs: the overlay mount the host sees.
    assert_eq!(v["rootfs"]["fstype"], "overlay");
    assert!(!v["rootfs"]["lower"].as_array().unwrap().is_empty());
    // Processes: the init.
    assert_eq!(v["processes"][0]["pid"].as_i64(), Some(pid as i64));
    // A second container shares nothing private with the first.
    env.ok(&["run", "-d", "--name", "x2", "busybox", "sleep", "60"]);
    let v2: serde_json::Value =
        serde_json::from_str(&env.ok(&["explain", "--format", "json", "x2"])).unwrap();
    for ns in v2["namespaces"].as_array().unwrap() {
        assert!(ns["shared_with"].as_array().unwrap().is_empty(), "{ns}");
    }
    let text = env.ok(&["explain", "x1"]);
    assert!(
        text.contains("namespaces:") && text.contains("cgroup v") && text.contains("rootfs:"),
        "{text}"
    );
    env.finish();
}

/// The monitor's pid, from the container's state file.
fn monitor_pid(env: &Env, name: &str) -> i32 {
    let id = env.inspect(name, "{{.Id}}");
    let state =
        std::fs::read_to_string(env.root.join("containers").join(id).join("state")).unwrap();
    state
        .lines()
        .find_map(|l| l.strip_prefix("monitor_pid="))
        .and_then(|p| p.parse().ok())
        .unwrap()
}

/// Whether `pid` is gone (or a zombie nobody reaped yet).
fn gone(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| {
        s.rsplit(')')
            .next()
            .is_some_and(|r| r.trim_start().starts_with('Z'))
    })
}

#[test]
fn dead_monitors_show_exited_and_system_boot_follows_restart_policies() {
    let env = Env::new("boot");
    for (name, policy) in [
        ("alw", "always"),
        ("uns", "unless-stopped"),
        ("uns2", "unless-stopped"),
        ("nop", "no"),
    ] {
        env.ok(&[
            "run",
            "-d",
            "--network",
            "none",
            "--name",
            name,
            "--restart",
            policy,
            "busybox",
            "sleep",
            "300",
        ]);
    }
    // The user stops alw (always) and uns (unless-stopped).
    env.ok(&["stop", "-t", "1", "alw", "uns"]);
    // uns2 and nop lose their monitors (kill -9): their inits keep running,
    // unsupervised, but they are shown as exited, not stuck "running".
    let mut inits = Vec::new();
    for name in ["uns2", "nop"] {
        let init = pid_of(&env, name);
        let mon = monitor_pid(&env, name);
        let k = std::process::Command::new("kill")
            .args(["-9", &mon.to_string()])
            .status()
            .unwrap();
        assert!(k.success());
        env.until("the monitor's death", 10, || gone(mon));
        assert!(!gone(init), "{name}'s init died with its monitor");
        assert_eq!(
            env.inspect(name, "{{.State.Status}} {{.State.Running}} {{.State.Pid}}"),
            "exited false 0"
        );
        let ps = env.ok(&[
            "ps",
            "-a",
            "--filter",
            &format!("name={name}"),
            "--format",
            "{{.Status}}",
        ]);
        assert!(ps.starts_with("Exited"), "{ps}");
        inits.push(init);
    }
    assert_eq!(env.ok(&["ps", "-q"]), "", "nothing is running");
    // Boot: always comes back although stopped by the user; unless-stopped
    // only when it was not; no is only cleaned up.
    let out = env.ok(&["system", "boot"]);
    let mut lines: Vec<&str> = out.lines().collect();
    lines.sort();
    assert_eq!(
        lines,
        ["cleaned up nop", "started alw", "started uns2"],
        "{out}"
    );
    for name in ["alw", "uns2"] {
        assert_eq!(env.inspect(name, "{{.State.Status}}"), "running");
        let init = pid_of(&env, name);
        assert!(!inits.contains(&init));
        assert!(!gone(init));
    }
    assert_eq!(env.inspect("uns", "{{.State.Status}}"), "exited");
    assert_eq!(
        env.inspect("nop", "{{.State.Status}} {{.State.ExitCode}}"),
        "exited 137"
    );
    // The orphaned inits were killed; nothing of them is left mounted.
    for init in inits {
        env.until("the orphaned init's death", 10, || gone(init));
    }
    // A second boot has nothing to do.
    assert_eq!(env.ok(&["system", "boot"]), "");
    env.finish();
}

/// `State.Health` of `name`, from `caixa inspect`'s JSON.
fn health(env: &Env, name: &str) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(&env.ok(&["inspect", name])).unwrap();
    v[0]["State"]["Health"].clone()
}

#[test]
fn health_log_keeps_the_last_five_results_with_their_output() {
    let env = Env::new("hlog");
    // The check prints /tmp/h (stdout) and a line on stderr, and exits with
    // the code in /tmp/code.
    env.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "hl",
        "--health-cmd",
        "cat /tmp/h; echo on-stderr >&2; exit $(cat /tmp/code)",
        "--health-interval",
        "100ms",
        "--health-retries",
        "2",
        "busybox",
        "sh",
        "-c",
        "echo hello > /tmp/h; echo 0 > /tmp/code; sleep 120",
    ]);
    env.until("a passing check", 30, || {
        health(&env, "hl")["Log"]
            .as_array()
            .is_some_and(|l| l.last().is_some_and(|e| e["ExitCode"] == 0))
    });
    let h = health(&env, "hl");
    let e = h["Log"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(e["Output"], "hello\non-stderr\n", "{h}");
    assert!(
        e["Start"].as_str().unwrap() <= e["End"].as_str().unwrap(),
        "{e}"
    );
    assert_eq!(h["FailingStreak"], 0);
    // Now 10000 bytes of output and exit 3: kept cut at 4096 bytes.
    env.ok(&[
        "exec",
        "hl",
        "sh",
        "-c",
        "head -c 10000 /dev/zero | tr '\\0' x > /tmp/h; echo 3 > /tmp/code",
    ]);
    // A check that ran while the exec was still writing the two files may
    // have read a partial /tmp/h with the new code: wait for five checks
    // that all saw the finished files.
    let full = |e: &serde_json::Value| {
        e["ExitCode"] == 3 && e["Output"].as_str().is_some_and(|o| o.len() == 4096)
    };
    env.until("five failing checks of the long output", 30, || {
        let h = health(&env, "hl");
        h["FailingStreak"].as_u64().unwrap_or(0) >= 5
            && h["Log"]
                .as_array()
                .is_some_and(|l| l.len() == 5 && l.iter().all(full))
    });
    let h = health(&env, "hl");
    assert_eq!(h["Status"], "unhealthy");
    let log = h["Log"].as_array().unwrap();
    assert_eq!(log.len(), 5, "{h}");
    for e in log {
        assert_eq!(e["ExitCode"], 3, "{e}");
        let out = e["Output"].as_str().unwrap();
        assert_eq!(out.len(), 4096);
        assert!(out.bytes().all(|b| b == b'x'));
    }
    env.finish();
}

/// A running `caixa ARGS` whose stdout lines arrive on a channel.
fn spawn_lines(
    env: &Env,
    args: &[&str],
) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
    use std::io::BufRead;
    let mut child = env
        .cmd(args)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

/// The next line from `rx` (fails the test after a generous 30 s).
fn next_line(rx: &std::sync::mpsc::Receiver<String>, what: &str) -> String {
    rx.recv_timeout(std::time::Duration::from_secs(30))
        .unwrap_or_else(|_| panic!("no line: expected {what}"))
}

#[test]
fn logs_follow_and_events_wake_on_changes_and_end_with_the_container() {
    let env = Env::new("follow");
    // --since: the events process may start after the first event.
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let (mut events, ev) = spawn_lines(
        &env,
        &["events", "--since", &since, "--filter", "container=fo"],
    );
    // The container prints a line whenever a file shows up.
    env.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "fo",
        "busybox",
        "sh",
        "-c",
        "echo first; while true; do if [ -e /tmp/go ]; then rm /tmp/go; echo again; fi; sleep 0.05; done",
    ]);
    for action in ["create", "start"] {
        let l = next_line(&ev, action);
        assert!(l.contains(&format!("container {action} ")), "{l}");
    }
    env.until("the first line", 30, || env.ok(&["logs", "fo"]) == "first");
    let (mut logs, lines) = spawn_lines(&env, &["logs", "-f", "fo"]);
    assert_eq!(next_line(&lines, "first"), "first");
    // A new line reaches the follower while the container still runs.
    env.ok(&["exec", "fo", "touch", "/tmp/go"]);
    assert_eq!(next_line(&lines, "again"), "again");
    assert_eq!(env.inspect("fo", "{{.State.Running}}"), "true");
    // The follower ends on its own when the container exits.
    env.ok(&["stop", "-t", "1", "fo"]);
    assert!(logs.wait().unwrap().success());
    assert!(lines.recv().is_err(), "nothing after the end");
    let l = next_line(&ev, "die");
    assert!(l.contains("container die "), "{l}");
    // A follower also ends when the monitor is killed.
    env.ok(&["start", "fo"]);
    let (mut logs, _lines) = spawn_lines(&env, &["logs", "-f", "--tail", "0", "fo"]);
    let mon = monitor_pid(&env, "fo");
    let k = std::process::Command::new("kill")
        .args(["-9", &mon.to_string()])
        .status()
        .unwrap();
    assert!(k.success());
    assert!(logs.wait().unwrap().success());
    env.ok(&["rm", "-f", "fo"]);
    loop {
        let l = next_line(&ev, "destroy");
        if l.contains("container destroy ") {
            break;
        }
    }
    let _ = events.kill();
    let _ = events.wait();
    env.finish();
}

#[test]
fn rm_cleanup_claimed_by_a_killed_caixa_run_falls_back_to_the_monitor() {
    let env = Env::new("claim");
    // The foreground `caixa run --rm` claims the cleanup after the exit; it
    // is killed first, so the monitor must still clean up and remove.
    let mut run = env
        .cmd(&[
            "run",
            "--rm",
            "--network",
            "none",
            "--name",
            "cl",
            "busybox",
            "sleep",
            "2",
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    env.until("running", 30, || {
        env.run(&["inspect", "--format", "{{.State.Status}}", "cl"])
            .stdout
            .starts_with(b"running")
    });
    run.kill().unwrap();
    run.wait().unwrap();
    env.until("the container removed by its monitor", 30, || {
        env.ok(&["ps", "-aq"]).is_empty()
    });
    let d = env.dir.display().to_string();
    env.until("the monitor's exit", 30, || {
        containers_support::processes_mentioning(&d).is_empty()
    });
    env.finish();
}
