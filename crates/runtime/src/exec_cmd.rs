//! `exec` and `ps`.

use std::path::Path;

use anyhow::{Context, Result, bail};
use caixa_oci::container::{self, ExecOptions};
use caixa_oci::state::{ContainerState, Status};
use oci_spec::runtime::{Capabilities, Capability, Process};

use crate::cli::{ExecArgs, ListFormat};

fn parse_cap(name: &str) -> Result<Capability> {
    let canon = if name.to_ascii_uppercase().starts_with("CAP_") {
        name.to_ascii_uppercase()
    } else {
        format!("CAP_{}", name.to_ascii_uppercase())
    };
    serde_json::from_value(serde_json::Value::String(canon.clone()))
        .with_context(|| format!("--cap {name}: unknown capability"))
}

/// Builds the process to run from `--process` or from the container's
/// process with the command line's overrides.
fn build_process(root: &Path, a: &ExecArgs) -> Result<Process> {
    if let Some(f) = &a.process {
        let mut p = container::exec::load_process(f)?;
        if a.tty {
            p.set_terminal(Some(true));
        }
        return Ok(p);
    }
    if a.command.is_empty() {
        bail!("exec: a command (or --process FILE) is required");
    }
    let st = ContainerState::load(root, &a.id)?;
    let spec = container::exec::container_spec(&st)?;
    let mut p = spec.process().clone().unwrap_or_default();
    p.set_args(Some(a.command.clone()));
    p.set_terminal(Some(a.tty));
    p.set_console_size(None);
    let mut env = p.env().clone().unwrap_or_default();
    for kv in &a.env {
        let Some((k, _)) = kv.split_once('=') else {
            bail!("--env {kv:?}: expected NAME=VALUE");
        };
        env.retain(|e| e.split_once('=').map(|(ek, _)| ek) != Some(k));
        env.push(kv.clone());
    }
    p.set_env(Some(env));
    if let Some(cwd) = &a.cwd {
        p.set_cwd(cwd.clone());
    }
    if let Some(u) = &a.user {
        let (uid, gid) = match u.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (u.as_str(), None),
        };
        let uid: u32 = uid
            .parse()
            .with_context(|| format!("--user {u:?}: uid must be a number"))?;
        p.user_mut().set_uid(uid);
        if let Some(g) = gid {
            let gid: u32 = g
                .parse()
                .with_context(|| format!("--user {u:?}: gid must be a number"))?;
            p.user_mut().set_gid(gid);
        }
    }
    if !a.additional_gids.is_empty() {
        p.user_mut()
            .set_additional_gids(Some(a.additional_gids.clone()));
    }
    if !a.cap.is_empty() {
        let mut caps = p.capabilities().clone().unwrap_or_default();
        let add = |set: &Option<Capabilities>, extra: &[Capability]| {
            let mut s = set.clone().unwrap_or_default();
            s.extend(extra.iter().copied());
            Some(s)
        };
        let extra = a
            .cap
            .iter()
            .map(|c| parse_cap(c))
            .collect::<Result<Vec<_>>>()?;
        caps.set_bounding(add(caps.bounding(), &extra));
        caps.set_effective(add(caps.effective(), &extra));
        caps.set_permitted(add(caps.permitted(), &extra));
        // As runc since CVE-2022-29162: never inheritable/ambient.
        p.set_capabilities(Some(caps));
    }
    if a.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    if let Some(ap) = &a.apparmor {
        p.set_apparmor_profile(Some(ap.clone()));
    }
    if let Some(l) = &a.process_label {
        p.set_selinux_label(Some(l.clone()));
    }
    Ok(p)
}

/// `exec`: returns the exit code (the process's own unless detached).
pub fn exec(root: &Path, a: &ExecArgs) -> Result<i32> {
    let process = build_process(root, a)?;
    let pid = container::exec(&ExecOptions {
        root: root.to_path_buf(),
        id: a.id.clone(),
        process,
        console_socket: a.console_socket.clone(),
        preserve_fds: a.preserve_fds,
        cgroup: a.cgroup.clone(),
        ignore_paused: a.ignore_paused,
    })?;
    if let Some(pf) = &a.pid_file {
        container::create::write_pid_file(pf, pid)?;
    }
    if a.detach {
        return Ok(0);
    }
    Ok(crate::commands::wait_forwarding(pid))
}

/// `ps`: the container's processes (pids in its cgroup).
pub fn ps(root: &Path, id: &str, format: ListFormat, ps_args: &[String]) -> Result<()> {
    let st = ContainerState::load(root, id)?;
    if st.status(root) == Status::Stopped {
        // runc lists nothing for a stopped container too, but says so.
        bail!("container {id}: is stopped");
    }
    let cg = caixa_oci::container::cgroup_of(&st)?;
    let pids = cg.pids()?;
    match format {
        ListFormat::Json => println!("{}", serde_json::to_string(&pids)?),
        ListFormat::Table => {
            let args: Vec<String> = if ps_args.is_empty() {
                vec!["-ef".into()]
            } else {
                ps_args.to_vec()
            };
            let out = std::process::Command::new("ps")
                .args(&args)
                .output()
                .context("running ps")?;
            if !out.status.success() {
                bail!(
                    "ps {}: {}",
                    args.join(" "),
                    String::from_utf8_lossy(&out.stderr).trim()
                );
            }
            let text = String::from_utf8_lossy(&out.stdout);
            let mut lines = text.lines();
            let header = lines.next().unwrap_or_default();
            let col = header
                .split_whitespace()
                .position(|h| h == "PID")
                .context("ps output has no PID column")?;
            println!("{header}");
            for l in lines {
                if let Some(p) = l
                    .split_whitespace()
                    .nth(col)
                    .and_then(|p| p.parse::<i32>().ok())
                    && pids.contains(&p)
                {
                    println!("{l}");
                }
            }
        }
    }
    Ok(())
}
