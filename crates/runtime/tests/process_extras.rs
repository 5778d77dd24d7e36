//! Process extras through the real binary: personality, scheduler, I/O
//! priority, execCPUAffinity.

mod common;

use common::Ctr;
use serde_json::json;

#[test]
fn personality_scheduler_ioprio_and_affinity_apply() {
    let mut c = Ctr::new("extras");
    c.edit(|s| {
        s["linux"]["personality"] = json!({"domain": "LINUX32"});
        s["process"]["scheduler"] = json!({"policy": "SCHED_BATCH", "nice": 5});
        s["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_IDLE", "priority": 0});
        s["process"]["execCPUAffinity"] = json!({"final": "0"});
    });
    c.sh("uname -m; grep -E '^policy' /proc/self/sched | tr -d ' '; \
          cut -d' ' -f19 /proc/self/stat; grep Cpus_allowed_list /proc/self/status");
    let o = c.run().ok();
    let l: Vec<&str> = o.stdout.lines().collect();
    assert!(l[0] == "i686" || l[0] == "i386", "{o:?}");
    assert_eq!(l[1], "policy:3", "SCHED_BATCH: {o:?}");
    assert_eq!(l[2], "5", "nice: {o:?}");
    assert!(l[3].ends_with("\t0"), "{o:?}");
}

#[test]
fn bad_extras_are_refused_before_anything_exists() {
    let mut c = Ctr::new("badextras");
    c.edit(|s| s["process"]["execCPUAffinity"] = json!({"final": "0-zz"}));
    let o = c.create();
    assert_ne!(o.code, 0);
    assert!(o.stderr.contains("execCPUAffinity"), "{o:?}");
    assert!(!c.root.join(&c.id).exists());
    assert!(c.cgroup_dirs().is_empty());
}
