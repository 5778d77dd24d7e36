//! What a container is made of: the user's options and the resolved record
//! stored in the state database.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// A health check, in Docker's terms.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct HealthCheck {
    /// `["CMD-SHELL", cmd]`, `["CMD", argv…]` or `["NONE"]`.
    pub test: Vec<String>,
    /// Nanoseconds between checks.
    pub interval_ns: i64,
    /// Nanoseconds before a check counts as failed.
    pub timeout_ns: i64,
    /// Failures in a row that make the container unhealthy.
    pub retries: i64,
    /// Nanoseconds after start during which failures do not count.
    pub start_period_ns: i64,
}

/// The options of `caixa run`/`create` (Docker's flags).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct CreateOptions {
    /// The image reference as given.
    pub image: String,
    /// Arguments after the image (the command).
    pub cmd: Vec<String>,
    /// `--name`.
    pub name: Option<String>,
    /// `--entrypoint` (`Some("")` clears the image's).
    pub entrypoint: Option<String>,
    /// `-e` values (`KEY=v` or `KEY` to copy from the caller's environment).
    pub env: Vec<String>,
    /// `--env-file` paths.
    pub env_files: Vec<PathBuf>,
    /// `-w`.
    pub workdir: Option<String>,
    /// `-u`.
    pub user: Option<String>,
    /// `-h`.
    pub hostname: Option<String>,
    /// `--label k=v`.
    pub labels: Vec<String>,
    /// `-t`.
    pub tty: bool,
    /// `-i`.
    pub interactive: bool,
    /// `--rm`.
    pub rm: bool,
    /// `--restart`.
    pub restart: Option<String>,
    /// `-m`.
    pub memory: Option<String>,
    /// `--memory-swap`.
    pub memory_swap: Option<String>,
    /// `--cpus`.
    pub cpus: Option<f64>,
    /// `--cpu-shares`.
    pub cpu_shares: Option<u64>,
    /// `--cpuset-cpus`.
    pub cpuset_cpus: Option<String>,
    /// `--pids-limit`.
    pub pids_limit: Option<i64>,
    /// `--read-only`.
    pub read_only: bool,
    /// `--cap-add`.
    pub cap_add: Vec<String>,
    /// `--cap-drop`.
    pub cap_drop: Vec<String>,
    /// `--privileged`.
    pub privileged: bool,
    /// `--security-opt`.
    pub security_opt: Vec<String>,
    /// `--ulimit name=soft[:hard]`.
    pub ulimits: Vec<String>,
    /// `--stop-signal`.
    pub stop_signal: Option<String>,
    /// `--stop-timeout` (seconds).
    pub stop_timeout: Option<i64>,
    /// `--health-cmd`.
    pub health_cmd: Option<String>,
    /// `--health-interval`.
    pub health_interval: Option<String>,
    /// `--health-timeout`.
    pub health_timeout: Option<String>,
    /// `--health-retries`.
    pub health_retries: Option<i64>,
    /// `--health-start-period`.
    pub health_start_period: Option<String>,
    /// `--no-healthcheck`.
    pub no_healthcheck: bool,
    /// `--log-opt k=v`.
    pub log_opts: Vec<String>,
    /// `--init`.
    pub init: bool,
    /// `--network` (none, host; default: a private netns with lo only).
    pub network: Option<String>,
    /// `--runtime` (an OCI runtime binary).
    pub runtime: Option<String>,
    /// `-v`/`--volume HOST:CTR[:OPTS]`.
    #[serde(default)]
    pub volumes: Vec<String>,
    /// `--mount type=…,source=…,target=…`.
    #[serde(default)]
    pub mounts: Vec<String>,
    /// `--tmpfs /path[:opts]`.
    #[serde(default)]
    pub tmpfs: Vec<String>,
}

/// The resolved, stored description of a container.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Record {
    /// 64 hex digits.
    pub id: String,
    /// Unique name (no leading slash).
    pub name: String,
    /// RFC 3339 creation time.
    pub created: String,
    /// The image reference as given.
    pub image: String,
    /// The image id (`sha256:…`).
    pub image_id: String,
    /// argv of the main process (entrypoint + cmd).
    pub args: Vec<String>,
    /// Entrypoint part of `args`.
    pub entrypoint: Vec<String>,
    /// Cmd part of `args`.
    pub cmd: Vec<String>,
    /// Environment.
    pub env: Vec<String>,
    /// Working directory.
    pub workdir: String,
    /// `user[:group]` as given (empty: root).
    pub user: String,
    /// Hostname.
    pub hostname: String,
    /// Labels (image's plus the user's).
    pub labels: BTreeMap<String, String>,
    /// Stop signal name.
    pub stop_signal: String,
    /// Seconds between the stop signal and SIGKILL.
    pub stop_timeout: i64,
    /// Effective health check, if any.
    pub health: Option<HealthCheck>,
    /// Absolute path of the OCI runtime.
    pub runtime: String,
    /// Image layer directories, top first (overlay lowerdir order).
    pub lower_dirs: Vec<PathBuf>,
    /// `--log-opt max-size` in bytes (0: unlimited).
    pub log_max_size: u64,
    /// `--log-opt max-file`.
    pub log_max_file: u32,
    /// The user's options.
    pub opts: CreateOptions,
}
