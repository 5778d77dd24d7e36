//! Restart policies beyond a monitor's life: cleaning up after a container
//! whose monitor died, and `caixa system boot`, which brings back the
//! containers whose policy asks for it after a reboot (run at boot by the
//! `caixa-boot.service` systemd unit, like Podman's `podman-restart.service`).

use std::process::Stdio;

use crate::config::Record;
use crate::error::Result;
use crate::lifecycle::StartMode;
use crate::state::{self, State};
use crate::{Engine, images};

/// What `system boot` did with one container.
#[derive(Debug)]
pub enum BootAction {
    /// Started again (its policy asks for it).
    Started,
    /// Its monitor had died; cleaned up and left exited.
    Reaped,
    /// Its monitor had died and it had `--rm`: removed.
    Removed,
}

/// Whether a restart policy brings a container back when the engine boots.
/// `always` does even after `caixa stop`; `unless-stopped` does not;
/// `on-failure` only when it was running when its monitor died.
pub fn restarts_at_boot(policy: &str, stopped_by_user: bool, was_running: bool) -> bool {
    match policy {
        "always" => true,
        "unless-stopped" => !stopped_by_user,
        p if p == "on-failure" || p.starts_with("on-failure:") => was_running && !stopped_by_user,
        _ => false,
    }
}

impl Engine {
    /// Cleans up after a container whose monitor died (killed, or the
    /// machine rebooted): kills what is left of it through the runtime,
    /// deletes the runtime's state, unmounts its rootfs and records it as
    /// exited. Returns false (doing nothing) for any other container.
    pub fn reap_orphan(&mut self, r: &Record, st: &State) -> Result<bool> {
        if !st.orphaned {
            return Ok(false);
        }
        let dir = self.dir(&r.id);
        let killed = self
            .runtime_cmd(r)
            .args(["kill", &r.id, "KILL"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if self.runtime_root().join(&r.id).exists() {
            let _ = self
                .runtime_cmd(r)
                .args(["delete", "--force", &r.id])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        if images::is_mounted(&dir.join("rootfs")) {
            images::unmount_rootfs(self.images()?, r, &dir)?;
        }
        let _ = std::fs::remove_dir_all(self.run_dir(&r.id));
        let code = if killed {
            128 + libc::SIGKILL
        } else {
            st.exit_code
        };
        state::record_exit(&dir, code, &st.error)
            .map_err(|e| crate::Error::io(format!("write {}/state", dir.display()), e))?;
        self.db.event(r, "die", &format!("exitCode={code}"));
        Ok(true)
    }

    /// `caixa system boot`: reaps every container whose monitor died and
    /// starts again those whose restart policy asks for it
    /// ([`restarts_at_boot`]). Returns what was done, per container.
    pub fn boot(&mut self) -> Result<Vec<(Record, Result<BootAction>)>> {
        let mut out = Vec::new();
        for (r, st) in self.list()? {
            if !st.orphaned && (st.status.is_active() || st.started_at.is_empty()) {
                continue;
            }
            let res = self.boot_one(&r, &st);
            if let Some(res) = res.transpose() {
                out.push((r, res));
            }
        }
        Ok(out)
    }

    fn boot_one(&mut self, r: &Record, st: &State) -> Result<Option<BootAction>> {
        let reaped = self.reap_orphan(r, st)?;
        if reaped && r.opts.rm {
            self.remove(&r.id, true)?;
            return Ok(Some(BootAction::Removed));
        }
        let stopped = self.dir(&r.id).join("stopped").exists();
        let policy = r.opts.restart.as_deref().unwrap_or("no");
        if restarts_at_boot(policy, stopped, reaped) {
            self.start(r, StartMode::default())?;
            self.db.event(r, "restart", "");
            return Ok(Some(BootAction::Started));
        }
        Ok(reaped.then_some(BootAction::Reaped))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_at_boot() {
        assert!(restarts_at_boot("always", true, false));
        assert!(restarts_at_boot("unless-stopped", false, false));
        assert!(!restarts_at_boot("unless-stopped", true, true));
        assert!(restarts_at_boot("on-failure:3", false, true));
        assert!(!restarts_at_boot("on-failure", false, false));
        assert!(!restarts_at_boot("no", false, true));
    }
}
