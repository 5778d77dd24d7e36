//! caixa-engine: containers without a daemon.
//!
//! State lives in the shared SQLite database (`ROOT/caixa.db`, tables
//! `containers` and `container_events`) plus one directory per container
//! (`ROOT/containers/<id>`: config.json bundle, overlay upper/work/rootfs,
//! json-file log, the monitor's `state` file). Runtime state (attach
//! sockets, the OCI runtime's `--root`) lives under `RUN_ROOT`
//! (`/run/caixa`, or `CAIXA_RUN_ROOT`).
//!
//! The engine never forks containers itself: it starts one `caixa-monitor`
//! per container, which executes the OCI runtime (`caixa-runtime`, or any
//! runc-compatible binary) and supervises the container.

pub mod attach;
pub mod boot;
pub mod config;
pub mod db;
pub mod error;
pub mod explain;
pub mod images;
pub mod inspect;
pub mod lifecycle;
pub mod logs;
pub mod spec;
pub mod state;
pub mod stats;
pub mod util;
pub mod volumes;

use std::path::{Path, PathBuf};

pub use config::{CreateOptions, Record};
pub use error::{Error, Result};
pub use state::{State, Status};

/// The engine: paths plus an open state database.
pub struct Engine {
    /// Persistent root (`/var/lib/caixa`).
    pub root: PathBuf,
    /// Runtime root (`/run/caixa`).
    pub run_root: PathBuf,
    /// The state database.
    pub db: db::Db,
    /// The image store, opened on first use.
    images: std::cell::OnceCell<caixa_image::Store>,
}

/// Looks for `name` next to the running executable, then on PATH.
pub fn find_binary(name: &str) -> Option<PathBuf> {
    if let Ok(exe) = std::env::current_exe()
        && let Some(dir) = exe.parent()
    {
        let p = dir.join(name);
        if p.is_file() {
            return Some(p);
        }
        // Test binaries live in target/debug/deps; the tools in target/debug.
        if let Some(up) = dir.parent() {
            let p = up.join(name);
            if dir.ends_with("deps") && p.is_file() {
                return Some(p);
            }
        }
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

impl Engine {
    /// Opens the engine at `root`; the run root is `CAIXA_RUN_ROOT` or `/run/caixa`.
    pub fn open(root: &Path) -> Result<Engine> {
        let run_root = std::env::var_os("CAIXA_RUN_ROOT")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/run/caixa"));
        Self::open_with(root, &run_root)
    }

    /// Opens the engine with explicit roots.
    pub fn open_with(root: &Path, run_root: &Path) -> Result<Engine> {
        let db = db::Db::open(root)?;
        Ok(Engine {
            root: root.to_path_buf(),
            run_root: run_root.to_path_buf(),
            db,
            images: std::cell::OnceCell::new(),
        })
    }

    /// The image store (opened once per engine).
    pub fn images(&self) -> Result<&caixa_image::Store> {
        if let Some(s) = self.images.get() {
            return Ok(s);
        }
        let s = images::store(&self.root)?;
        Ok(self.images.get_or_init(|| s))
    }

    /// `ROOT/containers/<id>`.
    pub fn dir(&self, id: &str) -> PathBuf {
        self.root.join("containers").join(id)
    }

    /// `RUN_ROOT/<id>`.
    pub fn run_dir(&self, id: &str) -> PathBuf {
        self.run_root.join(id)
    }

    /// The attach socket of a container.
    pub fn sock(&self, id: &str) -> PathBuf {
        self.run_dir(id).join("attach")
    }

    /// The OCI runtime's `--root`.
    pub fn runtime_root(&self) -> PathBuf {
        self.run_root.join("runtime")
    }

    /// The json-file log of a container.
    pub fn log_path(&self, id: &str) -> PathBuf {
        self.dir(id).join(format!("{id}-json.log"))
    }

    /// Finds a container by id, unique id prefix or name, with its state.
    pub fn find(&self, key: &str) -> Result<(Record, State)> {
        let r = self.db.find(key)?;
        let st = state::read(&self.dir(&r.id));
        Ok((r, st))
    }

    /// Every container with its state, oldest first.
    pub fn list(&self) -> Result<Vec<(Record, State)>> {
        Ok(self
            .db
            .list()?
            .into_iter()
            .map(|r| {
                let st = state::read(&self.dir(&r.id));
                (r, st)
            })
            .collect())
    }
}
