//! `process.terminal`: a pty whose master goes to the caller over
//! `--console-socket` (SCM_RIGHTS, as runc does) and whose slave becomes
//! the container process's stdio and controlling terminal.

use std::io::IoSlice;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};

use crate::error::{Context, Result};

/// An open pty pair.
#[derive(Debug)]
pub struct Pty {
    /// The master side (sent to the console socket).
    pub master: OwnedFd,
    /// The slave side (the container's stdio).
    pub slave: OwnedFd,
    /// The slave's path (bound onto /dev/console in the container).
    pub slave_path: PathBuf,
}

/// Opens a pty, sets its size and owner.
pub fn open(size: Option<(u16, u16)>, owner: Option<(u32, u32)>) -> Result<Pty> {
    let master = nix::pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .ctx(|| "console: open /dev/ptmx".into())?;
    nix::pty::grantpt(&master).ctx(|| "console: grantpt".into())?;
    nix::pty::unlockpt(&master).ctx(|| "console: unlockpt".into())?;
    let name = nix::pty::ptsname_r(&master).ctx(|| "console: ptsname".into())?;
    let slave: OwnedFd = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY | libc::O_CLOEXEC)
        .open(&name)
        .ctx(|| format!("console: open {name}"))?
        .into();
    // SAFETY: PtyMaster owns the fd; we take it over.
    let master = unsafe { OwnedFd::from_raw_fd(master.into_raw_fd()) };
    if let Some((rows, cols)) = size {
        let ws = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads the winsize we pass.
        if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws) } != 0 {
            return Err(std::io::Error::last_os_error()).ctx(|| "process.consoleSize".into());
        }
    }
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::fchown(&slave, Some(uid), Some(gid))
            .ctx(|| format!("console: chown {name}"))?;
    }
    Ok(Pty {
        master,
        slave,
        slave_path: PathBuf::from(name),
    })
}

use std::os::unix::fs::OpenOptionsExt;

/// Sends `master` over the unix socket at `socket` with SCM_RIGHTS.
pub fn send_master(socket: &Path, master: &OwnedFd, name: &Path) -> Result<()> {
    let s = UnixStream::connect(socket)
        .ctx(|| format!("--console-socket {}: connect", socket.display()))?;
    let fds = [master.as_raw_fd()];
    let payload = name.as_os_str().as_encoded_bytes();
    let iov = [IoSlice::new(payload)];
    sendmsg::<()>(
        s.as_raw_fd(),
        &iov,
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .ctx(|| format!("--console-socket {}: send", socket.display()))?;
    Ok(())
}
