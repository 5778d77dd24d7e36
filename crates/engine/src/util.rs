//! Small helpers: ids, generated names, sizes, durations, times.

use std::io::Read;

use crate::error::{Error, Result};

/// A new random 64-hex-digit container id.
pub fn new_id() -> Result<String> {
    let mut b = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .map_err(|e| Error::io("read /dev/urandom", e))?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// Starts, in a background thread, a no-op cgroup migration of this
/// process (its own pid written to its own cgroup's `cgroup.procs`).
///
/// The kernel's first migration after an idle spell waits for an RCU grace
/// period (5-20 ms here) before it takes the global cgroup threadgroup
/// lock; migrations during the next grace period do not wait. The OCI
/// runtime migrates the container's first process a few milliseconds
/// later, so starting this wait early overlaps it with the engine's own
/// work. Errors are ignored: the runtime's migration is then simply slower.
pub fn warm_cgroup_migration() {
    let _ = std::thread::Builder::new()
        .name("cgroup-warm".into())
        .spawn(|| {
            let Some(procs) = own_cgroup_procs() else {
                return;
            };
            let _ = std::fs::write(procs, std::process::id().to_string());
        });
}

/// `cgroup.procs` of this process's cgroup, unified hierarchy first.
fn own_cgroup_procs() -> Option<std::path::PathBuf> {
    use std::path::Path;
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let mut v1 = None;
    for line in text.lines() {
        let mut it = line.splitn(3, ':');
        let (_, ctrl, path) = (it.next()?, it.next()?, it.next()?);
        let rel = path.trim_start_matches('/');
        if ctrl.is_empty() {
            for base in ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"] {
                let p = Path::new(base).join(rel).join("cgroup.procs");
                if Path::new(base).join("cgroup.controllers").exists() && p.exists() {
                    return Some(p);
                }
            }
        } else if v1.is_none() && !ctrl.contains('=') {
            let dir = ctrl.split(',').next().unwrap_or(ctrl);
            let p = Path::new("/sys/fs/cgroup")
                .join(dir)
                .join(rel)
                .join("cgroup.procs");
            if p.exists() {
                v1 = Some(p);
            }
        }
    }
    v1
}

const ADJ: &[&str] = &[
    "agitated",
    "brave",
    "calm",
    "dazzling",
    "eager",
    "fervent",
    "gallant",
    "happy",
    "inspiring",
    "jolly",
    "keen",
    "loving",
    "modest",
    "nifty",
    "optimistic",
    "pensive",
    "quirky",
    "relaxed",
    "serene",
    "tender",
    "upbeat",
    "vibrant",
    "wizardly",
    "youthful",
    "zealous",
];
const NOUN: &[&str] = &[
    "almeida",
    "bohr",
    "curie",
    "darwin",
    "euler",
    "fermi",
    "gauss",
    "hopper",
    "irwin",
    "joliot",
    "kepler",
    "lovelace",
    "mendel",
    "noether",
    "ohm",
    "pascal",
    "quintas",
    "ramanujan",
    "sagan",
    "turing",
    "usher",
    "volta",
    "wiles",
    "yalow",
    "zuse",
];

/// A Docker-style generated name (`adjective_scientist`), from the id bytes.
pub fn generated_name(id: &str, attempt: u32) -> String {
    let n = u64::from_str_radix(&id[..12], 16).unwrap_or(0);
    let base = format!(
        "{}_{}",
        ADJ[(n % ADJ.len() as u64) as usize],
        NOUN[((n >> 8) % NOUN.len() as u64) as usize]
    );
    if attempt == 0 {
        base
    } else {
        format!("{base}{attempt}")
    }
}

/// Checks a user-given name as Docker does: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub fn check_name(name: &str) -> Result<()> {
    let ok = name.len() >= 2
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "--name",
            format!("invalid container name {name:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-]+ are allowed"),
        ))
    }
}

/// Parses `512m`, `1g`, `100k`, `1024` (bytes) as Docker's RAMInBytes.
pub fn parse_size(field: &str, s: &str) -> Result<i64> {
    let t = s.trim().to_ascii_lowercase();
    let t = t
        .strip_suffix('b')
        .filter(|x| x.ends_with(['k', 'm', 'g', 't']))
        .unwrap_or(&t);
    let (num, mul) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1i64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1 << 40),
        Some('b') => (&t[..t.len() - 1], 1),
        _ => (t, 1),
    };
    let v: f64 = num
        .parse()
        .map_err(|_| Error::invalid(field, format!("invalid size {s:?}")))?;
    if v < 0.0 {
        return Err(Error::invalid(
            field,
            format!("invalid size {s:?}: negative"),
        ));
    }
    Ok((v * mul as f64) as i64)
}

/// Parses Go durations used by Docker flags: `30s`, `1m30s`, `500ms`, `2h`; bare numbers are seconds.
pub fn parse_duration_ns(field: &str, s: &str) -> Result<i64> {
    let bad = || Error::invalid(field, format!("invalid duration {s:?}"));
    if let Ok(n) = s.parse::<f64>() {
        return Ok((n * 1e9) as i64);
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let i = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let n: f64 = rest[..i].parse().map_err(|_| bad())?;
        rest = &rest[i..];
        let (mul, len) = if rest.starts_with("ms") {
            (1e6, 2)
        } else if rest.starts_with("us") {
            (1e3, 2)
        } else if rest.starts_with("ns") {
            (1.0, 2)
        } else if rest.starts_with('h') {
            (3600e9, 1)
        } else if rest.starts_with('m') {
            (60e9, 1)
        } else if rest.starts_with('s') {
            (1e9, 1)
        } else {
            return Err(bad());
        };
        total += n * mul;
        rest = &rest[len..];
    }
    Ok(total as i64)
}

/// Docker's units.HumanDuration ("5 seconds", "About a minute", ...).
pub fn human_duration(secs: i64) -> String {
    let s = secs.max(0);
    let plural = |n: i64, u: &str| {
        if n == 1 {
            format!("1 {u}")
        } else {
            format!("{n} {u}s")
        }
    };
    if s < 1 {
        "Less than a second".into()
    } else if s < 60 {
        plural(s, "second")
    } else if s < 120 {
        "About a minute".into()
    } else if s < 3600 {
        plural(s / 60, "minute")
    } else if s < 7200 {
        "About an hour".into()
    } else if s < 48 * 3600 {
        plural(s / 3600, "hour")
    } else if s < 14 * 86400 {
        plural(s / 86400, "day")
    } else if s < 90 * 86400 {
        plural(s / (7 * 86400), "week")
    } else if s < 730 * 86400 {
        plural(s / (30 * 86400), "month")
    } else {
        plural(s / (365 * 86400), "year")
    }
}

/// Human sizes in Docker's style (`1.5MB` with 1000 steps, `1.5MiB` with 1024).
pub fn human_size(bytes: f64, binary: bool) -> String {
    let (base, units): (f64, &[&str]) = if binary {
        (1024.0, &["B", "KiB", "MiB", "GiB", "TiB"])
    } else {
        (1000.0, &["B", "kB", "MB", "GB", "TB"])
    };
    let mut v = bytes;
    let mut i = 0;
    while v >= base && i + 1 < units.len() {
        v /= base;
        i += 1;
    }
    if i == 0 {
        format!("{v}{}", units[0])
    } else {
        format!("{v:.4}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
            + units[i]
    }
}

/// Now as RFC 3339 with nanoseconds (UTC).
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// Parses an RFC 3339 time to Unix seconds (fractional).
pub fn parse_time(s: &str) -> Option<f64> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.timestamp() as f64 + f64::from(t.timestamp_subsec_nanos()) / 1e9)
}

/// Seconds since the epoch, now.
pub fn now_secs() -> f64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    d.as_secs_f64()
}

/// Parses `--since`/`--until` values: RFC 3339, Unix seconds, or a relative Go duration (`10m`).
pub fn parse_since(field: &str, s: &str) -> Result<f64> {
    if let Some(t) = parse_time(s) {
        return Ok(t);
    }
    if let Ok(n) = s.parse::<f64>() {
        return Ok(n);
    }
    let d = parse_duration_ns(field, s)?;
    Ok(now_secs() - d as f64 / 1e9)
}

/// Bytes used by the regular files under `dir` (symlinks not followed).
pub fn dir_size(dir: &std::path::Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => stack.push(e.path()),
                Ok(m) if m.is_file() => total += m.len(),
                _ => {}
            }
        }
    }
    total
}

/// Unix seconds as local `HH:MM` (for `top`).
pub fn format_hm(secs: f64) -> String {
    chrono::DateTime::from_timestamp(secs as i64, 0)
        .map(|t| t.with_timezone(&chrono::Local).format("%H:%M").to_string())
        .unwrap_or_default()
}

/// Unix seconds as RFC 3339 with nanoseconds (for `events`).
pub fn format_rfc3339(secs: f64) -> String {
    chrono::DateTime::from_timestamp(secs as i64, (secs.fract() * 1e9) as u32)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// `ps`'s CreatedAt (`2026-11-25 20:00:00 +0000 UTC`).
pub fn format_created(rfc3339: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S %z UTC").to_string())
        .unwrap_or_default()
}

/// Wakes a waiter when entries of a directory change (inotify) or a
/// process exits (pidfd): `logs -f` and `events` block on it instead of
/// polling, so a new line or event shows up at once.
pub struct DirWatch {
    fd: Option<std::os::fd::OwnedFd>,
}

impl DirWatch {
    /// Watches `dir` for writes, creations and renames of its entries.
    /// Without inotify, [`DirWatch::wait`] falls back to a 100 ms sleep.
    pub fn new(dir: &std::path::Path) -> DirWatch {
        use rustix::fs::inotify::{self, CreateFlags, WatchFlags};
        let fd = inotify::init(CreateFlags::CLOEXEC | CreateFlags::NONBLOCK)
            .ok()
            .filter(|fd| {
                inotify::add_watch(
                    fd,
                    dir,
                    WatchFlags::MODIFY
                        | WatchFlags::CREATE
                        | WatchFlags::MOVED_TO
                        | WatchFlags::DELETE_SELF,
                )
                .is_ok()
            });
        DirWatch { fd }
    }

    /// Blocks until something changed in the directory since the last
    /// call, process `pid` (when > 0) exited, or `timeout` passed. Returns
    /// true when woken by a change or the exit (false on timeout).
    pub fn wait(&self, pid: i32, timeout: Option<std::time::Duration>) -> bool {
        use std::os::fd::AsRawFd;
        let Some(fd) = &self.fd else {
            std::thread::sleep(timeout.map_or(std::time::Duration::from_millis(100), |t| {
                t.min(std::time::Duration::from_millis(100))
            }));
            return true;
        };
        let pidfd = rustix::process::Pid::from_raw(pid)
            .map(|p| rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty()));
        if let Some(Err(_)) = pidfd {
            return true; // gone already
        }
        let mut fds = [
            libc::pollfd {
                fd: fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: pidfd
                    .as_ref()
                    .and_then(|p| p.as_ref().ok())
                    .map_or(-1, |p| p.as_raw_fd()),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        let ms = timeout.map_or(-1, |t| t.as_millis().min(i32::MAX as u128) as i32);
        // SAFETY: fds is a valid array of two pollfd.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, ms) };
        // Drain the queued inotify events; what changed is read by the caller.
        let mut buf = [0u8; 4096];
        while rustix::io::read(fd, &mut buf).is_ok_and(|n| n > 0) {}
        n != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_like_docker() {
        assert_eq!(parse_size("-m", "512m").unwrap(), 512 << 20);
        assert_eq!(parse_size("-m", "1g").unwrap(), 1 << 30);
        assert_eq!(parse_size("-m", "10MB").unwrap(), 10 << 20);
        assert_eq!(parse_size("-m", "100").unwrap(), 100);
        assert!(parse_size("-m", "lots").is_err());
    }

    #[test]
    fn durations_parse_like_go() {
        assert_eq!(parse_duration_ns("x", "1m30s").unwrap(), 90_000_000_000);
        assert_eq!(parse_duration_ns("x", "500ms").unwrap(), 500_000_000);
        assert!(parse_duration_ns("x", "5 parsecs").is_err());
    }

    #[test]
    fn human_output() {
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(5), "5 seconds");
        assert_eq!(human_duration(90), "About a minute");
        assert_eq!(human_size(1536.0 * 1024.0, true), "1.5MiB");
        assert_eq!(human_size(0.0, false), "0B");
    }

    #[test]
    fn names_are_checked() {
        assert!(check_name("web-1").is_ok());
        assert!(check_name("-x").is_err());
        assert!(check_name("a/b").is_err());
    }
}
