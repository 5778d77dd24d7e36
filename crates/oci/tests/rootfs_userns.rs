//! Rootfs setup inside a new user namespace (run as root; root is mapped
//! to root, so mknod and fresh sysfs are refused by the kernel): devices
//! are bound from the host, sysfs falls back to a bind of /sys, and
//! read-only paths keep the locked nosuid/nodev/noexec flags.

mod rootfs_util;

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use rootfs_util::*;
use serde_json::json;

#[test]
fn user_namespace_binds_devices_and_sysfs_and_keeps_locked_flags() {
    let b = Bundle::new("userns");
    let locked = tempfile::Builder::new()
        .prefix("caixa-test-locked-")
        .tempdir()
        .unwrap();
    let l = locked.path().to_str().unwrap().to_string();
    let mounts = json!([
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "mode=755"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["newinstance", "ptmxmode=0666"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
        {"destination": "/locked", "type": "bind", "source": l, "options": ["rbind"]}
    ]);
    let linux = json!({
        "namespaces": [{"type": "mount"}, {"type": "user"}],
        "readonlyPaths": ["/locked"],
        "maskedPaths": ["/locked/file"]
    });
    let spec = spec(mounts, linux, false);
    let opts = Opts {
        user_ns: true,
        locked_mount: Some(locked.path().to_path_buf()),
        ..Opts::default()
    };
    in_container(&b, &spec, opts, |cfg| {
        enter(cfg)?;
        let md = std::fs::metadata("/dev/null").map_err(|e| format!("/dev/null: {e}"))?;
        check(
            md.file_type().is_char_device() && md.rdev() == nix::sys::stat::makedev(1, 3),
            "/dev/null",
        )?;
        std::fs::write("/dev/null", "x").map_err(|e| format!("write /dev/null: {e}"))?;
        check(
            std::fs::metadata("/dev/tty")
                .map(|m| m.file_type().is_char_device())
                .unwrap_or(false),
            "/dev/tty",
        )?;
        check(Path::new("/sys/kernel").is_dir(), "/sys not mounted")?;
        check(
            write_is_erofs(Path::new("/sys/kernel/caixa")),
            "/sys writable",
        )?;
        check(Path::new("/locked").is_dir(), "/locked")?;
        check(write_is_erofs(Path::new("/locked/new")), "/locked writable")?;
        // ro was added; the locked flags were kept (not cleared, not EPERM).
        use rustix::fs::StatVfsMountFlags as F;
        let f = rustix::fs::statvfs("/locked")
            .map_err(|e| e.to_string())?
            .f_flag;
        check(
            f.contains(F::RDONLY | F::NOSUID | F::NODEV | F::NOEXEC),
            format!("/locked flags {f:?}"),
        )?;
        let f = rustix::fs::statvfs("/sys")
            .map_err(|e| e.to_string())?
            .f_flag;
        check(
            f.contains(F::RDONLY | F::NOSUID | F::NODEV | F::NOEXEC),
            format!("/sys flags {f:?}"),
        )?;
        let s = std::fs::read_to_string("/locked/file").map_err(|e| e.to_string())?;
        check(s.is_empty(), format!("masked file reads {s:?}"))
    })
    .unwrap();
    // The locked tmpfs lived only in the child's namespaces.
    assert_eq!(std::fs::read_dir(locked.path()).unwrap().count(), 0);
}

#[test]
fn idmapped_mounts_in_a_user_namespace_get_a_clear_error() {
    let b = Bundle::new("userns-idmap");
    let map = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    let mounts = json!([{"destination": "/t", "type": "bind", "source": "/tmp", "options": ["bind"],
                         "uidMappings": map, "gidMappings": map}]);
    let linux = json!({"namespaces": [{"type": "mount"}, {"type": "user"}]});
    let spec = spec(mounts, linux, false);
    let opts = Opts {
        user_ns: true,
        ..Opts::default()
    };
    let err = in_container(&b, &spec, opts, |cfg| {
        Err(caixa_oci::rootfs::setup(cfg)
            .err()
            .ok_or("accepted")?
            .to_string())
    })
    .unwrap_err();
    assert!(
        err.starts_with("mounts[0]: idmapped mounts are not supported"),
        "{err}"
    );
}
