//! caixa-image: references, content store, layers, container rootfs,
//! registry client and archives.
//!
//! # API used by the engine
//!
//! ```no_run
//! use caixa_image::Store;
//! # fn main() -> caixa_image::Result<()> {
//! // Default root: /var/lib/caixa. Layout: ROOT/image/{blobs/sha256,layers,tmp},
//! // state in ROOT/caixa.db (SQLite, WAL, busy_timeout, BEGIN IMMEDIATE writers;
//! // image tables are prefixed `image_`, the engine adds its own tables).
//! let store = Store::open(std::path::Path::new("/var/lib/caixa"))?;
//! store.ensure_default_busybox()?;               // busybox:latest from /bin/busybox, offline
//! let image = store.resolve("busybox")?;           // name[:tag], name@digest, id or id prefix
//! let cfg = image.config.container_config();       // Entrypoint, Cmd, Env, WorkingDir, User,
//!                                                  // ExposedPorts, Volumes, Labels, StopSignal,
//!                                                  // Healthcheck, Shell, OnBuild ...
//! let _ = (&image.id, &image.manifest_digest, &image.layers, cfg.cmd);
//! // Overlay of the image's layers + fresh upper/work under the container's dir;
//! // also marks the image as used by the container (rmi refuses unless -f).
//! let dir = std::path::Path::new("/var/lib/caixa/containers/abc");
//! let m = store.prepare_rootfs(&image, "abc", dir)?; // m.rootfs = dir/rootfs
//! store.unmount_rootfs(&m)?;                        // e.g. on stop (re-prepare to restart)
//! store.remove_rootfs(&m)?;                         // unmount + delete upper/work + drop ref
//! // Marks without mounting:
//! store.add_ref(&image.id, "abc")?;
//! store.remove_ref(&image.id, "abc")?;
//! # Ok(()) }
//! ```
//!
//! `Store` is `Send + Sync`; each method is safe against concurrent caixa
//! processes using the same root.

pub mod archive;
pub mod auth;
pub mod blobs;
pub mod config;
mod db;
pub mod digest;
pub mod error;
pub mod import;
pub mod layers;
pub mod manifest;
pub mod reference;
pub mod registry;
pub mod rootfs;
pub mod store;
mod targuard;
pub mod unpack;

pub use config::{ContainerConfig, HealthConfig, ImageConfig};
pub use digest::Digest;
pub use error::{Error, Result};
pub use import::ImportOptions;
pub use manifest::Platform;
pub use reference::Reference;
pub use rootfs::RootfsMount;
pub use store::{Image, LayerInfo, NewImage, RemoveReport, Store};
