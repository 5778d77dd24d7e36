//! End-to-end container tests through the real `caixa` binary: run, ps,
//! logs, exec, stop, rm, --rm, exit codes, a detached container outliving a
//! killed `caixa`, and concurrent runs with clashing names. Needs root.

mod containers_support;

use std::time::Duration;

use containers_support::{Env, exec_pid, pid_of};

#[test]
fn run_ps_logs_exec_stop_rm() {
    let env = Env::new("lifecycle");
    let id = env.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "--label",
        "tier=front",
        "-e",
        "GREETING=hi",
        "busybox",
        "sh",
        "-c",
        "echo $GREETING out; echo oops >&2; exec sleep 60",
    ]);
    assert_eq!(id.len(), 64, "id: {id}");
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    // ps shows it running, by name, with a 12-digit id.
    let ps = env.ok(&["ps", "--format", "{{.ID}} {{.Names}} {{.State}}"]);
    assert_eq!(ps, format!("{} web running", &id[..12]));
    let ps = env.ok(&["ps", "--filter", "label=tier=front", "-q"]);
    assert_eq!(ps, &id[..12]);
    // The init is a real process on the host, in its own pid namespace.
    let pid = exec_pid(&env, "web", "sleep 60");
    assert_ne!(
        std::fs::read_link(format!("/proc/{pid}/ns/pid")).unwrap(),
        std::fs::read_link("/proc/self/ns/pid").unwrap()
    );
    // logs, split by stream.
    env.until("logs", 10, || env.ok(&["logs", "web"]).contains("hi out"));
    let o = env.run(&["logs", "web"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("oops"));
    assert!(!String::from_utf8_lossy(&o.stdout).contains("oops"));
    // exec by id prefix sees the container's environment and pid 1.
    let out = env.ok(&[
        "exec",
        &id[..8],
        "sh",
        "-c",
        "echo $GREETING; cat /proc/1/cmdline | tr '\\0' ' '",
    ]);
    assert!(out.starts_with("hi\n"), "{out}");
    assert!(out.contains("sleep 60"), "{out}");
    let o = env.run(&["exec", "web", "sh", "-c", "exit 5"]);
    assert_eq!(o.status.code(), Some(5));
    // inspect is Docker-shaped.
    assert_eq!(
        env.inspect(
            "web",
            "{{.Name}} {{.State.Status}} {{.State.Running}} {{.Config.Labels.tier}}"
        ),
        "/web running true front"
    );
    // stop: sleep as PID 1 ignores SIGTERM, so it is killed after the timeout.
    env.ok(&["stop", "-t", "1", "web"]);
    assert_eq!(
        env.inspect("web", "{{.State.Status}} {{.State.ExitCode}}"),
        "exited 137"
    );
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "init still alive"
    );
    assert!(env.ok(&["ps", "-q"]).is_empty());
    assert!(
        env.ok(&["ps", "-a", "--format", "{{.Status}}"])
            .starts_with("Exited (137)")
    );
    // start again, then rm refuses a running container without -f.
    env.ok(&["start", "web"]);
    assert_eq!(env.inspect("web", "{{.State.Status}}"), "running");
    let o = env.run(&["rm", "web"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("container is running"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    env.ok(&["rm", "-f", "web"]);
    let o = env.run(&["inspect", "web"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("no such container: web"));
    env.finish();
}

#[test]
fn rm_flag_leaves_nothing_and_exit_codes_follow_docker() {
    let env = Env::new("exitcodes");
    let o = env.run(&["run", "--rm", "busybox", "echo", "hello"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout), "hello\n");
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(env.ok(&["ps", "-aq"]), "", "--rm left a container");
    let code = |args: &[&str]| env.run(args).status.code();
    assert_eq!(
        code(&["run", "--rm", "busybox", "sh", "-c", "exit 3"]),
        Some(3)
    );
    let o = env.run(&["run", "--rm", "busybox", "no-such-command"]);
    assert_eq!(o.status.code(), Some(127));
    let o = env.run(&["run", "--rm", "busybox", "/etc/passwd"]);
    assert_eq!(o.status.code(), Some(126));
    let o = env.run(&["run", "--rm", "foo"]);
    assert_eq!(o.status.code(), Some(125));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "caixa: no such image: foo:latest\n"
    );
    let o = env.run(&["run", "--rm", "-m", "lots", "busybox", "true"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(
        String::from_utf8_lossy(&o.stderr).starts_with("caixa: --memory: "),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(env.ok(&["ps", "-aq"]), "", "failed runs left containers");
    // stdin reaches the container with -i.
    let mut c = env.cmd(&["run", "--rm", "-i", "busybox", "sh", "-c", "tr a-z A-Z"]);
    c.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"shout\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "SHOUT\n");
    env.finish();
}

#[test]
fn detached_container_outlives_a_killed_caixa_and_its_exit_is_recorded() {
    let env = Env::new("outlive");
    // A foreground run whose caixa process is killed: the container and its
    // monitor carry on, and the exit is still recorded.
    let mut child = env
        .cmd(&[
            "run",
            "--name",
            "job",
            "busybox",
            "sh",
            "-c",
            "sleep 1.5; exit 7",
        ])
        .spawn()
        .unwrap();
    env.until("job running", 20, || {
        env.run(&["inspect", "--format", "{{.State.Status}}", "job"])
            .stdout
            .starts_with(b"running")
    });
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(env.inspect("job", "{{.State.Status}}"), "running");
    assert_eq!(env.ok(&["wait", "job"]), "7");
    assert_eq!(
        env.inspect("job", "{{.State.Status}} {{.State.ExitCode}}"),
        "exited 7"
    );
    // -d: caixa exits at once, the container keeps running.
    env.ok(&["run", "-d", "--name", "bg", "busybox", "sleep", "30"]);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(env.inspect("bg", "{{.State.Status}}"), "running");
    env.ok(&["kill", "bg"]);
    assert_eq!(env.ok(&["wait", "bg"]), "137");
    env.finish();
}

#[test]
fn concurrent_runs_with_clashing_names() {
    let env = Env::new("clash");
    // 16 runs at once: 8 distinct names, 8 all asking for "same".
    let children: Vec<_> = (0..16)
        .map(|i| {
            let name = if i % 2 == 0 {
                format!("c{i}")
            } else {
                "same".to_string()
            };
            env.cmd(&["run", "-d", "--name", &name, "busybox", "sleep", "30"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outs: Vec<_> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    let ok = outs.iter().filter(|o| o.status.success()).count();
    assert_eq!(ok, 9, "8 distinct + 1 winner of the clash");
    for o in outs.iter().filter(|o| !o.status.success()) {
        assert_eq!(o.status.code(), Some(125));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.starts_with("caixa: container name \"same\" is already in use by container "),
            "{err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    let names = env.ok(&["ps", "--format", "{{.Names}}"]);
    let mut names: Vec<&str> = names.lines().collect();
    names.sort();
    assert_eq!(names.len(), 9);
    assert_eq!(names.iter().filter(|n| **n == "same").count(), 1);
    // Every container is really running and has its own monitor and init.
    for n in &names {
        assert_eq!(env.inspect(n, "{{.State.Status}}"), "running", "{n}");
    }
    env.finish();
}

#[test]
fn detach_keys_leave_the_container_running() {
    use containers_support::pty::PtySession;
    let env = Env::new("detach");
    // run -it on a real terminal; ctrl-p ctrl-q (Docker's default) detaches.
    let mut run = PtySession::spawn(env.cmd(&["run", "-it", "--name", "tty1", "busybox", "sh"]));
    run.expect("# ", 20);
    run.type_keys(b"echo first-$((40+2))\r");
    run.expect("first-42", 10);
    run.type_keys(b"\x10\x11");
    assert_eq!(run.wait(20), Some(0), "{}", run.screen());
    assert_eq!(env.inspect("tty1", "{{.State.Status}}"), "running");
    let pid = exec_pid(&env, "tty1", "sh");
    // attach with other keys: ctrl-p ctrl-q is now ordinary input, ctrl-a x detaches.
    let mut att = PtySession::spawn(env.cmd(&["attach", "--detach-keys", "ctrl-a,x", "tty1"]));
    att.type_keys(b"echo second-$((1+1))\r");
    att.expect("second-2", 10);
    att.type_keys(b"\x10\x11\x03");
    att.type_keys(b"echo third-$((2+3))\r");
    att.expect("third-5", 10);
    assert!(
        att.child.try_wait().unwrap().is_none(),
        "attach detached on the default keys"
    );
    att.type_keys(b"\x01x");
    assert_eq!(att.wait(20), Some(0), "{}", att.screen());
    assert_eq!(
        env.inspect("tty1", "{{.State.Status}} {{.State.Pid}}"),
        format!("running {pid}")
    );
    // Bad sequences: one line naming the flag, exit 125, nothing created.
    for args in [
        vec!["attach", "--detach-keys", "ctrl-1", "tty1"],
        vec![
            "run",
            "-it",
            "--rm",
            "--detach-keys",
            "ctrl-a,,x",
            "busybox",
            "true",
        ],
        vec!["start", "-ai", "--detach-keys", "alt-x", "tty1"],
    ] {
        let o = env.run(&args);
        assert_eq!(o.status.code(), Some(125), "{args:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.starts_with("caixa: --detach-keys: ") && err.lines().count() == 1,
            "{args:?}: {err}"
        );
    }
    assert_eq!(env.ok(&["ps", "-aq"]).lines().count(), 1);
    // start -ai of a created container detaches the same way.
    env.ok(&["create", "-it", "--name", "tty2", "busybox", "sh"]);
    let mut st = PtySession::spawn(env.cmd(&["start", "-ai", "tty2"]));
    st.type_keys(b"echo fourth-$((3+4))\r");
    st.expect("fourth-7", 20);
    st.type_keys(b"\x10\x11");
    assert_eq!(st.wait(20), Some(0), "{}", st.screen());
    assert_eq!(env.inspect("tty2", "{{.State.Status}}"), "running");
    env.ok(&["rm", "-f", "tty2"]);
    // The container's stdin survived both detaches: a last attach ends the shell.
    let mut last = PtySession::spawn(env.cmd(&["attach", "tty1"]));
    last.type_keys(b"exit 7\r");
    assert_eq!(last.wait(20), Some(7), "{}", last.screen());
    env.until("the container to exit", 10, || {
        env.inspect("tty1", "{{.State.Status}}") == "exited"
    });
    env.finish();
}

/// Whether overlay super options say `volatile` (kernels since 6.6 show
/// it as `fsync=volatile`).
fn is_volatile(opts: &str) -> bool {
    opts.split(',')
        .any(|o| o == "volatile" || o == "fsync=volatile")
}

/// The super options of the overlay mounted as `/` in `pid`'s mount
/// namespace (from /proc/PID/mountinfo, the fields after " - ").
fn root_overlay_options(pid: i32) -> String {
    let mi = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
    let line = mi
        .lines()
        .find(|l| l.split(' ').nth(4) == Some("/"))
        .unwrap_or_else(|| panic!("no / in /proc/{pid}/mountinfo:\n{mi}"));
    let (_, post) = line.split_once(" - ").unwrap();
    let mut f = post.split(' ');
    assert_eq!(f.next(), Some("overlay"), "{line}");
    f.nth(1).unwrap_or_default().to_string()
}

#[test]
fn rm_containers_get_a_volatile_overlay() {
    let env = Env::new("volatile");
    env.ok(&[
        "run", "-d", "--rm", "--name", "tmp", "busybox", "sleep", "60",
    ]);
    env.ok(&["run", "-d", "--name", "keep", "busybox", "sleep", "60"]);
    let opts = root_overlay_options(pid_of(&env, "tmp"));
    assert!(is_volatile(&opts), "--rm: {opts}");
    let opts = root_overlay_options(pid_of(&env, "keep"));
    assert!(!is_volatile(&opts), "no --rm: {opts}");
    // A --rm container whose monitor died is unmounted; starting it again
    // mounts the same upper/work dirs, although the kernel left its
    // incompat/volatile mark in the work dir.
    let id = env.inspect("tmp", "{{.Id}}");
    let state =
        std::fs::read_to_string(env.root.join("containers").join(&id).join("state")).unwrap();
    let mon: i32 = state
        .lines()
        .find_map(|l| l.strip_prefix("monitor_pid="))
        .and_then(|p| p.parse().ok())
        .unwrap();
    let k = std::process::Command::new("kill")
        .args(["-9", &mon.to_string()])
        .status()
        .unwrap();
    assert!(k.success());
    env.until("the monitor's death", 10, || {
        env.inspect("tmp", "{{.State.Status}}") == "exited"
    });
    env.ok(&["start", "tmp"]);
    let opts = root_overlay_options(pid_of(&env, "tmp"));
    assert!(is_volatile(&opts), "restarted: {opts}");
    env.ok(&["rm", "-f", "tmp", "keep"]);
    env.finish();
}
