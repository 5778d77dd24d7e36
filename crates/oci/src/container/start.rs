//! `start`: release a created container's init to exec the user process.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::run_hooks;
use crate::error::{Context, OciError, Result};
use crate::state::{ContainerState, Status};

/// Starts container `id`; runs poststart hooks (a failing one is reported
/// as a warning, as the runtime spec says).
pub fn start(root: &Path, id: &str) -> Result<()> {
    let st = ContainerState::load(root, id)?;
    let status = st.status(root);
    if status != Status::Created {
        return Err(OciError::container(
            id,
            format!("cannot start a container that is {status}"),
        ));
    }
    let fifo_path = ContainerState::fifo(root, id);
    // Non-blocking write-only open: succeeds only while the init holds the
    // fifo open (ENXIO otherwise), so `start` can never hang.
    let mut fifo = match std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo_path)
    {
        Ok(f) => f,
        Err(e) if e.raw_os_error() == Some(libc::ENXIO) => {
            return Err(OciError::container(id, "the init has exited"));
        }
        Err(e) => return Err(e).ctx(|| format!("open {}", fifo_path.display())),
    };
    fifo.write_all(b"0")
        .ctx(|| format!("write {}", fifo_path.display()))?;
    drop(fifo);
    std::fs::remove_file(&fifo_path).ctx(|| format!("remove {}", fifo_path.display()))?;
    poststart(&st);
    Ok(())
}

/// Starts container `id` created with `inline_start` (by `run`): writes
/// the start byte to the init's pipe, then runs poststart hooks.
pub fn start_inline(root: &Path, id: &str, mut pipe: std::io::PipeWriter) -> Result<()> {
    match pipe.write_all(b"0") {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EPIPE) => {
            return Err(OciError::container(id, "the init has exited"));
        }
        Err(e) => return Err(e).ctx(|| "write the start pipe".into()),
    }
    drop(pipe);
    let st = ContainerState::load(root, id)?;
    poststart(&st);
    Ok(())
}

/// Runs poststart hooks; a failing one is only a warning.
fn poststart(st: &ContainerState) {
    if let Err(e) = run_hooks(
        st.hooks.as_ref().and_then(|h| h.poststart().as_ref()),
        st,
        Status::Running,
    ) {
        tracing::warn!("poststart: {e}");
        eprintln!("caixa-runtime: warning: poststart hook: {e}");
    }
}
