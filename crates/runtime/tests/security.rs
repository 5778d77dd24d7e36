//! Capabilities, credentials, fd hygiene and the /proc/self/exe defence.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;

use common::Ctr;
use serde_json::json;

fn cap_eff(status: &str) -> u64 {
    let line = status.lines().find(|l| l.starts_with("CapEff:")).unwrap();
    u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap()
}

#[test]
fn default_caps_forbid_mount_and_sys_admin_allows_it() {
    let mut c = Ctr::new("capsdefault");
    c.sh("grep CapEff /proc/self/status; mount -t tmpfs none /tmp && echo mounted");
    let o = c.run();
    assert_ne!(o.code, 0, "{o:?}");
    assert!(!o.stdout.contains("mounted"));
    // AUDIT_WRITE(29), KILL(5), NET_BIND_SERVICE(10) and nothing else.
    assert_eq!(
        cap_eff(&o.stdout),
        (1 << 29) | (1 << 5) | (1 << 10),
        "{o:?}"
    );

    let mut c = Ctr::new("capsadmin");
    c.edit(|s| {
        for set in ["bounding", "effective", "permitted"] {
            s["process"]["capabilities"][set]
                .as_array_mut()
                .unwrap()
                .push(json!("CAP_SYS_ADMIN"));
        }
    });
    c.sh("mount -t tmpfs none /tmp && echo mounted");
    let o = c.run().ok();
    assert_eq!(o.stdout, "mounted\n");
}

#[test]
fn user_groups_umask_and_no_new_privs() {
    let mut c = Ctr::new("user");
    c.edit(|s| {
        s["process"]["user"] =
            json!({"uid": 1234, "gid": 2345, "umask": 63, "additionalGids": [7, 8]});
    });
    c.sh("id -u; id -g; id -G; umask; grep NoNewPrivs /proc/self/status; grep CapEff /proc/self/status");
    let o = c.run().ok();
    let l: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(l[0], "1234");
    assert_eq!(l[1], "2345");
    let mut groups: Vec<&str> = l[2].split_whitespace().collect();
    groups.sort();
    assert_eq!(groups, ["2345", "7", "8"]);
    assert_eq!(l[3], "0077");
    assert!(l[4].ends_with("\t1"), "{o:?}");
    // Non-root keeps only the ambient capabilities (here: none, as the
    // default spec has no inheritable set).
    assert_eq!(cap_eff(l[5]), 0, "{o:?}");
}

#[test]
fn rlimits_apply_and_raising_hard_limit_is_a_clear_error() {
    let mut c = Ctr::new("rlimit");
    c.edit(|s| {
        s["process"]["rlimits"] = json!([
            {"type": "RLIMIT_NOFILE", "hard": 512, "soft": 256},
            {"type": "RLIMIT_CORE", "hard": 0, "soft": 0}
        ]);
    });
    c.sh("ulimit -n; ulimit -Hn; ulimit -c");
    let o = c.run().ok();
    assert_eq!(o.stdout, "256\n512\n0\n");
    // This host lacks CAP_SYS_RESOURCE: raising a hard limit fails with the
    // rlimit named (when the host's own hard limit is below the request).
    let mut hard = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit fills the struct we pass.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut hard) };
    let mut c = Ctr::new("rlimitraise");
    c.edit(|s| {
        s["process"]["rlimits"] = json!([
            {"type": "RLIMIT_NOFILE", "hard": hard.rlim_max * 4 + 4096, "soft": 1024}
        ]);
    });
    let o = c.create();
    if o.code != 0 {
        assert!(o.stderr.contains("RLIMIT_NOFILE"), "{o:?}");
        assert!(!c.root.join(&c.id).exists());
    }
}

#[test]
fn no_host_fd_reaches_the_container() {
    let mut c = Ctr::new("fds");
    c.sh("ls /proc/self/fd | tr '\\n' ' '; echo; readlink /proc/self/fd/* | grep -c caixa-test || true");
    // An fd without CLOEXEC, like a careless caller would leave open.
    let leak = common::inheritable_fd(&c.bundle.join("config.json"));
    let o = c.run().ok();
    drop(leak);
    let fds: Vec<&str> = o
        .stdout
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    // 0, 1, 2 and the directory fd `ls` itself opened.
    assert!(fds.len() <= 4, "{o:?}");
    assert_eq!(o.stdout.lines().nth(1), Some("0"), "{o:?}");
}

#[test]
fn preserve_fds_passes_exactly_n_fds() {
    let mut c = Ctr::new("preserve");
    c.sh("cat <&3; ls /proc/self/fd/4 2>/dev/null && echo fd4-leaked; true");
    let data = c.dir().join("data");
    std::fs::write(&data, "via-fd-3\n").unwrap();
    let f3 = std::fs::File::open(&data).unwrap();
    let f4 = std::fs::File::open(&data).unwrap();
    let (a, b) = (
        std::os::fd::AsRawFd::as_raw_fd(&f3),
        std::os::fd::AsRawFd::as_raw_fd(&f4),
    );
    let mut cmd = c.cmd();
    cmd.args(["run", &c.id, "--preserve-fds", "1", "--bundle"])
        .arg(&c.bundle);
    // SAFETY: only dup2 (async-signal-safe) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            // Move both out of the way first: dup2(3, 3) would keep CLOEXEC.
            let (ha, hb) = (
                libc::fcntl(a, libc::F_DUPFD_CLOEXEC, 100),
                libc::fcntl(b, libc::F_DUPFD_CLOEXEC, 100),
            );
            if ha < 0 || hb < 0 || libc::dup2(ha, 3) < 0 || libc::dup2(hb, 4) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "{o:?}");
    assert_eq!(String::from_utf8_lossy(&o.stdout), "via-fd-3\n");
}

#[test]
fn cwd_is_inside_the_rootfs() {
    let mut c = Ctr::new("cwd");
    std::fs::create_dir_all(c.bundle.join("rootfs/work")).unwrap();
    c.edit(|s| s["process"]["cwd"] = json!("/work"));
    c.sh("pwd; ls -d ../bin");
    let o = c.run().ok();
    assert_eq!(o.stdout, "/work\n../bin\n");
}

fn caps_all() -> Vec<String> {
    let last: u32 = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let names = [
        "CHOWN",
        "DAC_OVERRIDE",
        "DAC_READ_SEARCH",
        "FOWNER",
        "FSETID",
        "KILL",
        "SETGID",
        "SETUID",
        "SETPCAP",
        "LINUX_IMMUTABLE",
        "NET_BIND_SERVICE",
        "NET_BROADCAST",
        "NET_ADMIN",
        "NET_RAW",
        "IPC_LOCK",
        "IPC_OWNER",
        "SYS_MODULE",
        "SYS_RAWIO",
        "SYS_CHROOT",
        "SYS_PTRACE",
        "SYS_PACCT",
        "SYS_ADMIN",
        "SYS_BOOT",
        "SYS_NICE",
        "SYS_RESOURCE",
        "SYS_TIME",
        "SYS_TTY_CONFIG",
        "MKNOD",
        "LEASE",
        "AUDIT_WRITE",
        "AUDIT_CONTROL",
        "SETFCAP",
        "MAC_OVERRIDE",
        "MAC_ADMIN",
        "SYSLOG",
        "WAKE_ALARM",
        "BLOCK_SUSPEND",
        "AUDIT_READ",
        "PERFMON",
        "BPF",
        "CHECKPOINT_RESTORE",
    ];
    names[..=(last as usize).min(names.len() - 1)]
        .iter()
        .map(|n| format!("CAP_{n}"))
        .collect()
}

fn file_digest(p: &std::path::Path) -> Vec<u8> {
    std::fs::read(p).unwrap()
}

#[test]
fn proc_self_exe_script_never_runs_the_runtime_binary() {
    // CVE-2019-5736: a `#!/proc/self/exe` entrypoint would make the kernel
    // run the execing process's binary, i.e. caixa-runtime, inside the
    // container (where its /proc/PID/exe leads to the host file).
    let bin = common::runtime_bin();
    let before = file_digest(&bin);
    let mut c = Ctr::new("selfexe");
    // Give the rootfs the runtime's shared libraries, as a real distro
    // image has, so the runtime binary could run in there.
    copy_libs_of(&bin, &c.bundle.join("rootfs"));
    let evil = c.bundle.join("rootfs/bin/evil");
    std::fs::write(&evil, "#!/proc/self/exe --version\n").unwrap();
    std::fs::set_permissions(&evil, std::fs::Permissions::from_mode(0o755)).unwrap();
    c.args(&["/bin/evil"]);
    let o = c.run();
    assert!(
        !o.stdout.contains("caixa-runtime"),
        "the runtime binary ran inside the container: {o:?}"
    );
    assert_ne!(o.code, 0, "{o:?}");
    assert_eq!(before, file_digest(&bin));
}

/// Copies the shared libraries `bin` needs (per ldd) into `rootfs`.
fn copy_libs_of(bin: &std::path::Path, rootfs: &std::path::Path) {
    let out = std::process::Command::new("ldd").arg(bin).output().unwrap();
    for tok in String::from_utf8_lossy(&out.stdout).split_whitespace() {
        if tok.starts_with('/') {
            let src = std::path::Path::new(tok);
            let dst = rootfs.join(tok.trim_start_matches('/'));
            std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
            std::fs::copy(std::fs::canonicalize(src).unwrap(), &dst).unwrap();
        }
    }
}

#[test]
fn created_init_exe_is_unreachable_from_the_container() {
    let bin = common::runtime_bin();
    let before = file_digest(&bin);
    // A: created, in a user namespace; its init (the runtime image) waits
    // for start.
    let mut a = Ctr::new("exea");
    a.edit(common::with_userns);
    a.args(&["sleep", "1000"]);
    a.create().ok();
    let pid = a.pid();
    // B joins A's user and pid namespaces with every capability there
    // (CAP_SYS_PTRACE included) and goes for /proc/1/exe.
    let mut b = Ctr::new("exeb");
    b.edit(|s| {
        s["mounts"]
            .as_array_mut()
            .unwrap()
            .retain(|m| m["type"] != "cgroup");
        for n in s["linux"]["namespaces"].as_array_mut().unwrap() {
            if n["type"] == "pid" {
                n["path"] = json!(format!("/proc/{pid}/ns/pid"));
            }
        }
        s["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user", "path": format!("/proc/{pid}/ns/user")}));
        let all: Vec<String> = caps_all();
        for set in ["bounding", "effective", "permitted"] {
            s["process"]["capabilities"][set] = json!(all);
        }
    });
    b.sh("cat /proc/1/exe > /dev/null 2>&1 && echo read-ok; echo x >> /proc/1/exe 2>/dev/null && echo write-ok; readlink /proc/1/exe || echo no-link");
    let o = b.run().ok();
    assert_eq!(o.stdout, "no-link\n", "{o:?}");
    assert_eq!(before, file_digest(&bin));
}

#[test]
fn seccomp_filter_is_installed_and_notify_is_refused() {
    let mut c = Ctr::new("seccomp");
    c.edit(|s| {
        s["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]
        });
    });
    c.sh("mkdir /tmp/x 2>&1; echo rc=$?; grep Seccomp: /proc/self/status");
    let o = c.run().ok();
    assert!(o.stdout.contains("rc=1"), "{o:?}");
    assert!(o.stdout.contains("Seccomp:\t2"), "{o:?}");

    let mut c = Ctr::new("seccompnotify");
    c.edit(|s| {
        s["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": "/nonexistent.sock",
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]
        });
    });
    let o = c.create();
    assert_ne!(o.code, 0);
    assert!(o.stderr.contains("linux.seccomp"), "{o:?}");
    assert!(!c.root.join(&c.id).exists());
}
