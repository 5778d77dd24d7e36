//! caixa-oci: the OCI runtime core.
//!
//! Turns an OCI runtime-spec bundle (config.json + rootfs) into a process
//! isolated by namespaces, confined by cgroups (v1 and v2), capabilities,
//! seccomp and a private mount table. No tokio, no engine knowledge: this
//! crate is driven by the single-threaded `caixa-runtime` binary.

pub mod extras;
pub mod features;
pub mod hooks;
pub mod mempolicy;
pub mod rootfs;

pub mod container;
pub mod error;
pub mod exe;
pub mod namespaces;
pub mod netdev;
pub mod process;
pub mod signal;
pub mod spec;
pub mod state;
pub mod sync;
pub mod terminal;

/// cgroups v1/v2 management, in its own crate ([`caixa_cgroups`]); kept at
/// this path so `caixa_oci::cgroups::...` keeps working.
pub use caixa_cgroups as cgroups;
/// seccomp profiles and filters, in their own crate ([`caixa_seccomp`]);
/// kept at this path so `caixa_oci::seccomp::...` keeps working.
pub use caixa_seccomp as seccomp;

pub use error::{OciError, Result};
