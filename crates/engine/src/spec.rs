//! config.json for a container: the image's config plus the user's flags,
//! on Docker's defaults (capabilities, masked and read-only paths, /dev
//! mounts, devices cgroup, rlimits).

use std::path::Path;

use serde_json::{Value, json};

use crate::config::Record;
use crate::error::{Error, Result};

/// Docker's default capability set (kept beside Docker's seccomp profile).
pub use caixa_oci::seccomp::docker::DEFAULT_CAPS;

/// Every capability name the kernel may know, in number order.
pub const ALL_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// Docker's masked paths.
pub const MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Docker's read-only paths.
pub const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Capabilities this kernel supports and we hold in our bounding set.
pub fn host_caps() -> Vec<&'static str> {
    let last: usize = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40);
    // Only what we may hand out: our own bounding set (smaller than the
    // kernel's list inside a confined environment).
    let bnd = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|st| {
            let l = st.lines().find(|l| l.starts_with("CapBnd:"))?;
            u64::from_str_radix(l.split_whitespace().nth(1)?, 16).ok()
        })
        .unwrap_or(u64::MAX);
    ALL_CAPS
        .iter()
        .take(last + 1)
        .enumerate()
        .filter(|(i, _)| bnd & (1u64 << i) != 0)
        .map(|(_, c)| *c)
        .collect()
}

fn norm_cap(field: &str, c: &str) -> Result<String> {
    let up = c.to_ascii_uppercase();
    if up == "ALL" {
        return Ok(up);
    }
    let name = if up.starts_with("CAP_") {
        up
    } else {
        format!("CAP_{up}")
    };
    if ALL_CAPS.contains(&name.as_str()) {
        Ok(name)
    } else {
        Err(Error::invalid(field, format!("unknown capability {c:?}")))
    }
}

/// The effective capability set for the record's flags.
pub fn capabilities(r: &Record) -> Result<Vec<String>> {
    let host = host_caps();
    if r.opts.privileged {
        return Ok(host.iter().map(|s| s.to_string()).collect());
    }
    let mut caps: Vec<String> = DEFAULT_CAPS.iter().map(|s| s.to_string()).collect();
    for c in &r.opts.cap_drop {
        let c = norm_cap("--cap-drop", c)?;
        if c == "ALL" {
            caps.clear();
        } else {
            caps.retain(|x| *x != c);
        }
    }
    for c in &r.opts.cap_add {
        let c = norm_cap("--cap-add", c)?;
        if c == "ALL" {
            caps = host.iter().map(|s| s.to_string()).collect();
        } else if !caps.contains(&c) {
            caps.push(c);
        }
    }
    Ok(caps)
}

/// Signal name → number (`SIGTERM`, `TERM`, `15`).
pub fn signal_number(s: &str) -> Option<i32> {
    if let Ok(n) = s.parse::<i32>() {
        return (1..=64).contains(&n).then_some(n);
    }
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    let n = match name {
        "HUP" => 1,
        "INT" => 2,
        "QUIT" => 3,
        "ILL" => 4,
        "TRAP" => 5,
        "ABRT" | "IOT" => 6,
        "BUS" => 7,
        "FPE" => 8,
        "KILL" => 9,
        "USR1" => 10,
        "SEGV" => 11,
        "USR2" => 12,
        "PIPE" => 13,
        "ALRM" => 14,
        "TERM" => 15,
        "STKFLT" => 16,
        "CHLD" => 17,
        "CONT" => 18,
        "STOP" => 19,
        "TSTP" => 20,
        "TTIN" => 21,
        "TTOU" => 22,
        "URG" => 23,
        "XCPU" => 24,
        "XFSZ" => 25,
        "VTALRM" => 26,
        "PROF" => 27,
        "WINCH" => 28,
        "IO" | "POLL" => 29,
        "PWR" => 30,
        "SYS" => 31,
        _ => return None,
    };
    Some(n)
}

fn rlimit(field: &str, spec: &str) -> Result<Value> {
    let bad = |why: &str| Error::invalid(field, format!("{spec:?}: {why}"));
    let (name, vals) = spec
        .split_once('=')
        .ok_or_else(|| bad("expected name=soft[:hard]"))?;
    let kind = match name {
        "core" | "cpu" | "data" | "fsize" | "locks" | "memlock" | "msgqueue" | "nice"
        | "nofile" | "nproc" | "rss" | "rtprio" | "rttime" | "sigpending" | "stack" | "as" => {
            format!("RLIMIT_{}", name.to_ascii_uppercase())
        }
        _ => return Err(bad("unknown limit name")),
    };
    let num = |v: &str| -> Result<u64> {
        if v == "-1" || v == "unlimited" {
            Ok(u64::MAX)
        } else {
            v.parse().map_err(|_| bad("not a number"))
        }
    };
    let (soft, hard) = match vals.split_once(':') {
        Some((s, h)) => (num(s)?, num(h)?),
        None => (num(vals)?, num(vals)?),
    };
    if soft > hard {
        return Err(bad("soft limit is above the hard limit"));
    }
    Ok(json!({"type": kind, "soft": soft, "hard": hard}))
}

/// Parses `-u user[:group]` against the rootfs' /etc/passwd and /etc/group.
pub fn resolve_user(rootfs: &Path, user: &str) -> Result<(u32, u32, Vec<u32>)> {
    if user.is_empty() {
        return Ok((0, 0, Vec::new()));
    }
    let (u, g) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let passwd = std::fs::read_to_string(rootfs.join("etc/passwd")).unwrap_or_default();
    let group = std::fs::read_to_string(rootfs.join("etc/group")).unwrap_or_default();
    let (uid, pgid) = if let Ok(n) = u.parse::<u32>() {
        let pg = passwd.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() > 3 && f[2] == u)
                .then(|| f[3].parse().ok())
                .flatten()
        });
        (n, pg.unwrap_or(0))
    } else {
        passwd
            .lines()
            .find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.len() > 3 && f[0] == u)
                    .then(|| Some((f[2].parse().ok()?, f[3].parse().ok()?)))
                    .flatten()
            })
            .ok_or_else(|| Error::Exec {
                code: 125,
                msg: format!("unable to find user {u}: no matching entries in passwd file"),
            })?
    };
    let gid = match g {
        None => pgid,
        Some(g) => match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => group
                .lines()
                .find_map(|l| {
                    let f: Vec<&str> = l.split(':').collect();
                    (f.len() > 2 && f[0] == g)
                        .then(|| f[2].parse().ok())
                        .flatten()
                })
                .ok_or_else(|| Error::Exec {
                    code: 125,
                    msg: format!("unable to find group {g}: no matching entries in group file"),
                })?,
        },
    };
    Ok((uid, gid, Vec::new()))
}

/// Directories of the host's /dev that hold no device to hand to a
/// privileged container (pseudo filesystems and bookkeeping), as Docker
/// and containerd skip them.
const SKIP_DEV_DIRS: &[&str] = &["pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"];

/// Every character and block device node under the host's /dev (not
/// /dev/console, not symlinks, nothing under `SKIP_DEV_DIRS`), as
/// runtime-spec `linux.devices` entries: what `--privileged` gives, like
/// Docker.
pub fn host_devices() -> Vec<Value> {
    let mut out = Vec::new();
    walk_devices(Path::new("/dev"), &mut out);
    out
}

fn walk_devices(dir: &Path, out: &mut Vec<Value>) {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.filter_map(|e| e.ok()).collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name();
        let path = e.path();
        // symlink_metadata: a link to a device is not a device.
        let Ok(md) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        let ft = md.file_type();
        if ft.is_dir() {
            if !SKIP_DEV_DIRS.iter().any(|s| name == *s) {
                walk_devices(&path, out);
            }
            continue;
        }
        if name == "console" {
            continue;
        }
        let kind = if ft.is_char_device() {
            "c"
        } else if ft.is_block_device() {
            "b"
        } else {
            continue;
        };
        let rdev = md.rdev();
        let (major, minor) = (libc::major(rdev), libc::minor(rdev));
        if major == 0 {
            continue;
        }
        out.push(json!({
            "path": path, "type": kind, "major": major, "minor": minor,
            "fileMode": md.mode() & 0o7777, "uid": md.uid(), "gid": md.gid(),
        }));
    }
}

/// Where the `--init` directory (caixa-monitor plus its loader and
/// libraries) is mounted inside containers.
pub const INIT_DIR: &str = "/.caixa-init";

/// Whether the host runs the unified cgroup v2 hierarchy.
pub fn cgroup_v2() -> bool {
    std::fs::metadata("/sys/fs/cgroup/cgroup.controllers").is_ok()
}

/// The cgroupsPath every container gets.
pub fn cgroups_path(id: &str) -> String {
    format!("/caixa-{id}")
}

/// Builds config.json for `r`, with `rootfs` mounted and `dir` holding
/// hostname/hosts/resolv.conf. `init` is the directory made by
/// [`crate::lifecycle::init_dir`] for `--init`.
pub fn generate(r: &Record, rootfs: &Path, dir: &Path, init: Option<&Path>) -> Result<Value> {
    let o = &r.opts;
    let caps = capabilities(r)?;
    let (uid, gid, extra_gids) = resolve_user(rootfs, &r.user)?;
    let mut env = r.env.clone();
    if !env.iter().any(|e| e.starts_with("HOSTNAME=")) {
        env.push(format!("HOSTNAME={}", r.hostname));
    }
    if o.tty && !env.iter().any(|e| e.starts_with("TERM=")) {
        env.push("TERM=xterm".into());
    }
    let mut args = r.args.clone();
    if args.is_empty() {
        return Err(Error::invalid(
            "command",
            "no command specified (the image has no Cmd or Entrypoint)",
        ));
    }
    let mut mounts = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", if o.privileged { "rw" } else { "ro" }]}),
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", if o.privileged { "rw" } else { "ro" }]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]}),
    ];
    for f in ["hostname", "hosts", "resolv.conf"] {
        mounts.push(json!({"destination": format!("/etc/{f}"), "type": "bind", "source": dir.join(f), "options": ["rbind", "rprivate"]}));
    }
    let user_mounts = crate::volumes::parse_all(o)?;
    crate::volumes::check_sources(&user_mounts)?;
    if rootfs.is_dir() {
        // A real start (create and update only probe with no rootfs).
        crate::volumes::create_sources(&user_mounts)?;
    }
    mounts.extend(user_mounts.iter().map(crate::volumes::oci_mount));
    if let (true, Some(init)) = (o.init, init) {
        // The init is caixa-monitor in --init mode, run through its own
        // dynamic loader and libraries (bind-mounted read-only), so it works
        // in any image, with or without a libc.
        mounts.push(json!({"destination": INIT_DIR, "type": "bind", "source": init, "options": ["rbind", "ro", "rprivate"]}));
        let loader = std::fs::read_to_string(init.join("loader")).unwrap_or_default();
        let mut a = vec![
            format!("{INIT_DIR}/{}", loader.trim()),
            "--library-path".into(),
            INIT_DIR.into(),
            format!("{INIT_DIR}/caixa-monitor"),
            "--init".into(),
            "--".into(),
        ];
        a.append(&mut args);
        args = a;
    }
    // Without --ulimit the container inherits the limits of the caller (as
    // Docker's containers inherit dockerd's).
    let mut rlimits: Vec<Value> = Vec::new();
    for u in &o.ulimits {
        let l = rlimit("--ulimit", u)?;
        rlimits.retain(|x| x["type"] != l["type"]);
        rlimits.push(l);
    }
    let mut nnp = false;
    // None: unconfined; Some(None): Docker's default; Some(Some(file)): a profile.
    let mut seccomp_from: Option<Option<&str>> = if o.privileged { None } else { Some(None) };
    for s in &o.security_opt {
        let (k, v) = s.split_once(['=', ':']).unwrap_or((s.as_str(), ""));
        match (k, v) {
            ("no-new-privileges", "" | "true") => nnp = true,
            ("no-new-privileges", "false") => nnp = false,
            ("seccomp", "unconfined") => seccomp_from = None,
            ("seccomp", file) if !file.is_empty() => seccomp_from = Some(Some(file)),
            ("label" | "apparmor", _) => {}
            _ => {
                return Err(Error::invalid(
                    "--security-opt",
                    format!("unknown option {s:?}"),
                ));
            }
        }
    }
    let seccomp = match seccomp_from {
        None => None,
        Some(None) => default_seccomp(&caps)?,
        Some(Some(file)) => {
            let text = std::fs::read(file)
                .map_err(|e| Error::io(format!("--security-opt seccomp={file}"), e))?;
            let p = caixa_oci::seccomp::docker::resolve(&text, &caps).map_err(|e| {
                Error::invalid("--security-opt", format!("seccomp profile {file}: {e}"))
            })?;
            Some(
                serde_json::to_value(p)
                    .map_err(|e| Error::invalid("--security-opt", e.to_string()))?,
            )
        }
    };
    let mut namespaces = vec![
        json!({"type": "pid"}),
        json!({"type": "ipc"}),
        json!({"type": "uts"}),
        json!({"type": "mount"}),
    ];
    match o.network.as_deref() {
        None | Some("none") | Some("") | Some("default") | Some("bridge") => {
            namespaces.push(json!({"type": "network"}))
        }
        Some("host") => {}
        Some(n) => {
            return Err(Error::invalid(
                "--network",
                format!("network {n:?} is not supported yet (none, host)"),
            ));
        }
    }
    if cgroup_v2() {
        namespaces.push(json!({"type": "cgroup"}));
    }
    let mut resources = json!({});
    resources["devices"] = if o.privileged {
        json!([{"allow": true, "access": "rwm"}])
    } else {
        json!([
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 5, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 7, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 8, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 9, "access": "rwm"},
            {"allow": true, "type": "c", "major": 5, "minor": 0, "access": "rwm"},
            {"allow": true, "type": "c", "major": 5, "minor": 1, "access": "rwm"},
            {"allow": true, "type": "c", "major": 5, "minor": 2, "access": "rwm"},
            {"allow": true, "type": "c", "major": 136, "access": "rwm"},
        ])
    };
    if let Some(m) = &o.memory {
        let limit = crate::util::parse_size("--memory", m)?;
        if limit < 6 << 20 {
            return Err(Error::invalid(
                "--memory",
                "minimum memory limit allowed is 6MB",
            ));
        }
        resources["memory"] = json!({"limit": limit});
        match o.memory_swap.as_deref() {
            Some("-1") => resources["memory"]["swap"] = json!(-1),
            Some(s) => {
                let swap = crate::util::parse_size("--memory-swap", s)?;
                if swap < limit {
                    return Err(Error::invalid(
                        "--memory-swap",
                        "must be at least the memory limit (-m)",
                    ));
                }
                resources["memory"]["swap"] = json!(swap);
            }
            None => resources["memory"]["swap"] = json!(limit * 2),
        }
    } else if o.memory_swap.is_some() {
        return Err(Error::invalid("--memory-swap", "needs --memory as well"));
    }
    let mut cpu = json!({});
    if let Some(c) = o.cpus {
        if c <= 0.0 || c > 1024.0 {
            return Err(Error::invalid("--cpus", format!("{c} is out of range")));
        }
        cpu["quota"] = json!((c * 100_000.0) as i64);
        cpu["period"] = json!(100_000u64);
    }
    if let Some(s) = o.cpu_shares {
        cpu["shares"] = json!(s);
    }
    if let Some(s) = &o.cpuset_cpus {
        cpu["cpus"] = json!(s);
    }
    if cpu.as_object().is_some_and(|m| !m.is_empty()) {
        resources["cpu"] = cpu;
    }
    if let Some(p) = o.pids_limit {
        resources["pids"] = json!({"limit": p});
    }
    let mut linux = json!({
        "namespaces": namespaces,
        "resources": resources,
        "cgroupsPath": cgroups_path(&r.id),
    });
    if o.privileged {
        // Every host device, allowed rwm by the cgroup rule above.
        linux["devices"] = json!(host_devices());
    } else {
        linux["maskedPaths"] = json!(MASKED_PATHS);
        linux["readonlyPaths"] = json!(READONLY_PATHS);
    }
    if let Some(s) = seccomp {
        linux["seccomp"] = s;
    }
    Ok(json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": o.tty,
            "user": {"uid": uid, "gid": gid, "additionalGids": extra_gids},
            "args": args,
            "env": env,
            "cwd": if r.workdir.is_empty() { "/" } else { r.workdir.as_str() },
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "rlimits": rlimits,
            "noNewPrivileges": nnp,
            "oomScoreAdj": 0,
        },
        "root": {"path": rootfs, "readonly": o.read_only},
        "hostname": r.hostname,
        "mounts": mounts,
        "linux": linux,
    }))
}

/// Docker's default seccomp profile, resolved for `caps`.
fn default_seccomp(caps: &[String]) -> Result<Option<Value>> {
    let p = caixa_oci::seccomp::docker::default_profile(caps)
        .map_err(|e| Error::invalid("seccomp", format!("default profile: {e}")))?;
    Ok(Some(
        serde_json::to_value(p).map_err(|e| Error::invalid("seccomp", e.to_string()))?,
    ))
}
