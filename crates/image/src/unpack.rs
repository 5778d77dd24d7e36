//! Layer unpack: a (compressed) tar stream → a layer directory in overlayfs form.
//!
//! Every entry is created by hand relative to a directory fd; parent
//! directories are opened with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`
//! so nothing can be written outside the layer directory: `..` names are
//! refused, a write through a symlink is refused, hardlinks must point at an
//! entry of the same layer, and final components are never followed.
//! Whiteouts become overlayfs whiteouts (char 0/0) and `.wh..wh..opq`
//! becomes `trusted.overlay.opaque=y`.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags, Timespec, Timestamps, makedev};
use rustix::io::Errno;

use crate::digest::{Digest, HashingReader};
use crate::error::{Error, Result};
use crate::manifest::Compression;

/// Whiteout prefix in layer tars.
const WH: &[u8] = b".wh.";
/// Opaque-directory marker.
const WH_OPQ: &[u8] = b".wh..wh..opq";

/// Result of unpacking one layer.
#[derive(Clone, Debug)]
pub struct Unpacked {
    /// Digest of the uncompressed tar (the layer's diff_id).
    pub diff_id: Digest,
    /// Uncompressed size in bytes.
    pub size: u64,
}

/// Character devices a layer may carry (major, minor): null, zero, full,
/// random, urandom, tty, console, ptmx, and 0/0 (an overlay whiteout).
const ALLOWED_DEVICES: &[(u64, u64)] = &[
    (0, 0),
    (1, 3),
    (1, 5),
    (1, 7),
    (1, 8),
    (1, 9),
    (5, 0),
    (5, 1),
    (5, 2),
];

/// Wraps a raw layer stream in the right decompressor (detected from magic bytes).
pub fn decompress<'a, R: Read + 'a>(r: R) -> io::Result<Box<dyn Read + 'a>> {
    let mut br = BufReader::with_capacity(1 << 20, r);
    let head = br.fill_buf()?;
    Ok(match Compression::detect(head) {
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(br)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(br)?),
        Compression::None => Box::new(br),
    })
}

/// Unpacks a layer stream (tar, tar+gzip or tar+zstd) into the empty
/// directory `dest`; `layer` names the layer in errors. On error `dest` may
/// hold partial content: the caller removes it.
pub fn unpack_layer(raw: impl Read, dest: &Path, layer: &str) -> Result<Unpacked> {
    let bad = |reason: String| Error::BadLayer {
        layer: layer.to_string(),
        reason,
    };
    let plain = decompress(raw).map_err(|e| bad(format!("cannot read compression header: {e}")))?;
    let mut hashing = HashingReader::new(plain);
    let root = rustix::fs::open(
        dest,
        OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::RDONLY,
        Mode::empty(),
    )
    .map_err(|e| bad(format!("open {}: {e}", dest.display())))?;
    {
        let mut archive = tar::Archive::new(crate::targuard::TarGuard::new(&mut hashing));
        let mut u = Unpacker {
            root: &root,
            layer,
            cache: None,
            dir_times: Vec::new(),
        };
        let entries = archive
            .entries()
            .map_err(|e| bad(format!("not a tar stream: {e}")))?;
        for entry in entries {
            let entry = entry.map_err(|e| bad(format!("corrupt tar: {e}")))?;
            u.entry(entry)?;
        }
        u.finish_dirs()?;
    }
    hashing
        .drain()
        .map_err(|e| bad(format!("corrupt stream after tar end: {e}")))?;
    let (diff_id, size) = hashing.finish();
    Ok(Unpacked { diff_id, size })
}

struct Unpacker<'a> {
    root: &'a OwnedFd,
    layer: &'a str,
    /// The last parent directory opened: (relative path, fd).
    cache: Option<(Vec<u8>, OwnedFd)>,
    /// Directories whose mtime is set at the end (children change it).
    dir_times: Vec<(Vec<u8>, Timespec)>,
}

/// Splits and checks a tar path: no `..`, no empty result for non-dirs.
fn clean_path(raw: &[u8]) -> std::result::Result<Vec<&[u8]>, String> {
    if raw.len() > 4096 {
        return Err("path longer than 4096 bytes".into());
    }
    let mut parts = Vec::new();
    for c in raw.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => return Err("path contains '..'".into()),
            c if c.len() > 255 => return Err("path component longer than 255 bytes".into()),
            c => parts.push(c),
        }
    }
    Ok(parts)
}

fn join(parts: &[&[u8]]) -> Vec<u8> {
    parts.join(&b'/')
}

impl Unpacker<'_> {
    fn refuse(&self, entry: &[u8], reason: impl Into<String>) -> Error {
        Error::UnsafeLayer {
            layer: self.layer.to_string(),
            entry: String::from_utf8_lossy(entry).into_owned(),
            reason: reason.into(),
        }
    }

    fn entry<R: Read>(&mut self, mut e: tar::Entry<'_, R>) -> Result<()> {
        let raw = e.path_bytes().into_owned();
        let parts = clean_path(&raw).map_err(|r| self.refuse(&raw, r))?;
        let hdr = e.header().clone();
        let kind = hdr.entry_type();
        if kind.is_pax_global_extensions() {
            return Ok(());
        }
        let Some((name, parent)) = parts.split_last() else {
            // The layer root itself ("./"): only a directory is acceptable.
            if kind.is_dir() {
                return Ok(());
            }
            return Err(self.refuse(&raw, "non-directory entry for the layer root"));
        };
        let name = *name;
        let dir = self.open_parent(parent, &raw)?;
        let dir = dir.as_fd();

        // Whiteouts.
        if name == WH_OPQ {
            rustix::fs::fsetxattr(
                self.reopen_dir(dir, &raw)?,
                "trusted.overlay.opaque",
                b"y",
                rustix::fs::XattrFlags::empty(),
            )
            .map_err(|er| self.refuse(&raw, format!("set opaque xattr: {er}")))?;
            return Ok(());
        }
        if let Some(target) = name.strip_prefix(WH) {
            if target.starts_with(WH) {
                return Ok(()); // other AUFS metadata (.wh..wh.plnk etc.)
            }
            if target.is_empty() || target == b"." || target == b".." {
                return Err(self.refuse(&raw, "invalid whiteout name"));
            }
            self.remove_existing(dir, target, &raw)?;
            rustix::fs::mknodat(
                dir,
                OsStr::from_bytes(target),
                FileType::CharacterDevice,
                Mode::empty(),
                makedev(0, 0),
            )
            .map_err(|er| self.refuse(&raw, format!("create whiteout: {er}")))?;
            return Ok(());
        }

        let nm = OsStr::from_bytes(name);
        let mode = Mode::from_raw_mode(hdr.mode().unwrap_or(0o644) & 0o7777);
        // pax records override the header (ids above 2^21-1, fractional times).
        let pax = crate::pax::read(&mut e).map_err(|r| self.refuse(&raw, r))?;
        let id = |v: Option<u32>, h: io::Result<u64>, what: &str| match v {
            Some(v) => Ok(v),
            None => u32::try_from(h.unwrap_or(0))
                .map_err(|_| self.refuse(&raw, format!("{what} out of range"))),
        };
        let uid = id(pax.uid, hdr.uid(), "uid")?;
        let gid = id(pax.gid, hdr.gid(), "gid")?;
        let mtime = pax.mtime.unwrap_or(Timespec {
            tv_sec: hdr.mtime().unwrap_or(0) as i64,
            tv_nsec: 0,
        });
        let xattrs = pax.xattrs;
        let err = |this: &Self, what: &str, er: Errno| this.refuse(&raw, format!("{what}: {er}"));

        match kind {
            tar::EntryType::Directory => {
                let exists = match rustix::fs::statat(dir, nm, AtFlags::SYMLINK_NOFOLLOW) {
                    Ok(st) => FileType::from_raw_mode(st.st_mode) == FileType::Directory,
                    Err(_) => false,
                };
                if !exists {
                    self.remove_existing(dir, name, &raw)?;
                    rustix::fs::mkdirat(dir, nm, Mode::from_raw_mode(0o700))
                        .map_err(|er| err(self, "mkdir", er))?;
                }
                let fd = rustix::fs::openat(
                    dir,
                    nm,
                    OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::RDONLY,
                    Mode::empty(),
                )
                .map_err(|er| err(self, "open dir", er))?;
                self.meta_fd(&fd, uid, gid, mode, &xattrs, &raw)?;
                self.dir_times.push((join(&parts), mtime));
            }
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                self.remove_existing(dir, name, &raw)?;
                let fd = rustix::fs::openat(
                    dir,
                    nm,
                    OFlags::WRONLY
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
                .map_err(|er| err(self, "create file", er))?;
                let mut f = File::from(fd);
                io::copy(&mut e, &mut f).map_err(|er| Error::BadLayer {
                    layer: self.layer.to_string(),
                    reason: format!(
                        "entry {:?}: cannot read data: {er}",
                        String::from_utf8_lossy(&raw)
                    ),
                })?;
                let fd = OwnedFd::from(f);
                self.meta_fd(&fd, uid, gid, mode, &xattrs, &raw)?;
                let t = mtime;
                rustix::fs::futimens(
                    &fd,
                    &Timestamps {
                        last_access: t,
                        last_modification: t,
                    },
                )
                .map_err(|er| err(self, "set mtime", er))?;
            }
            tar::EntryType::Symlink => {
                let target = e
                    .link_name_bytes()
                    .ok_or_else(|| self.refuse(&raw, "symlink without target"))?
                    .into_owned();
                self.remove_existing(dir, name, &raw)?;
                rustix::fs::symlinkat(OsStr::from_bytes(&target), dir, nm)
                    .map_err(|er| err(self, "symlink", er))?;
                rustix::fs::chownat(
                    dir,
                    nm,
                    Some(rustix::fs::Uid::from_raw(uid)),
                    Some(rustix::fs::Gid::from_raw(gid)),
                    AtFlags::SYMLINK_NOFOLLOW,
                )
                .map_err(|er| err(self, "chown symlink", er))?;
                let t = mtime;
                rustix::fs::utimensat(
                    dir,
                    nm,
                    &Timestamps {
                        last_access: t,
                        last_modification: t,
                    },
                    AtFlags::SYMLINK_NOFOLLOW,
                )
                .map_err(|er| err(self, "set symlink mtime", er))?;
            }
            tar::EntryType::Link => {
                let target = e
                    .link_name_bytes()
                    .ok_or_else(|| self.refuse(&raw, "hardlink without target"))?
                    .into_owned();
                let tparts = clean_path(&target)
                    .map_err(|r| self.refuse(&raw, format!("hardlink target: {r}")))?;
                let Some((tname, tparent)) = tparts.split_last() else {
                    return Err(self.refuse(&raw, "hardlink to the layer root"));
                };
                let tdir = self.open_existing_dir(tparent, &raw)?;
                let tnm = OsStr::from_bytes(tname);
                match rustix::fs::statat(&tdir, tnm, AtFlags::SYMLINK_NOFOLLOW) {
                    Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Directory => {
                        return Err(self.refuse(&raw, "hardlink to a directory"));
                    }
                    Ok(_) => {}
                    Err(_) => {
                        return Err(self.refuse(
                            &raw,
                            format!(
                                "hardlink target {:?} is not an earlier entry of this layer",
                                String::from_utf8_lossy(&target)
                            ),
                        ));
                    }
                }
                // Re-open the parent: the target lookup may have replaced the cache.
                let dir = self.open_parent(parent, &raw)?;
                if target != raw {
                    self.remove_existing(dir.as_fd(), name, &raw)?;
                    rustix::fs::linkat(&tdir, tnm, &dir, nm, AtFlags::empty())
                        .map_err(|er| err(self, "hardlink", er))?;
                }
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                let (ft, dev) = if kind == tar::EntryType::Fifo {
                    (FileType::Fifo, 0)
                } else {
                    let major = hdr.device_major().ok().flatten().unwrap_or(0) as u64;
                    let minor = hdr.device_minor().ok().flatten().unwrap_or(0) as u64;
                    if kind == tar::EntryType::Block || !ALLOWED_DEVICES.contains(&(major, minor)) {
                        let t = if kind == tar::EntryType::Block {
                            'b'
                        } else {
                            'c'
                        };
                        return Err(self.refuse(
                            &raw,
                            format!(
                                "device node {t} {major}:{minor} is not allowed in a layer (only null, zero, full, random, urandom, tty, console, ptmx)"
                            ),
                        ));
                    }
                    (
                        FileType::CharacterDevice,
                        makedev(major as u32, minor as u32),
                    )
                };
                self.remove_existing(dir, name, &raw)?;
                rustix::fs::mknodat(dir, nm, ft, mode, dev).map_err(|er| err(self, "mknod", er))?;
                rustix::fs::chownat(
                    dir,
                    nm,
                    Some(rustix::fs::Uid::from_raw(uid)),
                    Some(rustix::fs::Gid::from_raw(gid)),
                    AtFlags::SYMLINK_NOFOLLOW,
                )
                .map_err(|er| err(self, "chown node", er))?;
                rustix::fs::chmodat(dir, nm, mode, AtFlags::empty())
                    .map_err(|er| err(self, "chmod node", er))?;
            }
            other => {
                return Err(self.refuse(&raw, format!("unsupported tar entry type {other:?}")));
            }
        }
        Ok(())
    }

    fn meta_fd(
        &self,
        fd: &OwnedFd,
        uid: u32,
        gid: u32,
        mode: Mode,
        xattrs: &[(Vec<u8>, Vec<u8>)],
        raw: &[u8],
    ) -> Result<()> {
        rustix::fs::fchown(
            fd,
            Some(rustix::fs::Uid::from_raw(uid)),
            Some(rustix::fs::Gid::from_raw(gid)),
        )
        .map_err(|er| self.refuse(raw, format!("chown: {er}")))?;
        rustix::fs::fchmod(fd, mode).map_err(|er| self.refuse(raw, format!("chmod: {er}")))?;
        for (k, v) in xattrs {
            rustix::fs::fsetxattr(fd, OsStr::from_bytes(k), v, rustix::fs::XattrFlags::empty())
                .map_err(|er| {
                    self.refuse(
                        raw,
                        format!("set xattr {}: {er}", String::from_utf8_lossy(k)),
                    )
                })?;
        }
        Ok(())
    }

    /// Opens `parts` as a directory under the root, creating missing
    /// components (mode 0755, root-owned) and refusing symlinks on the way.
    fn open_parent(&mut self, parts: &[&[u8]], raw: &[u8]) -> Result<OwnedFd> {
        let key = join(parts);
        if let Some((k, fd)) = &self.cache
            && *k == key
        {
            return fd
                .try_clone()
                .map_err(|er| self.refuse(raw, format!("dup: {er}")));
        }
        let fd = match self.resolve(&key) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => {
                let mut cur = self
                    .root
                    .try_clone()
                    .map_err(|er| self.refuse(raw, format!("dup: {er}")))?;
                for p in parts {
                    let nm = OsStr::from_bytes(p);
                    match rustix::fs::mkdirat(&cur, nm, Mode::from_raw_mode(0o755)) {
                        Ok(()) | Err(Errno::EXIST) => {}
                        Err(er) => return Err(self.refuse(raw, format!("mkdir parent: {er}"))),
                    }
                    cur = self.step(&cur, nm, raw)?;
                }
                cur
            }
            Err(er) => return Err(self.parent_error(er, raw)),
        };
        self.cache = Some((
            key,
            fd.try_clone()
                .map_err(|er| self.refuse(raw, format!("dup: {er}")))?,
        ));
        Ok(fd)
    }

    /// Opens an existing directory (for hardlink targets), no creation.
    fn open_existing_dir(&mut self, parts: &[&[u8]], raw: &[u8]) -> Result<OwnedFd> {
        if parts.is_empty() {
            return self
                .root
                .try_clone()
                .map_err(|er| self.refuse(raw, format!("dup: {er}")));
        }
        self.resolve(&join(parts)).map_err(|er| match er {
            Errno::NOENT => {
                self.refuse(raw, "hardlink target is not an earlier entry of this layer")
            }
            er => self.parent_error(er, raw),
        })
    }

    fn parent_error(&self, er: Errno, raw: &[u8]) -> Error {
        match er {
            Errno::LOOP | Errno::XDEV => self.refuse(
                raw,
                "path goes through a symlink (write through symlink refused)",
            ),
            Errno::NOTDIR => self.refuse(raw, "a parent of the path is not a directory"),
            er => self.refuse(raw, format!("open parent directory: {er}")),
        }
    }

    fn resolve(&self, rel: &[u8]) -> std::result::Result<OwnedFd, Errno> {
        if rel.is_empty() {
            return self
                .root
                .try_clone()
                .map_err(|e| Errno::from_io_error(&e).unwrap_or(Errno::IO));
        }
        rustix::fs::openat2(
            self.root,
            OsStr::from_bytes(rel),
            OFlags::DIRECTORY | OFlags::PATH | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
        )
    }

    fn step(&self, cur: &OwnedFd, nm: &OsStr, raw: &[u8]) -> Result<OwnedFd> {
        rustix::fs::openat2(
            cur,
            nm,
            OFlags::DIRECTORY | OFlags::PATH | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
        )
        .map_err(|er| self.parent_error(er, raw))
    }

    /// An O_PATH fd cannot carry xattrs: reopen the directory for reading.
    fn reopen_dir(&self, dir: BorrowedFd<'_>, raw: &[u8]) -> Result<OwnedFd> {
        rustix::fs::openat(
            dir,
            ".",
            OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|er| self.refuse(raw, format!("open directory: {er}")))
    }

    /// Removes whatever is at `dir/name` (a directory recursively), never following symlinks.
    fn remove_existing(&mut self, dir: BorrowedFd<'_>, name: &[u8], raw: &[u8]) -> Result<()> {
        let nm = OsStr::from_bytes(name);
        match rustix::fs::unlinkat(dir, nm, AtFlags::empty()) {
            Ok(()) | Err(Errno::NOENT) => Ok(()),
            Err(Errno::ISDIR) | Err(Errno::PERM) => {
                self.cache = None;
                let path = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&dir));
                std::fs::remove_dir_all(Path::new(&path).join(nm))
                    .map_err(|er| self.refuse(raw, format!("replace directory: {er}")))
            }
            Err(er) => Err(self.refuse(raw, format!("replace existing entry: {er}"))),
        }
    }

    /// Sets directory mtimes last (deepest first), since children change them.
    fn finish_dirs(&mut self) -> Result<()> {
        self.cache = None;
        let dirs = std::mem::take(&mut self.dir_times);
        for (path, mtime) in dirs.iter().rev() {
            let (parent, name) = match path.iter().rposition(|&b| b == b'/') {
                Some(i) => (&path[..i], &path[i + 1..]),
                None => (&path[..0], &path[..]),
            };
            // Never follow symlinks: a later entry may have replaced a parent.
            let Ok(dir) = self.resolve(parent) else {
                continue;
            };
            let t = *mtime;
            match rustix::fs::utimensat(
                &dir,
                OsStr::from_bytes(name),
                &Timestamps {
                    last_access: t,
                    last_modification: t,
                },
                AtFlags::SYMLINK_NOFOLLOW,
            ) {
                Ok(()) | Err(Errno::NOENT) => {}
                Err(er) => return Err(self.refuse(path, format!("set directory mtime: {er}"))),
            }
        }
        Ok(())
    }
}
