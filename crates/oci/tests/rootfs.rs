//! Real rootfs setup in a forked child's mount namespace (run as root):
//! mount types and options, devices, pivot_root, symlink containment.

mod rootfs_util;

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

use rootfs_util::*;
use serde_json::json;

#[test]
fn default_mounts_devices_and_pivot() {
    let b = Bundle::new("default");
    std::fs::write(b.host("/etc/marker"), "in-rootfs").expect("marker");
    let spec = spec(default_mounts(), json!({}), false);
    let kcore = Path::new("/proc/kcore").exists();
    in_container(&b, &spec, Opts::default(), |cfg| {
        enter(cfg)?;
        // We are inside the rootfs, at its root.
        check(
            std::fs::read_to_string("/etc/marker").ok().as_deref() == Some("in-rootfs"),
            "not in rootfs",
        )?;
        check(
            std::env::current_dir().ok().as_deref() == Some(Path::new("/")),
            "cwd is not /",
        )?;
        check(
            !mountinfo().iter().any(|m| m.point.starts_with("/work")),
            "host mounts visible",
        )?;
        let proc_ = mount_at("/proc")?;
        check(proc_.fstype == "proc", format!("/proc: {proc_:?}"))?;
        let dev = mount_at("/dev")?;
        check(
            dev.fstype == "tmpfs" && dev.opts.contains(&"nosuid".into()),
            format!("/dev: {dev:?}"),
        )?;
        check(
            !dev.opts.contains(&"relatime".into()),
            format!("/dev strictatime: {dev:?}"),
        )?;
        check(
            dev.super_opts.contains(&"size=65536k".into()),
            format!("/dev size: {dev:?}"),
        )?;
        let pts = mount_at("/dev/pts")?;
        check(
            pts.fstype == "devpts" && pts.super_opts.contains(&"ptmxmode=666".into()),
            format!("{pts:?}"),
        )?;
        check(
            pts.super_opts.contains(&"gid=5".into()) && pts.opts.contains(&"noexec".into()),
            format!("{pts:?}"),
        )?;
        let shm = mount_at("/dev/shm")?;
        check(
            shm.fstype == "tmpfs" && shm.opts.contains(&"nodev".into()),
            format!("{shm:?}"),
        )?;
        let mode = std::fs::metadata("/dev/shm")
            .map_err(|e| e.to_string())?
            .permissions()
            .mode();
        check(mode & 0o7777 == 0o1777, format!("/dev/shm mode {mode:o}"))?;
        check(mount_at("/dev/mqueue")?.fstype == "mqueue", "mqueue")?;
        let sys = mount_at("/sys")?;
        check(
            sys.fstype == "sysfs" && sys.opts.contains(&"ro".into()),
            format!("{sys:?}"),
        )?;
        check(
            write_is_erofs(Path::new("/sys/kernel/caixa")),
            "/sys writable",
        )?;
        // Devices.
        for (name, major, minor) in [
            ("null", 1, 3),
            ("zero", 1, 5),
            ("full", 1, 7),
            ("random", 1, 8),
            ("urandom", 1, 9),
            ("tty", 5, 0),
        ] {
            let p = format!("/dev/{name}");
            let md = std::fs::symlink_metadata(&p).map_err(|e| format!("{p}: {e}"))?;
            check(
                md.file_type().is_char_device(),
                format!("{p} not a char device"),
            )?;
            check(
                md.mode() & 0o7777 == 0o666,
                format!("{p} mode {:o}", md.mode()),
            )?;
            check(
                md.rdev() == nix::sys::stat::makedev(major, minor),
                format!("{p} rdev"),
            )?;
            check(md.uid() == 0 && md.gid() == 0, format!("{p} owner"))?;
        }
        let mut buf = [1u8; 8];
        use std::io::Read;
        std::fs::File::open("/dev/zero")
            .and_then(|mut f| f.read_exact(&mut buf))
            .map_err(|e| e.to_string())?;
        check(buf == [0; 8], "/dev/zero")?;
        for (l, t) in [
            ("/dev/ptmx", "pts/ptmx"),
            ("/dev/fd", "/proc/self/fd"),
            ("/dev/stdin", "/proc/self/fd/0"),
            ("/dev/stdout", "/proc/self/fd/1"),
            ("/dev/stderr", "/proc/self/fd/2"),
            ("/dev/core", "/proc/kcore"),
        ] {
            if l == "/dev/core" && !kcore {
                check(
                    std::fs::symlink_metadata(l).is_err(),
                    "/dev/core without /proc/kcore",
                )?;
                continue;
            }
            let got = std::fs::read_link(l).map_err(|e| format!("{l}: {e}"))?;
            check(got == Path::new(t), format!("{l} -> {}", got.display()))?;
        }
        // The new devpts instance works through /dev/ptmx.
        let m =
            rustix::pty::openpt(rustix::pty::OpenptFlags::RDWR | rustix::pty::OpenptFlags::NOCTTY)
                .map_err(|e| format!("openpt: {e}"))?;
        drop(m);
        // busybox runs in there.
        let st = std::process::Command::new("/bin/busybox")
            .args(["sh", "-c", "echo ok > /tmp/x && cat /tmp/x"])
            .output()
            .map_err(|e| format!("exec busybox: {e}"))?;
        check(
            st.status.success() && st.stdout == b"ok\n",
            format!("busybox: {st:?}"),
        )
    })
    .unwrap();
    // Nodes and mount points under /dev were made in the container's
    // tmpfs, not in the rootfs on disk.
    assert_eq!(std::fs::read_dir(b.host("/dev")).unwrap().count(), 0);
}

#[test]
fn bind_mount_options_and_propagation() {
    let b = Bundle::new("bind");
    let src = tempfile::Builder::new()
        .prefix("caixa-test-bindsrc-")
        .tempdir()
        .unwrap();
    std::fs::write(src.path().join("file"), "hello").unwrap();
    std::fs::create_dir(src.path().join("sub")).unwrap();
    let s = src.path().to_str().unwrap().to_string();
    let mounts = json!([
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/ro", "type": "bind", "source": s, "options": ["bind", "ro", "nosuid", "nodev", "noexec", "noatime"]},
        {"destination": "/rw", "source": s, "options": ["rbind", "rw", "nodiratime", "shared"]},
        {"destination": "/plain", "source": s, "options": ["bind", "private", "unbindable"]},
        {"destination": "/etc/hostfile", "type": "none", "source": format!("{s}/file"), "options": ["bind", "ro"]},
        {"destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["mode=0700", "size=1m", "sync", "dirsync", "relatime"]},
        {"destination": "/scratch", "options": ["remount", "ro", "nosuid"]}
    ]);
    let spec = spec(mounts, json!({}), false);
    let sub = src.path().join("sub");
    in_container(&b, &spec, Opts::default(), |cfg| {
        // A submount in the source: rbind carries it, bind does not.
        rustix::mount::mount(
            "tmpfs",
            &sub,
            "tmpfs",
            rustix::mount::MountFlags::empty(),
            None,
        )
        .map_err(|e| format!("submount: {e}"))?;
        std::fs::write(sub.join("inner"), "x").map_err(|e| e.to_string())?;
        enter(cfg)?;
        let ro = mount_at("/ro")?;
        for o in ["ro", "nosuid", "nodev", "noexec", "noatime"] {
            check(
                ro.opts.contains(&o.into()),
                format!("/ro lacks {o}: {ro:?}"),
            )?;
        }
        check(
            std::fs::read_to_string("/ro/file").ok().as_deref() == Some("hello"),
            "/ro/file",
        )?;
        check(write_is_erofs(Path::new("/ro/new")), "/ro writable")?;
        let rw = mount_at("/rw")?;
        check(
            rw.opts.contains(&"rw".into()) && rw.opts.contains(&"nodiratime".into()),
            format!("{rw:?}"),
        )?;
        check(
            rw.optional.iter().any(|o| o.starts_with("shared:")),
            format!("/rw not shared: {rw:?}"),
        )?;
        check(
            Path::new("/rw/sub/inner").exists(),
            "rbind lost the submount",
        )?;
        check(
            !Path::new("/plain/sub/inner").exists(),
            "bind carried the submount",
        )?;
        check(
            mount_at("/plain")?.optional.contains(&"unbindable".into()),
            "/plain not unbindable",
        )?;
        std::fs::write("/rw/written", "w").map_err(|e| format!("/rw write: {e}"))?;
        let hf = mount_at("/etc/hostfile")?;
        check(hf.opts.contains(&"ro".into()), format!("{hf:?}"))?;
        check(
            std::fs::read_to_string("/etc/hostfile").ok().as_deref() == Some("hello"),
            "file bind",
        )?;
        let sc = mount_at("/scratch")?;
        check(
            sc.opts.contains(&"ro".into()) && sc.opts.contains(&"nosuid".into()),
            format!("remount: {sc:?}"),
        )?;
        check(
            sc.super_opts.contains(&"sync".into()) && sc.super_opts.contains(&"dirsync".into()),
            format!("{sc:?}"),
        )?;
        let mode = std::fs::metadata("/scratch")
            .map_err(|e| e.to_string())?
            .permissions()
            .mode();
        check(mode & 0o7777 == 0o700, format!("/scratch mode {mode:o}"))
    })
    .unwrap();
    // The host source saw the write through /rw and nothing else changed.
    assert!(src.path().join("written").exists());
    assert!(!src.path().join("sub/inner").exists(), "submount leaked");
}

#[test]
fn symlinks_cannot_redirect_mounts_to_the_host() {
    let b = Bundle::new("escape");
    let host = tempfile::Builder::new()
        .prefix("caixa-test-hostdir-")
        .tempdir()
        .unwrap();
    let h = host.path().to_str().unwrap().to_string();
    std::os::unix::fs::symlink(&h, b.host("/evil")).unwrap();
    std::os::unix::fs::symlink(format!("../../../../../../..{h}"), b.host("/evil-rel")).unwrap();
    std::os::unix::fs::symlink("/evil/deeper", b.host("/tmp/chain")).unwrap();
    let mounts = json!([
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/evil/x", "type": "tmpfs", "source": "tmpfs"},
        {"destination": "/evil-rel/y", "type": "tmpfs", "source": "tmpfs"},
        {"destination": "/tmp/chain/z", "type": "tmpfs", "source": "tmpfs"},
        {"destination": "/../../..//evil/../up", "type": "tmpfs", "source": "tmpfs"}
    ]);
    let spec = spec(mounts, json!({}), false);
    let h2 = h.clone();
    in_container(&b, &spec, Opts::default(), move |cfg| {
        caixa_oci::rootfs::setup(cfg).map_err(|e| format!("setup: {e}"))?;
        // Everything landed inside the rootfs, under the symlink targets
        // interpreted as if the rootfs were /.
        for p in ["x", "y", "deeper/z"] {
            let point = format!("{h2}/{p}");
            check(mount_at(&point)?.fstype == "tmpfs", point.clone())?;
        }
        // "/evil/.." is the parent of the symlink's target (as the
        // kernel resolves it), clamped to the rootfs: /tmp.
        check(mount_at("/tmp/up")?.fstype == "tmpfs", "/tmp/up")
    })
    .unwrap();
    assert_eq!(
        std::fs::read_dir(host.path()).unwrap().count(),
        0,
        "host dir was touched"
    );
    assert!(b.host(&format!("{h}/x")).is_dir());
    assert!(b.host(&format!("{h}/deeper/z")).is_dir());
}

#[test]
fn linux_devices_and_console() {
    let b = Bundle::new("devices");
    let linux = json!({"devices": [
        {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 384, "uid": 1000, "gid": 1001},
        {"path": "/dev/caixa/loop", "type": "b", "major": 7, "minor": 200, "fileMode": 432},
        {"path": "/dev/caixa/fifo", "type": "p", "major": 0, "minor": 0},
        {"path": "/dev/null", "type": "c", "major": 1, "minor": 3, "fileMode": 438}
    ]});
    // A pty pair on the host; its slave becomes /dev/console.
    let master =
        rustix::pty::openpt(rustix::pty::OpenptFlags::RDWR | rustix::pty::OpenptFlags::NOCTTY)
            .unwrap();
    rustix::pty::grantpt(&master).unwrap();
    rustix::pty::unlockpt(&master).unwrap();
    let slave = std::path::PathBuf::from(
        rustix::pty::ptsname(&master, Vec::new())
            .unwrap()
            .into_string()
            .unwrap(),
    );
    let slave_rdev = std::fs::metadata(&slave).unwrap().rdev();
    // A planted symlink at /dev/console must not redirect the bind.
    let spec = spec(
        json!([
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["mode=755"]}
        ]),
        linux,
        false,
    );
    let opts = Opts {
        console: Some(slave),
        ..Opts::default()
    };
    in_container(&b, &spec, opts, |cfg| {
        caixa_oci::rootfs::setup(cfg).map_err(|e| format!("setup: {e}"))?;
        let f = std::fs::symlink_metadata("/dev/fuse").map_err(|e| e.to_string())?;
        check(
            f.file_type().is_char_device() && f.mode() & 0o7777 == 0o600,
            format!("fuse mode {:o}", f.mode()),
        )?;
        check(f.uid() == 1000 && f.gid() == 1001, "fuse owner")?;
        check(f.rdev() == nix::sys::stat::makedev(10, 229), "fuse rdev")?;
        let l = std::fs::symlink_metadata("/dev/caixa/loop").map_err(|e| e.to_string())?;
        check(
            l.file_type().is_block_device() && l.mode() & 0o7777 == 0o660,
            "loop",
        )?;
        let p = std::fs::symlink_metadata("/dev/caixa/fifo").map_err(|e| e.to_string())?;
        check(
            p.file_type().is_fifo() && p.mode() & 0o7777 == 0o666,
            "fifo",
        )?;
        let c = std::fs::metadata("/dev/console").map_err(|e| format!("console: {e}"))?;
        check(
            c.file_type().is_char_device() && c.rdev() == slave_rdev,
            "console is not the pty",
        )?;
        check(mount_at("/dev/console").is_ok(), "console not a bind")
    })
    .unwrap();
}

#[test]
fn rootfs_reached_through_a_symlink() {
    let b = Bundle::new("viasymlink");
    let link = b.dir.path().join("link");
    std::os::unix::fs::symlink(&b.rootfs, &link).unwrap();
    std::fs::write(b.host("/etc/marker"), "via-link").unwrap();
    let spec = spec(default_mounts(), json!({}), false);
    in_container(&b, &spec, Opts::default(), |cfg| {
        let cfg = caixa_oci::rootfs::RootfsConfig {
            rootfs: link.clone(),
            console: None,
            cgroup_mounts: Vec::new(),
            ..*cfg
        };
        enter(&cfg)?;
        let m = std::fs::read_to_string("/etc/marker").map_err(|e| e.to_string())?;
        check(m == "via-link", "not in the rootfs")
    })
    .unwrap();
}

#[test]
fn proc_and_sysfs_refuse_a_symlinked_destination() {
    for (dest, typ) in [("/proc", "proc"), ("/sys", "sysfs")] {
        let b = Bundle::new(&format!("symlinked-{typ}"));
        std::fs::remove_dir(b.host(dest)).unwrap();
        std::fs::create_dir(b.host("/elsewhere")).unwrap();
        std::os::unix::fs::symlink("/elsewhere", b.host(dest)).unwrap();
        let spec = spec(
            json!([{"destination": dest, "type": typ, "source": typ}]),
            json!({}),
            false,
        );
        let err = in_container(&b, &spec, Opts::default(), |cfg| {
            Err(caixa_oci::rootfs::setup(cfg)
                .err()
                .ok_or("accepted")?
                .to_string())
        })
        .unwrap_err();
        assert!(err.starts_with("mounts[0].destination:"), "{err}");
        assert!(
            err.contains("must be mounted on ordinary directory"),
            "{err}"
        );
    }
}

#[test]
fn a_failing_mount_names_its_entry() {
    let b = Bundle::new("failing");
    let mounts = json!([
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/x", "type": "tmpfs", "source": "tmpfs", "options": ["size=lots"]}
    ]);
    let spec = spec(mounts, json!({}), false);
    let err = in_container(&b, &spec, Opts::default(), |cfg| {
        Err(caixa_oci::rootfs::setup(cfg)
            .err()
            .ok_or("accepted")?
            .to_string())
    })
    .unwrap_err();
    assert!(err.starts_with("mounts[1]: mount tmpfs /x: "), "{err}");
}

#[test]
fn no_pivot_moves_and_chroots() {
    let b = Bundle::new("nopivot");
    std::fs::write(b.host("/etc/marker"), "np").unwrap();
    let spec = spec(
        json!([{"destination": "/proc", "type": "proc", "source": "proc"}]),
        json!({}),
        false,
    );
    let opts = Opts {
        no_pivot: true,
        ..Opts::default()
    };
    in_container(&b, &spec, opts, |cfg| {
        enter(cfg)?;
        check(
            std::fs::read_to_string("/etc/marker").ok().as_deref() == Some("np"),
            "not in rootfs",
        )?;
        check(
            std::env::current_dir().ok().as_deref() == Some(Path::new("/")),
            "cwd",
        )?;
        check(mount_at("/proc")?.fstype == "proc", "proc")?;
        check(Path::new("/bin/busybox").exists(), "busybox")
    })
    .unwrap();
}

#[test]
fn bad_input_fails_before_anything_is_mounted() {
    let cases = [
        (
            json!([{"destination": "/x", "source": "tmpfs"}]),
            json!({}),
            "mounts[0].type",
        ),
        (
            json!([{"destination": "/x", "options": ["bind"]}]),
            json!({}),
            "mounts[0].source",
        ),
        (
            json!([{"destination": "/x", "type": "bind", "source": "/tmp", "options": ["bind", "tmpcopyup"]}]),
            json!({}),
            "mounts[0].options",
        ),
        (
            json!([]),
            json!({"rootfsPropagation": "sideways"}),
            "linux.rootfsPropagation",
        ),
        (
            json!([]),
            json!({"sysctl": {"kernel.core_pattern": "|/evil"}}),
            "linux.sysctl.kernel.core_pattern",
        ),
        (
            json!([]),
            json!({"sysctl": {"net.ipv4.ip_forward": "1"}}),
            "linux.sysctl.net.ipv4.ip_forward",
        ),
        (
            json!([]),
            json!({"sysctl": {"net/../kernel/x": "1"}}),
            "linux.sysctl.net/../kernel/x",
        ),
        (
            json!([]),
            json!({"maskedPaths": ["/proc/kcore", "../masked_rel_path"]}),
            "linux.maskedPaths[1]",
        ),
        (
            json!([]),
            json!({"devices": [{"path": "/dev/x", "type": "a"}]}),
            "linux.devices[0]",
        ),
        (
            json!([]),
            json!({"devices": [{"path": "/etc/x", "type": "c", "major": 1, "minor": 3}]}),
            "linux.devices[0]",
        ),
    ];
    for (i, (mounts, linux, field)) in cases.into_iter().enumerate() {
        let b = Bundle::new(&format!("bad{i}"));
        let spec = spec(mounts, linux, false);
        let err = in_container(&b, &spec, Opts::default(), |cfg| {
            let e = caixa_oci::rootfs::setup(cfg)
                .err()
                .ok_or("setup accepted bad input")?;
            check(mounts_under(&b).is_empty(), "something was mounted")?;
            Err(e.to_string())
        })
        .unwrap_err();
        assert!(err.starts_with(&format!("{field}:")), "case {i}: {err}");
        assert!(!err.contains('\n'), "case {i}: multi-line error");
    }
}

#[test]
fn rootfs_propagation_modes() {
    for (mode, want) in [
        ("rshared", Some("shared:")),
        ("private", None),
        ("rslave", None),
        ("unbindable", Some("unbindable")),
    ] {
        let b = Bundle::new(&format!("prop-{mode}"));
        let mounts = json!([{"destination": "/proc", "type": "proc", "source": "proc"}]);
        let spec = spec(mounts, json!({"rootfsPropagation": mode}), false);
        in_container(&b, &spec, Opts::default(), |cfg| {
            enter(cfg)?;
            let root = mount_at("/")?;
            match want {
                Some(w) => check(
                    root.optional.iter().any(|o| o.starts_with(w)),
                    format!("{mode}: {root:?}"),
                ),
                None => check(
                    !root.optional.iter().any(|o| o.starts_with("shared:")),
                    format!("{mode}: {root:?}"),
                ),
            }
        })
        .unwrap_or_else(|e| panic!("{mode}: {e}"));
    }
}

#[test]
fn bind_type_without_option_and_bind_remount() {
    let b = Bundle::new("bindtype");
    let src = tempfile::Builder::new()
        .prefix("caixa-test-bindsrc-")
        .tempdir()
        .unwrap();
    let s = src.path().to_str().unwrap().to_string();
    let mounts = json!([
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/data", "type": "bind", "source": s},
        {"destination": "/data", "type": "bind", "source": s, "options": ["bind", "remount", "ro", "nodev"]}
    ]);
    let spec = spec(mounts, json!({}), false);
    in_container(&b, &spec, Opts::default(), |cfg| {
        enter(cfg)?;
        let m = mount_at("/data")?;
        check(
            m.opts.contains(&"ro".into()) && m.opts.contains(&"nodev".into()),
            format!("{m:?}"),
        )?;
        let n = mountinfo().iter().filter(|m| m.point == "/data").count();
        check(n == 1, format!("{n} mounts at /data"))
    })
    .unwrap();
}

#[test]
fn recursive_attributes_reach_submounts() {
    let b = Bundle::new("rattr");
    let src = tempfile::Builder::new()
        .prefix("caixa-test-bindsrc-")
        .tempdir()
        .unwrap();
    std::fs::create_dir(src.path().join("sub")).unwrap();
    let s = src.path().to_str().unwrap().to_string();
    let mounts = json!([
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/r", "source": s, "options": ["rbind", "rro", "rnosuid", "rnoexec", "rnoatime"]},
        {"destination": "/n", "source": s, "options": ["rbind", "ro", "nosuid"]}
    ]);
    let spec = spec(mounts, json!({}), false);
    let sub = src.path().join("sub");
    in_container(&b, &spec, Opts::default(), |cfg| {
        rustix::mount::mount(
            "tmpfs",
            &sub,
            "tmpfs",
            rustix::mount::MountFlags::empty(),
            None,
        )
        .map_err(|e| format!("submount: {e}"))?;
        enter(cfg)?;
        for p in ["/r", "/r/sub"] {
            let m = mount_at(p)?;
            for o in ["ro", "nosuid", "noexec", "noatime"] {
                check(m.opts.contains(&o.into()), format!("{p} lacks {o}: {m:?}"))?;
            }
        }
        check(write_is_erofs(Path::new("/r/sub/x")), "/r/sub writable")?;
        // Plain ro on an rbind covers the top mount only (as with runc).
        check(mount_at("/n")?.opts.contains(&"ro".into()), "/n not ro")?;
        let m = mount_at("/n/sub")?;
        check(
            m.opts.contains(&"rw".into()) && !m.opts.contains(&"nosuid".into()),
            format!("{m:?}"),
        )?;
        std::fs::write("/n/sub/w", "w").map_err(|e| format!("/n/sub: {e}"))
    })
    .unwrap();
}

#[test]
fn mounts_over_procfs_are_refused_even_through_symlinks() {
    let src = tempfile::Builder::new()
        .prefix("caixa-test-bindsrc-")
        .tempdir()
        .unwrap();
    std::fs::write(src.path().join("f"), "x").unwrap();
    let f = src.path().join("f").to_str().unwrap().to_string();
    let cases = [
        ("/proc/sys/kernel/core_pattern", None),
        ("/sneaky/kernel/core_pattern", Some("/proc/sys")),
    ];
    for (i, (dest, link)) in cases.into_iter().enumerate() {
        let b = Bundle::new(&format!("procguard{i}"));
        if let Some(l) = link {
            std::os::unix::fs::symlink(l, b.host("/sneaky")).unwrap();
        }
        let mounts = json!([
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": dest, "type": "bind", "source": f, "options": ["bind"]}
        ]);
        let spec = spec(mounts, json!({}), false);
        let err = in_container(&b, &spec, Opts::default(), |cfg| {
            caixa_oci::rootfs::setup(cfg).map_err(|e| e.to_string())
        })
        .unwrap_err();
        assert!(
            err.starts_with("mounts[1].destination:") && err.contains("procfs"),
            "{err}"
        );
    }
    // Allowed: an lxcfs-style bind over /proc/uptime.
    let b = Bundle::new("procguard-ok");
    let mounts = json!([
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/proc/uptime", "type": "bind", "source": f, "options": ["bind", "ro"]}
    ]);
    let spec = spec(mounts, json!({}), false);
    in_container(&b, &spec, Opts::default(), |cfg| {
        enter(cfg)?;
        let s = std::fs::read_to_string("/proc/uptime").map_err(|e| e.to_string())?;
        check(s == "x", format!("/proc/uptime reads {s:?}"))
    })
    .unwrap();
}

#[test]
fn nothing_propagates_back_when_the_host_root_is_shared() {
    let b = Bundle::new("sharedhost");
    let spec = spec(default_mounts(), json!({}), false);
    let opts = Opts {
        shared: true,
        ..Opts::default()
    };
    let rootfs = b.rootfs.clone();
    in_container(&b, &spec, opts, |cfg| {
        // We are the "host" here, with / rshared; the container is a
        // grandchild in a namespace whose mounts start as our peers.
        // SAFETY: single-threaded child; the grandchild ends with _exit.
        match unsafe { nix::unistd::fork() }.map_err(|e| e.to_string())? {
            nix::unistd::ForkResult::Child => {
                let r = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)
                    .map_err(|e| e.to_string())
                    .and_then(|()| enter(cfg))
                    .and_then(|()| {
                        rustix::mount::mount(
                            "tmpfs",
                            "/tmp",
                            "tmpfs",
                            rustix::mount::MountFlags::empty(),
                            None,
                        )
                        .map_err(|e| e.to_string())
                    });
                // SAFETY: ends the grandchild without unwinding.
                unsafe { libc::_exit(if r.is_ok() { 0 } else { 1 }) }
            }
            nix::unistd::ForkResult::Parent { child } => {
                let st = nix::sys::wait::waitpid(child, None).map_err(|e| e.to_string())?;
                check(
                    matches!(st, nix::sys::wait::WaitStatus::Exited(_, 0)),
                    format!("container: {st:?}"),
                )?;
            }
        }
        let leaked = mounts_under(&b);
        check(
            leaked.is_empty(),
            format!("mounts propagated back: {leaked:?}"),
        )?;
        check(
            std::fs::read_dir(rootfs.join("tmp"))
                .map(|d| d.count() == 0)
                .unwrap_or(false),
            "rootfs /tmp touched",
        )
    })
    .unwrap();
}

#[test]
fn idmapped_bind_mounts_show_mapped_owners() {
    use std::os::unix::fs::MetadataExt;
    let b = Bundle::new("idmap");
    let src = tempfile::Builder::new()
        .prefix("caixa-test-idmapsrc-")
        .tempdir()
        .unwrap();
    if !fs_supports_idmap(src.path()) {
        eprintln!("skipped: tmpfs before Linux 6.3 cannot be idmapped");
        return;
    }
    std::fs::write(src.path().join("root-file"), "x").unwrap();
    std::fs::write(src.path().join("user-file"), "y").unwrap();
    std::os::unix::fs::chown(src.path().join("user-file"), Some(1000), Some(1001)).unwrap();
    let s = src.path().to_str().unwrap().to_string();
    let map = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    let mounts = json!([
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/mapped", "type": "bind", "source": s, "options": ["bind"],
         "uidMappings": map, "gidMappings": map},
        {"destination": "/plain", "type": "bind", "source": s, "options": ["bind", "ro"]}
    ]);
    let spec = spec(mounts, json!({}), false);
    in_container(&b, &spec, Opts::default(), |cfg| {
        enter(cfg)?;
        let md = |p: &str| std::fs::metadata(p).map_err(|e| format!("{p}: {e}"));
        let r = md("/mapped/root-file")?;
        check(
            r.uid() == 100000 && r.gid() == 100000,
            format!("root-file {}:{}", r.uid(), r.gid()),
        )?;
        let u = md("/mapped/user-file")?;
        check(
            u.uid() == 101000 && u.gid() == 101001,
            format!("user-file {}:{}", u.uid(), u.gid()),
        )?;
        let p = md("/plain/root-file")?;
        check(p.uid() == 0, "the plain bind is idmapped too")?;
        check(
            mount_at("/mapped")?.opts.iter().any(|o| o == "idmapped"),
            "no idmapped flag",
        )
    })
    .unwrap();
    // The host files keep their owners.
    assert_eq!(
        std::fs::metadata(src.path().join("root-file"))
            .unwrap()
            .uid(),
        0
    );
}

#[test]
fn idmap_misuse_is_refused_up_front() {
    let map = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    let cases = [
        json!([{"destination": "/t", "type": "tmpfs", "source": "tmpfs", "uidMappings": map, "gidMappings": map}]),
        json!([{"destination": "/t", "type": "bind", "source": "/tmp", "options": ["bind", "idmap"]}]),
        json!([{"destination": "/t", "type": "bind", "source": "/tmp", "uidMappings": map}]),
    ];
    for (i, mounts) in cases.into_iter().enumerate() {
        let b = Bundle::new(&format!("idmapbad{i}"));
        let spec = spec(mounts, json!({}), false);
        let err = in_container(&b, &spec, Opts::default(), |cfg| {
            Err(caixa_oci::rootfs::setup(cfg)
                .err()
                .ok_or("accepted")?
                .to_string())
        })
        .unwrap_err();
        assert!(err.starts_with("mounts[0]:"), "case {i}: {err}");
    }
}

/// Runs the container as a grandchild of a "host" child whose / is
/// rshared and where `src` is a shared tmpfs; `host_side` runs in the
/// host while the container waits, then `inside` runs in the container.
fn host_and_container(
    b: &Bundle,
    spec: &oci_spec::runtime::Spec,
    src: &Path,
    host_side: fn(&Path) -> Result<(), String>,
    inside: fn() -> Result<(), String>,
    after: fn(&Path) -> Result<(), String>,
) -> Result<(), String> {
    use std::io::{Read, Write};
    let opts = Opts {
        shared: true,
        ..Opts::default()
    };
    in_container(b, spec, opts, |cfg| {
        let flags = rustix::mount::MountFlags::empty();
        rustix::mount::mount("tmpfs", src, "tmpfs", flags, None).map_err(|e| e.to_string())?;
        let (mut ready_r, mut ready_w) = std::io::pipe().map_err(|e| e.to_string())?;
        let (mut go_r, mut go_w) = std::io::pipe().map_err(|e| e.to_string())?;
        // SAFETY: single-threaded child; the grandchild ends with _exit.
        match unsafe { nix::unistd::fork() }.map_err(|e| e.to_string())? {
            nix::unistd::ForkResult::Child => {
                let r = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)
                    .map_err(|e| e.to_string())
                    .and_then(|()| enter(cfg))
                    .and_then(|()| ready_w.write_all(b"r").map_err(|e| e.to_string()))
                    .and_then(|()| {
                        let mut b = [0u8; 1];
                        go_r.read_exact(&mut b).map_err(|e| e.to_string())
                    })
                    .and_then(|()| inside());
                if let Err(e) = &r {
                    eprintln!("container: {e}");
                }
                // SAFETY: ends the grandchild without unwinding.
                unsafe { libc::_exit(if r.is_ok() { 0 } else { 1 }) }
            }
            nix::unistd::ForkResult::Parent { child } => {
                drop(ready_w);
                let mut buf = [0u8; 1];
                let r = ready_r
                    .read_exact(&mut buf)
                    .map_err(|e| format!("container setup: {e}"));
                let r = r.and_then(|()| host_side(src));
                let _ = go_w.write_all(b"g");
                let st = nix::sys::wait::waitpid(child, None).map_err(|e| e.to_string())?;
                r?;
                check(
                    matches!(st, nix::sys::wait::WaitStatus::Exited(_, 0)),
                    format!("container: {st:?}"),
                )?;
                after(src)
            }
        }
    })
}

#[test]
fn rslave_bind_sees_host_mounts_rshared_bind_is_bidirectional() {
    let b = Bundle::new("bindprop");
    let src = tempfile::Builder::new()
        .prefix("caixa-test-propsrc-")
        .tempdir()
        .unwrap();
    std::fs::create_dir(src.path().join("from-host")).unwrap();
    let s = src.path().to_str().unwrap().to_string();
    let mounts = json!([
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/h2c", "source": s, "options": ["rbind", "rslave"]},
        {"destination": "/bidi", "source": s, "options": ["rbind", "rshared"]}
    ]);
    // Kubernetes' Bidirectional needs an rshared rootfs (containerd sets it).
    let spec = spec(mounts, json!({"rootfsPropagation": "rshared"}), false);
    host_and_container(
        &b,
        &spec,
        src.path(),
        |src| {
            std::fs::create_dir(src.join("from-host")).map_err(|e| e.to_string())?;
            let flags = rustix::mount::MountFlags::empty();
            rustix::mount::mount("tmpfs", src.join("from-host"), "tmpfs", flags, None)
                .map_err(|e| e.to_string())?;
            std::fs::write(src.join("from-host/f"), "h").map_err(|e| e.to_string())
        },
        || {
            for p in ["/h2c/from-host/f", "/bidi/from-host/f"] {
                check(Path::new(p).exists(), format!("host mount not seen at {p}"))?;
            }
            std::fs::create_dir("/bidi/from-ctr").map_err(|e| e.to_string())?;
            let flags = rustix::mount::MountFlags::empty();
            rustix::mount::mount("tmpfs", "/bidi/from-ctr", "tmpfs", flags, None)
                .map_err(|e| e.to_string())?;
            std::fs::write("/bidi/from-ctr/g", "c").map_err(|e| e.to_string())
        },
        |src| {
            check(
                src.join("from-ctr/g").exists(),
                "rshared bind did not propagate back",
            )
        },
    )
    .unwrap();
}

#[test]
fn default_rslave_root_sees_host_mounts_and_sends_none_back() {
    let b = Bundle::new("bindprop-default");
    let src = tempfile::Builder::new()
        .prefix("caixa-test-propsrc-")
        .tempdir()
        .unwrap();
    let s = src.path().to_str().unwrap().to_string();
    let mounts = json!([
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/data", "source": s, "options": ["rbind"]}
    ]);
    let spec = spec(mounts, json!({}), false);
    host_and_container(
        &b,
        &spec,
        src.path(),
        |src| {
            std::fs::create_dir(src.join("from-host")).map_err(|e| e.to_string())?;
            let flags = rustix::mount::MountFlags::empty();
            rustix::mount::mount("tmpfs", src.join("from-host"), "tmpfs", flags, None)
                .map_err(|e| e.to_string())?;
            std::fs::write(src.join("from-host/f"), "h").map_err(|e| e.to_string())
        },
        || {
            check(
                Path::new("/data/from-host/f").exists(),
                "host mount not seen (rslave)",
            )?;
            std::fs::create_dir("/data/from-ctr").map_err(|e| e.to_string())?;
            let flags = rustix::mount::MountFlags::empty();
            rustix::mount::mount("tmpfs", "/data/from-ctr", "tmpfs", flags, None)
                .map_err(|e| e.to_string())?;
            std::fs::write("/data/from-ctr/g", "c").map_err(|e| e.to_string())
        },
        |src| {
            let n = std::fs::read_dir(src.join("from-ctr"))
                .map(|d| d.count())
                .unwrap_or(0);
            check(n == 0, "a container mount propagated to the host")
        },
    )
    .unwrap();
}

#[test]
fn rootfs_on_its_own_mount_under_a_shared_root_pivots() {
    for mode in ["rshared", "rslave", "private"] {
        let b = Bundle::new(&format!("ownmount-{mode}"));
        let spec = spec(
            json!([{"destination": "/proc", "type": "proc", "source": "proc"}]),
            json!({"rootfsPropagation": mode}),
            false,
        );
        let opts = Opts {
            shared: true,
            ..Opts::default()
        };
        let rootfs = b.rootfs.clone();
        in_container(&b, &spec, opts, |cfg| {
            // Like an overlay from the image store: the rootfs is a mount.
            let flags = rustix::mount::MountFlags::empty();
            rustix::mount::mount("tmpfs", &rootfs, "tmpfs", flags, None)
                .map_err(|e| e.to_string())?;
            enter(cfg)?;
            check(
                mount_at("/")?.fstype == "tmpfs",
                "/ is not the rootfs mount",
            )
        })
        .unwrap_or_else(|e| panic!("{mode}: {e}"));
    }
}

/// tmpfs supports idmapped mounts from Linux 6.3 on (ext4, xfs, btrfs
/// long before).
fn fs_supports_idmap(p: &Path) -> bool {
    const TMPFS_MAGIC: u64 = 0x0102_1994;
    let tmpfs = rustix::fs::statfs(p)
        .map(|s| s.f_type as u64 == TMPFS_MAGIC)
        .unwrap_or(false);
    let rel = rustix::system::uname()
        .release()
        .to_string_lossy()
        .into_owned();
    let mut v = rel
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse::<u32>().ok());
    let (major, minor) = (v.next().unwrap_or(0), v.next().unwrap_or(0));
    !tmpfs || (major, minor) >= (6, 3)
}

#[test]
fn tmpcopyup_fills_the_tmpfs_with_what_it_hides() {
    use std::os::unix::fs::MetadataExt;
    let b = Bundle::new("copyup");
    std::fs::create_dir_all(b.host("/data/sub")).unwrap();
    std::fs::write(b.host("/data/file"), "image data").unwrap();
    std::fs::write(b.host("/data/sub/deep"), "deep").unwrap();
    std::os::unix::fs::symlink("sub/deep", b.host("/data/link")).unwrap();
    std::fs::write(b.host("/data/suid"), "s").unwrap();
    std::os::unix::fs::chown(b.host("/data/suid"), Some(1000), Some(1001)).unwrap();
    std::fs::set_permissions(
        b.host("/data/suid"),
        std::fs::Permissions::from_mode(0o4750),
    )
    .unwrap();
    std::fs::create_dir_all(b.host("/rodata")).unwrap();
    std::fs::write(b.host("/rodata/f"), "ro").unwrap();
    let mounts = json!([
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/data", "type": "tmpfs", "source": "tmpfs", "options": ["tmpcopyup", "mode=755"]},
        {"destination": "/rodata", "type": "tmpfs", "source": "tmpfs", "options": ["tmpcopyup", "ro"]}
    ]);
    let spec = spec(mounts, json!({}), false);
    in_container(&b, &spec, Opts::default(), |cfg| {
        enter(cfg)?;
        check(mount_at("/data")?.fstype == "tmpfs", "/data is not a tmpfs")?;
        let rd = |p: &str| std::fs::read_to_string(p).map_err(|e| format!("{p}: {e}"));
        check(rd("/data/file")? == "image data", "file")?;
        check(rd("/data/link")? == "deep", "symlink/subdir")?;
        let l = std::fs::read_link("/data/link").map_err(|e| e.to_string())?;
        check(l == Path::new("sub/deep"), "link target")?;
        let m = std::fs::symlink_metadata("/data/suid").map_err(|e| e.to_string())?;
        check(
            m.mode() & 0o7777 == 0o4750 && m.uid() == 1000 && m.gid() == 1001,
            format!("suid {:o}", m.mode()),
        )?;
        std::fs::write("/data/new", "n").map_err(|e| e.to_string())?;
        check(rd("/rodata/f")? == "ro", "ro copy")?;
        check(write_is_erofs(Path::new("/rodata/x")), "/rodata writable")
    })
    .unwrap();
    // The writes went to the tmpfs, the image's directory is as it was.
    assert!(!b.host("/data/new").exists());
    assert_eq!(
        std::fs::read_to_string(b.host("/data/file")).unwrap(),
        "image data"
    );
}
