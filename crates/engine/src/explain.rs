//! `caixa explain`: a container's isolation, read from the kernel —
//! namespaces (inode, shared with the host or another container), cgroup
//! (path, limits, usage), rootfs (overlay lower/upper/work), mounts,
//! capabilities, seccomp, and the process tree.

use std::fmt::Write;

use serde_json::{Value, json};

use crate::config::Record;
use crate::error::{Error, Result};
use crate::state::{State, Status};
use crate::{Engine, spec, stats};

const NAMESPACES: &[&str] = &["cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts"];

fn ns_inode(pid: i32, ns: &str) -> Option<u64> {
    let l = std::fs::read_link(format!("/proc/{pid}/ns/{ns}")).ok()?;
    let s = l.to_string_lossy();
    s.split('[').nth(1)?.trim_end_matches(']').parse().ok()
}

fn caps_from_mask(hex: &str) -> Vec<String> {
    let mask = u64::from_str_radix(hex.trim(), 16).unwrap_or(0);
    spec::ALL_CAPS
        .iter()
        .enumerate()
        .filter(|(i, _)| mask & (1u64 << i) != 0)
        .map(|(_, c)| c.to_string())
        .collect()
}

fn status_field(pid: i32, key: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix(key)
                .map(|v| v.trim_start_matches(':').trim().to_string())
        })
        .unwrap_or_default()
}

fn read(p: &std::path::Path) -> Option<String> {
    std::fs::read_to_string(p)
        .ok()
        .map(|s| s.trim().to_string())
}

fn cgroup_info(pid: i32) -> Value {
    let dirs = stats::cgroup_dirs(pid);
    let s = stats::sample(pid);
    let mut limits = serde_json::Map::new();
    let files: &[(&str, &str, &str)] = if let Some(_u) = dirs.get("") {
        &[
            ("", "memory.max", "memory"),
            ("", "memory.swap.max", "memory+swap"),
            ("", "cpu.max", "cpu quota/period"),
            ("", "cpu.weight", "cpu weight"),
            ("", "cpuset.cpus", "cpuset"),
            ("", "pids.max", "pids"),
        ]
    } else {
        &[
            ("memory", "memory.limit_in_bytes", "memory"),
            ("memory", "memory.memsw.limit_in_bytes", "memory+swap"),
            ("cpu", "cpu.cfs_quota_us", "cpu quota (us)"),
            ("cpu", "cpu.cfs_period_us", "cpu period (us)"),
            ("cpu", "cpu.shares", "cpu shares"),
            ("cpuset", "cpuset.cpus", "cpuset"),
            ("pids", "pids.max", "pids"),
        ]
    };
    for (ctrl, file, name) in files {
        if let Some(d) = dirs.get(*ctrl)
            && let Some(v) = read(&d.join(file))
        {
            limits.insert(name.to_string(), json!({"file": d.join(file), "value": v}));
        }
    }
    let paths: serde_json::Map<String, Value> = dirs
        .iter()
        .map(|(k, v)| {
            (
                if k.is_empty() {
                    "unified".into()
                } else {
                    k.clone()
                },
                json!(v),
            )
        })
        .collect();
    json!({
        "version": if spec::cgroup_v2() { 2 } else { 1 },
        "path": std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default().lines().find_map(|l| {
            let mut f = l.splitn(3, ':');
            let (_, c, p) = (f.next()?, f.next()?, f.next()?);
            (c == "memory" || c.is_empty()).then(|| p.to_string())
        }),
        "dirs": paths,
        "limits": limits,
        "usage": s,
    })
}

fn rootfs_info(dir: &std::path::Path) -> Value {
    let target = dir.join("rootfs").display().to_string();
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    for l in mi.lines() {
        let f: Vec<&str> = l.split(' ').collect();
        if f.get(4) != Some(&target.as_str()) {
            continue;
        }
        let sep = f.iter().position(|x| *x == "-").unwrap_or(f.len());
        let fstype = f.get(sep + 1).copied().unwrap_or("");
        let opts = f.get(sep + 3).copied().unwrap_or("");
        let get = |k: &str| {
            opts.split(',')
                .find_map(|o| o.strip_prefix(k))
                .unwrap_or("")
                .to_string()
        };
        // Classic `lowerdir=a:b`, or one `lowerdir+=` per layer (new mount API).
        let mut lower: Vec<String> = get("lowerdir=")
            .split(':')
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();
        lower.extend(
            opts.split(',')
                .filter_map(|o| o.strip_prefix("lowerdir+="))
                .map(String::from),
        );
        return json!({"mount": target, "fstype": fstype, "mount_id": f[0], "lower": lower, "upper": get("upperdir="), "work": get("workdir=")});
    }
    json!({"mount": target, "mounted": false})
}

fn mounts(pid: i32) -> Vec<Value> {
    std::fs::read_to_string(format!("/proc/{pid}/mountinfo"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            let sep = f.iter().position(|x| *x == "-")?;
            Some(json!({"target": f.get(4)?, "type": f.get(sep + 1)?, "source": f.get(sep + 2)?, "options": f.get(5)?}))
        })
        .collect()
}

/// The user's mounts (`-v`, `--mount`, `--tmpfs`), each with what the
/// container's mountinfo says about its target.
fn volumes(r: &Record, pid: i32) -> Vec<Value> {
    let mi = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap_or_default();
    crate::volumes::parse_all(&r.opts)
        .unwrap_or_default()
        .iter()
        .map(|m| {
            // The last mount on the target is the one the container sees.
            let line = mi.lines().rev().find_map(|l| {
                let f: Vec<&str> = l.split(' ').collect();
                let sep = f.iter().position(|x| *x == "-")?;
                (f.get(4) == Some(&m.target.as_str())).then(|| (f.clone(), sep))
            });
            let mut v = json!({
                "type": if m.kind == crate::volumes::Kind::Bind { "bind" } else { "tmpfs" },
                "source": m.source.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "tmpfs".into()),
                "target": m.target,
                "readonly": m.readonly,
                "mounted": line.is_some(),
            });
            if let Some((f, sep)) = line {
                v["mount_id"] = json!(f[0]);
                v["fs_root"] = json!(f[3]);
                v["options"] = json!(f[5]);
                v["fstype"] = json!(f.get(sep + 1));
            }
            v
        })
        .collect()
}

/// The device nodes the container sees in its /dev (through
/// /proc/PID/root, links not followed), as "c 1:3 /dev/null".
fn devices(pid: i32) -> Vec<String> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let root = std::path::PathBuf::from(format!("/proc/{pid}/root"));
    let mut out = Vec::new();
    let mut dirs = vec![root.join("dev")];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let Ok(md) = std::fs::symlink_metadata(e.path()) else {
                continue;
            };
            let ft = md.file_type();
            let kind = if ft.is_dir() {
                // devpts has the container's own terminals only.
                if e.file_name() != "pts" {
                    dirs.push(e.path());
                }
                continue;
            } else if ft.is_char_device() {
                'c'
            } else if ft.is_block_device() {
                'b'
            } else {
                continue;
            };
            let rdev = md.rdev();
            let inside = e.path();
            let inside = inside.strip_prefix(&root).unwrap_or(&inside);
            out.push(format!(
                "{kind} {}:{} /{}",
                libc::major(rdev),
                libc::minor(rdev),
                inside.display()
            ));
        }
    }
    out.sort();
    out
}

/// Everything `explain` shows, as JSON.
pub fn explain(e: &Engine, r: &Record, st: &State) -> Result<Value> {
    if !matches!(st.status, Status::Running | Status::Paused) || st.pid <= 0 {
        return Err(Error::Conflict(format!(
            "cannot explain container {}: it is not running",
            r.name
        )));
    }
    let pid = st.pid;
    // Other running containers, to spot shared namespaces.
    let others: Vec<(String, i32)> = e
        .list()?
        .into_iter()
        .filter(|(o, s)| o.id != r.id && s.pid > 0)
        .map(|(o, s)| (o.name, s.pid))
        .collect();
    let mut nss = Vec::new();
    for ns in NAMESPACES {
        let Some(ino) = ns_inode(pid, ns) else {
            continue;
        };
        // "The host" is the namespace caixa itself runs in (pid 1 may be unreadable).
        let host = ns_inode(std::process::id() as i32, ns) == Some(ino);
        let shared: Vec<&str> = others
            .iter()
            // Only a private namespace is "shared with another container".
            .filter(|(_, p)| !host && ns_inode(*p, ns) == Some(ino))
            .map(|(n, _)| n.as_str())
            .collect();
        nss.push(
            json!({"type": ns, "inode": ino, "shared_with_host": host, "shared_with": shared}),
        );
    }
    let procs = stats::processes(pid);
    Ok(json!({
        "id": r.id,
        "name": r.name,
        "pid": pid,
        "runtime": r.runtime,
        "namespaces": nss,
        "cgroup": cgroup_info(pid),
        "rootfs": rootfs_info(&e.dir(&r.id)),
        "mounts": mounts(pid),
        "volumes": volumes(r, pid),
        "privileged": r.opts.privileged,
        "devices": devices(pid),
        "capabilities": {
            "effective": caps_from_mask(&status_field(pid, "CapEff")),
            "bounding": caps_from_mask(&status_field(pid, "CapBnd")),
            "permitted": caps_from_mask(&status_field(pid, "CapPrm")),
        },
        "seccomp": match status_field(pid, "Seccomp").as_str() { "0" => "disabled", "1" => "strict", "2" => "filter", _ => "unknown" },
        "no_new_privs": status_field(pid, "NoNewPrivs") == "1",
        "processes": procs,
    }))
}

fn tree(out: &mut String, procs: &[Value], pid: i64, depth: usize) {
    for p in procs.iter().filter(|p| p["ppid"].as_i64() == Some(pid)) {
        let me = p["pid"].as_i64().unwrap_or(0);
        let _ = writeln!(
            out,
            "  {}{} {}",
            "  ".repeat(depth),
            me,
            p["cmd"].as_str().unwrap_or("")
        );
        tree(out, procs, me, depth + 1);
    }
}

/// The terminal rendering of [`explain`]'s JSON.
pub fn to_text(x: &Value) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "container {} ({}), init pid {} on the host",
        x["name"].as_str().unwrap_or(""),
        &x["id"].as_str().unwrap_or("")[..12.min(x["id"].as_str().unwrap_or("").len())],
        x["pid"]
    );
    let _ = writeln!(o, "\nnamespaces:");
    for n in x["namespaces"].as_array().into_iter().flatten() {
        let shared: Vec<&str> = n["shared_with"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let how = if n["shared_with_host"] == true {
            "shared with the host".to_string()
        } else if !shared.is_empty() {
            format!("private, shared with {}", shared.join(", "))
        } else {
            "private".to_string()
        };
        let _ = writeln!(
            o,
            "  {:<7} {:<12} {how}",
            n["type"].as_str().unwrap_or(""),
            n["inode"]
        );
    }
    let cg = &x["cgroup"];
    let _ = writeln!(
        o,
        "\ncgroup v{}: {}",
        cg["version"],
        cg["path"].as_str().unwrap_or("?")
    );
    for (k, v) in cg["limits"].as_object().into_iter().flatten() {
        let _ = writeln!(o, "  {k:<16} {}", v["value"].as_str().unwrap_or(""));
    }
    let u = &cg["usage"];
    let _ = writeln!(
        o,
        "  usage: memory {} bytes, cpu {} ns, pids {}",
        u["mem_usage"], u["cpu_ns"], u["pids"]
    );
    let rf = &x["rootfs"];
    let _ = writeln!(
        o,
        "\nrootfs: {} ({})",
        rf["mount"].as_str().unwrap_or(""),
        rf["fstype"].as_str().unwrap_or("not mounted")
    );
    for l in rf["lower"].as_array().into_iter().flatten() {
        let _ = writeln!(o, "  lower  {}", l.as_str().unwrap_or(""));
    }
    let _ = writeln!(
        o,
        "  upper  {}\n  work   {}",
        rf["upper"].as_str().unwrap_or(""),
        rf["work"].as_str().unwrap_or("")
    );
    let _ = writeln!(o, "\nmounts:");
    for m in x["mounts"].as_array().into_iter().flatten() {
        let _ = writeln!(
            o,
            "  {:<24} {:<8} {:<10} {}",
            m["target"].as_str().unwrap_or(""),
            m["type"].as_str().unwrap_or(""),
            m["source"].as_str().unwrap_or(""),
            m["options"].as_str().unwrap_or("")
        );
    }
    let vols = x["volumes"].as_array().cloned().unwrap_or_default();
    if !vols.is_empty() {
        let _ = writeln!(o, "\nvolumes (-v, --mount, --tmpfs):");
        for v in vols {
            let seen = if v["mounted"] == true {
                format!(
                    "mount {} {} {}",
                    v["mount_id"].as_str().unwrap_or(""),
                    v["fstype"].as_str().unwrap_or(""),
                    v["options"].as_str().unwrap_or("")
                )
            } else {
                "NOT MOUNTED".to_string()
            };
            let _ = writeln!(
                o,
                "  {:<20} {:<6} {} ({}) {seen}",
                v["target"].as_str().unwrap_or(""),
                v["type"].as_str().unwrap_or(""),
                v["source"].as_str().unwrap_or(""),
                if v["readonly"] == true { "ro" } else { "rw" },
            );
        }
    }
    let caps: Vec<&str> = x["capabilities"]["effective"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let _ = writeln!(
        o,
        "\ncapabilities (effective, {}): {}",
        caps.len(),
        caps.join(" ")
    );
    let _ = writeln!(
        o,
        "seccomp: {}   no_new_privs: {}   privileged: {}",
        x["seccomp"].as_str().unwrap_or(""),
        x["no_new_privs"],
        x["privileged"]
    );
    let devs: Vec<&str> = x["devices"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let _ = writeln!(o, "devices in /dev ({}):", devs.len());
    for chunk in devs.chunks(4) {
        let _ = writeln!(o, "  {}", chunk.join("   "));
    }
    let _ = writeln!(o, "\nprocesses:");
    let procs: Vec<Value> = x["processes"].as_array().cloned().unwrap_or_default();
    if let Some(init) = procs.first() {
        let _ = writeln!(
            o,
            "  {} {}",
            init["pid"],
            init["cmd"].as_str().unwrap_or("")
        );
        tree(&mut o, &procs, init["pid"].as_i64().unwrap_or(0), 1);
    }
    o
}
