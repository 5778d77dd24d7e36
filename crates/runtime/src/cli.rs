//! The command line, runc-compatible: global flags may come before or after
//! the command, and command options before or after the container id.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// caixa-runtime: run OCI bundles in namespaces and cgroups (runc's CLI).
#[derive(Debug, Parser)]
#[command(name = "caixa-runtime", version, about, long_about = None)]
pub struct Cli {
    /// Directory for container state [default: /run/caixa-runtime, or
    /// $XDG_RUNTIME_DIR/caixa-runtime for a non-root user].
    #[arg(long, global = true)]
    pub root: Option<PathBuf>,
    /// Append errors and debug messages to this file.
    #[arg(long, global = true)]
    pub log: Option<PathBuf>,
    /// Format of --log.
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Log debug messages.
    #[arg(long, global = true)]
    pub debug: bool,
    /// Use systemd to manage cgroups.
    #[arg(long, global = true)]
    pub systemd_cgroup: bool,
    /// Accepted for runc compatibility (true|false|auto).
    #[arg(long, hide = true)]
    pub rootless: Option<String>,
    /// Accepted for runc compatibility.
    #[arg(long, hide = true)]
    pub criu: Option<String>,
    /// The command.
    #[command(subcommand)]
    pub cmd: Cmd,
}

/// --log-format values.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    /// key=value text lines.
    Text,
    /// One JSON object per line (what containerd reads).
    Json,
}

/// --format of `list`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ListFormat {
    /// Aligned columns.
    Table,
    /// A JSON array of states.
    Json,
}

/// Options shared by `create` and `run`.
#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// The container id.
    pub id: String,
    /// The bundle directory (holding config.json).
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,
    /// Write the init's pid to this file.
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    /// Unix socket that receives the pty master (process.terminal).
    #[arg(long)]
    pub console_socket: Option<PathBuf>,
    /// Do not use pivot_root (MS_MOVE + chroot instead).
    #[arg(long)]
    pub no_pivot: bool,
    /// Accepted for runc compatibility (no session keyring is created).
    #[arg(long)]
    pub no_new_keyring: bool,
    /// Pass N extra fds (3..3+N) to the container.
    #[arg(long, default_value_t = 0)]
    pub preserve_fds: u32,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Create a container; its init waits for `start`.
    Create(CreateArgs),
    /// Start a created container.
    Start {
        /// The container id.
        id: String,
    },
    /// Print the state of a container (runtime-spec JSON).
    State {
        /// The container id.
        id: String,
    },
    /// Send a signal to a container's init (default SIGTERM).
    Kill {
        /// The container id.
        id: String,
        /// Signal name (KILL, SIGKILL) or number.
        signal: Option<String>,
        /// Signal every process of the container.
        #[arg(short, long)]
        all: bool,
    },
    /// Delete a container and everything it holds.
    Delete {
        /// The container id.
        id: String,
        /// Kill it first if it is running.
        #[arg(short, long)]
        force: bool,
    },
    /// Create, start and wait for a container; exit with its status.
    Run {
        /// create's options.
        #[command(flatten)]
        create: CreateArgs,
        /// Return after start instead of waiting.
        #[arg(short, long)]
        detach: bool,
        /// Keep the container after it exits (no delete).
        #[arg(long)]
        keep: bool,
    },
    /// Run a process in a running container.
    Exec(ExecArgs),
    /// List the processes of a container.
    Ps {
        /// The container id.
        id: String,
        /// Output format.
        #[arg(short, long, value_enum, default_value = "table")]
        format: ListFormat,
        /// Options for ps(1) (table format only), e.g. `-- -o pid,comm`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    /// List containers.
    #[command(alias = "ls")]
    List {
        /// Output format.
        #[arg(short, long, value_enum, default_value = "table")]
        format: ListFormat,
        /// Print ids only.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Freeze every process of a container.
    Pause {
        /// The container id.
        id: String,
    },
    /// Thaw a paused container.
    Resume {
        /// The container id.
        id: String,
    },
    /// Change the cgroup limits of a container.
    Update(crate::ops::UpdateArgs),
    /// Print stats (every --interval) and OOM events as JSON lines.
    Events {
        /// The container id.
        id: String,
        /// Time between stats events (5s, 500ms, 1m).
        #[arg(long, default_value = "5s")]
        interval: String,
        /// Print one stats event and exit.
        #[arg(long)]
        stats: bool,
    },
    /// Checkpoint a running container (CRIU; not supported: validates the
    /// flags and says why it cannot).
    Checkpoint(crate::checkpoint::CheckpointArgs),
    /// Restore a container from a checkpoint (CRIU; not supported).
    Restore(crate::checkpoint::RestoreArgs),
    /// Print the runtime-spec features document.
    Features,
    /// Write a default config.json.
    Spec {
        /// Where to write it.
        #[arg(short, long, default_value = ".")]
        bundle: PathBuf,
        /// A spec for a non-root user (user namespace).
        #[arg(long)]
        rootless: bool,
    },
}

/// Options of `exec` (runc's).
#[derive(Debug, clap::Args)]
pub struct ExecArgs {
    /// The container id.
    pub id: String,
    /// The command and its arguments (unless --process).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
    /// A JSON file with the runtime-spec `process` to run.
    #[arg(short, long)]
    pub process: Option<PathBuf>,
    /// Allocate a pseudo-terminal (needs --console-socket).
    #[arg(short, long)]
    pub tty: bool,
    /// Set an environment variable (NAME=VALUE).
    #[arg(short, long = "env")]
    pub env: Vec<String>,
    /// Working directory inside the container.
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// UID[:GID] to run as.
    #[arg(short, long)]
    pub user: Option<String>,
    /// Additional group ids.
    #[arg(short = 'g', long = "additional-gids")]
    pub additional_gids: Vec<u32>,
    /// Add a capability (CAP_X) to the bounding, effective and permitted sets.
    #[arg(short, long)]
    pub cap: Vec<String>,
    /// Set no_new_privs.
    #[arg(long)]
    pub no_new_privs: bool,
    /// Return once the process started.
    #[arg(short, long)]
    pub detach: bool,
    /// Write the process's pid to this file.
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    /// Unix socket that receives the pty master.
    #[arg(long)]
    pub console_socket: Option<PathBuf>,
    /// Pass N extra fds (3..3+N) to the process.
    #[arg(long, default_value_t = 0)]
    pub preserve_fds: u32,
    /// AppArmor profile (only when AppArmor is enabled).
    #[arg(long)]
    pub apparmor: Option<String>,
    /// SELinux label (not supported).
    #[arg(long)]
    pub process_label: Option<String>,
    /// Exec into a paused container too: the process starts frozen and
    /// runs once the container is resumed.
    #[arg(long)]
    pub ignore_paused: bool,
    /// Run in this existing sub-cgroup of the container's cgroup: PATH, or
    /// CTRL[,CTRL...]:PATH for some v1 controllers (repeatable).
    #[arg(long)]
    pub cgroup: Vec<String>,
}

impl Cli {
    /// `--root`, or the default: /run/caixa-runtime for root; for another
    /// user $XDG_RUNTIME_DIR/caixa-runtime, else /run/user/UID/caixa-runtime
    /// (as runc does with /run/user/UID/runc).
    pub fn state_root(&self) -> PathBuf {
        if let Some(r) = &self.root {
            return r.clone();
        }
        let uid = rustix::process::geteuid();
        if uid.is_root() {
            return PathBuf::from("/run/caixa-runtime");
        }
        match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
            Some(d) => PathBuf::from(d).join("caixa-runtime"),
            None => PathBuf::from(format!("/run/user/{}/caixa-runtime", uid.as_raw())),
        }
    }
}
