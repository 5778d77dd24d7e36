//! Reading json-file logs (rotated files included) for `caixa logs`.

use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// One log entry.
#[derive(Debug, Clone, Deserialize)]
pub struct Entry {
    /// The text (with its newline).
    pub log: String,
    /// `stdout` or `stderr`.
    pub stream: String,
    /// RFC 3339 time.
    pub time: String,
}

/// The log files of a container, oldest first.
pub fn files(log: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for i in (1..100).rev() {
        let mut p = log.as_os_str().to_owned();
        p.push(format!(".{i}"));
        let p = PathBuf::from(p);
        if p.exists() {
            out.push(p);
        }
    }
    out.push(log.to_path_buf());
    out
}

/// Reads every entry, filtered by time (Unix seconds).
pub fn read_all(log: &Path, since: Option<f64>, until: Option<f64>) -> Vec<Entry> {
    let mut out = Vec::new();
    for f in files(log) {
        let Ok(file) = std::fs::File::open(&f) else {
            continue;
        };
        for line in BufReader::new(file).lines().map_while(Result::ok) {
            if let Ok(e) = serde_json::from_str::<Entry>(&line)
                && keep(&e, since, until)
            {
                out.push(e);
            }
        }
    }
    out
}

fn keep(e: &Entry, since: Option<f64>, until: Option<f64>) -> bool {
    let t = crate::util::parse_time(&e.time).unwrap_or(0.0);
    since.is_none_or(|s| t >= s) && until.is_none_or(|u| t <= u)
}

/// A follower of the live log file: yields entries appended after `offset`.
pub struct Follower {
    path: PathBuf,
    offset: u64,
    partial: String,
    watch: crate::util::DirWatch,
}

impl Follower {
    /// Starts following `log` from its current end. The log's directory
    /// (which also holds the monitor's state file) is watched from now on.
    pub fn new(log: &Path) -> Follower {
        let watch = crate::util::DirWatch::new(log.parent().unwrap_or(Path::new(".")));
        let offset = std::fs::metadata(log).map(|m| m.len()).unwrap_or(0);
        Follower {
            path: log.to_path_buf(),
            offset,
            partial: String::new(),
            watch,
        }
    }

    /// Blocks until the log or the container's state changes (a new line,
    /// a rotation, the exit), the monitor `monitor_pid` exits, or `until`
    /// (Unix seconds) passes.
    pub fn wait(&self, monitor_pid: i32, until: Option<f64>) {
        let timeout = until.map(|u| {
            std::time::Duration::from_secs_f64((u - crate::util::now_secs()).max(0.0) + 0.001)
        });
        self.watch.wait(monitor_pid, timeout);
    }

    /// Reads new complete entries (handles rotation by restarting at 0).
    pub fn poll(&mut self, until: Option<f64>) -> Vec<Entry> {
        let Ok(mut f) = std::fs::File::open(&self.path) else {
            return Vec::new();
        };
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        if len < self.offset {
            self.offset = 0;
            self.partial.clear();
        }
        if f.seek(SeekFrom::Start(self.offset)).is_err() {
            return Vec::new();
        }
        let mut text = String::new();
        let mut r = BufReader::new(f);
        let mut out = Vec::new();
        while let Ok(n) = r.read_line(&mut text) {
            if n == 0 {
                break;
            }
            self.offset += n as u64;
            if !text.ends_with('\n') {
                self.partial.push_str(&text);
                text.clear();
                continue;
            }
            let line = std::mem::take(&mut self.partial) + &text;
            text.clear();
            if let Ok(e) = serde_json::from_str::<Entry>(&line)
                && keep(&e, None, until)
            {
                out.push(e);
            }
        }
        out
    }
}
