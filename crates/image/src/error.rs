//! The one error type of caixa-image: every variant names the object and the cause.

/// Errors from the image store, layers, registry and archives.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A reference string that is not a valid image reference.
    #[error("invalid reference {reference:?}: {reason}")]
    InvalidReference {
        /// The reference as given.
        reference: String,
        /// Why it is invalid.
        reason: String,
    },
    /// No image matches the reference or id.
    #[error("image {0} not found")]
    NotFound(String),
    /// An I/O operation on a named object failed.
    #[error("{what}: {err}")]
    Io {
        /// What was being done, e.g. "create /var/lib/caixa/image".
        what: String,
        /// The OS error.
        err: std::io::Error,
    },
    /// The state database failed.
    #[error("state database: {0}")]
    Db(#[from] rusqlite::Error),
    /// Content did not hash to the digest it was announced with.
    #[error("digest mismatch for {what}: expected {expected}, got {actual}")]
    DigestMismatch {
        /// The blob or layer.
        what: String,
        /// The announced digest.
        expected: String,
        /// The digest of the bytes received.
        actual: String,
    },
    /// A layer entry was refused (path escape, forbidden type, bad header...).
    #[error("layer {layer}: entry {entry:?}: {reason}")]
    UnsafeLayer {
        /// The layer's digest.
        layer: String,
        /// The tar entry's name.
        entry: String,
        /// Why it was refused.
        reason: String,
    },
    /// A layer could not be read (corrupt/truncated tar or compression).
    #[error("layer {layer}: {reason}")]
    BadLayer {
        /// The layer's digest.
        layer: String,
        /// What is wrong.
        reason: String,
    },
    /// A manifest, index, config or archive that is malformed or unsupported.
    #[error("{what}: {reason}")]
    Invalid {
        /// The object (manifest digest, archive path...).
        what: String,
        /// What is wrong.
        reason: String,
    },
    /// The image is used by containers.
    #[error("image {image} is in use by container(s) {containers} (use -f to force)")]
    InUse {
        /// The image reference or id.
        image: String,
        /// The containers using it.
        containers: String,
    },
    /// A registry operation failed.
    #[error("registry {registry}: {reason}")]
    Registry {
        /// The registry host.
        registry: String,
        /// What failed.
        reason: String,
    },
    /// The registry refused the request (HTTP 401/403) even with a fresh token.
    #[error("registry {registry}: {reason}")]
    Denied {
        /// The registry host.
        registry: String,
        /// What was refused, and the hint.
        reason: String,
    },
    /// The registry or its token server refused the credentials.
    #[error("registry {registry}: {reason}")]
    AuthFailed {
        /// The registry host.
        registry: String,
        /// The refusal, as the server words it.
        reason: String,
    },
    /// Mounting or unmounting a container rootfs failed.
    #[error("rootfs {path}: {reason}")]
    Mount {
        /// The mount point.
        path: String,
        /// What failed.
        reason: String,
    },
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Builds an [`Error::Io`] from a description and an error convertible to io::Error.
pub(crate) fn io_err(what: impl Into<String>, err: impl Into<std::io::Error>) -> Error {
    Error::Io {
        what: what.into(),
        err: err.into(),
    }
}

/// Extension to add context to io results.
pub(crate) trait IoContext<T> {
    /// Maps an io error to [`Error::Io`] with `what` as context.
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E: Into<std::io::Error>> IoContext<T> for std::result::Result<T, E> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| io_err(what(), e))
    }
}

/// Shorthand for [`Error::Invalid`].
pub(crate) fn invalid(what: impl Into<String>, reason: impl Into<String>) -> Error {
    Error::Invalid {
        what: what.into(),
        reason: reason.into(),
    }
}
