//! Parsing of a mount's fstab-style `options` into mount attributes,
//! superblock flags, propagation and filesystem data.

use super::RootfsError;
use super::sys::attr;

/// `MS_*` propagation bits (linux/mount.h).
pub(crate) mod prop {
    pub const UNBINDABLE: u64 = 1 << 17;
    pub const PRIVATE: u64 = 1 << 18;
    pub const SLAVE: u64 = 1 << 19;
    pub const SHARED: u64 = 1 << 20;
}

/// One mount's options, parsed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct MountOptions {
    /// `MOUNT_ATTR_*` bits to set.
    pub set: u64,
    /// `MOUNT_ATTR_*` bits to clear (explicit `rw`, `suid`, `dev`, ...).
    pub clr: u64,
    /// Bits to set on the whole tree (`rro`, `rnosuid`, ...).
    pub rec_set: u64,
    /// Bits to clear on the whole tree (`rrw`, `rsuid`, ...).
    pub rec_clr: u64,
    /// Superblock flags for fsconfig (`sync`, `dirsync`, `lazytime`, ...).
    pub sb_flags: Vec<&'static str>,
    /// `bind` or `rbind`.
    pub bind: bool,
    /// `rbind`: the whole tree under the source.
    pub recursive: bool,
    /// `remount`: change the flags of what is already mounted there.
    pub remount: bool,
    /// Propagation changes in order: (`MS_SHARED`/..., recursive).
    pub propagation: Vec<(u64, bool)>,
    /// `tmpcopyup`: a tmpfs starts with a copy of what it hides.
    pub copyup: bool,
    /// `idmap` (Some(false)) or `ridmap` (Some(true)).
    pub idmap: Option<bool>,
    /// Everything else: passed to the filesystem (`mode=755`, `newinstance`).
    pub data: Vec<String>,
}

impl MountOptions {
    /// Whether `ro` was asked for.
    pub(crate) fn readonly(&self) -> bool {
        self.set & attr::RDONLY != 0
    }
}

/// Parses a propagation name (`rslave`, `private`, ...) into (bits, recursive).
pub(crate) fn propagation(name: &str) -> Option<(u64, bool)> {
    Some(match name {
        "private" => (prop::PRIVATE, false),
        "rprivate" => (prop::PRIVATE, true),
        "shared" => (prop::SHARED, false),
        "rshared" => (prop::SHARED, true),
        "slave" => (prop::SLAVE, false),
        "rslave" => (prop::SLAVE, true),
        "unbindable" => (prop::UNBINDABLE, false),
        "runbindable" => (prop::UNBINDABLE, true),
        _ => return None,
    })
}

/// Parses `options`; `field` names the entry in errors (`mounts[2]`).
pub(crate) fn parse(options: &[String], field: &str) -> Result<MountOptions, RootfsError> {
    let mut o = MountOptions::default();
    for opt in options {
        let opt = opt.as_str();
        if let Some(p) = propagation(opt) {
            o.propagation.push(p);
            continue;
        }
        if let Some(a) = attr_of(opt) {
            a.apply(&mut o.set, &mut o.clr);
            continue;
        }
        if let Some(a) = opt.strip_prefix('r').and_then(attr_of) {
            // rro, rnosuid, rnoatime...: mount_setattr(AT_RECURSIVE).
            a.apply(&mut o.rec_set, &mut o.rec_clr);
            continue;
        }
        match opt {
            "bind" => {
                o.bind = true;
                continue;
            }
            "rbind" => {
                o.bind = true;
                o.recursive = true;
                continue;
            }
            "remount" => {
                o.remount = true;
                continue;
            }
            "sync" | "dirsync" | "lazytime" | "silent" => {
                o.sb_flags.push(match opt {
                    "sync" => "sync",
                    "dirsync" => "dirsync",
                    "lazytime" => "lazytime",
                    _ => "silent",
                });
                continue;
            }
            "async" | "nolazytime" | "loud" | "defaults" | "nomand" | "auto" | "noauto"
            | "nouser" | "_netdev" => continue,
            "mand" => {
                return Err(RootfsError::Invalid {
                    field: format!("{field}.options"),
                    reason: "\"mand\": mandatory locking is not supported by the kernel".into(),
                });
            }
            "idmap" => o.idmap = Some(o.idmap.unwrap_or(false)),
            "ridmap" => o.idmap = Some(true),
            "tmpcopyup" => o.copyup = true,
            "copy-symlink" => {
                return Err(RootfsError::Invalid {
                    field: format!("{field}.options"),
                    reason: format!("\"{opt}\" is not supported by caixa-runtime"),
                });
            }
            "" => continue,
            data => o.data.push(data.to_string()),
        }
    }
    Ok(o)
}

/// A per-mount attribute option: bits to set and to clear.
#[derive(Clone, Copy)]
struct Attr {
    set: u64,
    clr: u64,
}

impl Attr {
    /// Later options win over earlier ones.
    fn apply(self, set: &mut u64, clr: &mut u64) {
        if self.clr & attr::ATIME_MASK != 0 {
            *set &= !attr::ATIME_MASK;
        }
        *set = (*set | self.set) & !(self.clr & !attr::ATIME_MASK);
        *clr = (*clr | self.clr) & !(self.set & !attr::ATIME_MASK);
    }
}

/// The attribute options (`ro`, `nosuid`, `noatime`, ...).
fn attr_of(opt: &str) -> Option<Attr> {
    let (set, clr) = match opt {
        "ro" => (attr::RDONLY, 0),
        "rw" => (0, attr::RDONLY),
        "nosuid" => (attr::NOSUID, 0),
        "suid" => (0, attr::NOSUID),
        "nodev" => (attr::NODEV, 0),
        "dev" => (0, attr::NODEV),
        "noexec" => (attr::NOEXEC, 0),
        "exec" => (0, attr::NOEXEC),
        "nodiratime" => (attr::NODIRATIME, 0),
        "diratime" => (0, attr::NODIRATIME),
        "nosymfollow" => (attr::NOSYMFOLLOW, 0),
        "symfollow" => (0, attr::NOSYMFOLLOW),
        // The atime mode is one field: clearing the mask selects it.
        // norelatime, nostrictatime, atime: back to the kernel default, as
        // runc (clearing a flag of the classic API).
        "relatime" | "atime" | "nostrictatime" | "norelatime" => (attr::RELATIME, attr::ATIME_MASK),
        "noatime" => (attr::NOATIME, attr::ATIME_MASK),
        "strictatime" => (attr::STRICTATIME, attr::ATIME_MASK),
        _ => return None,
    };
    Some(Attr { set, clr })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(opts: &[&str]) -> MountOptions {
        let v: Vec<String> = opts.iter().map(|s| s.to_string()).collect();
        parse(&v, "mounts[0]").expect("parse")
    }

    #[test]
    fn flags_data_and_propagation() {
        let o = p(&[
            "nosuid",
            "noexec",
            "ro",
            "mode=755",
            "size=65536k",
            "rslave",
            "newinstance",
        ]);
        assert_eq!(o.set, attr::NOSUID | attr::NOEXEC | attr::RDONLY);
        assert_eq!(o.data, vec!["mode=755", "size=65536k", "newinstance"]);
        assert_eq!(o.propagation, vec![(prop::SLAVE, true)]);
        assert!(!o.bind);
    }

    #[test]
    fn later_option_wins() {
        let o = p(&["ro", "rw", "noatime", "strictatime"]);
        assert!(!o.readonly());
        assert_eq!(o.clr & attr::RDONLY, attr::RDONLY);
        assert_eq!(o.set & attr::ATIME_MASK, attr::STRICTATIME);
    }

    #[test]
    fn recursive_attributes() {
        let o = p(&["rbind", "rro", "rnosuid", "rnoatime", "rexec", "nodev"]);
        assert_eq!(o.rec_set, attr::RDONLY | attr::NOSUID | attr::NOATIME);
        assert_eq!(o.rec_clr, attr::ATIME_MASK | attr::NOEXEC);
        assert_eq!(o.set, attr::NODEV);
        assert!(o.data.is_empty());
    }

    #[test]
    fn bind_rbind_remount_sync() {
        let o = p(&["rbind", "remount", "sync", "dirsync"]);
        assert!(o.bind && o.recursive && o.remount);
        assert_eq!(o.sb_flags, vec!["sync", "dirsync"]);
    }

    #[test]
    fn advertised_options_are_all_understood() {
        for opt in crate::rootfs::MOUNT_OPTIONS {
            let o = p(&[opt]);
            assert!(o.data.is_empty(), "{opt} was taken as filesystem data");
        }
    }

    #[test]
    fn unsupported_is_an_error_naming_the_field() {
        let err = parse(&["copy-symlink".to_string()], "mounts[4]")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("mounts[4].options:"), "{err}");
    }
}
