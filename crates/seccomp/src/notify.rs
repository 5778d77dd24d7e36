//! Handing the SCMP_ACT_NOTIFY listener fd to the seccomp agent.
//!
//! runtime-spec (config-linux.md, "listenerPath"): the runtime connects to
//! the unix socket at `listenerPath` and sends, in one message, the
//! container process state JSON as data and the listener fd as SCM_RIGHTS.
//! The state names the fd `seccompFd` in its `fds` array and carries
//! `listenerMetadata` as `metadata`.

use std::io::IoSlice;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};

use super::SeccompError;

/// The fd name the runtime-spec uses for the seccomp listener.
pub const SECCOMP_FD_NAME: &str = "seccompFd";

/// Builds the runtime-spec "container process state" sent to the agent:
/// `{ociVersion, fds: ["seccompFd"], pid, metadata?, state}`. `state_json`
/// is the container's state (as `caixa-runtime state` prints it).
pub fn container_process_state(
    pid: i32,
    metadata: Option<&str>,
    state_json: &[u8],
) -> Result<Vec<u8>, SeccompError> {
    let state: serde_json::Value = serde_json::from_slice(state_json)
        .map_err(|e| SeccompError::invalid("(state)", format!("invalid state JSON: {e}")))?;
    let version = state
        .get("ociVersion")
        .and_then(|v| v.as_str())
        .unwrap_or("1.2.1")
        .to_owned();
    let mut msg = serde_json::json!({
        "ociVersion": version,
        "fds": [SECCOMP_FD_NAME],
        "pid": pid,
        "state": state,
    });
    if let Some(m) = metadata.filter(|m| !m.is_empty()) {
        msg["metadata"] = serde_json::Value::String(m.to_owned());
    }
    serde_json::to_vec(&msg).map_err(|e| SeccompError::invalid("(state)", e.to_string()))
}

/// Connects to `listener_path` and sends the container process state
/// (see [`container_process_state`]) with `listener_fd` attached as
/// SCM_RIGHTS. Called by the runtime (not the filtered container process)
/// once the init has handed it the fd returned by `Prepared::install`.
pub fn send_listener(
    listener_path: &Path,
    listener_fd: BorrowedFd<'_>,
    pid: i32,
    metadata: Option<&str>,
    state_json: &[u8],
) -> Result<(), SeccompError> {
    let msg = container_process_state(pid, metadata, state_json)?;
    let fail = |what: &str, e: &dyn std::fmt::Display| {
        SeccompError::invalid(
            "listenerPath",
            format!("cannot {what} {}: {e}", listener_path.display()),
        )
    };
    let sock = UnixStream::connect(listener_path).map_err(|e| fail("connect to", &e))?;
    let fds = [listener_fd.as_raw_fd()];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    let iov = [IoSlice::new(&msg)];
    let sent = sendmsg::<()>(sock.as_raw_fd(), &iov, &cmsg, MsgFlags::MSG_NOSIGNAL, None)
        .map_err(|e| fail("send the listener fd to", &e))?;
    if sent != msg.len() {
        return Err(fail(
            "send the listener fd to",
            &format!("short write ({sent} of {} bytes)", msg.len()),
        ));
    }
    Ok(())
}
