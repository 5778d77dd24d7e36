//! The container's filesystem view through the real caixa-runtime binary
//! (run as root): default mounts and devices, masked and read-only paths,
//! read-only root, binds, symlink containment, sysctls, --no-pivot.

mod common;

use std::process::Output;

use common::{Ctr, host_mounts_with};
use serde_json::json;

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// The section of `out` after the `n`-th `---` line.
fn section(out: &str, n: usize) -> String {
    out.split("---\n").nth(n).unwrap_or("").to_string()
}

#[test]
fn default_spec_mounts_devices_masks() {
    let mut c = Ctr::new("rootfs-default");
    c.sh(
        "cat /proc/self/mountinfo; echo ---; \
         stat -c '%n %a %t:%T %u:%g' /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty; echo ---; \
         for l in /dev/ptmx /dev/fd /dev/stdin /dev/stdout /dev/stderr; do readlink $l; done; echo ---; \
         cat /proc/timer_list /proc/sched_debug 2>/dev/null | wc -c; ls /sys/firmware | wc -l; echo ---; \
         (echo x > /proc/sys/kernel/domainname) 2>/dev/null && echo wrote || echo refused; \
         (echo x > /newfile) 2>/dev/null && echo wrote || echo refused; \
         echo ok > /dev/shm/f && cat /dev/shm/f",
    );
    let o = c.run();
    assert_eq!(o.code, 0, "{o:?}");
    let mi = section(&o.stdout, 0);
    for (point, fstype) in [
        ("/proc", "proc"),
        ("/dev", "tmpfs"),
        ("/dev/pts", "devpts"),
        ("/dev/shm", "tmpfs"),
        ("/dev/mqueue", "mqueue"),
        ("/sys", "sysfs"),
        ("/sys/fs/cgroup", ""),
    ] {
        let line = mi
            .lines()
            .find(|l| l.split(' ').nth(4) == Some(point) && l.contains(&format!(" - {fstype}")))
            .unwrap_or_else(|| panic!("no {fstype} at {point} in:\n{mi}"));
        if point == "/sys" {
            assert!(line.split(' ').nth(5).unwrap().starts_with("ro,"), "{line}");
        }
    }
    assert!(!mi.contains(" /work"), "host mounts visible:\n{mi}");
    let devs = section(&o.stdout, 1);
    for (name, nums) in [
        ("/dev/null", "1:3"),
        ("/dev/zero", "1:5"),
        ("/dev/full", "1:7"),
        ("/dev/random", "1:8"),
        ("/dev/urandom", "1:9"),
        ("/dev/tty", "5:0"),
    ] {
        assert!(
            devs.contains(&format!("{name} 666 {nums} 0:0")),
            "{name} in:\n{devs}"
        );
    }
    assert_eq!(
        section(&o.stdout, 2),
        "pts/ptmx\n/proc/self/fd\n/proc/self/fd/0\n/proc/self/fd/1\n/proc/self/fd/2\n"
    );
    assert_eq!(
        section(&o.stdout, 3),
        "0\n0\n",
        "masked paths are not empty"
    );
    // /proc/sys is read-only, the default spec's root is writable here.
    assert_eq!(section(&o.stdout, 4), "refused\nwrote\nok\n");
    assert!(host_mounts_with(&c.dir().to_string_lossy()).is_empty());
}

#[test]
fn readonly_root_refuses_writes() {
    let mut c = Ctr::new("rootfs-roroot");
    c.edit(|s| s["root"]["readonly"] = json!(true));
    c.sh("(touch /x) 2>&1; echo rc=$?; touch /dev/shm/y && echo shm-ok");
    let o = c.run();
    assert_eq!(o.code, 0, "{o:?}");
    assert!(o.stdout.contains("Read-only file system"), "{o:?}");
    assert!(
        o.stdout.contains("rc=1") && o.stdout.ends_with("shm-ok\n"),
        "{o:?}"
    );
    assert!(!c.bundle.join("rootfs/x").exists());
}

#[test]
fn binds_and_symlink_escape_stay_inside() {
    let mut c = Ctr::new("rootfs-escape");
    let host = tempfile::Builder::new()
        .prefix("caixa-test-hostdir-")
        .tempdir()
        .unwrap();
    let h = host.path().to_string_lossy().into_owned();
    let src = c.dir().join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("file"), "from-host").unwrap();
    std::os::unix::fs::symlink(&h, c.bundle.join("rootfs/evil")).unwrap();
    let s = src.to_string_lossy().into_owned();
    c.edit(|spec| {
        let m = spec["mounts"].as_array_mut().unwrap();
        m.push(json!({"destination": "/evil/x", "type": "tmpfs", "source": "tmpfs"}));
        m.push(json!({"destination": "/data", "type": "bind", "source": s, "options": ["rbind", "ro", "nosuid"]}));
        m.push(json!({"destination": "/etc/hostfile", "type": "bind", "source": format!("{s}/file"), "options": ["bind"]}));
    });
    c.sh(&format!(
        "touch /evil/x/f && ls {h}/x; cat /data/file; echo; (touch /data/new) 2>/dev/null || echo data-ro; cat /etc/hostfile"
    ));
    let o = c.run();
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(o.stdout, "f\nfrom-host\ndata-ro\nfrom-host", "{o:?}");
    assert_eq!(
        std::fs::read_dir(host.path()).unwrap().count(),
        0,
        "host dir touched"
    );
    assert!(c.bundle.join(format!("rootfs/{h}/x")).is_dir());
    assert!(host_mounts_with(&c.dir().to_string_lossy()).is_empty());
    assert!(host_mounts_with(&h).is_empty());
}

#[test]
fn sysctls_applied_and_bad_ones_leave_nothing() {
    let mut c = Ctr::new("rootfs-sysctl");
    c.edit(|s| {
        s["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1", "kernel.shmmax": "12345678"});
    });
    c.sh("cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmax");
    let o = c.run();
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(o.stdout, "1\n12345678\n");

    let mut bad = Ctr::new("rootfs-badsysctl");
    bad.edit(|s| s["linux"]["sysctl"] = json!({"kernel.core_pattern": "|/tmp/x"}));
    let o = bad.create();
    assert_ne!(o.code, 0, "{o:?}");
    assert!(
        o.stderr.contains("linux.sysctl.kernel.core_pattern"),
        "{o:?}"
    );
    assert_eq!(o.stderr.trim().lines().count(), 1, "{o:?}");
    assert!(!bad.root.join(&bad.id).exists(), "state left behind");
    assert!(host_mounts_with(&bad.dir().to_string_lossy()).is_empty());
    assert!(bad.cgroup_dirs().is_empty(), "cgroup left behind");
}

#[test]
fn no_pivot_runs_in_the_rootfs() {
    let mut c = Ctr::new("rootfs-nopivot");
    std::fs::write(c.bundle.join("rootfs/etc/marker"), "np").unwrap();
    c.sh("cat /etc/marker; echo; ls /bin/busybox; pwd");
    let o = c
        .cmd()
        .args(["run", &c.id, "--no-pivot", "--bundle"])
        .arg(&c.bundle)
        .output()
        .unwrap();
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out} {err}");
    assert_eq!(out, "np\n/bin/busybox\n/\n");
    assert!(host_mounts_with(&c.dir().to_string_lossy()).is_empty());
}

#[test]
fn user_namespace_container_gets_devices_and_masks() {
    let mut c = Ctr::new("rootfs-userns");
    c.edit(|s| {
        s["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user"}));
        // Root stays host root (the bundle is in a root-only temp dir),
        // but in a user namespace mknod is refused: devices are bound.
        s["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 0, "size": 65536}]);
        s["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 0, "size": 65536}]);
        // The cgroup mount is not part of this check.
        s["mounts"]
            .as_array_mut()
            .unwrap()
            .retain(|m| m["type"] != "cgroup");
    });
    c.sh(
        "stat -c '%n %t:%T' /dev/null /dev/zero /dev/tty; echo ok > /dev/null; \
         cat /proc/timer_list 2>/dev/null | wc -c; \
         (echo x > /proc/sys/kernel/domainname) 2>/dev/null && echo wrote || echo refused; \
         awk '$5 == \"/sys\" {print $6, $(NF-2)}' /proc/self/mountinfo",
    );
    let o = c.run();
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(
        o.stdout,
        "/dev/null 1:3\n/dev/zero 1:5\n/dev/tty 5:0\n0\nrefused\nro,nosuid,nodev,noexec,relatime sysfs\n",
        "{o:?}"
    );
    assert!(host_mounts_with(&c.dir().to_string_lossy()).is_empty());
}

#[test]
fn linux_devices_are_created_and_allowed() {
    let mut c = Ctr::new("rootfs-devices");
    c.edit(|s| {
        s["linux"]["devices"] = json!([
            {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 384, "uid": 0, "gid": 0},
            {"path": "/dev/caixa/fifo", "type": "p", "major": 0, "minor": 0, "fileMode": 420}
        ]);
    });
    c.sh("stat -c '%n %a %t:%T %F' /dev/fuse /dev/caixa/fifo");
    let o = c.run();
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(
        o.stdout, "/dev/fuse 600 a:e5 character special file\n/dev/caixa/fifo 644 0:0 fifo\n",
        "{o:?}"
    );
}
