//! Foreground `run` with `process.terminal` and no `--console-socket`: copy
//! our stdin to the pty master and the master to our stdout until the
//! container's init exits (poll on the fds and a pidfd; no timers).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use rustix::event::{PollFd, PollFlags, poll};

/// Puts stdin in raw mode while alive (when it is a terminal).
struct RawMode(Option<libc::termios>);

impl RawMode {
    fn new() -> Self {
        // SAFETY: isatty/tcgetattr/tcsetattr on fd 0 with our own termios.
        unsafe {
            if libc::isatty(0) != 1 {
                return RawMode(None);
            }
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(0, &mut t) != 0 {
                return RawMode(None);
            }
            let saved = t;
            libc::cfmakeraw(&mut t);
            libc::tcsetattr(0, libc::TCSANOW, &t);
            RawMode(Some(saved))
        }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(t) = &self.0 {
            // SAFETY: restoring the termios we saved for fd 0.
            unsafe { libc::tcsetattr(0, libc::TCSANOW, t) };
        }
    }
}

fn copy_once(from: BorrowedFd, to: i32) -> bool {
    let mut buf = [0u8; 8192];
    match rustix::io::read(from, &mut buf) {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            let mut off = 0;
            while off < n {
                // SAFETY: writing our own buffer to an fd we were given.
                let w = unsafe { libc::write(to, buf[off..n].as_ptr().cast(), n - off) };
                if w <= 0 {
                    return false;
                }
                off += w as usize;
            }
            true
        }
    }
}

/// Proxies between stdio and `master` until `pid` exits.
pub fn proxy(master: &OwnedFd, pid: i32) {
    // Start with the caller's window size.
    // SAFETY: TIOCGWINSZ/TIOCSWINSZ with a winsize we own.
    unsafe {
        let mut ws: libc::winsize = std::mem::zeroed();
        if libc::ioctl(0, libc::TIOCGWINSZ, &mut ws) == 0 {
            libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws);
        }
    }
    let Some(p) = rustix::process::Pid::from_raw(pid) else {
        return;
    };
    let Ok(pidfd) = rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty()) else {
        return;
    };
    let _raw = RawMode::new();
    // SAFETY: fd 0 stays open for the life of the process.
    let stdin = unsafe { BorrowedFd::borrow_raw(0) };
    let mut stdin_open = true;
    let mut master_open = true;
    loop {
        let mut fds = vec![
            PollFd::new(&pidfd, PollFlags::IN),
            PollFd::new(master, PollFlags::IN),
        ];
        if stdin_open {
            fds.push(PollFd::new(&stdin, PollFlags::IN));
        }
        match poll(&mut fds, None) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => return,
        }
        let exited = !fds[0].revents().is_empty();
        let m = fds[1].revents();
        let i = fds.get(2).map(|f| f.revents());
        if master_open && m.intersects(PollFlags::IN | PollFlags::HUP | PollFlags::ERR) {
            master_open = copy_once(master.as_fd(), 1);
        }
        if let Some(i) = i
            && i.intersects(PollFlags::IN | PollFlags::HUP | PollFlags::ERR)
            && !copy_once(stdin, master.as_raw_fd())
        {
            stdin_open = false;
        }
        if exited || !master_open {
            // Drain what the container wrote before it exited.
            let _ = rustix::io::ioctl_fionbio(master, true);
            while master_open && copy_once(master.as_fd(), 1) {}
            return;
        }
    }
}
