//! `linux.netDevices`: host interfaces (veth ends; the dummy module is not
//! available here) moved into the container's network namespace, checked
//! from the host with `ip` and `nsenter`.
//!
//! Interface names are `caixa<tag><pid>` (at most 15 bytes, findable by
//! scripts/leak-check.sh); every veth pair and named network namespace is
//! removed by a guard, whatever the test's outcome.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{Ctr, Out};
use serde_json::{Value, json};

fn run(cmd: &str, args: &[&str]) -> Out {
    use std::os::unix::process::ExitStatusExt;
    let o = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    Out {
        code: o
            .status
            .code()
            .unwrap_or_else(|| 128 + o.status.signal().unwrap_or(0)),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

fn ip(args: &[&str]) -> Out {
    run("ip", args)
}

/// `ip ARGS` in the network namespace of process `pid`.
fn ip_in(pid: i32, args: &[&str]) -> Out {
    let pid = pid.to_string();
    let mut all = vec!["-t", pid.as_str(), "-n", "ip"];
    all.extend_from_slice(args);
    run("nsenter", &all)
}

/// A unique interface name for this test process (`tag` ≤ 6 bytes).
fn ifname(tag: &str) -> String {
    let n = format!("caixa{tag}{:x}", std::process::id() & 0xffff);
    assert!(n.len() <= 15, "{n}");
    n
}

/// The flags of `ip -o link` output (`<BROADCAST,UP,...>`).
fn flags(link: &str) -> Vec<String> {
    let inner = link
        .split_once('<')
        .and_then(|(_, r)| r.split_once('>'))
        .map(|(f, _)| f)
        .unwrap_or_default();
    inner.split(',').map(String::from).collect()
}

fn on_host(name: &str) -> bool {
    ip(&["-o", "link", "show", "dev", name]).code == 0
}

/// Waits until `name` has left the host (namespace teardown is done by a
/// kernel worker after the last process exits); false if it never does.
fn gone_from_host(name: &str) -> bool {
    let end = Instant::now() + Duration::from_secs(30);
    while Instant::now() < end {
        if !on_host(name) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// A veth pair on the host: `host` is the end handed to the container.
struct Veth {
    host: String,
    peer: String,
}

impl Veth {
    fn new(tag: &str) -> Veth {
        let v = Veth {
            host: ifname(&format!("{tag}h")),
            peer: ifname(&format!("{tag}p")),
        };
        // A leftover of an earlier, killed run of the same pid.
        let _ = ip(&["link", "del", &v.host]);
        let _ = ip(&["link", "del", &v.peer]);
        ip(&[
            "link", "add", &v.host, "type", "veth", "peer", "name", &v.peer,
        ])
        .ok();
        v
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        // Deleting either end removes the pair, wherever the other end is.
        let _ = ip(&["link", "del", &self.host]);
        let _ = ip(&["link", "del", &self.peer]);
    }
}

/// A named network namespace (`ip netns add`), deleted on drop.
struct NetNs {
    name: String,
}

impl NetNs {
    fn new(tag: &str) -> NetNs {
        let name = format!("caixa-test-{tag}-{}", std::process::id());
        let _ = ip(&["netns", "del", &name]);
        ip(&["netns", "add", &name]).ok();
        NetNs { name }
    }

    fn path(&self) -> String {
        format!("/run/netns/{}", self.name)
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.name]);
    }
}

/// A container whose process sleeps, with `linux.netDevices` = `devices`.
fn ctr(name: &str, devices: Value) -> Ctr {
    let mut c = Ctr::new(name);
    c.args(&["sleep", "1000"]);
    c.edit(|s| s["linux"]["netDevices"] = devices);
    c
}

/// Replaces the spec's network namespace entry with `entry` (none: drop it).
fn set_netns(c: &mut Ctr, entry: Option<Value>) {
    c.edit(|s| {
        let ns = s["linux"]["namespaces"].as_array_mut().expect("namespaces");
        ns.retain(|n| n["type"] != "network");
        ns.extend(entry);
    });
}

/// Asserts a failed create with a one-line error containing `needles`,
/// and no state left.
fn assert_refused(c: &Ctr, o: &Out, needles: &[&str]) {
    assert_ne!(o.code, 0, "{o:?}");
    assert_eq!(o.stderr.trim().lines().count(), 1, "one-line error: {o:?}");
    for n in needles {
        assert!(o.stderr.contains(n), "{n:?} not in {o:?}");
    }
    assert!(!c.root.join(&c.id).exists(), "state dir left behind");
    assert!(c.cgroup_dirs().is_empty(), "cgroup left behind");
}

#[test]
fn moves_renames_brings_up_and_keeps_global_addresses() {
    let a = Veth::new("m");
    let t = Veth::new("t");
    ip(&["addr", "add", "10.231.7.6/24", "dev", &a.host]).ok();
    let v6 = [
        "-6",
        "addr",
        "add",
        "2001:db8:7::6/64",
        "dev",
        &a.host,
        "nodad",
    ];
    ip(&v6).ok();
    // Not global: stays behind (runtime-spec: permanent global ones only).
    ip(&[
        "addr",
        "add",
        "10.231.8.6/24",
        "scope",
        "link",
        "dev",
        &a.host,
    ])
    .ok();
    let c = ctr(
        "netdev-move",
        json!({ &a.host: { "name": "eth7" }, &t.host: { "name": "cxn%d" } }),
    );
    c.create().ok();
    let pid = c.pid();
    assert!(!on_host(&a.host) && !on_host(&t.host));
    assert!(on_host(&a.peer) && on_host(&t.peer));

    let link = ip_in(pid, &["-o", "link", "show", "dev", "eth7"]).ok();
    assert!(flags(&link.stdout).contains(&"UP".to_string()), "{link:?}");
    let addrs = ip_in(pid, &["-o", "addr", "show", "dev", "eth7"]).ok();
    assert!(addrs.stdout.contains("inet 10.231.7.6/24"), "{addrs:?}");
    // IPv6 too, with its flags.
    let v6 = addrs
        .stdout
        .lines()
        .find(|l| l.contains("inet6 2001:db8:7::6/64"));
    assert!(v6.is_some_and(|l| l.contains("nodad")), "{addrs:?}");
    assert!(!addrs.stdout.contains("10.231.8.6"), "{addrs:?}");
    // The %d template was completed by the kernel.
    ip_in(pid, &["-o", "link", "show", "dev", "cxn0"]).ok();
    // Seen from inside too.
    let names = std::fs::read_dir(format!("/proc/{pid}/root/sys/class/net"));
    let mut names: Vec<String> = names
        .expect("container sysfs")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["cxn0", "eth7", "lo"]);

    // delete moves nothing out (runtime-spec): the namespace dies and the
    // kernel destroys its virtual devices; a veth takes its peer along.
    c.delete(false).ok();
    assert!(gone_from_host(&a.peer) && gone_from_host(&t.peer));
    assert!(!on_host(&a.host) && !on_host(&t.host) && !on_host("eth7"));
}

#[test]
fn run_in_a_user_namespace_sees_the_device_inside() {
    // The namespace belongs to the container's user namespace; `run`
    // (create and start in one process) moves the device the same way.
    let a = Veth::new("u");
    ip(&["addr", "add", "10.231.11.6/24", "dev", &a.host]).ok();
    let mut c = ctr("netdev-userns", json!({ &a.host: { "name": "eth7" } }));
    c.edit(|s| {
        let ns = s["linux"]["namespaces"].as_array_mut().expect("namespaces");
        ns.push(json!({"type": "user"}));
        let map = json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
        s["linux"]["uidMappings"] = map.clone();
        s["linux"]["gidMappings"] = map;
        // No cgroup v1 mount from inside a user namespace.
        let mounts = s["mounts"].as_array_mut().expect("mounts");
        mounts.retain(|m| m["type"] != "cgroup");
    });
    c.sh("ip -o link show dev eth7; ip -o addr show dev eth7");
    let o = c.run().ok();
    let mut lines = o.stdout.lines();
    let link = lines.next().unwrap_or_default();
    assert!(flags(link).contains(&"UP".to_string()), "{o:?}");
    assert!(o.stdout.contains("inet 10.231.11.6/24"), "{o:?}");
    assert!(gone_from_host(&a.peer) && !on_host(&a.host));
}

#[test]
fn failed_create_moves_the_device_back() {
    let a = Veth::new("f");
    ip(&["addr", "add", "10.231.9.6/24", "dev", &a.host]).ok();
    let v6 = [
        "-6",
        "addr",
        "add",
        "2001:db8:9::6/64",
        "dev",
        &a.host,
        "nodad",
    ];
    ip(&v6).ok();
    // Up with a carrier, so the kernel gives it an IPv6 link-local address.
    ip(&["link", "set", &a.peer, "up"]).ok();
    ip(&["link", "set", &a.host, "up"]).ok();
    let link_local = || {
        let o = ip(&["-6", "-o", "addr", "show", "dev", &a.host, "scope", "link"]);
        o.stdout.contains("inet6 fe80:")
    };
    let end = Instant::now() + Duration::from_secs(30);
    while !link_local() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(link_local(), "no IPv6 link-local address on {}", a.host);
    let mut c = ctr("netdev-rollback", json!({ &a.host: { "name": "eth7" } }));
    // The devices move before the hooks; this one fails the create.
    c.edit(|s| s["hooks"] = json!({ "createRuntime": [{ "path": "/bin/false" }] }));
    let o = c.create();
    assert_refused(&c, &o, &["hook /bin/false"]);
    let link = ip(&["-o", "link", "show", "dev", &a.host]).ok();
    assert!(flags(&link.stdout).contains(&"UP".to_string()), "{link:?}");
    let addrs = ip(&["-o", "addr", "show", "dev", &a.host]).ok();
    assert!(addrs.stdout.contains("inet 10.231.9.6/24"), "{addrs:?}");
    assert!(addrs.stdout.contains("inet6 2001:db8:9::6/64"), "{addrs:?}");
    assert!(link_local(), "{addrs:?}");
    assert!(!on_host("eth7"));
}

#[test]
fn missing_device_is_refused() {
    let missing = ifname("none");
    let c = ctr("netdev-missing", json!({ &missing: {} }));
    let o = c.create();
    assert_refused(
        &c,
        &o,
        &[&format!("linux.netDevices.{missing}"), "no network device"],
    );
}

#[test]
fn no_network_namespace_is_refused() {
    let a = Veth::new("n");
    let mut c = ctr("netdev-nonet", json!({ &a.host: {} }));
    set_netns(&mut c, None);
    let o = c.create();
    assert_refused(&c, &o, &["linux.netDevices", "network namespace"]);
    assert!(on_host(&a.host));
    // Naming the runtime's own namespace is no better.
    set_netns(
        &mut c,
        Some(json!({ "type": "network", "path": "/proc/self/ns/net" })),
    );
    let o = c.create();
    assert_refused(&c, &o, &["linux.netDevices", "runtime's own"]);
    assert!(on_host(&a.host));
}

#[test]
fn clashing_and_invalid_names_are_refused() {
    let a = Veth::new("c");
    let b = Veth::new("d");
    let mut c = ctr(
        "netdev-clash",
        json!({ &a.host: { "name": "eth7" }, &b.host: { "name": "eth7" } }),
    );
    let o = c.create();
    assert_refused(&c, &o, &[&format!("linux.netDevices.{}.name", b.host)]);
    c.edit(|s| s["linux"]["netDevices"] = json!({ &a.host: { "name": "lo" } }));
    let o = c.create();
    assert_refused(&c, &o, &[&format!("linux.netDevices.{}.name", a.host)]);
    c.edit(|s| s["linux"]["netDevices"] = json!({ &a.host: { "name": "a/b" } }));
    let o = c.create();
    assert_refused(&c, &o, &["'/'"]);
    assert!(on_host(&a.host) && on_host(&b.host));
}

#[test]
fn clash_in_a_joined_namespace_moves_the_first_device_back() {
    let netns = NetNs::new("nd-clash");
    ip(&[
        "-n",
        &netns.name,
        "link",
        "add",
        "eth7",
        "type",
        "veth",
        "peer",
        "name",
        "eth8",
    ])
    .ok();
    // Sorted by host name, "j1" moves first and "j2" then clashes.
    let a = Veth::new("j1");
    let b = Veth::new("j2");
    ip(&["addr", "add", "10.231.10.6/24", "dev", &a.host]).ok();
    let mut c = ctr(
        "netdev-joined-clash",
        json!({ &a.host: { "name": "cxok" }, &b.host: { "name": "eth7" } }),
    );
    set_netns(
        &mut c,
        Some(json!({ "type": "network", "path": netns.path() })),
    );
    let o = c.create();
    assert_refused(
        &c,
        &o,
        &[&format!("linux.netDevices.{}", b.host), "already exists"],
    );
    assert!(on_host(&a.host) && on_host(&b.host));
    let addrs = ip(&["-o", "addr", "show", "dev", &a.host]).ok();
    assert!(addrs.stdout.contains("inet 10.231.10.6/24"), "{addrs:?}");
    assert_ne!(ip(&["-n", &netns.name, "link", "show", "cxok"]).code, 0);
}

#[test]
fn a_joined_namespace_keeps_its_devices_after_delete() {
    let netns = NetNs::new("nd-keep");
    let a = Veth::new("k");
    let mut c = ctr("netdev-joined", json!({ &a.host: {} }));
    set_netns(
        &mut c,
        Some(json!({ "type": "network", "path": netns.path() })),
    );
    c.create().ok();
    assert!(!on_host(&a.host));
    ip(&["-n", &netns.name, "link", "show", &a.host]).ok();
    c.delete(false).ok();
    // The namespace's owner (here: the test) decides what happens next.
    ip(&["-n", &netns.name, "link", "show", &a.host]).ok();
    ip(&["-n", &netns.name, "link", "set", &a.host, "netns", "1"]).ok();
    assert!(on_host(&a.host));
}

#[test]
fn features_lists_net_devices() {
    let c = Ctr::new("netdev-features");
    let o = c.rt(&["features"]).ok();
    let f: Value = serde_json::from_str(&o.stdout).expect("features json");
    assert_eq!(f["linux"]["netDevices"]["enabled"], json!(true), "{f}");
}
