//! Namespaces seen from inside the container and from the host.

mod common;

use common::Ctr;
use serde_json::json;

#[test]
fn init_is_pid_1() {
    let mut c = Ctr::new("pid1");
    c.sh("echo $$; ps -o pid,comm | wc -l");
    let o = c.run().ok();
    let mut l = o.stdout.lines();
    assert_eq!(l.next(), Some("1"));
    // Only the shell, ps and wc (+ header) are visible in the pid namespace.
    let n: usize = l.next().unwrap().trim().parse().unwrap();
    assert!(n <= 4, "{o:?}");
}

#[test]
fn own_hostname_and_domainname() {
    let mut c = Ctr::new("uts");
    c.edit(|s| {
        s["hostname"] = json!("box-one");
        s["domainname"] = json!("example.test");
    });
    c.sh("hostname; cat /proc/sys/kernel/domainname");
    let o = c.run().ok();
    assert_eq!(o.stdout, "box-one\nexample.test\n");
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_ne!(host.trim(), "box-one");
}

#[test]
fn new_network_namespace_has_only_lo() {
    let mut c = Ctr::new("netns");
    c.sh("tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '");
    let o = c.run().ok();
    assert_eq!(o.stdout, "lo\n");
}

#[test]
fn loopback_is_up_in_a_new_network_namespace() {
    // As Docker and crun: 127.0.0.1 works even with no other network.
    let mut c = Ctr::new("loup");
    // A refused TCP connect proves 127.0.0.1 answers (down: unreachable).
    c.sh("cat /sys/class/net/lo/flags; nc 127.0.0.1 9 </dev/null 2>&1 | grep -q refused && echo reachable");
    let o = c.run().ok();
    let mut lines = o.stdout.lines();
    let flags = lines.next().unwrap_or_default();
    let flags = u32::from_str_radix(flags.trim_start_matches("0x"), 16).unwrap();
    assert_eq!(flags & 1, 1, "IFF_UP not set on lo: {o:?}");
    assert_eq!(lines.next(), Some("reachable"), "{o:?}");
}

#[test]
fn private_mount_table() {
    let mut c = Ctr::new("mnt");
    c.edit(|s| {
        s["process"]["capabilities"]["bounding"] = json!(["CAP_SYS_ADMIN"]);
        s["process"]["capabilities"]["effective"] = json!(["CAP_SYS_ADMIN"]);
        s["process"]["capabilities"]["permitted"] = json!(["CAP_SYS_ADMIN"]);
    });
    let marker = format!("caixa-test-marker-{}", std::process::id());
    c.sh(&format!(
        "mkdir -p /mnt/x && mount -t tmpfs {marker} /mnt/x && grep -c {marker} /proc/self/mountinfo; \
         awk '$5 == \"/\" {{print $4}}' /proc/self/mountinfo"
    ));
    let pid_check = c.run().ok();
    let mut l = pid_check.stdout.lines();
    assert_eq!(l.next(), Some("1"), "{pid_check:?}");
    // The container's / is its rootfs, not the host's /.
    assert!(l.next().is_some());
    assert!(common::host_mounts_with(&marker).is_empty());
}

#[test]
fn ipc_uts_net_mnt_are_separate_from_the_host() {
    let mut c = Ctr::new("isolation");
    c.args(&["sleep", "1000"]);
    c.create().ok();
    let pid = c.pid();
    for ns in ["ipc", "uts", "net", "mnt", "pid", "cgroup"] {
        let h = std::fs::read_link(format!("/proc/self/ns/{ns}")).unwrap();
        let i = std::fs::read_link(format!("/proc/{pid}/ns/{ns}")).unwrap();
        assert_ne!(h, i, "{ns}");
    }
    // A System V message queue made on the host is not visible inside.
    // SAFETY: msgget with IPC_PRIVATE only creates a queue we remove below.
    let q = unsafe { libc::msgget(libc::IPC_PRIVATE, libc::IPC_CREAT | 0o600) };
    assert!(q >= 0);
    let mut c2 = Ctr::new("isolation2");
    c2.sh("tail -n +2 /proc/sysvipc/msg | wc -l");
    let o = c2.run().ok();
    // SAFETY: removing the queue we created.
    unsafe { libc::msgctl(q, libc::IPC_RMID, std::ptr::null_mut()) };
    assert_eq!(o.stdout.trim(), "0");
}

#[test]
fn join_namespaces_by_path() {
    let mut a = Ctr::new("joina");
    a.edit(|s| s["hostname"] = json!("alpha"));
    a.args(&["sleep", "1000"]);
    a.create().ok();
    let pid = a.pid();
    let mut b = Ctr::new("joinb");
    b.edit(|s| {
        s.as_object_mut().unwrap().remove("hostname");
        let ns = s["linux"]["namespaces"].as_array_mut().unwrap();
        for n in ns.iter_mut() {
            if n["type"] == "network" || n["type"] == "uts" || n["type"] == "ipc" {
                let name = match n["type"].as_str().unwrap() {
                    "network" => "net",
                    other => other,
                };
                n["path"] = json!(format!("/proc/{pid}/ns/{name}"));
            }
        }
    });
    b.sh("hostname; readlink /proc/self/ns/net");
    let o = b.run().ok();
    let a_net = std::fs::read_link(format!("/proc/{pid}/ns/net")).unwrap();
    assert_eq!(o.stdout, format!("alpha\n{}\n", a_net.display()));
}

#[test]
fn user_namespace_maps_ids() {
    let mut c = Ctr::new("userns");
    c.edit(|s| {
        s["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user"}));
        s["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
        s["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
        // No cgroup v1 mount from inside a user namespace.
        s["mounts"]
            .as_array_mut()
            .unwrap()
            .retain(|m| m["type"] != "cgroup");
        s["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    });
    c.sh("id -u; id -g; cat /proc/self/uid_map");
    c.create().ok();
    let pid = c.pid();
    // From the host: the created init already has the process's user
    // (as with runc), container uid 1000, i.e. host uid 201000.
    let map = std::fs::read_to_string(format!("/proc/{pid}/uid_map")).unwrap();
    assert_eq!(
        map.split_whitespace().collect::<Vec<_>>(),
        ["0", "200000", "65536"]
    );
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert_eq!(
        uid_line.split_whitespace().nth(1),
        Some("201000"),
        "{uid_line}"
    );
    c.start().ok();
    c.wait_stopped();
    let out = c.container_output();
    let l: Vec<&str> = out.lines().collect();
    assert_eq!(l.len(), 3, "{out}");
    assert_eq!(l[0], "1000", "{out}");
    assert_eq!(l[1], "1000", "{out}");
    assert_eq!(
        l[2].split_whitespace().collect::<Vec<_>>(),
        ["0", "200000", "65536"]
    );
}

#[test]
fn time_namespace_offsets() {
    if !std::path::Path::new("/proc/self/ns/time").exists() {
        return;
    }
    let mut c = Ctr::new("timens");
    c.edit(|s| {
        s["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "time"}));
        s["linux"]["timeOffsets"] = json!({"boottime": {"secs": 86400 * 365, "nanosecs": 0}});
    });
    c.sh("cut -d. -f1 /proc/uptime");
    let o = c.run().ok();
    let up: u64 = o.stdout.trim().parse().unwrap();
    assert!(up >= 86400 * 365, "{o:?}");
}

#[test]
fn cgroup_namespace_hides_host_path() {
    let mut c = Ctr::new("cgns");
    c.sh("cat /proc/self/cgroup");
    let o = c.run().ok();
    assert!(!o.stdout.contains(&c.id), "{o:?}");
}
