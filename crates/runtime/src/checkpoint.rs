//! `checkpoint` and `restore`: runc's command lines, checked like runc
//! checks them, then refused with a clear reason. caixa-runtime has no
//! CRIU integration: the commands fail at once (naming whether CRIU is
//! missing) instead of leaving a caller waiting, and change nothing.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use caixa_oci::state::{ContainerState, Status};

/// `--manage-cgroups-mode` values (runc's).
const CGROUP_MODES: [&str; 4] = ["soft", "full", "strict", "ignore"];

/// Options of `checkpoint` (runc's).
#[derive(Debug, clap::Args)]
pub struct CheckpointArgs {
    /// The container id.
    pub id: String,
    /// Directory for the images [default: ./checkpoint].
    #[arg(long)]
    pub image_path: Option<PathBuf>,
    /// Directory for CRIU's logs and work files.
    #[arg(long)]
    pub work_path: Option<PathBuf>,
    /// Previous images, relative to --image-path (incremental dumps).
    #[arg(long)]
    pub parent_path: Option<PathBuf>,
    /// Keep the container running after the checkpoint.
    #[arg(long)]
    pub leave_running: bool,
    /// Allow established TCP connections.
    #[arg(long)]
    pub tcp_established: bool,
    /// Skip in-flight TCP connections.
    #[arg(long)]
    pub tcp_skip_in_flight: bool,
    /// Allow unlinked files to be linked back.
    #[arg(long)]
    pub link_remap: bool,
    /// Allow external unix sockets.
    #[arg(long)]
    pub ext_unix_sk: bool,
    /// Allow a shell job.
    #[arg(long)]
    pub shell_job: bool,
    /// Lazy migration (userfaultfd).
    #[arg(long)]
    pub lazy_pages: bool,
    /// fd that is told when the lazy-pages server is ready.
    #[arg(long)]
    pub status_fd: Option<i32>,
    /// ADDRESS:PORT of a CRIU page server.
    #[arg(long)]
    pub page_server: Option<String>,
    /// Handle file locks.
    #[arg(long)]
    pub file_locks: bool,
    /// Dump memory only, leave the container running.
    #[arg(long)]
    pub pre_dump: bool,
    /// cgroups mode: soft, full, strict or ignore.
    #[arg(long)]
    pub manage_cgroups_mode: Option<String>,
    /// A namespace to leave out of the dump (repeatable).
    #[arg(long)]
    pub empty_ns: Vec<String>,
    /// Deduplicate images against the parent.
    #[arg(long)]
    pub auto_dedup: bool,
}

/// Options of `restore` (runc's).
#[derive(Debug, clap::Args)]
pub struct RestoreArgs {
    /// The container id.
    pub id: String,
    /// The bundle directory.
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,
    /// Directory with the images [default: ./checkpoint].
    #[arg(long)]
    pub image_path: Option<PathBuf>,
    /// Directory for CRIU's logs and work files.
    #[arg(long)]
    pub work_path: Option<PathBuf>,
    /// Unix socket that receives the pty master.
    #[arg(long)]
    pub console_socket: Option<PathBuf>,
    /// Return once restored.
    #[arg(short, long)]
    pub detach: bool,
    /// Write the init's pid to this file.
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    /// Allow established TCP connections.
    #[arg(long)]
    pub tcp_established: bool,
    /// Allow external unix sockets.
    #[arg(long)]
    pub ext_unix_sk: bool,
    /// Allow a shell job.
    #[arg(long)]
    pub shell_job: bool,
    /// Handle file locks.
    #[arg(long)]
    pub file_locks: bool,
    /// cgroups mode: soft, full, strict or ignore.
    #[arg(long)]
    pub manage_cgroups_mode: Option<String>,
    /// Do not become a subreaper.
    #[arg(long)]
    pub no_subreaper: bool,
    /// Do not use pivot_root.
    #[arg(long)]
    pub no_pivot: bool,
    /// A namespace to leave out (repeatable).
    #[arg(long)]
    pub empty_ns: Vec<String>,
    /// Deduplicate images.
    #[arg(long)]
    pub auto_dedup: bool,
    /// Lazy migration (userfaultfd).
    #[arg(long)]
    pub lazy_pages: bool,
    /// LSM profile for the restored process.
    #[arg(long)]
    pub lsm_profile: Option<String>,
    /// LSM mount context.
    #[arg(long)]
    pub lsm_mount_context: Option<String>,
}

fn check_cgroup_mode(mode: Option<&str>) -> Result<()> {
    match mode {
        Some(m) if !CGROUP_MODES.contains(&m) => bail!(
            "--manage-cgroups-mode {m:?}: expected one of {}",
            CGROUP_MODES.join(", ")
        ),
        _ => Ok(()),
    }
}

fn image_path(p: Option<&PathBuf>) -> Result<PathBuf> {
    match p {
        Some(p) => Ok(p.clone()),
        None => Ok(std::env::current_dir()
            .context("current directory")?
            .join("checkpoint")),
    }
}

/// The CRIU binary: `--criu PATH`, else `criu` in $PATH.
fn find_criu(criu: Option<&str>) -> Option<PathBuf> {
    let name = criu.unwrap_or("criu");
    if name.contains('/') {
        return Path::new(name).is_file().then(|| PathBuf::from(name));
    }
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}

fn no_criu(what: &str, criu: Option<&str>) -> anyhow::Error {
    match find_criu(criu) {
        None => anyhow::anyhow!(
            "{what} needs CRIU, which is not installed ({} not found)",
            criu.unwrap_or("criu in PATH")
        ),
        Some(p) => anyhow::anyhow!(
            "{what} is not supported: caixa-runtime has no CRIU integration (found {})",
            p.display()
        ),
    }
}

/// `checkpoint`: validates like runc, then fails (no CRIU integration).
pub fn checkpoint(root: &Path, criu: Option<&str>, a: &CheckpointArgs) -> Result<()> {
    let st = ContainerState::load(root, &a.id)?;
    let status = st.status(root);
    if matches!(status, Status::Created | Status::Stopped) {
        bail!(
            "container {}: cannot checkpoint a container that is {status}",
            a.id
        );
    }
    check_cgroup_mode(a.manage_cgroups_mode.as_deref())?;
    if a.lazy_pages && a.status_fd.is_none() && a.page_server.is_none() {
        bail!("--lazy-pages needs --status-fd or --page-server");
    }
    let images = image_path(a.image_path.as_ref())?;
    if let Some(parent) = &a.parent_path {
        if parent.is_absolute() {
            bail!(
                "--parent-path {}: must be relative to --image-path",
                parent.display()
            );
        }
        let real = images.join(parent);
        if !real.is_dir() {
            bail!(
                "--parent-path {}: {} is not a directory",
                parent.display(),
                real.display()
            );
        }
    }
    Err(no_criu("checkpoint", criu))
}

/// `restore`: validates like runc, then fails (no CRIU integration).
pub fn restore(root: &Path, criu: Option<&str>, a: &RestoreArgs) -> Result<()> {
    caixa_oci::state::validate_id(&a.id)?;
    if ContainerState::file(root, &a.id).exists() {
        bail!("container {}: already exists", a.id);
    }
    check_cgroup_mode(a.manage_cgroups_mode.as_deref())?;
    let cfg = a.bundle.join("config.json");
    let data = std::fs::read(&cfg).with_context(|| format!("{}", cfg.display()))?;
    caixa_oci::spec::parse(&data)?;
    let images = image_path(a.image_path.as_ref())?;
    if !images.is_dir() {
        bail!("--image-path {}: not a directory", images.display());
    }
    Err(no_criu("restore", criu))
}
