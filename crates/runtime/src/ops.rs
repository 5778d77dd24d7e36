//! `pause`, `resume`, `update`, `events` and `features`: thin handlers
//! over caixa-oci's `container::{pause, update, events}` and `features`.

use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use caixa_oci::container::{events, pause, update};

/// Options of `update` (runc's flags; sizes take k/m/g suffixes).
#[derive(Debug, clap::Args)]
pub struct UpdateArgs {
    /// The container id.
    pub id: String,
    /// A JSON file with `linux.resources` to merge ('-' reads stdin).
    #[arg(short = 'r', long = "resources")]
    pub resources: Option<String>,
    /// Memory limit (e.g. 512m; -1: unlimited).
    #[arg(long, allow_hyphen_values = true)]
    pub memory: Option<String>,
    /// Memory + swap limit (-1: unlimited swap).
    #[arg(long, allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Memory soft limit.
    #[arg(long, allow_hyphen_values = true)]
    pub memory_reservation: Option<String>,
    /// Accepted for runc compatibility (kernel memory limits are obsolete).
    #[arg(long, hide = true)]
    pub kernel_memory: Option<String>,
    /// CPU CFS quota in microseconds per period (-1: unlimited).
    #[arg(long, allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// CPU CFS period in microseconds.
    #[arg(long)]
    pub cpu_period: Option<u64>,
    /// CPU shares (relative weight).
    #[arg(long)]
    pub cpu_shares: Option<u64>,
    /// CPUs to run on (e.g. 0-1).
    #[arg(long)]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes to allocate from.
    #[arg(long)]
    pub cpuset_mems: Option<String>,
    /// Maximum number of tasks (-1: unlimited).
    #[arg(long, allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Block IO weight (10-1000).
    #[arg(long)]
    pub blkio_weight: Option<u16>,
}

/// `pause ID`.
pub fn pause(root: &Path, id: &str) -> Result<()> {
    Ok(pause::pause(root, id)?)
}

/// `resume ID`.
pub fn resume(root: &Path, id: &str) -> Result<()> {
    Ok(pause::resume(root, id)?)
}

fn size(flag: &str, v: &Option<String>) -> Result<Option<i64>> {
    Ok(match v {
        Some(s) => Some(update::parse_size(flag, s).map_err(anyhow::Error::msg)?),
        None => None,
    })
}

/// `update ID [flags] [-r FILE]`.
pub fn update(root: &Path, a: &UpdateArgs) -> Result<()> {
    let file = match a.resources.as_deref() {
        None => None,
        Some(f) => {
            let (what, data) = if f == "-" {
                let mut d = Vec::new();
                std::io::stdin()
                    .read_to_end(&mut d)
                    .context("-r -: reading stdin")?;
                ("-r (stdin)".to_string(), d)
            } else {
                let d = std::fs::read(f).with_context(|| format!("-r {f}"))?;
                (f.to_string(), d)
            };
            Some(update::parse_resources(&what, &data)?)
        }
    };
    // As with runc, a numeric flag given as 0 leaves the value unchanged.
    let flags = update::UpdateFlags {
        memory: size("--memory", &a.memory)?.filter(|v| *v != 0),
        memory_swap: size("--memory-swap", &a.memory_swap)?.filter(|v| *v != 0),
        memory_reservation: size("--memory-reservation", &a.memory_reservation)?
            .filter(|v| *v != 0),
        cpu_quota: a.cpu_quota.filter(|v| *v != 0),
        cpu_period: a.cpu_period.filter(|v| *v != 0),
        cpu_shares: a.cpu_shares.filter(|v| *v != 0),
        cpuset_cpus: a.cpuset_cpus.clone(),
        cpuset_mems: a.cpuset_mems.clone(),
        pids_limit: a.pids_limit.filter(|v| *v != 0),
        blkio_weight: a.blkio_weight.filter(|v| *v != 0),
    };
    if a.kernel_memory.is_some() {
        eprintln!("caixa-runtime: warning: --kernel-memory is ignored (obsolete since Linux 5.4)");
    }
    update::update(root, &a.id, file.as_ref(), &flags)?;
    Ok(())
}

/// Parses a Go-style duration ("5s", "100ms", "1m30s", "2h").
pub fn parse_duration(flag: &str, s: &str) -> Result<Duration> {
    let bad = || anyhow::anyhow!("{flag}: {s:?} is not a duration (e.g. 5s, 500ms, 1m)");
    let mut total = 0f64;
    let mut rest = s.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let n_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let n: f64 = rest[..n_end].parse().map_err(|_| bad())?;
        rest = &rest[n_end..];
        let u_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..u_end] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        rest = &rest[u_end..];
        total += n * scale;
    }
    if !total.is_finite() || total <= 0.0 || total > 1e9 {
        bail!("{flag}: {s:?} must be a positive duration");
    }
    Ok(Duration::from_secs_f64(total))
}

/// `events ID [--interval D] [--stats]`: JSON lines on stdout.
pub fn events(root: &Path, id: &str, interval: &str, stats: bool) -> Result<()> {
    let mut out = std::io::stdout().lock();
    if stats {
        let ev = events::stats_event(root, id)?;
        writeln!(out, "{ev}")?;
        return Ok(());
    }
    let interval = parse_duration("--interval", interval)?;
    let mut emit = |v: &serde_json::Value| {
        writeln!(out, "{v}")?;
        out.flush()
    };
    match events::stream(root, id, interval, &mut emit) {
        // The reader went away: not an error of ours.
        Err(caixa_oci::OciError::Sys { source, .. })
            if source.kind() == std::io::ErrorKind::BrokenPipe =>
        {
            Ok(())
        }
        r => Ok(r?),
    }
}

/// `features`: the runtime-spec features document.
pub fn features() -> Result<()> {
    let doc = caixa_oci::features::features_json();
    println!("{}", serde_json::to_string_pretty(&doc)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("i", "5s").unwrap(), Duration::from_secs(5));
        assert_eq!(
            parse_duration("i", "150ms").unwrap(),
            Duration::from_millis(150)
        );
        assert_eq!(
            parse_duration("i", "1m30s").unwrap(),
            Duration::from_secs(90)
        );
        assert!(parse_duration("i", "5").is_err());
        assert!(parse_duration("i", "0s").is_err());
        assert!(parse_duration("i", "x").is_err());
    }
}
