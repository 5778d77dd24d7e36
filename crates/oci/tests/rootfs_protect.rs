//! Real `finish` in a forked child's namespaces (run as root): masked
//! paths, read-only paths, read-only root, sysctls and cgroup mounts.

mod rootfs_util;

use std::path::{Path, PathBuf};

use nix::sched::CloneFlags;
use rootfs_util::*;
use serde_json::json;

#[test]
fn masked_paths_read_empty() {
    let b = Bundle::new("masked");
    std::fs::write(b.host("/etc/secret"), "top secret").unwrap();
    std::fs::create_dir_all(b.host("/etc/secretdir")).unwrap();
    std::fs::write(b.host("/etc/secretdir/key"), "k").unwrap();
    let linux = json!({"maskedPaths": [
        "/etc/secret", "/etc/secretdir", "/proc/kcore", "/proc/acpi", "/proc/timer_list", "/does/not/exist"
    ]});
    let spec = spec(default_mounts(), linux, false);
    in_container(&b, &spec, Opts::default(), |cfg| {
        enter(cfg)?;
        let s = std::fs::read_to_string("/etc/secret").map_err(|e| format!("read secret: {e}"))?;
        check(s.is_empty(), format!("masked file reads {s:?}"))?;
        check(
            std::fs::write("/etc/secret", "x").is_ok(),
            "writes to the /dev/null mask are discarded",
        )?;
        check(
            std::fs::read_to_string("/etc/secret")
                .map(|s| s.is_empty())
                .unwrap_or(false),
            "mask kept data",
        )?;
        let n = std::fs::read_dir("/etc/secretdir")
            .map_err(|e| e.to_string())?
            .count();
        check(n == 0, format!("masked dir has {n} entries"))?;
        check(
            write_is_erofs(Path::new("/etc/secretdir/new")),
            "masked dir writable",
        )?;
        let t = std::fs::read_to_string("/proc/timer_list").map_err(|e| e.to_string())?;
        check(t.is_empty(), "/proc/timer_list not masked")?;
        let m = mount_at("/etc/secretdir")?;
        check(
            m.fstype == "tmpfs" && m.opts.contains(&"ro".into()),
            format!("{m:?}"),
        )?;
        check(
            !Path::new("/does/not/exist").exists(),
            "missing path created",
        )
    })
    .unwrap();
    // The host file is untouched.
    assert_eq!(
        std::fs::read_to_string(b.host("/etc/secret")).unwrap(),
        "top secret"
    );
}

#[test]
fn masking_refuses_a_fake_dev_null() {
    let b = Bundle::new("fakenull");
    std::fs::write(b.host("/etc/secret"), "s").unwrap();
    // /dev is not a tmpfs here: the image's own /dev/null is a symlink.
    std::os::unix::fs::symlink("/etc/secret", b.host("/dev/null")).unwrap();
    let spec = spec(json!([]), json!({"maskedPaths": ["/etc/secret"]}), false);
    let err = in_container(&b, &spec, Opts::default(), |cfg| {
        caixa_oci::rootfs::setup(cfg).map_err(|e| format!("setup: {e}"))?;
        // setup replaced the planted symlink with the real node...
        let md = std::fs::symlink_metadata("/dev/null").map_err(|e| e.to_string())?;
        check(!md.file_type().is_symlink(), "symlink /dev/null kept")?;
        // ...so plant it again after setup, as a racing process could.
        std::fs::remove_file("/dev/null").map_err(|e| e.to_string())?;
        std::os::unix::fs::symlink("/etc/secret", "/dev/null").map_err(|e| e.to_string())?;
        caixa_oci::rootfs::finish(cfg).map_err(|e| e.to_string())
    })
    .unwrap_err();
    assert!(err.starts_with("linux.maskedPaths: /dev/null"), "{err}");
}

#[test]
fn readonly_paths_refuse_writes_and_keep_flags() {
    let b = Bundle::new("ropaths");
    std::fs::create_dir_all(b.host("/data/sub")).unwrap();
    let mut mounts = default_mounts();
    if let Some(a) = mounts.as_array_mut() {
        a.push(json!({"destination": "/data", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "noexec"]}));
        a.push(json!({"destination": "/data/inner", "type": "tmpfs", "source": "tmpfs"}));
    }
    // A relative entry is taken relative to / (as runc does).
    let linux =
        json!({"readonlyPaths": ["/proc/sys", "/proc/sysrq-trigger", "data", "/nope", "nope2"]});
    let spec = spec(mounts, linux, false);
    in_container(&b, &spec, Opts::default(), |cfg| {
        enter(cfg)?;
        let m = mount_at("/data")?;
        for o in ["ro", "nosuid", "nodev", "noexec"] {
            check(
                m.opts.contains(&o.into()),
                format!("/data lacks {o}: {m:?}"),
            )?;
        }
        check(write_is_erofs(Path::new("/data/x")), "/data writable")?;
        // Read-only is recursive: the submount too.
        check(
            write_is_erofs(Path::new("/data/inner/x")),
            "/data/inner writable",
        )?;
        let e = std::fs::write("/proc/sys/kernel/domainname", "x").err();
        check(
            e.and_then(|e| e.raw_os_error()) == Some(libc::EROFS),
            "/proc/sys writable",
        )?;
        check(
            mount_at("/proc/sys")?.opts.contains(&"ro".into()),
            "/proc/sys not ro",
        )?;
        // Elsewhere stays writable.
        std::fs::write("/dev/shm/ok", "x").map_err(|e| format!("/dev/shm: {e}"))?;
        std::fs::write("/tmp/ok", "x").map_err(|e| format!("/tmp: {e}"))
    })
    .unwrap();
    assert!(b.host("/tmp/ok").exists(), "root should have been writable");
    std::fs::remove_file(b.host("/tmp/ok")).unwrap();
}

#[test]
fn readonly_root_refuses_writes() {
    let b = Bundle::new("roroot");
    let mut mounts = default_mounts();
    if let Some(a) = mounts.as_array_mut() {
        a.push(json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"}));
    }
    let spec = spec(mounts, json!({}), true);
    in_container(&b, &spec, Opts::default(), |cfg| {
        enter(cfg)?;
        check(write_is_erofs(Path::new("/newfile")), "/ writable")?;
        check(write_is_erofs(Path::new("/etc/newfile")), "/etc writable")?;
        check(
            mount_at("/")?.opts.contains(&"ro".into()),
            "/ not ro in mountinfo",
        )?;
        std::fs::write("/tmp/ok", "x").map_err(|e| format!("/tmp: {e}"))?;
        std::fs::write("/dev/shm/ok", "x").map_err(|e| format!("/dev/shm: {e}"))?;
        let st = std::process::Command::new("/bin/busybox")
            .args(["touch", "/etc/fromshell"])
            .output()
            .map_err(|e| format!("busybox: {e}"))?;
        check(!st.status.success(), "busybox touch succeeded on a ro root")
    })
    .unwrap();
    assert!(!b.host("/etc/fromshell").exists());
}

fn read_sysctl(p: &str) -> String {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .trim()
        .to_string()
}

#[test]
fn sysctls_are_applied_in_the_containers_namespaces() {
    let b = Bundle::new("sysctl");
    let host_shmmax = read_sysctl("/proc/sys/kernel/shmmax");
    let host_fwd = read_sysctl("/proc/sys/net/ipv4/ip_forward");
    let host_domain = read_sysctl("/proc/sys/kernel/domainname");
    let linux = json!({
        "namespaces": [{"type": "mount"}, {"type": "ipc"}, {"type": "uts"}, {"type": "network"}],
        "sysctl": {
            "kernel.shmmax": "123456789",
            "net.ipv4.ip_forward": if host_fwd == "1" { "0" } else { "1" },
            "net/ipv4/conf/lo/forwarding": "1",
            "kernel.domainname": "caixa-test.example",
            "fs.mqueue.msg_max": "20"
        },
        "readonlyPaths": ["/proc/sys"]
    });
    let spec = spec(default_mounts(), linux, false);
    let opts = Opts {
        extra_ns: Some(
            CloneFlags::CLONE_NEWIPC | CloneFlags::CLONE_NEWUTS | CloneFlags::CLONE_NEWNET,
        ),
        ..Opts::default()
    };
    let want_fwd = if host_fwd == "1" { "0" } else { "1" };
    in_container(&b, &spec, opts, |cfg| {
        enter(cfg)?;
        for (p, v) in [
            ("/proc/sys/kernel/shmmax", "123456789"),
            ("/proc/sys/net/ipv4/ip_forward", want_fwd),
            ("/proc/sys/net/ipv4/conf/lo/forwarding", "1"),
            ("/proc/sys/kernel/domainname", "caixa-test.example"),
            ("/proc/sys/fs/mqueue/msg_max", "20"),
        ] {
            check(
                read_sysctl(p) == v,
                format!("{p} = {:?}, want {v}", read_sysctl(p)),
            )?;
        }
        Ok(())
    })
    .unwrap();
    assert_eq!(read_sysctl("/proc/sys/kernel/shmmax"), host_shmmax);
    assert_eq!(read_sysctl("/proc/sys/net/ipv4/ip_forward"), host_fwd);
    assert_eq!(read_sysctl("/proc/sys/kernel/domainname"), host_domain);
}

#[test]
fn cgroup_v1_mount_binds_each_hierarchy_read_only() {
    let hier = ["memory", "pids", "systemd"];
    if hier
        .iter()
        .any(|h| !Path::new("/sys/fs/cgroup").join(h).is_dir())
    {
        eprintln!("skipped: no cgroup v1 hierarchies on this host");
        return;
    }
    let b = Bundle::new("cgroupv1");
    let mut mounts = default_mounts();
    if let Some(a) = mounts.as_array_mut() {
        a.push(
            json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
                      "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}),
        );
    }
    let spec = spec(mounts, json!({}), false);
    let cg = |n: &str, d: &str| (n.to_string(), PathBuf::from("/sys/fs/cgroup").join(d));
    let opts = Opts {
        cgroup_mounts: vec![
            cg("memory", "memory"),
            cg("pids", "pids"),
            cg("name=systemd", "systemd"),
            cg("cpu,cpuacct", "cpu"),
        ],
        ..Opts::default()
    };
    in_container(&b, &spec, opts, |cfg| {
        enter(cfg)?;
        let t = mount_at("/sys/fs/cgroup")?;
        check(
            t.fstype == "tmpfs" && t.opts.contains(&"ro".into()),
            format!("{t:?}"),
        )?;
        for d in ["memory", "pids", "systemd", "cpu,cpuacct"] {
            let p = format!("/sys/fs/cgroup/{d}");
            let m = mount_at(&p)?;
            check(
                m.fstype == "cgroup" && m.opts.contains(&"ro".into()),
                format!("{m:?}"),
            )?;
            check(
                m.opts.contains(&"nosuid".into()),
                format!("{p} lacks nosuid"),
            )?;
        }
        check(
            Path::new("/sys/fs/cgroup/memory/memory.limit_in_bytes").exists(),
            "memory files",
        )?;
        check(
            write_is_erofs(Path::new("/sys/fs/cgroup/pids/caixa-test")),
            "cgroup writable",
        )?;
        let l = std::fs::read_link("/sys/fs/cgroup/cpuacct").map_err(|e| e.to_string())?;
        check(l == Path::new("cpu,cpuacct"), "cpuacct link")
    })
    .unwrap();
}

#[test]
fn cgroup_v2_mount_with_cgroupns() {
    let unified = ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"]
        .into_iter()
        .find(|p| {
            std::fs::read_to_string("/proc/self/mountinfo")
                .unwrap()
                .lines()
                .any(|l| l.contains(&format!(" {p} ")) && l.contains(" - cgroup2 "))
        });
    let Some(unified) = unified else {
        eprintln!("skipped: no cgroup2 mount");
        return;
    };
    let b = Bundle::new("cgroupv2");
    let mut mounts = default_mounts();
    if let Some(a) = mounts.as_array_mut() {
        a.push(json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["rw", "nosuid"]}));
    }
    let linux = json!({"namespaces": [{"type": "mount"}, {"type": "cgroup"}]});
    let spec = spec(mounts, linux, false);
    let opts = Opts {
        extra_ns: Some(CloneFlags::CLONE_NEWCGROUP),
        cgroup_mounts: vec![(String::new(), PathBuf::from(unified))],
        ..Opts::default()
    };
    in_container(&b, &spec, opts, |cfg| {
        enter(cfg)?;
        let m = mount_at("/sys/fs/cgroup")?;
        check(
            m.fstype == "cgroup2" && m.opts.contains(&"rw".into()),
            format!("{m:?}"),
        )?;
        check(m.opts.contains(&"nosuid".into()), "nosuid")?;
        check(
            Path::new("/sys/fs/cgroup/cgroup.procs").exists(),
            "cgroup.procs",
        )
    })
    .unwrap();
}

#[test]
fn a_masked_symlink_loop_is_an_error() {
    let b = Bundle::new("maskloop");
    std::os::unix::fs::symlink("../masked_symlink", b.host("/masked_symlink")).unwrap();
    let spec = spec(
        default_mounts(),
        json!({"maskedPaths": ["/masked_symlink"]}),
        false,
    );
    let err = in_container(&b, &spec, Opts::default(), enter).unwrap_err();
    assert!(
        err.contains("/masked_symlink") && err.contains("symbolic links"),
        "{err}"
    );
}
