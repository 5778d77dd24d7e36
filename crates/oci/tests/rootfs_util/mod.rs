//! Shared helpers for the rootfs integration tests: a temporary busybox
//! rootfs, a forked child in fresh namespaces that runs `setup`/`finish`
//! and checks from inside, and host-side leak checks.
#![allow(dead_code)]

use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use caixa_oci::rootfs::RootfsConfig;
use nix::sched::CloneFlags;
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, fork};
use oci_spec::runtime::Spec;

/// A temporary bundle directory with a busybox rootfs.
pub struct Bundle {
    /// Removed on drop.
    pub dir: tempfile::TempDir,
    /// `<dir>/rootfs`.
    pub rootfs: PathBuf,
}

impl Bundle {
    /// A new bundle named after the test (and the pid, for uniqueness).
    pub fn new(test: &str) -> Bundle {
        let dir = tempfile::Builder::new()
            .prefix(&format!("caixa-test-rootfs-{test}-{}-", std::process::id()))
            .tempdir()
            .expect("tempdir");
        let rootfs = dir.path().join("rootfs");
        for d in ["bin", "proc", "sys", "dev", "tmp", "etc"] {
            std::fs::create_dir_all(rootfs.join(d)).expect("mkdir");
        }
        std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).expect("copy busybox");
        for a in ["sh", "cat", "touch", "ls", "mkdir"] {
            symlink("busybox", rootfs.join("bin").join(a)).expect("symlink");
        }
        Bundle { dir, rootfs }
    }

    /// A path inside the rootfs, on the host.
    pub fn host(&self, p: &str) -> PathBuf {
        self.rootfs.join(p.trim_start_matches('/'))
    }
}

/// The usual mounts of a runc-style default spec.
pub fn default_mounts() -> serde_json::Value {
    serde_json::json!([
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs",
         "options": ["nosuid", "noexec", "nodev", "ro"]}
    ])
}

/// A spec from `mounts` and extra `linux` fields (namespaces default to
/// just `mount`).
pub fn spec(mounts: serde_json::Value, linux: serde_json::Value, readonly: bool) -> Spec {
    let mut l = serde_json::json!({"namespaces": [{"type": "mount"}]});
    if let (Some(base), Some(extra)) = (l.as_object_mut(), linux.as_object()) {
        for (k, v) in extra {
            base.insert(k.clone(), v.clone());
        }
    }
    let v = serde_json::json!({
        "ociVersion": "1.2.0",
        "root": {"path": "rootfs", "readonly": readonly},
        "mounts": mounts,
        "linux": l,
    });
    serde_json::from_value(v).expect("spec")
}

/// Options for [`in_container`].
#[derive(Default)]
pub struct Opts {
    /// Namespaces to unshare besides the mount namespace.
    pub extra_ns: Option<CloneFlags>,
    /// `--no-pivot`.
    pub no_pivot: bool,
    /// `RootfsConfig::cgroup_mounts`.
    pub cgroup_mounts: Vec<(String, PathBuf)>,
    /// `RootfsConfig::console`.
    pub console: Option<PathBuf>,
    /// Run in a new user namespace (root mapped to root).
    pub user_ns: bool,
    /// Before entering the user namespace, mount a nosuid,nodev,noexec
    /// tmpfs here (its flags become locked in the user namespace).
    pub locked_mount: Option<PathBuf>,
    /// Make the child's / rshared (a host where / is shared, as with
    /// systemd) instead of rslave.
    pub shared: bool,
}

/// Forks a child that enters a new mount namespace (and `opts`), then
/// runs `body` with the config; `body`'s error (or a panic) comes back as
/// `Err`. Afterwards checks that no mount under the bundle is left.
pub fn in_container<F>(b: &Bundle, spec: &Spec, opts: Opts, body: F) -> Result<(), String>
where
    F: FnOnce(&RootfsConfig) -> Result<(), String>,
{
    let (rd, wr): (OwnedFd, OwnedFd) = nix::unistd::pipe().expect("pipe");
    // SAFETY: the child only runs this test's code (no locks of other
    // threads are needed: glibc's malloc is fork-safe) and always ends
    // with _exit, never returning into the test harness.
    match unsafe { fork() }.expect("fork") {
        ForkResult::Child => {
            drop(rd);
            let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                child(b, spec, &opts, body)
            }))
            .unwrap_or_else(|_| Err("child panicked".to_string()));
            let msg = match &res {
                Ok(()) => String::new(),
                Err(e) => e.clone(),
            };
            // SAFETY: writing a live buffer to our own pipe fd.
            unsafe {
                libc::write(wr.as_raw_fd(), msg.as_ptr().cast(), msg.len());
                libc::_exit(if res.is_ok() { 0 } else { 1 });
            }
        }
        ForkResult::Parent { child } => {
            drop(wr);
            let mut out = String::new();
            std::fs::File::from(rd)
                .read_to_string(&mut out)
                .expect("read pipe");
            let status = waitpid(child, None).expect("waitpid");
            assert_no_leak(b);
            match status {
                WaitStatus::Exited(_, 0) => Ok(()),
                WaitStatus::Exited(_, _) => Err(out),
                other => Err(format!("child ended with {other:?}: {out}")),
            }
        }
    }
}

fn child<F>(b: &Bundle, spec: &Spec, opts: &Opts, body: F) -> Result<(), String>
where
    F: FnOnce(&RootfsConfig) -> Result<(), String>,
{
    let mut flags = CloneFlags::CLONE_NEWNS;
    // First a namespace of our own whose mounts never reach the host, even
    // where / is shared (the fixtures below mount things before setup).
    nix::sched::unshare(CloneFlags::CLONE_NEWNS).map_err(|e| format!("unshare: {e}"))?;
    use rustix::mount::MountPropagationFlags as P;
    rustix::mount::mount_change("/", P::DOWNSTREAM | P::REC)
        .map_err(|e| format!("make / rslave: {e}"))?;
    if opts.shared {
        // Then a new peer group of our own: shared inside, and (being a
        // slave first) never sending anything to the host.
        rustix::mount::mount_change("/", P::SHARED | P::REC)
            .map_err(|e| format!("make / rshared: {e}"))?;
    }
    if let Some(p) = &opts.locked_mount {
        let f = rustix::mount::MountFlags::NOSUID
            | rustix::mount::MountFlags::NODEV
            | rustix::mount::MountFlags::NOEXEC;
        rustix::mount::mount("tmpfs", p, "tmpfs", f, None)
            .map_err(|e| format!("mount {}: {e}", p.display()))?;
        std::fs::write(p.join("file"), "locked").map_err(|e| e.to_string())?;
    }
    if opts.user_ns {
        flags |= CloneFlags::CLONE_NEWUSER;
    }
    if let Some(extra) = opts.extra_ns {
        flags |= extra;
    }
    nix::sched::unshare(flags).map_err(|e| format!("unshare: {e}"))?;
    if opts.user_ns {
        std::fs::write("/proc/self/setgroups", "deny").map_err(|e| format!("setgroups: {e}"))?;
        std::fs::write("/proc/self/uid_map", "0 0 1").map_err(|e| format!("uid_map: {e}"))?;
        std::fs::write("/proc/self/gid_map", "0 0 1").map_err(|e| format!("gid_map: {e}"))?;
    }
    let cfg = RootfsConfig {
        spec,
        rootfs: b.rootfs.clone(),
        no_pivot: opts.no_pivot,
        cgroup_mounts: opts.cgroup_mounts.clone(),
        in_user_ns: opts.user_ns,
        console: opts.console.clone(),
    };
    body(&cfg)
}

/// `setup` then `finish`, errors as strings.
pub fn enter(cfg: &RootfsConfig) -> Result<(), String> {
    caixa_oci::rootfs::setup(cfg).map_err(|e| format!("setup: {e}"))?;
    caixa_oci::rootfs::finish(cfg).map_err(|e| format!("finish: {e}"))
}

/// The mount lines of the calling process that mention the bundle.
pub fn mounts_under(b: &Bundle) -> Vec<String> {
    let dir = b.dir.path().to_string_lossy().into_owned();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(&dir))
        .map(String::from)
        .collect()
}

/// No mount on the host refers to anything under the bundle.
pub fn assert_no_leak(b: &Bundle) {
    let mi = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    let dir = b.dir.path().to_string_lossy().into_owned();
    assert!(
        !mi.contains(&dir),
        "a mount under {dir} leaked to the host:\n{mi}"
    );
}

/// One line of /proc/self/mountinfo, split.
#[derive(Debug, Clone)]
pub struct MountLine {
    /// Mount point.
    pub point: String,
    /// Per-mount options (ro,nosuid,...).
    pub opts: Vec<String>,
    /// Optional fields (shared:N, master:N, unbindable).
    pub optional: Vec<String>,
    /// Filesystem type.
    pub fstype: String,
    /// Superblock options.
    pub super_opts: Vec<String>,
}

/// The mount table of the calling process.
pub fn mountinfo() -> Vec<MountLine> {
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    mi.lines()
        .filter_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            let f: Vec<&str> = left.split(' ').collect();
            let r: Vec<&str> = right.split(' ').collect();
            Some(MountLine {
                point: f.get(4)?.to_string(),
                opts: f.get(5)?.split(',').map(String::from).collect(),
                optional: f
                    .get(6..)
                    .unwrap_or(&[])
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
                fstype: r.first()?.to_string(),
                super_opts: r
                    .get(2)
                    .unwrap_or(&"")
                    .split(',')
                    .map(String::from)
                    .collect(),
            })
        })
        .collect()
}

/// The topmost mount at `point`, or an error naming it.
pub fn mount_at(point: &str) -> Result<MountLine, String> {
    mountinfo()
        .into_iter()
        .rev()
        .find(|m| m.point == point)
        .ok_or_else(|| {
            let all: Vec<String> = mountinfo()
                .iter()
                .map(|m| format!("{} {}", m.point, m.fstype))
                .collect();
            format!("no mount at {point} in {all:?}")
        })
}

/// Fails unless `cond`, with `msg`.
pub fn check(cond: bool, msg: impl Into<String>) -> Result<(), String> {
    if cond { Ok(()) } else { Err(msg.into()) }
}

/// Whether writing a new file at `path` fails with EROFS.
pub fn write_is_erofs(path: &Path) -> bool {
    match std::fs::write(path, b"x") {
        Err(e) => e.raw_os_error() == Some(libc::EROFS),
        Ok(()) => false,
    }
}
