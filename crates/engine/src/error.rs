//! The engine's one error type: every variant names the object and the cause.

/// Errors from container operations.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No container has this id, id prefix or name.
    #[error("no such container: {0}")]
    NoSuchContainer(String),
    /// An id prefix matches more than one container.
    #[error("multiple containers match {0}: use more characters of the id")]
    Ambiguous(String),
    /// The name is taken.
    #[error(
        "container name \"{name}\" is already in use by container {id}: remove or rename that container to reuse the name"
    )]
    NameInUse {
        /// The name.
        name: String,
        /// The container holding it.
        id: String,
    },
    /// The image cannot be found.
    #[error("no such image: {0}")]
    NoSuchImage(String),
    /// A flag or field with a bad value.
    #[error("{field}: {reason}")]
    Invalid {
        /// The flag, e.g. `--memory`.
        field: String,
        /// Why.
        reason: String,
    },
    /// The operation does not fit the container's state.
    #[error("{0}")]
    Conflict(String),
    /// The container's process could not be started (exit code 126/127).
    #[error("{msg}")]
    Exec {
        /// Docker's exit code for it (125, 126 or 127).
        code: i32,
        /// What the runtime said.
        msg: String,
    },
    /// The OCI runtime failed.
    #[error("runtime {op} {id}: {msg}")]
    Runtime {
        /// The runtime command (create, kill, ...).
        op: String,
        /// The container.
        id: String,
        /// What it said.
        msg: String,
    },
    /// An I/O operation on a named object failed.
    #[error("{what}: {err}")]
    Io {
        /// What was being done.
        what: String,
        /// The OS error.
        err: std::io::Error,
    },
    /// The state database failed.
    #[error("state database: {0}")]
    Db(#[from] rusqlite::Error),
    /// An image store error.
    #[error("{0}")]
    Image(String),
}

impl Error {
    /// Wraps an I/O error with what was being done.
    pub fn io(what: impl Into<String>, err: std::io::Error) -> Error {
        Error::Io {
            what: what.into(),
            err,
        }
    }

    /// A bad flag value.
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Error {
        Error::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// Docker's exit code for this error (125, or 126/127 for exec failures).
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Exec { code, .. } => *code,
            _ => 125,
        }
    }
}

/// Result with the engine's error.
pub type Result<T> = std::result::Result<T, Error>;
