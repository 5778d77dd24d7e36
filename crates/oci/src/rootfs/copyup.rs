//! `tmpcopyup`: a tmpfs mounted over a directory of the image starts with
//! a copy of what it hides (as runc and crun do), so `/tmp` or `/run` keep
//! the image's files. The copy goes from the hidden directory's descriptor
//! into the still-detached tmpfs, never through a path.

use std::ffi::CStr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::fs::{
    AtFlags, Dir, FileType, Gid, Mode, OFlags, Uid, chownat, fstat, mkdirat, mknodat, openat,
    readlinkat, statat, symlinkat,
};
use rustix::io::Errno;

/// How deep a tree is copied (deeper is refused, not truncated).
const MAX_DEPTH: usize = 64;

/// Copies the contents of directory `from` into directory `to`, keeping
/// modes and owners; regular files, directories, symlinks, fifos and
/// device nodes (sockets are skipped, as they cannot be copied).
pub(crate) fn copy_dir(from: BorrowedFd<'_>, to: BorrowedFd<'_>) -> Result<(), Errno> {
    copy_level(from, to, 0)
}

fn copy_level(from: BorrowedFd<'_>, to: BorrowedFd<'_>, depth: usize) -> Result<(), Errno> {
    if depth > MAX_DEPTH {
        return Err(Errno::LOOP);
    }
    let src = openat(
        from,
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    for entry in Dir::read_from(&src)? {
        let entry = entry?;
        let name = entry.file_name();
        if name == c"." || name == c".." {
            continue;
        }
        copy_entry(src.as_fd(), to, name, depth)?;
    }
    Ok(())
}

fn copy_entry(
    from: BorrowedFd<'_>,
    to: BorrowedFd<'_>,
    name: &CStr,
    depth: usize,
) -> Result<(), Errno> {
    let st = statat(from, name, AtFlags::SYMLINK_NOFOLLOW)?;
    let mode = Mode::from_raw_mode(st.st_mode & 0o7777);
    match FileType::from_raw_mode(st.st_mode) {
        FileType::Directory => {
            mkdirat(to, name, mode)?;
            let s = open_dir(from, name)?;
            let d = open_dir(to, name)?;
            copy_level(s.as_fd(), d.as_fd(), depth + 1)?;
        }
        FileType::RegularFile => {
            let src = openat(
                from,
                name,
                OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            let dst = openat(
                to,
                name,
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                mode,
            )?;
            let mut r = std::fs::File::from(src);
            let mut w = std::fs::File::from(dst);
            std::io::copy(&mut r, &mut w)
                .map_err(|e| Errno::from_io_error(&e).unwrap_or(Errno::IO))?;
        }
        FileType::Symlink => {
            let target = readlinkat(from, name, Vec::new())?;
            symlinkat(target.as_c_str(), to, name)?;
        }
        kind @ (FileType::Fifo | FileType::CharacterDevice | FileType::BlockDevice) => {
            mknodat(to, name, kind, mode, st.st_rdev)?;
        }
        _ => return Ok(()),
    }
    chownat(
        to,
        name,
        Some(Uid::from_raw(st.st_uid)),
        Some(Gid::from_raw(st.st_gid)),
        AtFlags::SYMLINK_NOFOLLOW,
    )?;
    if FileType::from_raw_mode(st.st_mode) != FileType::Symlink {
        // chown clears set-id bits: put the mode back exactly.
        rustix::fs::chmodat(to, name, mode, AtFlags::empty())?;
    }
    Ok(())
}

fn open_dir(dir: BorrowedFd<'_>, name: &CStr) -> Result<OwnedFd, Errno> {
    let fd = openat(
        dir,
        name,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    // Make sure nothing swapped the directory for something else.
    if FileType::from_raw_mode(fstat(&fd)?.st_mode) != FileType::Directory {
        return Err(Errno::NOTDIR);
    }
    Ok(fd)
}
