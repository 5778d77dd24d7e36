//! The one error type of the container lifecycle code.
//!
//! Every variant renders as one line that names the object (a config.json
//! field, a file, a container) and the cause.

use std::path::PathBuf;

use crate::cgroups::CgroupError;
use crate::hooks::HookError;
use crate::rootfs::RootfsError;
use crate::seccomp::SeccompError;

/// Errors of the container lifecycle (create, start, kill, delete, exec).
#[derive(Debug, thiserror::Error)]
pub enum OciError {
    /// A config.json field that is malformed or unsupported.
    #[error("config.json: {field}: {reason}")]
    Invalid {
        /// The field, e.g. `process.args`.
        field: String,
        /// Why it is rejected.
        reason: String,
    },
    /// A system call or file operation failed.
    #[error("{what}: {source}")]
    Sys {
        /// What was being done, with its object.
        what: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A container cannot do what was asked in its current state.
    #[error("container {id}: {reason}")]
    Container {
        /// The container id.
        id: String,
        /// Why.
        reason: String,
    },
    /// The container's init reported a failure during setup.
    #[error("container init: {0}")]
    Init(String),
    /// A file of the bundle or the state directory is unusable.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// cgroup setup failed.
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
    /// rootfs setup failed.
    #[error(transparent)]
    Rootfs(#[from] RootfsError),
    /// seccomp compilation or installation failed.
    #[error(transparent)]
    Seccomp(#[from] SeccompError),
    /// A hook failed.
    #[error(transparent)]
    Hook(#[from] HookError),
}

/// Result alias for this crate's lifecycle code.
pub type Result<T> = std::result::Result<T, OciError>;

impl OciError {
    /// An [`OciError::Invalid`] for `field`.
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        OciError::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// An [`OciError::Container`] for container `id`.
    pub fn container(id: impl Into<String>, reason: impl Into<String>) -> Self {
        OciError::Container {
            id: id.into(),
            reason: reason.into(),
        }
    }
}

/// Adds "what was being done" to an I/O-style error.
pub trait Context<T> {
    /// Wraps the error as [`OciError::Sys`] with `what` computed lazily.
    fn ctx<F: FnOnce() -> String>(self, what: F) -> Result<T>;
}

impl<T> Context<T> for std::result::Result<T, std::io::Error> {
    fn ctx<F: FnOnce() -> String>(self, what: F) -> Result<T> {
        self.map_err(|source| OciError::Sys {
            what: what(),
            source,
        })
    }
}

impl<T> Context<T> for std::result::Result<T, nix::Error> {
    fn ctx<F: FnOnce() -> String>(self, what: F) -> Result<T> {
        self.map_err(|e| OciError::Sys {
            what: what(),
            source: std::io::Error::from_raw_os_error(e as i32),
        })
    }
}

impl<T> Context<T> for std::result::Result<T, rustix::io::Errno> {
    fn ctx<F: FnOnce() -> String>(self, what: F) -> Result<T> {
        self.map_err(|e| OciError::Sys {
            what: what(),
            source: std::io::Error::from_raw_os_error(e.raw_os_error()),
        })
    }
}
