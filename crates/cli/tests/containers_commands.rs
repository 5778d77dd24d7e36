//! The rest of the container commands through the real `caixa` binary:
//! create/start -a, restart, rename, pause/unpause, update, top, attach,
//! logs options, ps options, events, container prune, and the security
//! defaults (seccomp, capabilities, --privileged, --read-only). Needs root.

mod containers_support;

use containers_support::{Env, exec_pid, pid_of};

fn status_field(pid: i32, key: &str) -> String {
    let st = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    st.lines()
        .find(|l| l.starts_with(key))
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string()
}

#[test]
fn create_start_restart_rename_pause_update_top() {
    let env = Env::new("cmds");
    let id = env.ok(&[
        "create",
        "--name",
        "svc",
        "-m",
        "32m",
        "busybox",
        "sh",
        "-c",
        "echo started; exec sleep 60",
    ]);
    assert_eq!(env.inspect("svc", "{{.State.Status}}"), "created");
    assert!(
        env.ok(&["ps", "-a", "--format", "{{.Status}}"])
            .starts_with("Created")
    );
    env.ok(&["start", "svc"]);
    let pid1 = pid_of(&env, "svc");
    env.ok(&["restart", "-t", "1", "svc"]);
    let pid2 = exec_pid(&env, "svc", "sleep 60");
    assert_ne!(pid1, pid2, "restart kept the same init");
    env.until("two starts logged", 10, || {
        env.ok(&["logs", "svc"]).matches("started").count() == 2
    });
    // rename: the old name is free, the new one resolves.
    env.ok(&["rename", "svc", "svc2"]);
    assert_eq!(env.inspect("svc2", "{{.Id}}"), id);
    let o = env.run(&["inspect", "svc"]);
    assert_eq!(o.status.code(), Some(1));
    // pause freezes the cgroup: the init is in state D/S under the freezer, ps says Paused.
    env.ok(&["pause", "svc2"]);
    assert_eq!(
        env.inspect("svc2", "{{.State.Status}} {{.State.Paused}}"),
        "paused true"
    );
    assert!(
        env.ok(&["ps", "--format", "{{.Status}}"])
            .ends_with("(Paused)")
    );
    env.ok(&["unpause", "svc2"]);
    assert_eq!(env.inspect("svc2", "{{.State.Status}}"), "running");
    // update changes the live memory limit in the cgroup.
    env.ok(&["update", "-m", "48m", "svc2"]);
    let cg = std::fs::read_to_string(format!("/proc/{pid2}/cgroup")).unwrap();
    let mem = cg.lines().find_map(|l| {
        l.split(':')
            .nth(1)
            .filter(|c| *c == "memory")
            .map(|_| l.split(':').nth(2).unwrap().to_string())
    });
    let limit = match mem {
        Some(p) => {
            std::fs::read_to_string(format!("/sys/fs/cgroup/memory{p}/memory.limit_in_bytes"))
                .unwrap()
        }
        None => {
            let p = cg
                .lines()
                .find_map(|l| l.strip_prefix("0::"))
                .unwrap()
                .to_string();
            std::fs::read_to_string(format!("/sys/fs/cgroup{p}/memory.max")).unwrap()
        }
    };
    assert_eq!(limit.trim(), (48u64 << 20).to_string());
    assert_eq!(
        env.inspect("svc2", "{{.HostConfig.Memory}}"),
        (48u64 << 20).to_string()
    );
    // top lists the container's processes with host pids.
    let top = env.ok(&["top", "svc2"]);
    assert!(top.starts_with("UID"), "{top}");
    assert!(
        top.contains(&pid2.to_string()) && top.contains("sleep 60"),
        "{top}"
    );
    // exec -u and -w.
    assert_eq!(
        env.ok(&[
            "exec",
            "-u",
            "nobody",
            "-w",
            "/tmp",
            "svc2",
            "sh",
            "-c",
            "id -u; pwd"
        ]),
        "65534\n/tmp"
    );
    // events recorded the life so far.
    let ev = env.ok(&[
        "events",
        "--since",
        "1h",
        "--until",
        "0s",
        "--format",
        "{{.Action}}",
        "--filter",
        &format!("container={id}"),
    ]);
    for a in ["create", "start", "rename", "pause", "unpause", "update"] {
        assert!(ev.lines().any(|l| l == a), "no {a} event in {ev}");
    }
    env.finish();
}

#[test]
fn logs_options_ps_options_and_prune() {
    let env = Env::new("logsps");
    env.ok(&[
        "run",
        "--name",
        "talk",
        "busybox",
        "sh",
        "-c",
        "for i in 1 2 3 4 5; do echo line$i; done",
    ]);
    assert_eq!(env.ok(&["logs", "--tail", "2", "talk"]), "line4\nline5");
    let ts = env.ok(&["logs", "-t", "--tail", "1", "talk"]);
    assert!(ts.ends_with("Z line5") && ts.starts_with("20"), "{ts}");
    assert_eq!(
        env.ok(&["logs", "--since", "1h", "--until", "0s", "talk"])
            .lines()
            .count(),
        5
    );
    assert_eq!(
        env.ok(&["logs", "--until", "1h", "--since", "2h", "talk"]),
        ""
    );
    // -f returns when the container ends.
    env.ok(&[
        "run",
        "-d",
        "--name",
        "follow",
        "busybox",
        "sh",
        "-c",
        "sleep 0.5; echo late",
    ]);
    assert_eq!(env.ok(&["logs", "-f", "follow"]), "late");
    // --log-opt rotation.
    env.ok(&[
        "run",
        "--name",
        "rot",
        "--log-opt",
        "max-size=1k",
        "--log-opt",
        "max-file=2",
        "busybox",
        "sh",
        "-c",
        "i=0; while [ $i -lt 100 ]; do echo line-$i; i=$((i+1)); done",
    ]);
    let id = env.inspect("rot", "{{.Id}}");
    let log = env
        .root
        .join("containers")
        .join(&id)
        .join(format!("{id}-json.log"));
    assert!(std::fs::metadata(&log).unwrap().len() <= 1024);
    assert!(log.with_file_name(format!("{id}-json.log.1")).exists());
    assert!(!log.with_file_name(format!("{id}-json.log.2")).exists());
    assert!(env.ok(&["logs", "rot"]).ends_with("line-99"));
    // ps: -n, -l, --no-trunc, filters, table format.
    assert_eq!(env.ok(&["ps", "-l", "--format", "{{.Names}}"]), "rot");
    assert_eq!(
        env.ok(&["ps", "-n", "2", "--format", "{{.Names}}"]),
        "rot\nfollow"
    );
    assert_eq!(
        env.ok(&["ps", "-a", "--no-trunc", "-q", "--filter", "name=rot"]),
        id
    );
    assert_eq!(
        env.ok(&["ps", "-a", "-q", "--filter", "exited=0"])
            .lines()
            .count(),
        3
    );
    let t = env.ok(&["ps", "-a", "--format", "table {{.Names}}\\t{{.Status}}"]);
    assert!(t.starts_with("NAMES") && t.contains("STATUS"), "{t}");
    // -s: the container's own writes (the upper layer).
    env.ok(&[
        "run",
        "--name",
        "writer",
        "busybox",
        "sh",
        "-c",
        "head -c 5000 /dev/zero > /big",
    ]);
    assert_eq!(
        env.ok(&[
            "ps",
            "-a",
            "-s",
            "--filter",
            "name=writer",
            "--format",
            "{{.Size}}"
        ]),
        "5kB"
    );
    env.ok(&["rm", "writer"]);
    let o = env.run(&["ps", "--filter", "bogus=1"]);
    assert_eq!(o.status.code(), Some(125));
    // prune removes the stopped ones.
    env.ok(&["run", "-d", "--name", "keep", "busybox", "sleep", "30"]);
    let out = env.ok(&["container", "prune", "-f"]);
    assert!(out.contains(&id), "{out}");
    assert_eq!(env.ok(&["ps", "-a", "--format", "{{.Names}}"]), "keep");
    env.finish();
}

#[test]
fn attach_and_start_attach() {
    let env = Env::new("attach");
    env.ok(&[
        "create",
        "--name",
        "later",
        "busybox",
        "sh",
        "-c",
        "echo from-create; exit 4",
    ]);
    let o = env.run(&["start", "-a", "later"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout), "from-create\n");
    assert_eq!(o.status.code(), Some(4));
    env.ok(&[
        "run",
        "-d",
        "--name",
        "talker",
        "busybox",
        "sh",
        "-c",
        "sleep 1; echo after-attach; exit 6",
    ]);
    let o = env.run(&["attach", "talker"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout), "after-attach\n");
    assert_eq!(o.status.code(), Some(6));
    env.finish();
}

#[test]
fn security_defaults_and_overrides() {
    let env = Env::new("security");
    // Docker's defaults: seccomp filter on, 14 capabilities, masked /proc/timer_list, read-only /proc/sys.
    env.ok(&["run", "-d", "--name", "dflt", "busybox", "sleep", "30"]);
    let pid = exec_pid(&env, "dflt", "sleep 30");
    assert_eq!(status_field(pid, "Seccomp:"), "2");
    assert_eq!(
        u64::from_str_radix(&status_field(pid, "CapEff:"), 16)
            .unwrap()
            .count_ones(),
        14
    );
    let o = env.run(&[
        "exec",
        "dflt",
        "sh",
        "-c",
        "echo 1 > /proc/sys/kernel/panic",
    ]);
    assert_ne!(o.status.code(), Some(0));
    assert_eq!(
        env.ok(&["exec", "dflt", "sh", "-c", "wc -c < /proc/timer_list"]),
        "0"
    );
    // A namespace-creating syscall is refused by the default profile and the missing capability.
    let o = env.run(&["run", "--rm", "busybox", "unshare", "-U", "true"]);
    assert_ne!(o.status.code(), Some(0));
    // seccomp=unconfined, --cap-add, --privileged, no-new-privileges, --read-only.
    assert_eq!(
        env.ok(&[
            "run",
            "--rm",
            "--security-opt",
            "seccomp=unconfined",
            "busybox",
            "sh",
            "-c",
            "grep Seccomp: /proc/self/status | tr -d '\\t'"
        ]),
        "Seccomp:0"
    );
    assert_eq!(
        env.ok(&[
            "run",
            "--rm",
            "--cap-add",
            "SYS_ADMIN",
            "busybox",
            "sh",
            "-c",
            "mount -t tmpfs t /tmp && echo mounted"
        ]),
        "mounted"
    );
    assert_ne!(
        env.run(&[
            "run",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "mount -t tmpfs t /tmp"
        ])
        .status
        .code(),
        Some(0)
    );
    assert_eq!(
        env.ok(&[
            "run",
            "--rm",
            "--privileged",
            "busybox",
            "sh",
            "-c",
            "mount -t tmpfs t /tmp && echo mounted"
        ]),
        "mounted"
    );
    assert_eq!(
        env.ok(&[
            "run",
            "--rm",
            "--security-opt",
            "no-new-privileges",
            "busybox",
            "sh",
            "-c",
            "grep NoNewPrivs /proc/self/status | tr -d '\\t'"
        ]),
        "NoNewPrivs:1"
    );
    assert_ne!(
        env.run(&["run", "--rm", "--read-only", "busybox", "touch", "/x"])
            .status
            .code(),
        Some(0)
    );
    assert_eq!(
        env.ok(&[
            "run",
            "--rm",
            "--cap-drop",
            "ALL",
            "busybox",
            "sh",
            "-c",
            "grep CapEff /proc/self/status | tr -d '\\t'"
        ]),
        "CapEff:0000000000000000"
    );
    // Resource flags land in the cgroup; ulimits in the process.
    assert_eq!(
        env.ok(&[
            "run",
            "--rm",
            "--ulimit",
            "nofile=123:456",
            "busybox",
            "sh",
            "-c",
            "ulimit -n; ulimit -Hn"
        ]),
        "123\n456"
    );
    env.ok(&[
        "run",
        "-d",
        "--name",
        "lim",
        "--cpus",
        "0.5",
        "--pids-limit",
        "20",
        "--cpuset-cpus",
        "0",
        "-h",
        "box",
        "-w",
        "/tmp",
        "-u",
        "nobody",
        "busybox",
        "sleep",
        "30",
    ]);
    let pid = exec_pid(&env, "lim", "sleep 30");
    assert_eq!(
        env.ok(&["exec", "lim", "sh", "-c", "hostname; pwd; id -u"]),
        "box\n/tmp\n65534"
    );
    let v: serde_json::Value =
        serde_json::from_str(&env.ok(&["explain", "--format", "json", "lim"])).unwrap();
    let lim = &v["cgroup"]["limits"];
    assert_eq!(lim["pids"]["value"], "20");
    assert_eq!(lim["cpuset"]["value"], "0");
    if let Some(q) = lim["cpu quota (us)"]["value"].as_str() {
        assert_eq!(q, "50000");
    } else {
        assert_eq!(lim["cpu quota/period"]["value"], "50000 100000");
    }
    assert!(pid > 0);
    // Bad flags: one line naming the flag, exit 125, nothing created.
    for (args, flag) in [
        (vec!["--cap-add", "NOPE"], "--cap-add"),
        (vec!["--ulimit", "nofile=9:1"], "--ulimit"),
        (
            vec!["--security-opt", "seccomp=/nonexistent.json"],
            "--security-opt",
        ),
        (vec!["--restart", "sometimes"], "--restart"),
        (vec!["--network", "bridge2"], "--network"),
    ] {
        let mut a = vec!["run", "--rm"];
        a.extend(args.iter());
        a.extend(["busybox", "true"]);
        let o = env.run(&a);
        assert_eq!(o.status.code(), Some(125), "{a:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.starts_with(&format!("caixa: {flag}")) && err.lines().count() == 1,
            "{a:?}: {err}"
        );
    }
    env.finish();
}

/// (type, major:minor) of a device node, following no link.
fn device_of(p: &std::path::Path) -> Option<(char, u64)> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let md = std::fs::symlink_metadata(p).ok()?;
    let t = md.file_type();
    let kind = if t.is_char_device() {
        'c'
    } else if t.is_block_device() {
        'b'
    } else {
        return None;
    };
    Some((kind, md.rdev()))
}

#[test]
fn privileged_gets_every_host_device_and_no_confinement() {
    let env = Env::new("privileged");
    let id = env.ok(&[
        "run",
        "-d",
        "--privileged",
        "--name",
        "priv",
        "busybox",
        "sleep",
        "3600",
    ]);
    env.ok(&["run", "-d", "--name", "plain", "busybox", "sleep", "3600"]);
    let pid = exec_pid(&env, "priv", "sleep 3600");
    let plain = exec_pid(&env, "plain", "sleep 3600");
    // Every capability we hold (our bounding set), no seccomp filter.
    assert_eq!(
        status_field(pid, "CapEff:"),
        status_field(std::process::id() as i32, "CapBnd:")
    );
    assert_eq!(status_field(pid, "Seccomp:"), "0");
    // Host devices beyond the default set are there, with the host's numbers;
    // the plain container has none of them.
    let mut checked = 0;
    for name in ["loop-control", "fuse", "kmsg", "tty1", "loop0", "kvm"] {
        let host = std::path::Path::new("/dev").join(name);
        let Some(want) = device_of(&host) else {
            continue;
        };
        let inside = std::path::PathBuf::from(format!("/proc/{pid}/root/dev/{name}"));
        assert_eq!(device_of(&inside), Some(want), "{name}");
        assert!(
            !std::path::Path::new(&format!("/proc/{plain}/root/dev/{name}")).exists(),
            "{name} in a plain container"
        );
        checked += 1;
    }
    assert!(checked > 0, "no host device to check");
    // explain lists the same nodes; a plain container has Docker's six.
    let devs = |name: &str| -> Vec<String> {
        let x: serde_json::Value =
            serde_json::from_str(&env.ok(&["explain", "--format", "json", name])).unwrap();
        x["devices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_str().unwrap().to_string())
            .collect()
    };
    let listed = devs("priv");
    if let Some((_, rdev)) = device_of(std::path::Path::new("/dev/loop-control")) {
        let want = format!(
            "c {}:{} /dev/loop-control",
            ((rdev >> 8) & 0xfff) | ((rdev >> 32) & !0xfff),
            (rdev & 0xff) | ((rdev >> 12) & !0xff)
        );
        assert!(listed.contains(&want), "{want} not in {listed:?}");
    }
    assert_eq!(
        devs("plain"),
        [
            "c 1:3 /dev/null",
            "c 1:5 /dev/zero",
            "c 1:7 /dev/full",
            "c 1:8 /dev/random",
            "c 1:9 /dev/urandom",
            "c 5:0 /dev/tty"
        ]
    );
    assert!(!std::path::Path::new(&format!("/proc/{pid}/root/dev/console")).exists());
    // The device cgroup allows everything (readable on cgroup v1), and a
    // host device opens from inside.
    let list = format!("/sys/fs/cgroup/devices/caixa-{id}/devices.list");
    if let Ok(l) = std::fs::read_to_string(&list) {
        assert_eq!(l.trim(), "a *:* rwm");
    }
    if device_of(std::path::Path::new("/dev/loop-control")).is_some() {
        assert_eq!(
            env.ok(&[
                "exec",
                "priv",
                "sh",
                "-c",
                ": < /dev/loop-control && echo opened"
            ]),
            "opened"
        );
    }
    // /sys and the cgroup mount are read-write, nothing is masked or read-only.
    let mi = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
    let opts = |target: &str| -> Vec<String> {
        mi.lines()
            .filter(|l| l.split(' ').nth(4) == Some(target))
            .map(|l| l.split(' ').nth(5).unwrap().to_string())
            .collect()
    };
    assert!(opts("/sys")[0].starts_with("rw"), "{:?}", opts("/sys"));
    for o in opts("/sys/fs/cgroup") {
        assert!(o.starts_with("rw"), "/sys/fs/cgroup {o}");
    }
    for p in [
        "/proc/kcore",
        "/proc/timer_list",
        "/proc/sys",
        "/proc/sysrq-trigger",
    ] {
        assert!(opts(p).is_empty(), "{p} is masked or read-only");
    }
    let pm = std::fs::read_to_string(format!("/proc/{plain}/mountinfo")).unwrap();
    assert!(pm.lines().any(|l| l.split(' ').nth(4) == Some("/proc/sys")));
    assert_eq!(
        env.inspect("priv", "{{.HostConfig.Privileged}} {{.AppArmorProfile}}"),
        "true unconfined"
    );
    env.finish();
}

/// The line of `/proc/PID/mountinfo` mounted on `target` (the top one).
fn mount_line(pid: i32, target: &str) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/mountinfo"))
        .unwrap()
        .lines()
        .rev()
        .find(|l| l.split(' ').nth(4) == Some(target))
        .map(String::from)
}

#[test]
fn volumes_mounts_and_tmpfs() {
    let env = Env::new("volumes");
    let host = env.dir.join("host");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("file"), "from the host\n").unwrap();
    let made = env.dir.join("made/by/v");
    let h = host.display().to_string();
    let v_rw = format!("{h}:/data");
    let v_ro = format!("{h}:/rodata:ro");
    let v_made = format!("{}:/made", made.display());
    let m_file = format!("type=bind,source={h}/file,target=/etc/hfile,readonly");
    env.ok(&[
        "run",
        "-d",
        "--name",
        "vol",
        "-v",
        &v_rw,
        "--volume",
        &v_ro,
        "-v",
        &v_made,
        "--mount",
        &m_file,
        "--mount",
        "type=tmpfs,target=/mt,tmpfs-size=2m",
        "--tmpfs",
        "/scratch:size=1m,mode=700",
        "busybox",
        "sleep",
        "3600",
    ]);
    let pid = exec_pid(&env, "vol", "sleep 3600");
    // -v made the missing host directory, as Docker does.
    assert!(made.is_dir());
    // Written inside, read outside; the read-only binds refuse writes.
    env.ok(&["exec", "vol", "sh", "-c", "echo inside > /data/w"]);
    assert_eq!(std::fs::read_to_string(host.join("w")).unwrap(), "inside\n");
    assert_eq!(env.ok(&["exec", "vol", "cat", "/rodata/w"]), "inside");
    let o = env.run(&["exec", "vol", "touch", "/rodata/x"]);
    assert_ne!(o.status.code(), Some(0));
    assert!(!host.join("x").exists());
    assert_eq!(
        env.ok(&["exec", "vol", "cat", "/etc/hfile"]),
        "from the host"
    );
    assert_ne!(
        env.run(&["exec", "vol", "sh", "-c", "echo no > /etc/hfile"])
            .status
            .code(),
        Some(0)
    );
    assert_eq!(
        std::fs::read_to_string(host.join("file")).unwrap(),
        "from the host\n"
    );
    // In the container's mountinfo: binds of the host directory, ro where asked; tmpfs.
    let l = mount_line(pid, "/data").unwrap();
    assert!(l.split(' ').nth(3).unwrap().ends_with("/host"), "{l}");
    assert!(l.split(' ').nth(5).unwrap().starts_with("rw"), "{l}");
    let l = mount_line(pid, "/rodata").unwrap();
    assert!(l.split(' ').nth(5).unwrap().starts_with("ro"), "{l}");
    let l = mount_line(pid, "/scratch").unwrap();
    assert!(l.contains(" - tmpfs ") && l.contains("size=1024k"), "{l}");
    assert!(l.contains("mode=700"), "{l}");
    let l = mount_line(pid, "/mt").unwrap();
    assert!(l.contains(" - tmpfs ") && l.contains("size=2048k"), "{l}");
    // Nothing of it shows on the host.
    let d = env.dir.display().to_string();
    assert!(
        !std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .lines()
            .any(|l| l.split(' ').nth(4).is_some_and(|t| t.starts_with(&d))
                && !l.contains("/rootfs")),
        "a user mount shows on the host"
    );
    // inspect: Mounts (binds and --mount tmpfs), Binds, HostConfig.Mounts, Tmpfs.
    let v: serde_json::Value = serde_json::from_str(&env.ok(&["inspect", "vol"])).unwrap();
    let c = &v[0];
    let mounts = c["Mounts"].as_array().unwrap();
    assert_eq!(mounts.len(), 5, "{mounts:?}");
    assert_eq!(mounts[1]["Destination"], "/rodata");
    assert_eq!(mounts[1]["RW"], false);
    assert_eq!(mounts[1]["Mode"], "ro");
    assert_eq!(mounts[1]["Source"], h.as_str());
    assert_eq!(
        c["HostConfig"]["Binds"],
        serde_json::json!([v_rw, v_ro, v_made])
    );
    assert_eq!(c["HostConfig"]["Mounts"][0]["ReadOnly"], true);
    assert_eq!(c["HostConfig"]["Tmpfs"]["/scratch"], "size=1m,mode=700");
    // explain: each user mount, found in the container's mountinfo.
    let x: serde_json::Value =
        serde_json::from_str(&env.ok(&["explain", "--format", "json", "vol"])).unwrap();
    let vols = x["volumes"].as_array().unwrap();
    assert_eq!(vols.len(), 6);
    assert!(vols.iter().all(|v| v["mounted"] == true), "{vols:?}");
    assert_eq!(vols[5]["fstype"], "tmpfs");
    let text = env.ok(&["explain", "vol"]);
    assert!(text.contains("/rodata") && text.contains("(ro)"), "{text}");
    env.ok(&["rm", "-f", "vol"]);
    // The host's files stay; the container's mounts are gone with it.
    assert_eq!(std::fs::read_to_string(host.join("w")).unwrap(), "inside\n");
    // Bad mounts: one line naming the flag, exit 125, nothing created.
    let missing = format!("type=bind,source={}/nope,target=/x", d);
    let missing_v = format!("{d}/nope:/x");
    for (args, flag, says) in [
        (vec!["-v", "./rel:/x"], "--volume", "absolute path"),
        (vec!["-v", "named:/x"], "--volume", "not supported yet"),
        (vec!["-v", "/x"], "--volume", "not supported yet"),
        (vec!["-v", "/tmp:x"], "--volume", "must be absolute"),
        (vec!["-v", "/tmp:/x:rx"], "--volume", "invalid mode"),
        (
            vec!["-v", "/tmp:/x", "-v", "/tmp:/x/"],
            "--volume",
            "duplicate mount point",
        ),
        (vec!["--mount", &missing], "--mount", "does not exist"),
        (
            vec!["--mount", "type=bind,source=rel,target=/x"],
            "--mount",
            "must be absolute",
        ),
        (
            vec!["--mount", "type=bind,source=/tmp"],
            "--mount",
            "target is required",
        ),
        (
            vec!["--mount", "source=v,target=/x"],
            "--mount",
            "not supported yet",
        ),
        (
            vec!["--mount", "type=bind,src=/tmp,dst=/x,bogus=1"],
            "--mount",
            "unexpected key",
        ),
        (vec!["--tmpfs", "rel"], "--tmpfs", "must be absolute"),
        (
            vec!["--tmpfs", "/t:bogus"],
            "--tmpfs",
            "unknown tmpfs option",
        ),
        (
            vec!["--log-opt", "max-size=lots"],
            "--log-opt max-size",
            "invalid size",
        ),
        (
            vec!["--log-opt", "max-file=0"],
            "--log-opt max-file",
            "positive",
        ),
        (
            vec!["--log-opt", "colour=red"],
            "--log-opt",
            "unknown log option",
        ),
    ] {
        let mut a = vec!["run", "--rm"];
        a.extend(args.iter());
        a.extend(["busybox", "true"]);
        let o = env.run(&a);
        assert_eq!(o.status.code(), Some(125), "{a:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.starts_with(&format!("caixa: {flag}: "))
                && err.contains(says)
                && err.lines().count() == 1,
            "{a:?}: {err}"
        );
    }
    assert!(!std::path::Path::new(&missing_v).exists());
    assert_eq!(env.ok(&["ps", "-aq"]), "");
    // `port` lists nothing (no published ports until networking) and succeeds.
    env.ok(&["run", "-d", "--name", "noports", "busybox", "sleep", "3600"]);
    assert_eq!(env.ok(&["port", "noports"]), "");
    let o = env.run(&["port", "noports", "80"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "caixa: no public port '80/tcp' published for noports\n"
    );
    let o = env.run(&["port", "noports", "80/xyz"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&o.stderr).starts_with("caixa: port: invalid port"));
    env.finish();
}
