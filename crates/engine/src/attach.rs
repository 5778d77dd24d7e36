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

/// Docker's default detach sequence: ctrl-p ctrl-q.
pub const DEFAULT_DETACH_KEYS: &[u8] = &[0x10, 0x11];

/// Parses Docker's `--detach-keys` syntax: comma-separated keys, each one
/// character or `ctrl-X` (X in a–z, `@`, `[`, `\`, `]`, `^`, `_`). An empty
/// string means the default (ctrl-p,ctrl-q).
pub fn parse_detach_keys(spec: &str) -> Result<Vec<u8>> {
    if spec.is_empty() {
        return Ok(DEFAULT_DETACH_KEYS.to_vec());
    }
    spec.split(',')
        .map(|key| {
            let b = key.as_bytes();
            if b.len() == 1 {
                return Ok(b[0]);
            }
            let lower = key.to_ascii_lowercase();
            let code = lower
                .strip_prefix("ctrl-")
                .filter(|c| c.len() == 1)
                .and_then(|c| match c.as_bytes()[0] {
                    c @ b'a'..=b'z' => Some(c - b'a' + 1),
                    b'@' => Some(0),
                    b'[' => Some(27),
                    b'\\' => Some(28),
                    b']' => Some(29),
                    b'^' => Some(30),
                    b'_' => Some(31),
                    _ => None,
                });
            code.ok_or_else(|| {
                Error::invalid(
                    "--detach-keys",
                    format!(
                        "invalid key {key:?} in {spec:?} (one character or ctrl-a..ctrl-z, ctrl-@, ctrl-[, ctrl-\\, ctrl-], ctrl-^, ctrl-_, separated by commas)"
                    ),
                )
            })
        })
        .collect()
}

/// Watches keyboard input for the detach sequence, as Docker's escape
/// proxy does: bytes that may start the sequence are held back until it
/// completes (detach) or breaks (they are sent on).
#[derive(Debug, Clone)]
pub struct DetachWatch {
    keys: Vec<u8>,
    matched: usize,
}

impl DetachWatch {
    /// Watches for `keys` (empty: never detaches).
    pub fn new(keys: Vec<u8>) -> DetachWatch {
        DetachWatch { keys, matched: 0 }
    }

    /// Feeds input; returns the bytes to forward now and whether the whole
    /// sequence was typed (the rest of the input is then dropped).
    pub fn feed(&mut self, input: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::with_capacity(input.len());
        if self.keys.is_empty() {
            out.extend_from_slice(input);
            return (out, false);
        }
        for &b in input {
            if b == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    self.matched = 0;
                    return (out, true);
                }
                continue;
            }
            // The held-back prefix was ordinary input after all.
            out.extend_from_slice(&self.keys[..self.matched]);
            self.matched = 0;
            if b == self.keys[0] {
                self.matched = 1;
                if self.keys.len() == 1 {
                    self.matched = 0;
                    return (out, true);
                }
            } else {
                out.push(b);
            }
        }
        (out, false)
    }
}

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
    /// The user typed the detach sequence: the container runs on.
    pub detached: bool,
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

    /// Asks the monitor to start the container (after `--wait-start`), and
    /// claims the cleanup after its final exit: the monitor hangs up on us
    /// first and runs its exit command only if we did not clean up (call
    /// [`crate::Engine::cleanup_attached`] once the session ends).
    pub fn start(&mut self) -> Result<()> {
        let mut f = frame(6, b"");
        f.extend_from_slice(&frame(4, b""));
        self.s
            .write_all(&f)
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
    /// to it when `stdin`), until the monitor closes the connection or the
    /// detach sequence is typed (`detach`: watched on stdin).
    pub fn relay(&mut self, stdin: bool, detach: Option<DetachWatch>) -> Outcome {
        let mut detach = detach.unwrap_or_else(|| DetachWatch::new(Vec::new()));
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
                    let (data, done) = detach.feed(&buf[..r as usize]);
                    if !data.is_empty() {
                        let _ = self.s.write_all(&frame(0, &data));
                    }
                    if done {
                        // Leave without closing the container's stdin.
                        out.detached = true;
                        return out;
                    }
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
