//! OCI hooks: prestart, createRuntime, createContainer, startContainer,
//! poststart, poststop.
//!
//! CONTRACT (keep stable): [`run`] executes each hook in order with the
//! runtime-spec state JSON on stdin, its args/env, and its timeout; the
//! first failure stops and is returned.

use oci_spec::runtime::Hook;

/// A hook that failed to run, exited non-zero, or timed out.
#[derive(Debug, thiserror::Error)]
#[error("hook {path}: {reason}")]
pub struct HookError {
    /// The hook's path.
    pub path: String,
    /// Why it failed.
    pub reason: String,
}

/// Runs `hooks` in order, each with `state_json` on stdin.
pub fn run(hooks: &[Hook], state_json: &[u8]) -> Result<(), HookError> {
    let _ = (hooks, state_json);
    todo!("hooks helper")
}
