//! `caixa inspect`: Docker-compatible container JSON.

use serde_json::{Value, json};

use crate::config::Record;
use crate::state::{State, Status};
use crate::{Engine, spec, util};

fn ns_to_go(ns: i64) -> i64 {
    ns
}

/// Docker's `ContainerJSON` for one container.
pub fn container_json(e: &Engine, r: &Record, st: &State) -> Value {
    let dir = e.dir(&r.id);
    let o = &r.opts;
    let mem = o
        .memory
        .as_deref()
        .and_then(|m| util::parse_size("--memory", m).ok())
        .unwrap_or(0);
    let swap = match o.memory_swap.as_deref() {
        Some("-1") => -1,
        Some(s) => util::parse_size("--memory-swap", s).unwrap_or(0),
        None => {
            if mem > 0 {
                mem * 2
            } else {
                0
            }
        }
    };
    let (policy, max_retry) = match o.restart.as_deref().unwrap_or("no") {
        p if p.starts_with("on-failure:") => ("on-failure", p[11..].parse::<i64>().unwrap_or(0)),
        p => (p, 0),
    };
    let health = r.health.as_ref().map(|h| {
        json!({"Test": h.test, "Interval": ns_to_go(h.interval_ns), "Timeout": ns_to_go(h.timeout_ns),
               "Retries": h.retries, "StartPeriod": ns_to_go(h.start_period_ns)})
    });
    let mut state = json!({
        "Status": st.status.as_str(),
        "Running": matches!(st.status, Status::Running | Status::Paused),
        "Paused": st.status == Status::Paused,
        "Restarting": st.status == Status::Restarting,
        "OOMKilled": st.oom_killed,
        "Dead": st.status == Status::Dead,
        "Pid": st.pid,
        "ExitCode": st.exit_code,
        "Error": st.error,
        "StartedAt": if st.started_at.is_empty() { "0001-01-01T00:00:00Z" } else { st.started_at.as_str() },
        "FinishedAt": if st.finished_at.is_empty() { "0001-01-01T00:00:00Z" } else { st.finished_at.as_str() },
    });
    if r.health.is_some() {
        let log: Vec<Value> = crate::state::health_log(&e.dir(&r.id))
            .into_iter()
            .map(|h| json!({"Start": h.start, "End": h.end, "ExitCode": h.exit_code, "Output": h.output}))
            .collect();
        state["Health"] = json!({"Status": if st.health.is_empty() { "starting" } else { st.health.as_str() }, "FailingStreak": st.health_failing, "Log": log});
    }
    let caps = spec::capabilities(r).unwrap_or_default();
    let lower: Vec<String> = r
        .lower_dirs
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let ulimits: Vec<Value> = o
        .ulimits
        .iter()
        .filter_map(|u| {
            let (n, v) = u.split_once('=')?;
            let (s, h) = v.split_once(':').unwrap_or((v, v));
            Some(json!({"Name": n, "Soft": s.parse::<i64>().unwrap_or(-1), "Hard": h.parse::<i64>().unwrap_or(-1)}))
        })
        .collect();
    let log_config: serde_json::Map<String, Value> = o
        .log_opts
        .iter()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    let user_mounts = crate::volumes::parse_all(o).unwrap_or_default();
    let mounts: Vec<Value> = user_mounts
        .iter()
        .filter_map(crate::volumes::inspect_entry)
        .collect();
    let host_mounts: Vec<Value> = user_mounts
        .iter()
        .filter(|m| m.origin == crate::volumes::Origin::Mount)
        .map(|m| {
            let mut v = json!({"Type": if m.kind == crate::volumes::Kind::Bind { "bind" } else { "tmpfs" },
                               "Source": m.source.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
                               "Target": m.target});
            if m.readonly {
                v["ReadOnly"] = json!(true);
            }
            v
        })
        .collect();
    let tmpfs: serde_json::Map<String, Value> = o
        .tmpfs
        .iter()
        .map(|t| {
            let (p, opts) = t.split_once(':').unwrap_or((t, ""));
            (p.to_string(), json!(opts))
        })
        .collect();
    let mut v = json!({
        "Id": r.id,
        "Created": r.created,
        "Path": r.args.first().cloned().unwrap_or_default(),
        "Args": r.args.iter().skip(1).collect::<Vec<_>>(),
        "State": state,
        "Image": r.image_id,
        "ResolvConfPath": dir.join("resolv.conf"),
        "HostnamePath": dir.join("hostname"),
        "HostsPath": dir.join("hosts"),
        "LogPath": e.log_path(&r.id),
        "Name": format!("/{}", r.name),
        "RestartCount": st.restart_count,
        "Driver": "overlay2",
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": if o.privileged { "unconfined" } else { "" },
        "ExecIDs": null,
        "HostConfig": {
            "NetworkMode": o.network.clone().unwrap_or_else(|| "none".into()),
            "RestartPolicy": {"Name": policy, "MaximumRetryCount": max_retry},
            "AutoRemove": o.rm,
            "CapAdd": o.cap_add,
            "CapDrop": o.cap_drop,
            "Privileged": o.privileged,
            "ReadonlyRootfs": o.read_only,
            "SecurityOpt": o.security_opt,
            "Memory": mem,
            "MemorySwap": swap,
            "NanoCpus": o.cpus.map_or(0, |c| (c * 1e9) as i64),
            "CpuShares": o.cpu_shares.unwrap_or(0),
            "CpusetCpus": o.cpuset_cpus.clone().unwrap_or_default(),
            "PidsLimit": o.pids_limit,
            "Ulimits": ulimits,
            "Init": o.init,
            "Runtime": r.runtime,
            "LogConfig": {"Type": "json-file", "Config": log_config},
            "MaskedPaths": if o.privileged { json!([]) } else { json!(spec::MASKED_PATHS) },
            "ReadonlyPaths": if o.privileged { json!([]) } else { json!(spec::READONLY_PATHS) },
        },
        "GraphDriver": {
            "Name": "overlay2",
            "Data": {
                "LowerDir": lower.join(":"),
                "UpperDir": dir.join("upper"),
                "WorkDir": dir.join("work"),
                "MergedDir": dir.join("rootfs"),
            }
        },
        "Mounts": mounts,
        "Config": {
            "Hostname": r.hostname,
            "Domainname": "",
            "User": r.user,
            "AttachStdin": o.interactive,
            "AttachStdout": true,
            "AttachStderr": true,
            "Tty": o.tty,
            "OpenStdin": o.interactive,
            "StdinOnce": o.interactive,
            "Env": r.env,
            "Cmd": r.cmd,
            "Healthcheck": health,
            "Image": r.image,
            "WorkingDir": r.workdir,
            "Entrypoint": if r.entrypoint.is_empty() { Value::Null } else { json!(r.entrypoint) },
            "Labels": r.labels,
            "StopSignal": r.stop_signal,
            "StopTimeout": r.stop_timeout,
        },
        "NetworkSettings": {"Networks": {}, "Ports": {}, "SandboxKey": if st.pid > 0 { format!("/proc/{}/ns/net", st.pid) } else { String::new() }},
        "EffectiveCaps": caps,
    });
    let hc = &mut v["HostConfig"];
    hc["Binds"] = if o.volumes.is_empty() {
        Value::Null
    } else {
        json!(o.volumes)
    };
    hc["Mounts"] = if host_mounts.is_empty() {
        Value::Null
    } else {
        json!(host_mounts)
    };
    hc["Tmpfs"] = if tmpfs.is_empty() {
        Value::Null
    } else {
        Value::Object(tmpfs)
    };
    v
}
