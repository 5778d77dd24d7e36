//! Rootless caixa-runtime: a real unprivileged user (made for the test,
//! with /etc/subuid and /etc/subgid ranges, removed afterwards) runs the
//! binary through runuser. Checked from the outside: host uids of the
//! container's processes, no cgroup, the state under $XDG_RUNTIME_DIR.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{Ctr, Out, runtime_bin};
use serde_json::{Value, json};

/// A throwaway user; `userdel` when dropped.
struct User {
    name: String,
    uid: u32,
    gid: u32,
}

/// Runs `cmd`, retrying while another test holds the passwd lock.
fn shadow_tool(cmd: &str, args: &[&str]) -> std::process::Output {
    let mut last = None;
    for _ in 0..50 {
        let o = Command::new(cmd).args(args).output().expect(cmd);
        // Exit code 10 (useradd/userdel): cannot lock the passwd/group files.
        if o.status.success() || o.status.code() != Some(10) {
            return o;
        }
        last = Some(o);
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    last.expect("no attempt")
}

impl User {
    fn new(tag: &str) -> User {
        let name = format!("caixa-test-{tag}{}", std::process::id());
        let o = shadow_tool("useradd", &["-M", "-s", "/bin/sh", &name]);
        assert!(o.status.success(), "useradd {name}: {o:?}");
        let id = |flag: &str| -> u32 {
            let o = Command::new("id").args([flag, &name]).output().expect("id");
            String::from_utf8_lossy(&o.stdout)
                .trim()
                .parse()
                .expect("id")
        };
        User {
            uid: id("-u"),
            gid: id("-g"),
            name,
        }
    }

    /// The first subordinate id of this user in `file` (/etc/subuid, /etc/subgid).
    fn sub_start(&self, file: &str) -> u32 {
        let text = std::fs::read_to_string(file).expect(file);
        text.lines()
            .find_map(|l| {
                let mut f = l.split(':');
                (f.next() == Some(self.name.as_str())).then(|| f.next()?.parse().ok())?
            })
            .unwrap_or_else(|| panic!("{} has no range in {file}", self.name))
    }
}

impl Drop for User {
    fn drop(&mut self) {
        let _ = shadow_tool("userdel", &[&self.name]);
    }
}

/// A bundle owned by `u`, with `XDG_RUNTIME_DIR` in its temp dir; the
/// container's state root is the rootless default under it.
fn bundle_for(u: &User, name: &str) -> (Ctr, PathBuf) {
    let mut c = Ctr::new(name);
    let xdg = c.dir().join("xdg");
    std::fs::create_dir(&xdg).expect("mkdir xdg");
    // Drop's `delete --force` (as root) must find the state.
    c.root = xdg.join("caixa-runtime");
    let o = Command::new("chown")
        .args(["-R", &format!("{}:{}", u.uid, u.gid)])
        .arg(c.dir())
        .output()
        .expect("chown");
    assert!(o.status.success(), "{o:?}");
    // The rootless default spec, generated as the user.
    std::fs::remove_file(c.bundle.join("config.json")).expect("rm config.json");
    let o = as_user(u, &xdg, &c.bundle, &["spec", "--rootless"]).ok();
    assert!(o.stderr.is_empty(), "{o:?}");
    let text = std::fs::read(c.bundle.join("config.json")).expect("config.json");
    c.spec = serde_json::from_slice(&text).expect("spec");
    c.spec["process"]["terminal"] = Value::Bool(false);
    c.spec["root"]["readonly"] = Value::Bool(false);
    c.save();
    (c, xdg)
}

/// `caixa-runtime ARGS` as `u`, in `cwd`, with XDG_RUNTIME_DIR=`xdg` and
/// no --root.
fn as_user(u: &User, xdg: &Path, cwd: &Path, args: &[&str]) -> Out {
    let o = user_cmd(u, xdg, cwd, args).output().expect("runuser");
    use std::os::unix::process::ExitStatusExt;
    Out {
        code: o
            .status
            .code()
            .unwrap_or(128 + o.status.signal().unwrap_or(0)),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

fn user_cmd(u: &User, xdg: &Path, cwd: &Path, args: &[&str]) -> Command {
    let mut c = Command::new("runuser");
    c.args(["-u", &u.name, "--", "env"])
        .arg(format!("XDG_RUNTIME_DIR={}", xdg.display()))
        .arg(runtime_bin())
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null());
    c
}

/// `create` as the user (the container's output goes to a file, so no
/// pipe stays open); returns create's result and stderr.
fn create_as(u: &User, c: &Ctr, xdg: &Path) -> Out {
    let err = c.dir().join("create.stderr");
    let st = user_cmd(u, xdg, &c.bundle, &["create", &c.id, "--bundle", "."])
        .stdout(std::fs::File::create(c.dir().join("ctr.stdout")).expect("stdout"))
        .stderr(std::fs::File::create(&err).expect("stderr"))
        .status()
        .expect("runuser create");
    Out {
        code: st.code().unwrap_or(255),
        stdout: String::new(),
        stderr: std::fs::read_to_string(err).unwrap_or_default(),
    }
}

/// Real, effective, saved and fs host ids of `pid` from /proc (Uid: or Gid:).
fn host_ids(pid: i32, key: &str) -> String {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    s.lines()
        .find(|l| l.starts_with(key))
        .unwrap_or_default()
        .to_string()
}

/// Waits until `start`'s init has become `comm` (it drops to the process's
/// user just before execve, after `start` returned).
fn wait_exec(pid: i32, comm: &str) {
    for _ in 0..1000 {
        let c = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if c.trim() == comm {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("process {pid} never became {comm}");
}

#[test]
fn rootless_spec_runs_busybox_as_the_user_without_a_cgroup() {
    let u = User::new("rl");
    let (mut c, xdg) = bundle_for(&u, "rootless");
    assert_eq!(c.spec["linux"]["uidMappings"][0]["hostID"], u.uid);

    // Foreground run: container root is the user's uid outside.
    c.sh("id -u; cat /proc/self/uid_map | tr -s ' '");
    let o = as_user(&u, &xdg, &c.bundle, &["run", &c.id, "-b", "."]);
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(o.stdout, format!("0\n 0 {} 1\n", u.uid), "{o:?}");
    assert!(!c.root.join(&c.id).exists(), "run must delete its state");

    // Detached: check it from the outside while it runs.
    c.args(&["sleep", "1000"]);
    let o = create_as(&u, &c, &xdg);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(
        c.root.join(&c.id).join("state.json").exists(),
        "state is under $XDG_RUNTIME_DIR/caixa-runtime"
    );
    let o = as_user(&u, &xdg, &c.bundle, &["start", &c.id]);
    assert_eq!(o.code, 0, "{o:?}");
    let o = as_user(&u, &xdg, &c.bundle, &["state", &c.id]);
    let st: Value = serde_json::from_str(&o.stdout).expect("state json");
    assert_eq!(st["status"], "running", "{o:?}");
    let pid = st["pid"].as_i64().expect("pid") as i32;
    wait_exec(pid, "sleep");
    let uid = u.uid;
    assert_eq!(
        host_ids(pid, "Uid:"),
        format!("Uid:\t{uid}\t{uid}\t{uid}\t{uid}")
    );
    // exec as the user joins the container (its user namespace included).
    let o = as_user(
        &u,
        &xdg,
        &c.bundle,
        &["exec", &c.id, "sh", "-c", "id -u; readlink /proc/1/exe"],
    );
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(o.stdout, "0\n/bin/busybox\n", "{o:?}");
    // No cgroup: the container stays in the caller's cgroups.
    assert!(c.cgroup_dirs().is_empty(), "{:?}", c.cgroup_dirs());
    let own = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("cgroup");
    assert!(!own.contains(&c.id), "{own}");
    let o = as_user(&u, &xdg, &c.bundle, &["kill", &c.id, "KILL"]);
    assert_eq!(o.code, 0, "{o:?}");
    c.wait_stopped();
    let o = as_user(&u, &xdg, &c.bundle, &["delete", &c.id]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(!c.root.join(&c.id).exists());
}

#[test]
fn rootless_subordinate_ids_are_mapped_with_newuidmap() {
    let u = User::new("rs");
    let (mut c, xdg) = bundle_for(&u, "rootlesssub");
    let (su, sg) = (u.sub_start("/etc/subuid"), u.sub_start("/etc/subgid"));
    c.edit(|s| {
        s["linux"]["uidMappings"] = json!([
            {"containerID": 0, "hostID": u.uid, "size": 1},
            {"containerID": 1, "hostID": su, "size": 65536}
        ]);
        s["linux"]["gidMappings"] = json!([
            {"containerID": 0, "hostID": u.gid, "size": 1},
            {"containerID": 1, "hostID": sg, "size": 65536}
        ]);
        s["process"]["user"] = json!({"uid": 1000, "gid": 1000, "additionalGids": [5]});
    });
    c.args(&["sleep", "1000"]);
    let o = create_as(&u, &c, &xdg);
    assert_eq!(o.code, 0, "{o:?}");
    let o = as_user(&u, &xdg, &c.bundle, &["start", &c.id]);
    assert_eq!(o.code, 0, "{o:?}");
    let pid = c.pid();
    wait_exec(pid, "sleep");
    let (hu, hg) = (su + 999, sg + 999);
    assert_eq!(
        host_ids(pid, "Uid:"),
        format!("Uid:\t{hu}\t{hu}\t{hu}\t{hu}")
    );
    assert_eq!(
        host_ids(pid, "Gid:"),
        format!("Gid:\t{hg}\t{hg}\t{hg}\t{hg}")
    );
    assert_eq!(
        host_ids(pid, "Groups:").trim_end(),
        format!("Groups:\t{}", sg + 4)
    );
    let o = as_user(&u, &xdg, &c.bundle, &["delete", "--force", &c.id]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(!c.root.join(&c.id).exists());
}

#[test]
fn rootless_refusals_are_one_line_and_leave_nothing() {
    let u = User::new("rf");
    let (mut c, xdg) = bundle_for(&u, "rootlessbad");
    // Host ids the user was never given.
    c.edit(|s| {
        s["linux"]["uidMappings"] = json!([
            {"containerID": 0, "hostID": u.uid, "size": 1},
            {"containerID": 1, "hostID": 1, "size": 10}
        ]);
    });
    let o = create_as(&u, &c, &xdg);
    assert_ne!(o.code, 0);
    assert!(o.stderr.contains("linux.uidMappings"), "{o:?}");
    assert!(o.stderr.contains("newuidmap"), "{o:?}");
    assert_eq!(o.stderr.trim().lines().count(), 1, "{o:?}");
    assert!(!c.root.join(&c.id).exists());

    // Limits need a cgroup the user cannot make.
    c.edit(|s| {
        s["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": u.uid, "size": 1}]);
        s["linux"]["resources"] = json!({"pids": {"limit": 10}});
    });
    let o = create_as(&u, &c, &xdg);
    assert_ne!(o.code, 0);
    assert!(o.stderr.contains("linux.resources"), "{o:?}");
    assert_eq!(o.stderr.trim().lines().count(), 1, "{o:?}");
    assert!(!c.root.join(&c.id).exists());
    assert!(c.cgroup_dirs().is_empty(), "{:?}", c.cgroup_dirs());
}

/// Removes a cgroup tree (leaves first) when dropped.
struct CgTree(PathBuf);

impl Drop for CgTree {
    fn drop(&mut self) {
        for sub in ["caller", "ctrs"] {
            let _ = std::fs::remove_dir(self.0.join(sub));
        }
        let _ = std::fs::remove_dir(&self.0);
    }
}

#[test]
fn rootless_uses_a_delegated_cgroup_v2_subtree() {
    if !Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        eprintln!("skipped: needs the unified cgroup v2 hierarchy (scripts/test-v2.sh)");
        return;
    }
    let u = User::new("rd");
    let (mut c, xdg) = bundle_for(&u, "rootlessdeleg");
    let name = format!("caixa-test-deleg-{}", std::process::id());
    let deleg = Path::new("/sys/fs/cgroup").join(&name);
    std::fs::create_dir(&deleg).expect("mkdir delegated cgroup");
    let _tree = CgTree(deleg.clone());
    std::fs::write(deleg.join("cgroup.subtree_control"), "+pids").expect("enable pids");
    for sub in ["caller", "ctrs"] {
        std::fs::create_dir(deleg.join(sub)).expect("mkdir");
    }
    // Delegation as systemd does it: the subtree and its control files.
    let o = Command::new("chown")
        .args(["-R", &format!("{}:{}", u.uid, u.gid)])
        .arg(&deleg)
        .output()
        .expect("chown");
    assert!(o.status.success(), "{o:?}");
    let cg_path = format!("/{name}/ctrs/{}", c.id);
    c.edit(|s| {
        s["linux"]["cgroupsPath"] = json!(cg_path);
        s["linux"]["resources"] = json!({"pids": {"limit": 10}});
    });
    c.args(&["sleep", "1000"]);
    // The user's runtime starts inside the delegated subtree.
    let procs = deleg.join("caller/cgroup.procs");
    let err = c.dir().join("create.stderr");
    let st = Command::new("/bin/sh")
        .arg("-c")
        .arg(r#"echo $$ > "$1" && shift && exec "$@""#)
        .arg("sh")
        .arg(&procs)
        .args(["runuser", "-u", &u.name, "--", "env"])
        .arg(format!("XDG_RUNTIME_DIR={}", xdg.display()))
        .arg(runtime_bin())
        .args(["create", &c.id, "--bundle"])
        .arg(&c.bundle)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(c.dir().join("ctr.stdout")).expect("stdout"))
        .stderr(std::fs::File::create(&err).expect("stderr"))
        .status()
        .expect("create");
    let stderr = std::fs::read_to_string(&err).unwrap_or_default();
    assert!(st.success(), "{stderr}");
    let pid = c.pid();
    let leaf = deleg.join("ctrs").join(&c.id);
    assert_eq!(
        std::fs::read_to_string(leaf.join("pids.max"))
            .expect("pids.max")
            .trim(),
        "10"
    );
    let own = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("cgroup");
    assert_eq!(own.trim(), format!("0::{cg_path}"));
    let o = as_user(&u, &xdg, &c.bundle, &["delete", "--force", &c.id]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(!leaf.exists(), "the container's cgroup must be removed");
}
