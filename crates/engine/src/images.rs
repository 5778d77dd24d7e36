//! The engine's seam to caixa-image: resolve a reference to its config and
//! layers, mount/unmount/remove a container's overlay rootfs, and keep the
//! image referenced while a container uses it (so `rmi` refuses it).
//!
//! A fresh store gets the offline default `busybox` image (from the host's
//! busybox-static) the first time a container asks for busybox.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use caixa_image::{Digest, RootfsMount, RootfsOptions, Store};

use crate::config::{HealthCheck, Record};
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

fn image_err(e: caixa_image::Error) -> Error {
    Error::Image(e.to_string())
}

fn is_busybox(reference: &str) -> bool {
    let r = reference.strip_prefix("docker.io/").unwrap_or(reference);
    let r = r.strip_prefix("library/").unwrap_or(r);
    r == "busybox" || r == "busybox:latest"
}

/// Docker's short form with a default tag: `foo` → `foo:latest`.
fn familiar(reference: &str) -> String {
    let r = reference.strip_prefix("docker.io/").unwrap_or(reference);
    let r = r.strip_prefix("library/").unwrap_or(r);
    let last = r.rsplit('/').next().unwrap_or(r);
    if last.contains(':') || last.contains('@') {
        r.to_string()
    } else {
        format!("{r}:latest")
    }
}

/// Opens the image store under `root`.
pub fn store(root: &Path) -> Result<Store> {
    Store::open(root).map_err(image_err)
}

/// Resolves `reference` to an image and marks it as used by `container_id`.
pub fn resolve(st: &Store, reference: &str) -> Result<Resolved> {
    let img = match st.resolve(reference) {
        Ok(i) => i,
        Err(caixa_image::Error::NotFound(_)) if is_busybox(reference) => {
            st.ensure_default_busybox().map_err(image_err)?
        }
        Err(caixa_image::Error::NotFound(_)) => {
            return Err(Error::NoSuchImage(familiar(reference)));
        }
        Err(e) => return Err(image_err(e)),
    };
    let c = img.config.container_config();
    let health = c.healthcheck.as_ref().and_then(|h| {
        let test = h.test.clone()?;
        Some(HealthCheck {
            test,
            interval_ns: h.interval.unwrap_or(0),
            timeout_ns: h.timeout.unwrap_or(0),
            retries: h.retries.unwrap_or(0),
            start_period_ns: h.start_period.unwrap_or(0),
        })
    });
    Ok(Resolved {
        id: img.id.to_string(),
        lower_dirs: img
            .layers
            .iter()
            .rev()
            .map(|l| st.layer_diff(&l.diff_id))
            .collect(),
        entrypoint: c.entrypoint.clone().unwrap_or_default(),
        cmd: c.cmd.clone().unwrap_or_default(),
        env: c.env.clone().unwrap_or_default(),
        workdir: c.working_dir.clone().unwrap_or_default(),
        user: c.user.clone().unwrap_or_default(),
        labels: c.labels.clone().unwrap_or_default(),
        stop_signal: c.stop_signal.clone(),
        health,
    })
}

fn mount_of(r: &Record, dir: &Path) -> Result<RootfsMount> {
    Ok(RootfsMount {
        rootfs: dir.join("rootfs"),
        upper: dir.join("upper"),
        work: dir.join("work"),
        image_id: Digest::parse(&r.image_id).map_err(image_err)?,
        container_id: r.id.clone(),
    })
}

/// Marks the image as used by the container (at create).
pub fn add_ref(st: &Store, r: &Record) -> Result<()> {
    let id = Digest::parse(&r.image_id).map_err(image_err)?;
    st.add_ref(&id, &r.id).map_err(image_err)
}

/// Mounts the container's overlay rootfs at `dir/rootfs` (if not mounted yet).
/// A `--rm` container's overlay is `volatile`: its upper dir is deleted
/// after the exit, so neither its writes nor the unmount wait for a sync.
pub fn mount_rootfs(st: &Store, r: &Record, dir: &Path) -> Result<PathBuf> {
    let target = dir.join("rootfs");
    if is_mounted(&target) {
        return Ok(target);
    }
    let img = st.resolve(&r.image_id).map_err(|e| match e {
        caixa_image::Error::NotFound(_) => Error::NoSuchImage(r.image.clone()),
        e => image_err(e),
    })?;
    Ok(st
        .prepare_rootfs_with(
            &img,
            &r.id,
            dir,
            RootfsOptions {
                volatile: r.opts.rm,
            },
        )
        .map_err(image_err)?
        .rootfs)
}

/// Whether `path` is a mount point: one statx (`STATX_ATTR_MOUNT_ROOT`,
/// Linux 5.8), else a look in our mountinfo.
pub fn is_mounted(path: &Path) -> bool {
    use rustix::fs::{AtFlags, StatxAttributes, StatxFlags};
    match rustix::fs::statx(
        rustix::fs::CWD,
        path,
        AtFlags::SYMLINK_NOFOLLOW | AtFlags::NO_AUTOMOUNT,
        StatxFlags::BASIC_STATS,
    ) {
        Ok(x) if x.stx_attributes_mask.contains(StatxAttributes::MOUNT_ROOT) => {
            return x.stx_attributes.contains(StatxAttributes::MOUNT_ROOT);
        }
        Err(rustix::io::Errno::NOENT) | Err(rustix::io::Errno::NOTDIR) => return false,
        _ => {}
    }
    let want = path.display().to_string();
    std::fs::read_to_string("/proc/self/mountinfo")
        .map(|m| {
            m.lines()
                .any(|l| l.split(' ').nth(4) == Some(want.as_str()))
        })
        .unwrap_or(false)
}

/// Detaches `dir/rootfs` (MNT_DETACH). Only used once the container's
/// processes are gone; a lazy unmount skips the RCU grace period a plain
/// one waits for (~50 ms here), which is most of `run --rm`'s cleanup.
fn detach(dir: &Path) {
    let target = dir.join("rootfs");
    if !is_mounted(&target) {
        return;
    }
    use std::os::unix::ffi::OsStrExt;
    if let Ok(c) = std::ffi::CString::new(target.as_os_str().as_bytes()) {
        // SAFETY: c is a valid NUL-terminated path that outlives the call.
        unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    }
}

/// Unmounts `dir/rootfs` if mounted (after the container exits).
pub fn unmount_rootfs(st: &Store, r: &Record, dir: &Path) -> Result<()> {
    detach(dir);
    st.unmount_rootfs(&mount_of(r, dir)?).map_err(image_err)
}

/// Unmounts and deletes the rootfs and drops the image reference (on rm).
pub fn remove_rootfs(st: &Store, r: &Record, dir: &Path) -> Result<()> {
    detach(dir);
    st.remove_rootfs(&mount_of(r, dir)?).map_err(image_err)
}
