//! seccomp: compiles `linux.seccomp` to BPF once (cached by hash) and
//! installs it in the container process right before execve.
//!
//! CONTRACT (keep stable): [`prepare`] runs in the runtime before fork (it
//! may be slow, it caches); [`Prepared::install`] runs in the child as the
//! last step before execve and must not allocate much or take locks.

use std::os::fd::OwnedFd;
use std::path::Path;

use oci_spec::runtime::LinuxSeccomp;

/// Errors from compiling or loading a seccomp profile.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    /// A field of the profile that is invalid or unsupported.
    #[error("linux.seccomp.{field}: {reason}")]
    Invalid {
        /// The field, e.g. `syscalls[2].action`.
        field: String,
        /// Why.
        reason: String,
    },
    /// A system call failed.
    #[error("seccomp: {0}")]
    Sys(#[from] std::io::Error),
}

/// A compiled filter, ready to install.
#[derive(Debug)]
pub struct Prepared {
    _private: (),
}

/// Compiles (or loads from `cache_dir`) the BPF for `profile`.
pub fn prepare(profile: &LinuxSeccomp, cache_dir: &Path) -> Result<Prepared, SeccompError> {
    let _ = (profile, cache_dir);
    todo!("seccomp helper")
}

impl Prepared {
    /// Installs the filter in the calling process. Returns the notify
    /// listener fd when the profile uses SCMP_ACT_NOTIFY (the caller sends
    /// it to `listenerPath`).
    pub fn install(&self) -> Result<Option<OwnedFd>, SeccompError> {
        todo!("seccomp helper")
    }
}
