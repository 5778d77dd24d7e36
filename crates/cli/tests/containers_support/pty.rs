//! A real pseudo-terminal for driving `caixa run -it` / `caixa attach`
//! like a user at a keyboard: the command gets the slave as its stdio, the
//! test types into the master and reads what the terminal shows.

use std::os::fd::{AsFd, OwnedFd};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustix::fs::{Mode, OFlags};
use rustix::pty::OpenptFlags;

/// A command running on a fresh pty, with everything it printed so far.
pub struct PtySession {
    master: OwnedFd,
    screen: Arc<Mutex<Vec<u8>>>,
    /// The command.
    pub child: Child,
}

impl PtySession {
    /// Spawns `cmd` with a new pty (24x80) as its stdin, stdout and stderr.
    pub fn spawn(mut cmd: Command) -> PtySession {
        let master = rustix::pty::openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).expect("openpt");
        rustix::pty::grantpt(&master).expect("grantpt");
        rustix::pty::unlockpt(&master).expect("unlockpt");
        let name = rustix::pty::ptsname(&master, Vec::new()).expect("ptsname");
        let slave = rustix::fs::open(
            name.as_c_str(),
            OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .expect("open the pty slave");
        let ws = rustix::termios::Winsize {
            ws_row: 24,
            ws_col: 80,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        rustix::termios::tcsetwinsize(&slave, ws).expect("set the window size");
        let io = |fd: &OwnedFd| Stdio::from(fd.try_clone().expect("dup the pty slave"));
        cmd.stdin(io(&slave)).stdout(io(&slave)).stderr(io(&slave));
        let child = cmd.spawn().expect("spawn caixa on the pty");
        // Only the child holds the slave now: reads see EIO once it exits.
        drop(cmd);
        drop(slave);
        let screen = Arc::new(Mutex::new(Vec::new()));
        let reader = master.try_clone().expect("dup the pty master");
        let sink = screen.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = rustix::io::read(reader.as_fd(), &mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        PtySession {
            master,
            screen,
            child,
        }
    }

    /// Types `bytes` on the keyboard.
    pub fn type_keys(&self, bytes: &[u8]) {
        let mut left = bytes;
        while !left.is_empty() {
            let n = rustix::io::write(self.master.as_fd(), left).expect("write to the pty");
            left = &left[n..];
        }
    }

    /// Everything shown so far, as text.
    pub fn screen(&self) -> String {
        String::from_utf8_lossy(&self.screen.lock().unwrap()).into_owned()
    }

    /// Waits until the screen shows `needle` (panics after `secs`).
    pub fn expect(&self, needle: &str, secs: u64) {
        let end = Instant::now() + Duration::from_secs(secs);
        while !self.screen().contains(needle) {
            assert!(
                Instant::now() < end,
                "timed out waiting for {needle:?} on the terminal; it shows:\n{}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for the command to exit (panics after `secs`); its exit code.
    pub fn wait(&mut self, secs: u64) -> Option<i32> {
        let end = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(st) = self.child.try_wait().expect("wait for caixa") {
                return st.code();
            }
            if Instant::now() >= end {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "the command on the pty did not exit; the terminal shows:\n{}",
                    self.screen()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for PtySession {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
