//! Health checks: `RUNTIME exec ID CMD…` every interval, with a timeout.
//! The last five results (start, end, exit code, output cut at 4096 bytes,
//! as Docker keeps them) go to `DIR/health.log`, one per line:
//! `START\tEND\tCODE\tOUTPUT` with `\`, tab, CR and LF escaped.

use std::io::Read;
use std::process::Stdio;
use std::time::{Duration, Instant};

use super::Mon;
use crate::sys;

/// Docker's limit on the output kept per check.
const MAX_OUTPUT: usize = 4096;
/// Docker keeps this many results.
const MAX_ENTRIES: usize = 5;

/// Escapes `\`, tab, CR and LF so an entry stays on one tab-separated line.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out
}

impl Mon {
    /// Starts a due check, or kills one that ran past its timeout.
    pub(super) fn health_tick(&mut self) {
        let Some(h) = self.a.health.clone() else {
            return;
        };
        let now = Instant::now();
        if self.health_pid > 0 {
            if self.health_deadline.is_some_and(|d| now >= d) {
                // SAFETY: signalling our own child (the runtime exec process).
                unsafe { libc::kill(self.health_pid, libc::SIGKILL) };
                self.health_pid = 0;
                self.health_deadline = None;
                let secs = h.timeout_ms as f64 / 1000.0;
                self.health_result(-1, format!("Health check exceeded timeout ({secs}s)"));
            }
            return;
        }
        if self.init_pid == 0 || self.next_health.is_none_or(|t| now < t) {
            return;
        }
        self.next_health = Some(now + Duration::from_millis(h.interval_ms));
        self.health_start = sys::now_rfc3339();
        let out = self.a.dir.join("health.out");
        let file = sys::open(
            &out.to_string_lossy(),
            libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC,
            0o600,
        );
        let (so, se) = match file.and_then(|f| Ok((f.try_clone()?, f))) {
            Ok((a, b)) => (Stdio::from(a), Stdio::from(b)),
            Err(_) => (Stdio::null(), Stdio::null()),
        };
        let child = self
            .runtime()
            .arg("exec")
            .arg(&self.a.id)
            .args(&h.argv)
            .stdin(Stdio::null())
            .stdout(so)
            .stderr(se)
            .spawn();
        match child {
            Ok(c) => {
                self.health_pid = c.id() as i32;
                self.health_deadline = Some(now + Duration::from_millis(h.timeout_ms));
            }
            Err(e) => self.health_result(-1, format!("cannot run health check: {e}")),
        }
    }

    /// The check process exited with `code`: records it with its output.
    pub(super) fn health_done(&mut self, code: i32) {
        self.health_pid = 0;
        self.health_deadline = None;
        let mut buf = Vec::with_capacity(MAX_OUTPUT);
        if let Ok(f) = std::fs::File::open(self.a.dir.join("health.out")) {
            let _ = f.take(MAX_OUTPUT as u64).read_to_end(&mut buf);
        }
        let _ = std::fs::remove_file(self.a.dir.join("health.out"));
        self.health_result(code, String::from_utf8_lossy(&buf).into_owned());
    }

    fn health_result(&mut self, code: i32, output: String) {
        let Some(h) = &self.a.health else { return };
        let in_start_period = self.started.elapsed() < Duration::from_millis(h.start_period_ms);
        if code == 0 {
            self.st.health = "healthy";
            self.st.health_failing = 0;
        } else if !in_start_period {
            self.st.health_failing += 1;
            if self.st.health_failing >= h.retries {
                self.st.health = "unhealthy";
            }
        }
        let end = sys::now_rfc3339();
        self.st.health_log = format!("{end} {}", if code == 0 { "ok" } else { "failed" });
        let start = std::mem::take(&mut self.health_start);
        let start = if start.is_empty() { end.clone() } else { start };
        self.health_entries
            .push_back(format!("{start}\t{end}\t{code}\t{}", escape(&output)));
        while self.health_entries.len() > MAX_ENTRIES {
            self.health_entries.pop_front();
        }
        let mut text = String::new();
        for e in &self.health_entries {
            text.push_str(e);
            text.push('\n');
        }
        let tmp = self.a.dir.join(".health.log.tmp");
        if std::fs::write(&tmp, text).is_ok() {
            let _ = std::fs::rename(&tmp, self.a.dir.join("health.log"));
        }
        if self.init_pid > 0 {
            self.write_state();
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn entries_stay_on_one_line() {
        assert_eq!(super::escape("a\tb\nc\\d\r"), "a\\tb\\nc\\\\d\\r");
    }
}
