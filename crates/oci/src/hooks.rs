//! OCI hooks: prestart, createRuntime, createContainer, startContainer,
//! poststart, poststop.
//!
//! CONTRACT (keep stable): [`run`] executes each hook in order with the
//! runtime-spec state JSON on stdin, its args/env, and its timeout; the
//! first failure stops and is returned.
//!
//! Semantics (as runc): `args[0]` is the hook's argv\[0\] (the path when
//! `args` is absent); `env` replaces the environment, and when it is absent
//! the hook inherits the caller's (callers use [`with_default_env`] to
//! give the container's hooks the process env instead); a hook that does
//! not read its stdin is fine. The caller picks the namespace: `run` executes hooks in whatever
//! namespaces the calling process is in (the runtime's for prestart,
//! createRuntime, poststart and poststop; the container init's for
//! createContainer and startContainer).
//!
//! No polling: one `poll(2)` loop waits on a pidfd for the exit, on the
//! stdin pipe for writability and on stdout/stderr for output, with the
//! timeout as the poll deadline. A hook past its timeout is killed through
//! its pidfd (no pid-reuse race) and reaped.

use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use oci_spec::runtime::Hook;
use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::process::{Pid, PidfdFlags, Signal, pidfd_open, pidfd_send_signal};

/// A hook that failed to run, exited non-zero, or timed out.
#[derive(Debug, thiserror::Error)]
#[error("hook {path}: {reason}")]
pub struct HookError {
    /// The hook's path.
    pub path: String,
    /// Why it failed.
    pub reason: String,
}

/// How much of a hook's output is kept for the error message.
const OUTPUT_KEEP: usize = 16 * 1024;
/// Longest excerpt of a hook's output quoted in an error.
const QUOTE_MAX: usize = 200;

/// Runs `hooks` in order, each with `state_json` on stdin.
pub fn run(hooks: &[Hook], state_json: &[u8]) -> Result<(), HookError> {
    hooks.iter().try_for_each(|h| run_one(h, state_json))
}

/// `hooks` with `env` as the environment of those that set none: the
/// container's `process.env` for createContainer and startContainer hooks
/// (runc and crun run them with the container process's environment).
pub fn with_default_env(hooks: &[Hook], env: Option<&Vec<String>>) -> Vec<Hook> {
    hooks
        .iter()
        .map(|h| {
            let mut h = h.clone();
            if h.env().is_none() {
                h.set_env(Some(env.cloned().unwrap_or_default()));
            }
            h
        })
        .collect()
}

/// Runs one hook to completion (or to its timeout).
pub fn run_one(hook: &Hook, state_json: &[u8]) -> Result<(), HookError> {
    let err = |reason: String| HookError {
        path: hook.path().display().to_string(),
        reason,
    };
    if !hook.path().is_absolute() {
        return Err(err("path must be absolute".into()));
    }
    let timeout = match hook.timeout() {
        Some(t) if t <= 0 => {
            return Err(err(format!("timeout must be greater than zero, got {t}")));
        }
        Some(t) => Some(Duration::from_secs(t.unsigned_abs())),
        None => None,
    };

    let mut cmd = Command::new(hook.path());
    if let Some((argv0, rest)) = hook.args().as_deref().and_then(|a| a.split_first()) {
        cmd.arg0(argv0).args(rest);
    }
    if let Some(env) = hook.env() {
        cmd.env_clear();
        for kv in env {
            match kv.split_once('=') {
                Some((k, v)) if !k.is_empty() => cmd.env(k, v),
                _ => return Err(err(format!("env entry {kv:?} is not KEY=VALUE"))),
            };
        }
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| err(format!("cannot execute: {e}")))?;
    let outcome = supervise(&mut child, state_json, timeout);
    match outcome {
        Ok(Outcome::Exited(status, output)) => {
            if status.success() {
                return Ok(());
            }
            let how = match (status.code(), status.signal()) {
                (Some(code), _) => format!("exited with status {code}"),
                (None, Some(sig)) => format!("killed by signal {}", signal_name(sig)),
                _ => format!("failed ({status})"),
            };
            Err(err(with_output(how, &output)))
        }
        Ok(Outcome::TimedOut(output)) => Err(err(with_output(
            format!(
                "timed out after {}s and was killed",
                timeout.unwrap_or_default().as_secs()
            ),
            &output,
        ))),
        Err(e) => {
            // Never leave the hook running or unreaped.
            let _ = child.kill();
            let _ = child.wait();
            Err(err(format!("cannot supervise: {e}")))
        }
    }
}

enum Outcome {
    Exited(std::process::ExitStatus, Output),
    TimedOut(Output),
}

/// What the hook printed (the last [`OUTPUT_KEEP`] bytes of each stream).
#[derive(Default)]
struct Output {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

fn keep_tail(buf: &mut Vec<u8>, more: &[u8]) {
    buf.extend_from_slice(more);
    if buf.len() > OUTPUT_KEEP {
        buf.drain(..buf.len() - OUTPUT_KEEP);
    }
}

/// Feeds stdin, collects output and waits for exit or the deadline.
fn supervise(
    child: &mut Child,
    state_json: &[u8],
    timeout: Option<Duration>,
) -> std::io::Result<Outcome> {
    let deadline = timeout.map(|t| Instant::now() + t);
    let pid = Pid::from_raw(child.id() as i32)
        .ok_or_else(|| std::io::Error::other("child has no pid"))?;
    let pidfd = pidfd_open(pid, PidfdFlags::empty())?;
    let mut stdin = child.stdin.take();
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    for fd in [
        stdin.as_ref().map(|f| f.as_fd()),
        stdout.as_ref().map(|f| f.as_fd()),
        stderr.as_ref().map(|f| f.as_fd()),
    ]
    .into_iter()
    .flatten()
    {
        rustix::io::ioctl_fionbio(fd, true)?;
    }
    let mut written = 0;
    if state_json.is_empty() {
        stdin = None;
    }
    let mut out = Output::default();
    let mut chunk = [0u8; 4096];

    loop {
        let wait = match deadline {
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    pidfd_send_signal(&pidfd, Signal::KILL)?;
                    child.wait()?;
                    drain(&mut stdout, &mut out.stdout, &mut chunk);
                    drain(&mut stderr, &mut out.stderr, &mut chunk);
                    return Ok(Outcome::TimedOut(out));
                }
                Some(Timespec {
                    tv_sec: left.as_secs() as _,
                    tv_nsec: left.subsec_nanos() as _,
                })
            }
            None => None,
        };
        let (in_ready, out_ready, err_ready, exited) = {
            let mut fds = vec![PollFd::new(&pidfd, PollFlags::IN)];
            let si = stdin.as_ref().map(|f| {
                fds.push(PollFd::new(f, PollFlags::OUT));
                fds.len() - 1
            });
            let so = stdout.as_ref().map(|f| {
                fds.push(PollFd::new(f, PollFlags::IN));
                fds.len() - 1
            });
            let se = stderr.as_ref().map(|f| {
                fds.push(PollFd::new(f, PollFlags::IN));
                fds.len() - 1
            });
            match poll(&mut fds, wait.as_ref()) {
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
            let ready = |i: Option<usize>| i.is_some_and(|i| !fds[i].revents().is_empty());
            (
                ready(si),
                ready(so),
                ready(se),
                !fds[0].revents().is_empty(),
            )
        };
        if in_ready && let Some(f) = stdin.as_mut() {
            match f.write(&state_json[written..]) {
                Ok(n) => written += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                // EPIPE and friends: the hook does not read its stdin.
                Err(_) => written = state_json.len(),
            }
            if written >= state_json.len() {
                stdin = None; // EOF for the hook
            }
        }
        if out_ready {
            read_some(&mut stdout, &mut out.stdout, &mut chunk);
        }
        if err_ready {
            read_some(&mut stderr, &mut out.stderr, &mut chunk);
        }
        if exited {
            let status = child.wait()?;
            // Output still buffered in the pipes; a grandchild holding
            // them open must not block us, so read only what is there.
            drain(&mut stdout, &mut out.stdout, &mut chunk);
            drain(&mut stderr, &mut out.stderr, &mut chunk);
            return Ok(Outcome::Exited(status, out));
        }
    }
}

/// One non-blocking read; closes the stream at EOF or on error.
fn read_some<R: Read>(src: &mut Option<R>, buf: &mut Vec<u8>, chunk: &mut [u8]) -> bool {
    let Some(r) = src.as_mut() else { return false };
    match r.read(chunk) {
        Ok(0) => {
            *src = None;
            false
        }
        Ok(n) => {
            keep_tail(buf, &chunk[..n]);
            true
        }
        Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::Interrupted => false,
        Err(_) => {
            *src = None;
            false
        }
    }
}

fn drain<R: Read>(src: &mut Option<R>, buf: &mut Vec<u8>, chunk: &mut [u8]) {
    while read_some(src, buf, chunk) {}
}

/// Appends the last non-empty line of stderr (or stdout) to `how`.
fn with_output(how: String, out: &Output) -> String {
    match last_line(&out.stderr).or_else(|| last_line(&out.stdout)) {
        Some(line) => format!("{how}: {line}"),
        None => how,
    }
}

fn last_line(buf: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(buf);
    let line = text.lines().map(str::trim).rfind(|l| !l.is_empty())?;
    let mut s: String = line.chars().take(QUOTE_MAX).collect();
    if s.len() < line.len() {
        s.push('…');
    }
    Some(s)
}

fn signal_name(sig: i32) -> String {
    nix::sys::signal::Signal::try_from(sig)
        .map(|s| s.as_str().to_owned())
        .unwrap_or_else(|_| format!("{sig}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_line_skips_blank_lines_and_truncates() {
        assert_eq!(last_line(b"first\nsecond\n\n  \n"), Some("second".into()));
        assert_eq!(last_line(b""), None);
        let long = "x".repeat(500);
        let got = last_line(long.as_bytes()).unwrap();
        assert_eq!(got.chars().count(), QUOTE_MAX + 1);
    }

    #[test]
    fn keep_tail_bounds_memory() {
        let mut b = Vec::new();
        keep_tail(&mut b, &vec![1u8; OUTPUT_KEEP]);
        keep_tail(&mut b, b"end");
        assert_eq!(b.len(), OUTPUT_KEEP);
        assert!(b.ends_with(b"end"));
    }
}
