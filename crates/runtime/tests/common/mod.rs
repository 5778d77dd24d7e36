//! Shared helpers for caixa-runtime's integration tests (also used,
//! read-only, by other crates' tests through `#[path]`).
//!
//! [`Ctr`] is one test container: a temp dir named `caixa-test-*` holding a
//! busybox-static rootfs bundle (config.json from `caixa-runtime spec`,
//! terminal off, rootfs writable) and a private `--root` state dir. The
//! container id is unique per test and process. Dropping a `Ctr` runs
//! `delete --force` and removes the temp dir, so nothing leaks even when a
//! test fails.
//!
//! ```ignore
//! let mut c = Ctr::new("hostname");
//! c.args(&["hostname"]);
//! let out = c.run();              // `run ID`: create + start + wait + delete
//! assert_eq!(out.code, 0);
//! assert_eq!(out.stdout.trim(), "caixa");
//! ```
//!
//! The binary is `$CAIXA_RUNTIME_BIN` when set (the cgroup v2 VM runs test
//! binaries built on the host), else the one cargo built for this test.

#![allow(dead_code)]

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

/// The caixa-runtime binary under test.
pub fn runtime_bin() -> PathBuf {
    match std::env::var_os("CAIXA_RUNTIME_BIN") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_BIN_EXE_caixa-runtime")),
    }
}

/// What a command printed and how it exited.
#[derive(Debug, Clone)]
pub struct Out {
    /// Exit code (128+N when killed by signal N).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Out {
    /// Panics with the output unless the exit code is 0.
    pub fn ok(self) -> Self {
        assert_eq!(self.code, 0, "command failed: {self:?}");
        self
    }
}

fn out_of(o: std::process::Output) -> Out {
    use std::os::unix::process::ExitStatusExt;
    let code = o
        .status
        .code()
        .unwrap_or_else(|| 128 + o.status.signal().unwrap_or(0));
    Out {
        code,
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// One test container: bundle + state root in a `caixa-test-*` temp dir.
pub struct Ctr {
    /// The container id (`caixa-test-NAME-PID`).
    pub id: String,
    /// The bundle directory (config.json + rootfs/).
    pub bundle: PathBuf,
    /// The `--root` state directory.
    pub root: PathBuf,
    /// The spec written to config.json by [`Ctr::save`].
    pub spec: Value,
    tmp: tempfile::TempDir,
}

impl Ctr {
    /// Makes the bundle: busybox and its applets in rootfs/bin, the
    /// default spec with terminal off and a writable rootfs.
    pub fn new(name: &str) -> Ctr {
        let tmp = tempfile::Builder::new()
            .prefix(&format!("caixa-test-{name}-"))
            .tempdir()
            .expect("temp dir");
        // Traversable by a container root that a user namespace maps to an
        // unprivileged host uid.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod temp dir");
        let bundle = tmp.path().join("bundle");
        let bin = bundle.join("rootfs/bin");
        std::fs::create_dir_all(&bin).expect("mkdir rootfs/bin");
        for d in ["proc", "sys", "dev", "tmp", "etc", "root"] {
            std::fs::create_dir_all(bundle.join("rootfs").join(d)).expect("mkdir");
        }
        std::fs::copy("/bin/busybox", bin.join("busybox")).expect("copy /bin/busybox");
        let list = Command::new("/bin/busybox")
            .arg("--list")
            .output()
            .expect("busybox --list");
        for applet in String::from_utf8_lossy(&list.stdout).split_whitespace() {
            if applet != "busybox" {
                let _ = std::os::unix::fs::symlink("busybox", bin.join(applet));
            }
        }
        std::fs::write(
            bundle.join("rootfs/etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n",
        )
        .expect("passwd");
        std::fs::write(
            bundle.join("rootfs/etc/group"),
            "root:x:0:\nnogroup:x:65534:\n",
        )
        .expect("group");
        let root = tmp.path().join("state");
        let id = format!("caixa-test-{name}-{}", std::process::id());
        let st = Command::new(runtime_bin())
            .args(["spec", "--bundle"])
            .arg(&bundle)
            .status()
            .expect("caixa-runtime spec");
        assert!(st.success(), "caixa-runtime spec failed");
        let text = std::fs::read(bundle.join("config.json")).expect("config.json");
        let mut spec: Value = serde_json::from_slice(&text).expect("spec json");
        spec["process"]["terminal"] = Value::Bool(false);
        spec["root"]["readonly"] = Value::Bool(false);
        let c = Ctr {
            id,
            bundle,
            root,
            spec,
            tmp,
        };
        c.save();
        c
    }

    /// The temp dir (for test files next to the bundle).
    pub fn dir(&self) -> &Path {
        self.tmp.path()
    }

    /// Writes [`Ctr::spec`] to config.json.
    pub fn save(&self) {
        let text = serde_json::to_vec_pretty(&self.spec).expect("serialize spec");
        std::fs::write(self.bundle.join("config.json"), text).expect("write config.json");
    }

    /// Sets `process.args` and saves.
    pub fn args(&mut self, args: &[&str]) -> &mut Self {
        self.spec["process"]["args"] = args.iter().map(|a| Value::from(*a)).collect();
        self.save();
        self
    }

    /// Runs `sh -c SCRIPT` as the container's process (saves).
    pub fn sh(&mut self, script: &str) -> &mut Self {
        self.args(&["sh", "-c", script])
    }

    /// Edits the spec with `f` and saves.
    pub fn edit(&mut self, f: impl FnOnce(&mut Value)) -> &mut Self {
        f(&mut self.spec);
        self.save();
        self
    }

    /// A `caixa-runtime --root ROOT` command (stdin null).
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(runtime_bin());
        c.arg("--root").arg(&self.root).stdin(Stdio::null());
        c
    }

    /// `exec -d --pid-file F OPTS... ID CMD...` (stdout/stderr not held, so
    /// it returns while the process runs); asserts success, returns its pid.
    pub fn exec_detached(&self, opts: &[&str], cmd: &[&str]) -> i32 {
        let pf = self.dir().join("exec.pid");
        let st = self
            .cmd()
            .args(["exec", "-d", "--pid-file"])
            .arg(&pf)
            .args(opts)
            .arg(&self.id)
            .args(cmd)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run caixa-runtime exec");
        assert!(st.success(), "exec -d {opts:?} {cmd:?}: {st:?}");
        std::fs::read_to_string(&pf)
            .expect("exec pid file")
            .trim()
            .parse()
            .expect("a pid in the exec pid file")
    }

    /// Runs `caixa-runtime --root ROOT ARGS...` and captures its output.
    /// Only for commands that leave no process holding stdout (not create).
    pub fn rt(&self, args: &[&str]) -> Out {
        out_of(self.cmd().args(args).output().expect("run caixa-runtime"))
    }

    /// `run ID --bundle B` in the foreground; output is the container's.
    pub fn run(&self) -> Out {
        let mut c = self.cmd();
        c.args(["run", &self.id, "--bundle"]).arg(&self.bundle);
        out_of(c.output().expect("caixa-runtime run"))
    }

    /// `create ID --bundle B`. The container's stdout/stderr go to files
    /// (read them with [`Ctr::container_output`]); `Out` has create's own
    /// exit code and, in stderr, anything written before it returned.
    pub fn create(&self) -> Out {
        self.create_with(&[])
    }

    /// `create` with extra options (after the id, as containerd passes them).
    pub fn create_with(&self, extra: &[&str]) -> Out {
        let so = std::fs::File::create(self.dir().join("ctr.stdout")).expect("stdout file");
        let se = std::fs::File::create(self.dir().join("ctr.stderr")).expect("stderr file");
        let mut c = self.cmd();
        c.args(["create", &self.id, "--bundle"])
            .arg(&self.bundle)
            .args(extra)
            .stdout(so)
            .stderr(se);
        let st = c.status().expect("caixa-runtime create");
        Out {
            code: st.code().unwrap_or(255),
            stdout: String::new(),
            stderr: std::fs::read_to_string(self.dir().join("ctr.stderr")).unwrap_or_default(),
        }
    }

    /// What the container created by [`Ctr::create`] wrote to stdout.
    pub fn container_output(&self) -> String {
        std::fs::read_to_string(self.dir().join("ctr.stdout")).unwrap_or_default()
    }

    /// `start ID`.
    pub fn start(&self) -> Out {
        self.rt(&["start", &self.id])
    }

    /// `state ID` parsed (panics when it fails).
    pub fn state(&self) -> Value {
        let o = self.rt(&["state", &self.id]).ok();
        serde_json::from_str(&o.stdout).expect("state json")
    }

    /// The `status` field of `state ID`.
    pub fn status(&self) -> String {
        self.state()["status"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The init's host pid from `state ID`.
    pub fn pid(&self) -> i32 {
        self.state()["pid"].as_i64().unwrap_or(0) as i32
    }

    /// Blocks until the container's init has exited (pidfd, no polling).
    pub fn wait_stopped(&self) {
        let pid = self.pid();
        if pid <= 0 {
            return;
        }
        // SAFETY: pidfd_open has no memory arguments.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as i32;
        if fd < 0 {
            return;
        }
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one pollfd we own; then we close the fd we opened.
        unsafe {
            while libc::poll(&mut pfd, 1, -1) < 0 {}
            libc::close(fd);
        }
    }

    /// `delete ID` (with `--force` when `force`).
    pub fn delete(&self, force: bool) -> Out {
        if force {
            self.rt(&["delete", "--force", &self.id])
        } else {
            self.rt(&["delete", &self.id])
        }
    }

    /// The host cgroup directories whose name contains the container id.
    pub fn cgroup_dirs(&self) -> Vec<PathBuf> {
        find_dirs(Path::new("/sys/fs/cgroup"), &self.id, 6)
    }
}

impl Drop for Ctr {
    fn drop(&mut self) {
        if self.root.join(&self.id).exists() {
            let _ = self.rt(&["delete", "--force", &self.id]);
        }
    }
}

/// Directories under `dir` (to `depth`) whose name contains `needle`.
pub fn find_dirs(dir: &Path, needle: &str, depth: u32) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if depth == 0 {
        return out;
    }
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let Ok(ft) = e.file_type() else { continue };
        if !ft.is_dir() || ft.is_symlink() {
            continue;
        }
        let p = e.path();
        if e.file_name().to_string_lossy().contains(needle) {
            out.push(p.clone());
        }
        out.extend(find_dirs(&p, needle, depth - 1));
    }
    out
}

/// Lines of /proc/self/mountinfo that mention `needle`.
pub fn host_mounts_with(needle: &str) -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(needle))
        .map(String::from)
        .collect()
}

/// Keeps an fd open without CLOEXEC for the test's lifetime (for leak tests).
pub fn inheritable_fd(path: &Path) -> std::fs::File {
    let f = std::fs::File::open(path).expect("open");
    // SAFETY: clearing FD_CLOEXEC on an fd we own.
    unsafe { libc::fcntl(f.as_raw_fd(), libc::F_SETFD, 0) };
    f
}

/// Edits a spec to run in a new user namespace mapping container ids 0..65536
/// to host 300000.., and drops the spec's cgroup mount (which such a
/// container may not make on a cgroup v1 host).
pub fn with_userns(s: &mut Value) {
    s["linux"]["namespaces"]
        .as_array_mut()
        .expect("linux.namespaces")
        .push(serde_json::json!({"type": "user"}));
    s["linux"]["uidMappings"] =
        serde_json::json!([{"containerID": 0, "hostID": 300000, "size": 65536}]);
    s["linux"]["gidMappings"] =
        serde_json::json!([{"containerID": 0, "hostID": 300000, "size": 65536}]);
    s["mounts"]
        .as_array_mut()
        .expect("mounts")
        .retain(|m| m["type"] != "cgroup");
}
