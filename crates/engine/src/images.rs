//! The engine's seam to images: resolve a reference to its config and
//! layer directories, and mount/unmount a container's overlay rootfs.
//!
//! Until caixa-image's store is wired in, only the offline default
//! `busybox` image exists: made once from the host's busybox-static under
//! `ROOT/engine/busybox` (a single read-only layer).

use std::collections::BTreeMap;
use std::ffi::CString;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::config::HealthCheck;
use crate::error::{Error, Result};

/// What an image contributes to a container.
#[derive(Debug, Clone, Default)]
pub struct Resolved {
    /// `sha256:…`.
    pub id: String,
    /// Layer directories, top first.
    pub lower_dirs: Vec<PathBuf>,
    /// Image Entrypoint.
    pub entrypoint: Vec<String>,
    /// Image Cmd.
    pub cmd: Vec<String>,
    /// Image Env.
    pub env: Vec<String>,
    /// Image WorkingDir.
    pub workdir: String,
    /// Image User.
    pub user: String,
    /// Image labels.
    pub labels: BTreeMap<String, String>,
    /// Image StopSignal.
    pub stop_signal: Option<String>,
    /// Image Healthcheck.
    pub health: Option<HealthCheck>,
}

const BUSYBOX_NAMES: &[&str] = &[
    "busybox",
    "busybox:latest",
    "library/busybox",
    "library/busybox:latest",
    "docker.io/library/busybox",
    "docker.io/library/busybox:latest",
];

/// Resolves `reference` to an image.
pub fn resolve(root: &Path, reference: &str) -> Result<Resolved> {
    if BUSYBOX_NAMES.contains(&reference) {
        return default_busybox(root);
    }
    let normal = if reference.contains('/') || reference.contains('@') {
        reference.to_string()
    } else if reference.contains(':') {
        format!("docker.io/library/{reference}")
    } else {
        format!("docker.io/library/{reference}:latest")
    };
    Err(Error::NoSuchImage(
        normal.trim_start_matches("docker.io/library/").to_string(),
    ))
}

fn default_busybox(root: &Path) -> Result<Resolved> {
    let host = Path::new("/bin/busybox");
    let mut bin = Vec::new();
    std::fs::File::open(host)
        .and_then(|mut f| f.read_to_end(&mut bin))
        .map_err(|e| Error::io("read /bin/busybox (install busybox-static)", e))?;
    use sha2::Digest;
    let digest = hex::encode(sha2::Sha256::digest(&bin));
    let layer = root
        .join("engine")
        .join(format!("busybox-{}", &digest[..16]));
    if !layer.exists() {
        build_busybox_layer(&layer, &bin)?;
    }
    Ok(Resolved {
        id: format!("sha256:{digest}"),
        lower_dirs: vec![layer],
        cmd: vec!["sh".into()],
        env: vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()],
        ..Resolved::default()
    })
}

fn build_busybox_layer(layer: &Path, bin: &[u8]) -> Result<()> {
    let io = |what: &str, e| Error::io(format!("{what} {}", layer.display()), e);
    let parent = layer.parent().unwrap_or(Path::new("/"));
    std::fs::create_dir_all(parent).map_err(|e| io("create", e))?;
    let tmp = parent.join(format!(".tmp-busybox-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let build = || -> std::io::Result<()> {
        for d in [
            "bin", "etc", "root", "tmp", "proc", "sys", "dev", "home", "var", "usr/bin",
            "usr/sbin", "sbin",
        ] {
            std::fs::create_dir_all(tmp.join(d))?;
        }
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp.join("tmp"), std::fs::Permissions::from_mode(0o1777))?;
        std::fs::write(tmp.join("bin/busybox"), bin)?;
        std::fs::set_permissions(
            tmp.join("bin/busybox"),
            std::fs::Permissions::from_mode(0o755),
        )?;
        let out = std::process::Command::new("/bin/busybox")
            .arg("--list")
            .output()?;
        for name in String::from_utf8_lossy(&out.stdout).lines() {
            if name != "busybox" && !name.is_empty() {
                std::os::unix::fs::symlink("busybox", tmp.join("bin").join(name))?;
            }
        }
        std::fs::write(
            tmp.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/bin/false\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
        )?;
        std::fs::write(
            tmp.join("etc/group"),
            "root:x:0:\ndaemon:x:1:\ntty:x:5:\nnogroup:x:65534:\n",
        )?;
        Ok(())
    };
    if let Err(e) = build() {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(io("build default busybox layer", e));
    }
    if let Err(e) = std::fs::rename(&tmp, layer) {
        let _ = std::fs::remove_dir_all(&tmp);
        if !layer.exists() {
            return Err(io("install", e));
        }
    }
    Ok(())
}

fn cstr(p: &Path) -> Result<CString> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| Error::invalid(p.display().to_string(), "path contains a NUL byte"))
}

/// Mounts the overlay rootfs of a container at `dir/rootfs` (upper/work in `dir`).
pub fn mount_rootfs(lower: &[PathBuf], dir: &Path) -> Result<PathBuf> {
    let target = dir.join("rootfs");
    if is_mounted(&target) {
        return Ok(target);
    }
    for d in ["rootfs", "upper", "work"] {
        std::fs::create_dir_all(dir.join(d))
            .map_err(|e| Error::io(format!("create {}", dir.join(d).display()), e))?;
    }
    let lowers: Vec<String> = lower.iter().map(|p| p.display().to_string()).collect();
    let data = format!(
        "lowerdir={},upperdir={},workdir={}",
        lowers.join(":"),
        dir.join("upper").display(),
        dir.join("work").display()
    );
    let src = CString::new("overlay").unwrap_or_default();
    let t = cstr(&target)?;
    let d = CString::new(data)
        .map_err(|_| Error::invalid("rootfs", "layer path contains a NUL byte"))?;
    // SAFETY: all pointers are valid NUL-terminated strings living through the call.
    let r = unsafe { libc::mount(src.as_ptr(), t.as_ptr(), src.as_ptr(), 0, d.as_ptr().cast()) };
    if r != 0 {
        return Err(Error::io(
            format!("mount overlay rootfs at {}", target.display()),
            std::io::Error::last_os_error(),
        ));
    }
    Ok(target)
}

/// Whether `path` is a mount point (listed in our mountinfo).
pub fn is_mounted(path: &Path) -> bool {
    let want = path.display().to_string();
    std::fs::read_to_string("/proc/self/mountinfo")
        .map(|m| {
            m.lines()
                .any(|l| l.split(' ').nth(4) == Some(want.as_str()))
        })
        .unwrap_or(false)
}

/// Unmounts `dir/rootfs` if mounted.
pub fn unmount_rootfs(dir: &Path) -> Result<()> {
    let target = dir.join("rootfs");
    if !is_mounted(&target) {
        return Ok(());
    }
    let t = cstr(&target)?;
    // SAFETY: t is a valid NUL-terminated path.
    let r = unsafe { libc::umount2(t.as_ptr(), libc::MNT_DETACH) };
    if r != 0 {
        return Err(Error::io(
            format!("unmount {}", target.display()),
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}
