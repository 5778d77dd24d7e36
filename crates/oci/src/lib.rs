//! caixa-oci: the OCI runtime core.
//!
//! Turns an OCI runtime-spec bundle (config.json + rootfs) into a process
//! isolated by namespaces, confined by cgroups (v1 and v2), capabilities,
//! seccomp and a private mount table. No tokio, no engine knowledge: this
//! crate is driven by the single-threaded `caixa-runtime` binary.

pub mod cgroups;
pub mod extras;
pub mod features;
pub mod hooks;
pub mod mempolicy;
pub mod rootfs;
pub mod seccomp;

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

pub use error::{OciError, Result};
