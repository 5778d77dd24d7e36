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
//!
//! # Design notes
//!
//! - **Layout**: `ROOT/image/blobs/sha256/<hex>` (content-addressed, written to
//!   `ROOT/image/tmp`, verified, fsync'd, renamed), `ROOT/image/layers/<diff_id
//!   hex>/{diff,size}` (one directory per layer, unpacked once, shared; `diff`
//!   is the overlay lowerdir), tables `image_*` in `ROOT/caixa.db`.
//! - **Identity**: image id = config digest (as Docker); the manifest is kept
//!   verbatim so pushes reproduce the pulled digest; archives and imports get a
//!   generated Docker schema2 manifest.
//! - **Concurrency**: refcounts (`image_layer_refs`, `image_blob_refs`) and
//!   users (`image_users`) change only inside `BEGIN IMMEDIATE`. Registering an
//!   image re-checks, inside its transaction, that every blob and layer still
//!   exists; removal renames dead layers to a trash dir inside its transaction.
//!   A pull racing an rmi therefore either sees its layers or fetches again.
//! - **Failure**: temp files/dirs are removed on every error path; a failed
//!   pull or load also removes blobs/layers it stored that no image uses;
//!   `image prune` collects unreferenced leftovers older than 10 minutes.
//! - **Layer safety** (`unpack`): entries are created with `*at` calls under
//!   directory fds opened with `openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS)`;
//!   `..` names, writes through symlinks, hardlinks to non-entries, block and
//!   non-standard char devices, overlay xattrs from the layer and tar extension
//!   headers over 1 MiB are refused or dropped.

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
pub mod pax;
pub mod reference;
pub mod registry;
pub mod rootfs;
mod session;
pub mod store;
mod stream;
mod targuard;
pub mod unpack;

pub use config::{ContainerConfig, HealthConfig, ImageConfig};
pub use digest::Digest;
pub use error::{Error, Result};
pub use import::ImportOptions;
pub use manifest::Platform;
pub use reference::Reference;
pub use rootfs::{RootfsMount, RootfsOptions};
pub use store::{Image, LayerInfo, NewImage, RemoveReport, Store};
