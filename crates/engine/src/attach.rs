//! Client side of the monitor's attach socket.
//!
//! Frames are `[type u8][len u32 BE][data]`. From the monitor: 1 stdout,
//! 2 stderr, 3 exit (`"CODE OOM"`), 5 start error (`"CODE message"`). To the
//! monitor: 0 stdin data, 1 close stdin, 2 resize (rows, cols as u16 BE),
//! 4 start.

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// A connection to a container's monitor.
pub struct Conn {
    s: UnixStream,
}

/// How an attach session ended.
#[derive(Debug, Default, Clone)]
pub struct Outcome {
    /// Exit code and OOM flag when the container exited.
    pub exit: Option<(i32, bool)>,
    /// Start error (code, message).
    pub error: Option<(i32, String)>,
}

fn frame(t: u8, data: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(5 + data.len());
    f.push(t);
    f.extend_from_slice(&(data.len() as u32).to_be_bytes());
    f.extend_from_slice(data);
    f
}

impl Conn {
    /// Connects to the attach socket.
    pub fn connect(path: &Path) -> Result<Conn> {
        let s = UnixStream::connect(path)
            .map_err(|e| Error::io(format!("attach {}", path.display()), e))?;
        Ok(Conn { s })
    }

    /// Asks the monitor to start the container (after `--wait-start`).
    pub fn start(&mut self) -> Result<()> {
        self.s
            .write_all(&frame(4, b""))
            .map_err(|e| Error::io("attach: send start", e))
    }

    /// Tells the monitor the terminal size.
    pub fn resize(&mut self, rows: u16, cols: u16) {
        let mut d = rows.to_be_bytes().to_vec();
        d.extend_from_slice(&cols.to_be_bytes());
        let _ = self.s.write_all(&frame(2, &d));
    }

    /// Reads frames until EOF, or until `timeout`; returns whether EOF came.
    pub fn wait_eof(&mut self, timeout: Option<Duration>) -> bool {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut buf = [0u8; 8192];
        loop {
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if left.is_some_and(|l| l.is_zero()) {
                return false;
            }
            let _ = self.s.set_read_timeout(left);
            match self.s.read(&mut buf) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return false;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return true,
            }
        }
    }

    /// Relays the container's output to our stdout/stderr (and our stdin
    /// to it when `stdin`), until the monitor closes the connection.
    pub fn relay(&mut self, stdin: bool) -> Outcome {
        let mut out = Outcome::default();
        let mut stdin_open = stdin;
        let mut pending: Vec<u8> = Vec::new();
        let mut buf = vec![0u8; 32768];
        let stdout = std::io::stdout();
        let stderr = std::io::stderr();
        loop {
            let mut fds = [
                libc::pollfd {
                    fd: self.s.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    fd: if stdin_open { 0 } else { -1 },
                    events: libc::POLLIN,
                    revents: 0,
                },
            ];
            // SAFETY: fds is a valid array of two pollfd.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
            if n < 0 {
                if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return out;
            }
            if fds[1].revents != 0 {
                // SAFETY: reading our own stdin into a valid buffer.
                let r = unsafe { libc::read(0, buf.as_mut_ptr().cast(), buf.len()) };
                if r <= 0 {
                    stdin_open = false;
                    let _ = self.s.write_all(&frame(1, b""));
                } else {
                    let _ = self.s.write_all(&frame(0, &buf[..r as usize]));
                }
            }
            if fds[0].revents != 0 {
                let r = match self.s.read(&mut buf) {
                    Ok(0) | Err(_) => return out,
                    Ok(r) => r,
                };
                pending.extend_from_slice(&buf[..r]);
                while pending.len() >= 5 {
                    let len = u32::from_be_bytes([pending[1], pending[2], pending[3], pending[4]])
                        as usize;
                    if pending.len() < 5 + len {
                        break;
                    }
                    let data = &pending[5..5 + len];
                    match pending[0] {
                        1 => {
                            let mut o = stdout.lock();
                            let _ = o.write_all(data);
                            let _ = o.flush();
                        }
                        2 => {
                            let _ = stderr.lock().write_all(data);
                        }
                        3 => {
                            let t = String::from_utf8_lossy(data);
                            let mut it = t.split(' ');
                            let code = it.next().and_then(|c| c.parse().ok()).unwrap_or(255);
                            out.exit = Some((code, it.next() == Some("1")));
                        }
                        5 => {
                            let t = String::from_utf8_lossy(data);
                            let (c, m) = t.split_once(' ').unwrap_or((&t, ""));
                            out.error = Some((c.parse().unwrap_or(125), m.to_string()));
                        }
                        _ => {}
                    }
                    pending.drain(..5 + len);
                }
            }
        }
    }
}

/// Puts our terminal in raw mode while alive (for `-t`).
pub struct RawTerminal {
    saved: libc::termios,
}

impl RawTerminal {
    /// Enters raw mode on stdin when it is a terminal.
    pub fn enter() -> Option<RawTerminal> {
        // SAFETY: termios is plain data; tcgetattr fills it for fd 0.
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: valid pointer to a termios.
        if unsafe { libc::tcgetattr(0, &mut t) } != 0 {
            return None;
        }
        let saved = t;
        // SAFETY: cfmakeraw modifies the struct in place.
        unsafe { libc::cfmakeraw(&mut t) };
        // SAFETY: applying a valid termios to our stdin.
        unsafe { libc::tcsetattr(0, libc::TCSANOW, &t) };
        Some(RawTerminal { saved })
    }

    /// The terminal's (rows, cols).
    pub fn size(&self) -> (u16, u16) {
        // SAFETY: winsize is plain data filled by TIOCGWINSZ.
        let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
        // SAFETY: valid pointer to a winsize for fd 1.
        unsafe { libc::ioctl(1, libc::TIOCGWINSZ, &mut ws) };
        (ws.ws_row, ws.ws_col)
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        // SAFETY: restoring the saved settings on our stdin.
        unsafe { libc::tcsetattr(0, libc::TCSANOW, &self.saved) };
    }
}
