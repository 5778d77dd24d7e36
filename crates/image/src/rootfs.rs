//! Container rootfs: an overlay of the image's unpacked layers plus a fresh
//! upper/work dir. Uses the new mount API with `lowerdir+` (one fsconfig
//! call per layer, no option-string length limit, so >128 layers work);
//! falls back to a classic mount with short symlinked layer paths on older kernels.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use rustix::mount::{
    FsMountFlags, FsOpenFlags, MountAttrFlags, MountFlags, MoveMountFlags, UnmountFlags,
};

use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::store::{Image, Store};

/// A mounted container rootfs.
#[derive(Clone, Debug)]
pub struct RootfsMount {
    /// The merged view, to be used as the OCI bundle's rootfs.
    pub rootfs: PathBuf,
    /// The container's writable layer.
    pub upper: PathBuf,
    /// overlayfs work dir.
    pub work: PathBuf,
    /// The image mounted.
    pub image_id: Digest,
    /// The container it belongs to.
    pub container_id: String,
}

/// How [`Store::prepare_rootfs_with`] mounts the overlay.
#[derive(Clone, Copy, Debug, Default)]
pub struct RootfsOptions {
    /// Mount with overlayfs' `volatile`: no sync of the upper layer, neither
    /// on syncfs/fsync nor at unmount (which otherwise syncs the whole
    /// filesystem holding the upper dir). For containers whose upper dir is
    /// thrown away after they exit (`--rm`): after a host crash its contents
    /// may be incomplete. A leftover `work/work/incompat/volatile` (which the
    /// kernel leaves to refuse a remount) is removed before mounting again.
    pub volatile: bool,
}

fn mount_err(path: &Path, reason: impl Into<String>) -> Error {
    Error::Mount {
        path: path.display().to_string(),
        reason: reason.into(),
    }
}

impl Store {
    /// Mounts `image` for `container_id` under `dir`: creates `dir/upper`,
    /// `dir/work` and mounts the overlay on `dir/rootfs`. Also records the
    /// container as a user of the image ([`Store::add_ref`]), atomically with
    /// the check that the image still exists.
    pub fn prepare_rootfs(
        &self,
        image: &Image,
        container_id: &str,
        dir: &Path,
    ) -> Result<RootfsMount> {
        self.prepare_rootfs_with(image, container_id, dir, RootfsOptions::default())
    }

    /// [`Store::prepare_rootfs`] with mount options (e.g. `volatile`).
    pub fn prepare_rootfs_with(
        &self,
        image: &Image,
        container_id: &str,
        dir: &Path,
        opts: RootfsOptions,
    ) -> Result<RootfsMount> {
        self.add_ref(&image.id, container_id)?;
        let m = RootfsMount {
            rootfs: dir.join("rootfs"),
            upper: dir.join("upper"),
            work: dir.join("work"),
            image_id: image.id.clone(),
            container_id: container_id.to_string(),
        };
        let res = (|| {
            for d in [&m.rootfs, &m.upper, &m.work] {
                fs::create_dir_all(d).ctx(|| format!("create {}", d.display()))?;
            }
            if opts.volatile {
                // The kernel's mark of an earlier volatile mount of this
                // upper/work pair: it refuses the mount while it exists.
                let mark = m.work.join("work/incompat/volatile");
                match fs::remove_dir_all(&mark) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        return Err(crate::error::io_err(
                            format!("remove {}", mark.display()),
                            e,
                        ));
                    }
                    _ => {}
                }
            }
            // Top layer first, as overlayfs wants.
            let mut lowers: Vec<PathBuf> = image
                .layers
                .iter()
                .rev()
                .map(|l| self.layer_diff(&l.diff_id))
                .collect();
            for l in &lowers {
                if !l.is_dir() {
                    return Err(mount_err(
                        &m.rootfs,
                        format!("layer {} is missing from the store", l.display()),
                    ));
                }
            }
            if lowers.is_empty() {
                let empty = self.root().join("image/empty");
                fs::create_dir_all(&empty).ctx(|| format!("create {}", empty.display()))?;
                lowers.push(empty);
            }
            match mount_new_api(&lowers, &m, opts) {
                Ok(()) => Ok(()),
                Err(e) if e == rustix::io::Errno::NOSYS || e == rustix::io::Errno::INVAL => {
                    self.mount_classic(&lowers, &m, opts)
                }
                Err(e) => Err(mount_err(&m.rootfs, format!("overlay mount: {e}"))),
            }
        })();
        if let Err(e) = res {
            let _ = self.remove_rootfs(&m);
            return Err(e);
        }
        Ok(m)
    }

    fn mount_classic(&self, lowers: &[PathBuf], m: &RootfsMount, o: RootfsOptions) -> Result<()> {
        let links = self.root().join("image/l");
        fs::create_dir_all(&links).ctx(|| format!("create {}", links.display()))?;
        let mut short = Vec::new();
        for l in lowers {
            let name = l
                .parent()
                .and_then(|p| p.file_name())
                .map(|n| n.to_string_lossy()[..12.min(n.len())].to_string())
                .unwrap_or_else(|| "empty".into());
            let link = links.join(&name);
            if fs::read_link(&link).ok().as_deref() != Some(l.as_path()) {
                let _ = fs::remove_file(&link);
                let _ = symlink(l, &link);
            }
            short.push(link.display().to_string());
        }
        let mut opts = format!(
            "lowerdir={},upperdir={},workdir={}",
            short.join(":"),
            m.upper.display(),
            m.work.display()
        );
        if opts.len() >= 4096 || opts.matches(',').count() != 2 {
            return Err(mount_err(
                &m.rootfs,
                "too many layers for this kernel (no lowerdir+ support)",
            ));
        }
        if o.volatile {
            opts.push_str(",volatile");
        }
        let data = std::ffi::CString::new(opts).map_err(|_| mount_err(&m.rootfs, "NUL in path"))?;
        rustix::mount::mount(
            "overlay",
            &m.rootfs,
            "overlay",
            MountFlags::empty(),
            data.as_c_str(),
        )
        .map_err(|e| mount_err(&m.rootfs, format!("overlay mount: {e}")))
    }

    /// Unmounts the rootfs (lazily if busy). Not mounted is fine.
    pub fn unmount_rootfs(&self, m: &RootfsMount) -> Result<()> {
        match rustix::mount::unmount(&m.rootfs, UnmountFlags::empty()) {
            Ok(()) | Err(rustix::io::Errno::INVAL) | Err(rustix::io::Errno::NOENT) => Ok(()),
            Err(rustix::io::Errno::BUSY) => rustix::mount::unmount(&m.rootfs, UnmountFlags::DETACH)
                .map_err(|e| mount_err(&m.rootfs, format!("unmount: {e}"))),
            Err(e) => Err(mount_err(&m.rootfs, format!("unmount: {e}"))),
        }
    }

    /// Unmounts, deletes `rootfs`, `upper` and `work`, and drops the image ref.
    pub fn remove_rootfs(&self, m: &RootfsMount) -> Result<()> {
        self.unmount_rootfs(m)?;
        for d in [&m.rootfs, &m.upper, &m.work] {
            match fs::remove_dir_all(d) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(crate::error::io_err(format!("remove {}", d.display()), e));
                }
                _ => {}
            }
        }
        self.remove_ref(&m.image_id, &m.container_id)
    }
}

fn mount_new_api(
    lowers: &[PathBuf],
    m: &RootfsMount,
    opts: RootfsOptions,
) -> std::result::Result<(), rustix::io::Errno> {
    let fs_fd = rustix::mount::fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC)?;
    rustix::mount::fsconfig_set_string(&fs_fd, "source", "caixa")?;
    for l in lowers {
        rustix::mount::fsconfig_set_string(&fs_fd, "lowerdir+", l.as_path())?;
    }
    rustix::mount::fsconfig_set_string(&fs_fd, "upperdir", m.upper.as_path())?;
    rustix::mount::fsconfig_set_string(&fs_fd, "workdir", m.work.as_path())?;
    if opts.volatile {
        rustix::mount::fsconfig_set_flag(&fs_fd, "volatile")?;
    }
    rustix::mount::fsconfig_create(&fs_fd)?;
    let mnt = rustix::mount::fsmount(
        &fs_fd,
        FsMountFlags::FSMOUNT_CLOEXEC,
        MountAttrFlags::empty(),
    )?;
    rustix::mount::move_mount(
        &mnt,
        "",
        rustix::fs::CWD,
        m.rootfs.as_path(),
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
    )
}
