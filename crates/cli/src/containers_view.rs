//! Read-only container commands: ps, logs, inspect, stats, top, events,
//! port, explain; and the raw-terminal helper for `-t`.

use std::io::Write;
use std::time::{Duration, Instant};

use caixa_engine::state::describe;
use caixa_engine::{Engine, Error, Record, State, Status, explain, inspect, logs, stats, util};
use clap::Subcommand;
use serde_json::{Value, json};

use crate::containers_fmt::{align, print_rows, render};

/// Read-only container commands.
#[derive(Subcommand, Debug)]
pub enum ViewCommand {
    /// List containers.
    Ps {
        /// Show all containers (default shows just running).
        #[arg(short, long)]
        all: bool,
        /// Only display container ids.
        #[arg(short, long)]
        quiet: bool,
        /// Show the n last created containers.
        #[arg(short = 'n', long)]
        last: Option<usize>,
        /// Show the latest created container.
        #[arg(short, long)]
        latest: bool,
        /// Filter (id=, name=, label=, status=, exited=, health=, ancestor=).
        #[arg(short, long)]
        filter: Vec<String>,
        /// Go template, or `table TEMPLATE`, or `json`.
        #[arg(long)]
        format: Option<String>,
        /// Do not truncate output.
        #[arg(long)]
        no_trunc: bool,
        /// Display total file sizes.
        #[arg(short, long)]
        size: bool,
    },
    /// Fetch the logs of a container.
    Logs {
        /// Follow log output.
        #[arg(short, long)]
        follow: bool,
        /// Number of lines to show from the end ("all").
        #[arg(short = 'n', long)]
        tail: Option<String>,
        /// Show logs since a timestamp or relative duration (e.g. 10m).
        #[arg(long)]
        since: Option<String>,
        /// Show logs before a timestamp or relative duration.
        #[arg(long)]
        until: Option<String>,
        /// Show timestamps.
        #[arg(short, long)]
        timestamps: bool,
        /// Container.
        container: String,
    },
    /// Return low-level information on containers (Docker-compatible JSON).
    Inspect {
        /// Go template.
        #[arg(short, long)]
        format: Option<String>,
        /// Display total file sizes.
        #[arg(short, long)]
        size: bool,
        /// Containers.
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Display resource usage statistics of containers.
    Stats {
        /// Print one sample and exit.
        #[arg(long)]
        no_stream: bool,
        /// Show all containers (default shows just running).
        #[arg(short, long)]
        all: bool,
        /// Go template or `json`.
        #[arg(long)]
        format: Option<String>,
        /// Do not truncate output.
        #[arg(long)]
        no_trunc: bool,
        /// Containers (default: all running).
        containers: Vec<String>,
    },
    /// Display the running processes of a container.
    Top {
        /// Container.
        container: String,
    },
    /// Show container events (past ones with --until; otherwise follow).
    Events {
        /// Show events since a timestamp or relative duration.
        #[arg(long)]
        since: Option<String>,
        /// Stop at a timestamp or relative duration.
        #[arg(long)]
        until: Option<String>,
        /// Filter (container=, event=).
        #[arg(short, long)]
        filter: Vec<String>,
        /// Go template or `json`.
        #[arg(long)]
        format: Option<String>,
    },
    /// List port mappings of a container.
    Port {
        /// Container.
        container: String,
        /// Private port (PORT[/PROTO]) to look up.
        private_port: Option<String>,
    },
    /// Explain a container's isolation: namespaces, cgroup, rootfs, mounts, capabilities, seccomp, processes.
    Explain {
        /// `json` or text (default).
        #[arg(long)]
        format: Option<String>,
        /// Container.
        container: String,
    },
}

/// Runs a view command.
pub fn run(eng: &mut Engine, cmd: ViewCommand) -> caixa_engine::Result<u8> {
    match cmd {
        ViewCommand::Ps {
            all,
            quiet,
            last,
            latest,
            filter,
            format,
            no_trunc,
            size,
        } => ps(
            eng,
            all,
            quiet,
            if latest { Some(1) } else { last },
            &filter,
            format.as_deref(),
            (no_trunc, size),
        ),
        ViewCommand::Logs {
            follow,
            tail,
            since,
            until,
            timestamps,
            container,
        } => logs_cmd(
            eng,
            &container,
            follow,
            tail.as_deref(),
            since.as_deref(),
            until.as_deref(),
            timestamps,
        ),
        ViewCommand::Inspect {
            format,
            size: _,
            containers,
        } => {
            let mut out = Vec::new();
            let mut code = 0;
            for c in &containers {
                match eng.find(c) {
                    Ok((r, st)) => out.push(inspect::container_json(eng, &r, &st)),
                    Err(e) => {
                        crate::containers::fail(&e);
                        code = 1;
                    }
                }
            }
            match format {
                Some(f) => out.iter().for_each(|v| println!("{}", render(&f, v))),
                None => println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default()),
            }
            Ok(code)
        }
        ViewCommand::Stats {
            no_stream,
            all,
            format,
            no_trunc,
            containers,
        } => stats_cmd(
            eng,
            no_stream,
            all,
            format.as_deref(),
            no_trunc,
            &containers,
        ),
        ViewCommand::Top { container } => {
            let (r, st) = eng.find(&container)?;
            if st.pid <= 0 {
                return Err(Error::Conflict(format!(
                    "container {} is not running",
                    r.name
                )));
            }
            let hz = 100.0;
            let boot = boot_time();
            let mut lines = vec!["UID\tPID\tPPID\tC\tSTIME\tTTY\tTIME\tCMD".to_string()];
            for p in stats::processes(st.pid) {
                let start = util::format_hm(boot + p.start as f64 / hz);
                let secs = (p.ticks as f64 / hz) as u64;
                let user = if p.uid == 0 {
                    "root".to_string()
                } else {
                    p.uid.to_string()
                };
                lines.push(format!(
                    "{user}\t{}\t{}\t0\t{start}\t?\t{:02}:{:02}:{:02}\t{}",
                    p.pid,
                    p.ppid,
                    secs / 3600,
                    secs / 60 % 60,
                    secs % 60,
                    p.cmd
                ));
            }
            print!("{}", align(&lines));
            Ok(0)
        }
        ViewCommand::Events {
            since,
            until,
            filter,
            format,
        } => events_cmd(
            eng,
            since.as_deref(),
            until.as_deref(),
            &filter,
            format.as_deref(),
        ),
        ViewCommand::Port {
            container,
            private_port,
        } => {
            let (r, _) = eng.find(&container)?;
            // No port is published until networking lands: the list is
            // empty, and any port asked for is not published (as Docker says).
            let Some(p) = private_port else {
                return Ok(0);
            };
            let (num, proto) = p.split_once('/').unwrap_or((p.as_str(), "tcp"));
            if num.parse::<u16>().map_or(true, |n| n == 0)
                || !matches!(proto, "tcp" | "udp" | "sctp")
            {
                return Err(Error::invalid(
                    "port",
                    format!("invalid port {p:?} (PORT[/tcp|udp|sctp])"),
                ));
            }
            eprintln!(
                "caixa: no public port '{num}/{proto}' published for {}",
                r.name
            );
            Ok(1)
        }
        ViewCommand::Explain { format, container } => {
            let (r, st) = eng.find(&container)?;
            let x = explain::explain(eng, &r, &st)?;
            if format.as_deref() == Some("json") {
                println!("{}", serde_json::to_string_pretty(&x).unwrap_or_default());
            } else {
                print!("{}", explain::to_text(&x));
            }
            Ok(0)
        }
    }
}

fn boot_time() -> f64 {
    std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("btime "))?
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()
        })
        .unwrap_or(0.0)
}

fn trunc_cmd(r: &Record, no_trunc: bool) -> String {
    let c = r.args.join(" ");
    if no_trunc || c.chars().count() <= 20 {
        format!("\"{c}\"")
    } else {
        format!("\"{}…\"", c.chars().take(19).collect::<String>())
    }
}

fn ps_row(r: &Record, st: &State, no_trunc: bool) -> Value {
    let created = util::parse_time(&r.created).unwrap_or(0.0);
    let labels: Vec<String> = r.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    json!({
        "ID": if no_trunc { r.id.clone() } else { r.id[..12].to_string() },
        "Image": r.image,
        "Command": trunc_cmd(r, no_trunc),
        "CreatedAt": util::format_created(&r.created),
        "RunningFor": format!("{} ago", util::human_duration((util::now_secs() - created) as i64)),
        "Ports": "",
        "State": st.status.as_str(),
        "Status": describe(st),
        "Size": "0B",
        "Names": r.name,
        "Labels": labels.join(","),
        "LabelMap": r.labels,
        "Mounts": "",
        "Networks": r.opts.network.clone().unwrap_or_else(|| "none".into()),
    })
}

fn matches(r: &Record, st: &State, f: &str) -> caixa_engine::Result<bool> {
    let (k, v) = f
        .split_once('=')
        .ok_or_else(|| Error::invalid("--filter", format!("{f:?}: expected key=value")))?;
    Ok(match k {
        "id" => r.id.starts_with(v),
        "name" => r.name.contains(v),
        "label" => match v.split_once('=') {
            Some((lk, lv)) => r.labels.get(lk).is_some_and(|x| x == lv),
            None => r.labels.contains_key(v),
        },
        "status" => st.status.as_str() == v,
        "exited" => st.status == Status::Exited && st.exit_code.to_string() == v,
        "health" => {
            (if st.health.is_empty() {
                "none"
            } else {
                st.health.as_str()
            }) == v
        }
        "ancestor" => {
            r.image == v
                || r.image_id.starts_with(v)
                || r.image_id.trim_start_matches("sha256:").starts_with(v)
        }
        _ => return Err(Error::invalid("--filter", format!("unknown filter {k:?}"))),
    })
}

fn ps(
    eng: &Engine,
    all: bool,
    quiet: bool,
    last: Option<usize>,
    filters: &[String],
    format: Option<&str>,
    (no_trunc, size): (bool, bool),
) -> caixa_engine::Result<u8> {
    let mut list = eng.list()?;
    list.reverse();
    // Bad filters are errors even when nothing would be filtered.
    for f in filters {
        match f.split_once('=') {
            Some((k, _))
                if [
                    "id", "name", "label", "status", "exited", "health", "ancestor",
                ]
                .contains(&k) => {}
            Some((k, _)) => {
                return Err(Error::invalid("--filter", format!("unknown filter {k:?}")));
            }
            None => {
                return Err(Error::invalid(
                    "--filter",
                    format!("{f:?}: expected key=value"),
                ));
            }
        }
    }
    let show_all = all
        || last.is_some()
        || filters
            .iter()
            .any(|f| f.starts_with("status=") || f.starts_with("exited="));
    let mut rows = Vec::new();
    for (r, st) in &list {
        if !show_all
            && !matches!(
                st.status,
                Status::Running | Status::Paused | Status::Restarting
            )
        {
            continue;
        }
        let mut keep = true;
        for f in filters {
            keep &= matches(r, st, f)?;
        }
        if keep {
            let mut row = ps_row(r, st, no_trunc);
            if size {
                let upper = util::dir_size(&eng.dir(&r.id).join("upper"));
                row["Size"] = json!(util::human_size(upper as f64, false));
            }
            rows.push(row);
        }
    }
    if let Some(n) = last {
        rows.truncate(n);
    }
    if quiet {
        rows.iter()
            .for_each(|r| println!("{}", r["ID"].as_str().unwrap_or("")));
        return Ok(0);
    }
    match format {
        Some("json") => rows.iter().for_each(|r| println!("{r}")),
        Some(f) => print_rows(f, &rows),
        None if size => print_rows(
            "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}\t{{.Size}}",
            &rows,
        ),
        None => print_rows(
            "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}",
            &rows,
        ),
    }
    Ok(0)
}

fn print_entry(e: &logs::Entry, ts: bool) {
    let line = if ts {
        format!("{} {}", e.time, e.log)
    } else {
        e.log.clone()
    };
    if e.stream == "stderr" {
        let _ = std::io::stderr().write_all(line.as_bytes());
    } else {
        let mut o = std::io::stdout().lock();
        let _ = o.write_all(line.as_bytes());
        let _ = o.flush();
    }
}

fn logs_cmd(
    eng: &Engine,
    key: &str,
    follow: bool,
    tail: Option<&str>,
    since: Option<&str>,
    until: Option<&str>,
    ts: bool,
) -> caixa_engine::Result<u8> {
    let (r, _) = eng.find(key)?;
    let since = since.map(|s| util::parse_since("--since", s)).transpose()?;
    let until = until.map(|s| util::parse_since("--until", s)).transpose()?;
    let path = eng.log_path(&r.id);
    let mut follower = follow.then(|| logs::Follower::new(&path));
    let mut entries = logs::read_all(&path, since, until);
    if let Some(t) = tail.filter(|t| *t != "all") {
        let n: usize = t
            .parse()
            .map_err(|_| Error::invalid("--tail", format!("{t:?} is not a number")))?;
        let skip = entries.len().saturating_sub(n);
        entries.drain(..skip);
    }
    entries.iter().for_each(|e| print_entry(e, ts));
    let Some(f) = follower.as_mut() else {
        return Ok(0);
    };
    loop {
        for e in f.poll(until) {
            print_entry(&e, ts);
        }
        let st = caixa_engine::state::read(&eng.dir(&r.id));
        if !st.status.is_active() || until.is_some_and(|u| util::now_secs() > u) {
            for e in f.poll(until) {
                print_entry(&e, ts);
            }
            return Ok(0);
        }
        f.wait(st.monitor_pid, until);
    }
}

fn stats_cmd(
    eng: &Engine,
    no_stream: bool,
    all: bool,
    format: Option<&str>,
    no_trunc: bool,
    keys: &[String],
) -> caixa_engine::Result<u8> {
    let targets: Vec<(Record, State)> = if keys.is_empty() {
        eng.list()?
            .into_iter()
            .filter(|(_, s)| all || s.status == Status::Running)
            .collect()
    } else {
        keys.iter()
            .map(|k| eng.find(k))
            .collect::<caixa_engine::Result<_>>()?
    };
    let mut prev: Vec<(stats::Sample, Instant)> = targets
        .iter()
        .map(|(_, s)| (stats::sample(s.pid), Instant::now()))
        .collect();
    loop {
        std::thread::sleep(Duration::from_millis(if no_stream { 500 } else { 1000 }));
        let mut rows = Vec::new();
        for (i, (r, st)) in targets.iter().enumerate() {
            let now = Instant::now();
            let s = if st.pid > 0 {
                stats::sample(st.pid)
            } else {
                stats::Sample::default()
            };
            let dt = now.duration_since(prev[i].1).as_nanos() as f64;
            let cpu = if dt > 0.0 {
                s.cpu_ns.saturating_sub(prev[i].0.cpu_ns) as f64 / dt * 100.0
            } else {
                0.0
            };
            let mem_perc = if s.mem_limit > 0 {
                s.mem_usage as f64 / s.mem_limit as f64 * 100.0
            } else {
                0.0
            };
            rows.push(json!({
                "Container": if no_trunc { r.id.clone() } else { r.id[..12].to_string() },
                "ID": if no_trunc { r.id.clone() } else { r.id[..12].to_string() },
                "Name": r.name,
                "CPUPerc": format!("{cpu:.2}%"),
                "MemUsage": format!("{} / {}", util::human_size(s.mem_usage as f64, true), util::human_size(s.mem_limit as f64, true)),
                "MemPerc": format!("{mem_perc:.2}%"),
                "NetIO": format!("{} / {}", util::human_size(s.net_rx as f64, false), util::human_size(s.net_tx as f64, false)),
                "BlockIO": format!("{} / {}", util::human_size(s.blk_read as f64, false), util::human_size(s.blk_write as f64, false)),
                "PIDs": s.pids.to_string(),
                "Raw": s,
            }));
            prev[i] = (s, now);
        }
        match format {
            Some("json") => rows.iter().for_each(|r| println!("{r}")),
            Some(f) => print_rows(f, &rows),
            None => print_rows(
                "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}",
                &rows,
            ),
        }
        if no_stream {
            return Ok(0);
        }
    }
}

fn events_cmd(
    eng: &Engine,
    since: Option<&str>,
    until: Option<&str>,
    filters: &[String],
    format: Option<&str>,
) -> caixa_engine::Result<u8> {
    let since = since
        .map(|s| util::parse_since("--since", s))
        .transpose()?
        .unwrap_or_else(util::now_secs);
    let until = until.map(|s| util::parse_since("--until", s)).transpose()?;
    let mut seq = 0;
    loop {
        for ev in eng.db.events(seq, since, until.unwrap_or(f64::MAX))? {
            seq = ev.seq;
            let keep = filters.iter().all(|f| match f.split_once('=') {
                Some(("container", v)) => ev.id.starts_with(v) || ev.name == v,
                Some(("event", v)) => ev.action == v,
                Some(("type", v)) => v == "container",
                _ => true,
            });
            if !keep {
                continue;
            }
            let v = json!({"Type": "container", "Action": ev.action, "ID": ev.id, "Name": ev.name, "Image": ev.image, "Attrs": ev.attrs, "time": ev.time as i64, "TimeNano": (ev.time * 1e9) as i64});
            match format {
                Some("json") => println!("{v}"),
                Some(f) => println!("{}", render(f, &v)),
                None => {
                    let mut attrs = format!("image={}, name={}", ev.image, ev.name);
                    if !ev.attrs.is_empty() {
                        attrs = format!("{}, {attrs}", ev.attrs);
                    }
                    println!(
                        "{} container {} {} ({attrs})",
                        util::format_rfc3339(ev.time),
                        ev.action,
                        ev.id
                    );
                }
            }
        }
        if until.is_some_and(|u| util::now_secs() >= u) {
            return Ok(0);
        }
        eng.db.wait_events(until);
    }
}
