//! Container commands of the `caixa` CLI: run, create, start, stop, kill,
//! restart, rm, exec, attach, wait, rename, pause/unpause, update, and the
//! monitor's cleanup hook. Views (ps, logs, inspect, stats, top, events,
//! port, explain) are in `containers_view.rs`.

use std::io::IsTerminal;
use std::time::Duration;

use caixa_engine::lifecycle::{ExecOptions, StartMode};
use caixa_engine::{CreateOptions, Engine, Error, Status};
use clap::{Args, Subcommand};

use crate::Global;
use crate::containers_view::{self as view, ViewCommand};

/// The flags shared by `run` and `create`.
#[derive(Args, Debug, Clone)]
#[command(disable_help_flag = true)]
pub struct CreateArgs {
    /// Print help.
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
    /// Assign a name to the container.
    #[arg(long)]
    name: Option<String>,
    /// Keep STDIN open.
    #[arg(short, long)]
    interactive: bool,
    /// Allocate a pseudo-TTY.
    #[arg(short, long)]
    tty: bool,
    /// Remove the container when it exits.
    #[arg(long)]
    rm: bool,
    /// Set environment variables (KEY=value, or KEY to copy ours).
    #[arg(short, long = "env")]
    env: Vec<String>,
    /// Read environment variables from a file.
    #[arg(long)]
    env_file: Vec<std::path::PathBuf>,
    /// Working directory inside the container.
    #[arg(short, long)]
    workdir: Option<String>,
    /// User (name|uid[:group|gid]).
    #[arg(short, long)]
    user: Option<String>,
    /// Overwrite the image's ENTRYPOINT ("" clears it).
    #[arg(long)]
    entrypoint: Option<String>,
    /// Container host name.
    #[arg(short = 'h', long)]
    hostname: Option<String>,
    /// Set metadata (key=value).
    #[arg(short, long = "label")]
    label: Vec<String>,
    /// Run an init inside the container that forwards signals and reaps processes.
    #[arg(long)]
    init: bool,
    /// Restart policy: no, on-failure[:max-retries], always, unless-stopped.
    #[arg(long)]
    restart: Option<String>,
    #[command(flatten)]
    limits: Limits,
    /// Mount the container's root filesystem read-only.
    #[arg(long)]
    read_only: bool,
    /// Add Linux capabilities.
    #[arg(long)]
    cap_add: Vec<String>,
    /// Drop Linux capabilities.
    #[arg(long)]
    cap_drop: Vec<String>,
    /// Give extended privileges to this container.
    #[arg(long)]
    privileged: bool,
    /// Security options: seccomp=unconfined|FILE, no-new-privileges.
    #[arg(long)]
    security_opt: Vec<String>,
    /// Ulimit options (name=soft[:hard]).
    #[arg(long)]
    ulimit: Vec<String>,
    /// Signal to stop the container.
    #[arg(long)]
    stop_signal: Option<String>,
    /// Seconds to wait before killing the container on stop.
    #[arg(long)]
    stop_timeout: Option<i64>,
    /// Command to run to check health.
    #[arg(long)]
    health_cmd: Option<String>,
    /// Time between running the check (e.g. 30s).
    #[arg(long)]
    health_interval: Option<String>,
    /// Maximum time to allow one check to run.
    #[arg(long)]
    health_timeout: Option<String>,
    /// Consecutive failures needed to report unhealthy.
    #[arg(long)]
    health_retries: Option<i64>,
    /// Start period for the container to initialize before counting retries.
    #[arg(long)]
    health_start_period: Option<String>,
    /// Disable any container-specified HEALTHCHECK.
    #[arg(long)]
    no_healthcheck: bool,
    /// Log driver options (max-size, max-file).
    #[arg(long)]
    log_opt: Vec<String>,
    /// Network: none or host (default: a private network namespace with lo only).
    #[arg(long, alias = "net")]
    network: Option<String>,
    /// OCI runtime binary (default: CAIXA_RUNTIME or caixa-runtime).
    #[arg(long)]
    runtime: Option<String>,
    /// Bind mount a host path: HOST-PATH:CONTAINER-PATH[:ro|rw][,...].
    #[arg(short, long = "volume")]
    volume: Vec<String>,
    /// Attach a filesystem mount: type=bind|tmpfs,source=…,target=…[,readonly].
    #[arg(long)]
    mount: Vec<String>,
    /// Mount a tmpfs: /path[:options].
    #[arg(long)]
    tmpfs: Vec<String>,
    /// Image.
    image: String,
    /// Command and arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    cmd: Vec<String>,
}

/// Resource limits shared by `run`/`create` and `update`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct Limits {
    /// Memory limit (e.g. 256m).
    #[arg(short, long)]
    memory: Option<String>,
    /// Memory plus swap limit; -1 for unlimited swap.
    #[arg(long, allow_hyphen_values = true)]
    memory_swap: Option<String>,
    /// Number of CPUs.
    #[arg(long)]
    cpus: Option<f64>,
    /// CPU shares (relative weight).
    #[arg(short = 'c', long)]
    cpu_shares: Option<u64>,
    /// CPUs in which to allow execution (0-3, 0,1).
    #[arg(long)]
    cpuset_cpus: Option<String>,
    /// Tune the container's pids limit (-1 for unlimited).
    #[arg(long, allow_hyphen_values = true)]
    pids_limit: Option<i64>,
}

impl Limits {
    /// `o` with these limits set.
    fn apply(self, o: CreateOptions) -> CreateOptions {
        CreateOptions {
            memory: self.memory,
            memory_swap: self.memory_swap,
            cpus: self.cpus,
            cpu_shares: self.cpu_shares,
            cpuset_cpus: self.cpuset_cpus,
            pids_limit: self.pids_limit,
            ..o
        }
    }
}

impl CreateArgs {
    fn options(self) -> CreateOptions {
        let limits = self.limits;
        limits.apply(CreateOptions {
            image: self.image,
            cmd: self.cmd,
            name: self.name,
            entrypoint: self.entrypoint,
            env: self.env,
            env_files: self.env_file,
            workdir: self.workdir,
            user: self.user,
            hostname: self.hostname,
            labels: self.label,
            tty: self.tty,
            interactive: self.interactive,
            rm: self.rm,
            restart: self.restart,
            read_only: self.read_only,
            cap_add: self.cap_add,
            cap_drop: self.cap_drop,
            privileged: self.privileged,
            security_opt: self.security_opt,
            ulimits: self.ulimit,
            stop_signal: self.stop_signal,
            stop_timeout: self.stop_timeout,
            health_cmd: self.health_cmd,
            health_interval: self.health_interval,
            health_timeout: self.health_timeout,
            health_retries: self.health_retries,
            health_start_period: self.health_start_period,
            no_healthcheck: self.no_healthcheck,
            log_opts: self.log_opt,
            init: self.init,
            network: self.network,
            runtime: self.runtime,
            volumes: self.volume,
            mounts: self.mount,
            tmpfs: self.tmpfs,
            ..CreateOptions::default()
        })
    }
}

/// `caixa run`.
#[derive(Args, Debug, Clone)]
#[command(disable_help_flag = true)]
pub struct RunArgs {
    /// Run in the background and print the container id.
    #[arg(short, long)]
    detach: bool,
    /// Key sequence that detaches from the container (default ctrl-p,ctrl-q).
    #[arg(long)]
    detach_keys: Option<String>,
    #[command(flatten)]
    create: CreateArgs,
}

/// Container commands (flattened into the top-level command enum).
#[derive(Subcommand, Debug)]
pub enum ContainerCommand {
    /// Create and run a new container from an image.
    Run(RunArgs),
    /// Create a new container.
    Create(CreateArgs),
    /// Start one or more stopped containers.
    Start {
        /// Attach stdout/stderr and wait for the exit.
        #[arg(short, long)]
        attach: bool,
        /// Attach stdin.
        #[arg(short, long)]
        interactive: bool,
        /// Key sequence that detaches from the container (default ctrl-p,ctrl-q).
        #[arg(long)]
        detach_keys: Option<String>,
        /// Containers.
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Stop one or more running containers.
    Stop {
        /// Seconds to wait before killing.
        #[arg(short, long)]
        time: Option<i64>,
        /// Signal to send instead of the container's stop signal.
        #[arg(short, long)]
        signal: Option<String>,
        /// Containers.
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Kill one or more running containers.
    Kill {
        /// Signal to send.
        #[arg(short, long, default_value = "KILL")]
        signal: String,
        /// Containers.
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Restart one or more containers.
    Restart {
        /// Seconds to wait before killing.
        #[arg(short, long)]
        time: Option<i64>,
        /// Containers.
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Remove one or more containers.
    Rm {
        /// Kill a running container first.
        #[arg(short, long)]
        force: bool,
        /// Remove anonymous volumes too.
        #[arg(short, long)]
        volumes: bool,
        /// Containers.
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Run a command in a running container.
    Exec {
        /// Keep STDIN open.
        #[arg(short, long)]
        interactive: bool,
        /// Allocate a pseudo-TTY.
        #[arg(short, long)]
        tty: bool,
        /// Detached mode.
        #[arg(short, long)]
        detach: bool,
        /// Environment variables.
        #[arg(short, long = "env")]
        env: Vec<String>,
        /// Working directory.
        #[arg(short, long)]
        workdir: Option<String>,
        /// User (name|uid[:group|gid]).
        #[arg(short, long)]
        user: Option<String>,
        /// Give extended privileges to the command.
        #[arg(long)]
        privileged: bool,
        /// Container.
        container: String,
        /// Command and arguments.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        cmd: Vec<String>,
    },
    /// Attach to a running container's stdio.
    Attach {
        /// Do not attach STDIN.
        #[arg(long)]
        no_stdin: bool,
        /// Key sequence that detaches from the container (default ctrl-p,ctrl-q).
        #[arg(long)]
        detach_keys: Option<String>,
        /// Container.
        container: String,
    },
    /// Block until containers stop, then print their exit codes.
    Wait {
        /// Containers.
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Rename a container.
    Rename {
        /// Container.
        container: String,
        /// New name.
        new_name: String,
    },
    /// Pause all processes within containers.
    Pause {
        /// Containers.
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Unpause all processes within containers.
    Unpause {
        /// Containers.
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Update the resource limits of containers.
    Update {
        #[command(flatten)]
        limits: Limits,
        /// Restart policy.
        #[arg(long)]
        restart: Option<String>,
        /// Containers.
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Manage containers.
    #[command(subcommand)]
    Container(ContainerSub),
    /// Called by a container's monitor after its final exit.
    #[command(hide = true)]
    ContainerCleanup {
        /// Container id.
        id: String,
    },
    #[command(flatten)]
    View(ViewCommand),
}

/// `caixa container ...`.
#[derive(Subcommand, Debug)]
pub enum ContainerSub {
    /// Remove all stopped containers.
    Prune {
        /// Do not prompt (accepted; never prompts).
        #[arg(short, long)]
        force: bool,
    },
}

/// Prints an engine error Docker-style and returns its exit code.
pub fn fail(e: &Error) -> u8 {
    eprintln!("caixa: {e}");
    e.exit_code() as u8
}

/// Runs a container command; returns the process exit code.
pub fn run(g: &Global, cmd: ContainerCommand) -> anyhow::Result<u8> {
    let mut eng = match Engine::open(&g.root) {
        Ok(e) => e,
        Err(e) => return Ok(fail(&e)),
    };
    let code = match dispatch(&mut eng, cmd) {
        Ok(code) => code,
        Err(e) => fail(&e),
    };
    // Exiting without closing the SQLite connections skips the WAL
    // checkpoint (and its fsyncs) a close does; SQLite's WAL is safe across
    // process exits, and commits checkpoint it once it grows.
    std::mem::forget(eng);
    Ok(code)
}

fn each(
    containers: &[String],
    mut f: impl FnMut(&str) -> caixa_engine::Result<()>,
) -> caixa_engine::Result<u8> {
    let mut code = 0;
    for c in containers {
        if let Err(e) = f(c) {
            fail(&e);
            code = 1;
        }
    }
    Ok(code)
}

fn dispatch(eng: &mut Engine, cmd: ContainerCommand) -> caixa_engine::Result<u8> {
    match cmd {
        ContainerCommand::Run(a) => run_container(eng, a),
        ContainerCommand::Create(a) => {
            let r = eng.create(a.options())?;
            println!("{}", r.id);
            Ok(0)
        }
        ContainerCommand::Start {
            attach,
            interactive,
            detach_keys,
            containers,
        } => {
            let keys = detach_keys_of(detach_keys.as_deref())?;
            if attach || interactive {
                let (r, _) = eng.find(&containers[0])?;
                return foreground(eng, &r, interactive, keys);
            }
            each(&containers, |c| {
                let (r, _) = eng.find(c)?;
                eng.start(&r, StartMode::default())?;
                println!("{c}");
                Ok(())
            })
        }
        ContainerCommand::Stop {
            time,
            signal,
            containers,
        } => each(&containers, |c| {
            eng.stop_with(c, time, signal.as_deref())?;
            println!("{c}");
            Ok(())
        }),
        ContainerCommand::Kill { signal, containers } => each(&containers, |c| {
            eng.kill(c, &signal)?;
            println!("{c}");
            Ok(())
        }),
        ContainerCommand::Restart { time, containers } => each(&containers, |c| {
            let r = eng.stop(c, time)?;
            eng.start(&r, StartMode::default())?;
            println!("{c}");
            Ok(())
        }),
        ContainerCommand::Rm {
            force,
            volumes: _,
            containers,
        } => each(&containers, |c| {
            eng.remove(c, force)?;
            println!("{c}");
            Ok(())
        }),
        ContainerCommand::Exec {
            interactive,
            tty,
            detach,
            env,
            workdir,
            user,
            privileged,
            container,
            cmd,
        } => {
            let e = ExecOptions {
                cmd,
                interactive,
                tty,
                detach,
                env,
                workdir,
                user,
                privileged,
            };
            Ok(eng.exec(&container, &e)? as u8)
        }
        ContainerCommand::Attach {
            no_stdin,
            detach_keys,
            container,
        } => {
            let keys = detach_keys_of(detach_keys.as_deref())?;
            let (r, st) = eng.find(&container)?;
            if !matches!(st.status, Status::Running | Status::Paused) {
                return Err(Error::Conflict(format!(
                    "cannot attach to container {}: it is not running",
                    r.name
                )));
            }
            let mut c = caixa_engine::attach::Conn::connect(&eng.sock(&r.id))?;
            let _raw = (r.opts.tty && !no_stdin)
                .then(caixa_engine::attach::RawTerminal::enter)
                .flatten();
            let stdin = r.opts.interactive && !no_stdin;
            let out = c.relay(stdin, watch(&r, stdin, keys));
            Ok(out.exit.map_or(0, |(c, _)| c) as u8)
        }
        ContainerCommand::Wait { containers } => each(&containers, |c| {
            let (r, _) = eng.find(c)?;
            eng.wait_monitor(&r.id, None);
            let (_, st) = eng.find(&r.id)?;
            println!("{}", st.exit_code);
            Ok(())
        }),
        ContainerCommand::Rename {
            container,
            new_name,
        } => {
            eng.rename(&container, &new_name)?;
            Ok(0)
        }
        ContainerCommand::Pause { containers } => each(&containers, |c| {
            eng.pause(c, true)?;
            println!("{c}");
            Ok(())
        }),
        ContainerCommand::Unpause { containers } => each(&containers, |c| {
            eng.pause(c, false)?;
            println!("{c}");
            Ok(())
        }),
        ContainerCommand::Update {
            limits,
            restart,
            containers,
        } => {
            let upd = limits.apply(CreateOptions {
                restart,
                ..CreateOptions::default()
            });
            each(&containers, |c| {
                eng.update(c, &upd)?;
                println!("{c}");
                Ok(())
            })
        }
        ContainerCommand::Container(ContainerSub::Prune { force: _ }) => {
            println!("Deleted Containers:");
            for (r, st) in eng.list()? {
                if matches!(st.status, Status::Exited | Status::Created | Status::Dead)
                    && eng.remove(&r.id, false).is_ok()
                {
                    println!("{}", r.id);
                }
            }
            println!("\nTotal reclaimed space: 0B");
            Ok(0)
        }
        ContainerCommand::ContainerCleanup { id } => {
            eng.cleanup(&id)?;
            Ok(0)
        }
        ContainerCommand::View(v) => view::run(eng, v),
    }
}

/// The detach sequence of `--detach-keys` (Docker's default without it).
fn detach_keys_of(spec: Option<&str>) -> caixa_engine::Result<Vec<u8>> {
    caixa_engine::attach::parse_detach_keys(spec.unwrap_or(""))
}

/// What watches our stdin for the detach sequence: only a terminal session
/// with stdin attached detaches, as with Docker (otherwise the keys are data).
fn watch(
    r: &caixa_engine::Record,
    stdin: bool,
    keys: Vec<u8>,
) -> Option<caixa_engine::attach::DetachWatch> {
    (r.opts.tty && stdin).then(|| caixa_engine::attach::DetachWatch::new(keys))
}

fn run_container(eng: &mut Engine, a: RunArgs) -> caixa_engine::Result<u8> {
    // Checked before anything is created.
    let keys = detach_keys_of(a.detach_keys.as_deref())?;
    let opts = a.create.options();
    let r = eng.create(opts)?;
    if a.detach {
        eng.start(&r, StartMode::default())?;
        println!("{}", r.id);
        return Ok(0);
    }
    let interactive = r.opts.interactive;
    foreground(eng, &r, interactive, keys)
}

/// Starts (or continues) a container with our stdio attached and returns its exit code.
fn foreground(
    eng: &mut Engine,
    r: &caixa_engine::Record,
    stdin: bool,
    keys: Vec<u8>,
) -> caixa_engine::Result<u8> {
    eng.start(
        r,
        StartMode {
            wait_for_attach: true,
        },
    )?;
    let mut c = caixa_engine::attach::Conn::connect(&eng.sock(&r.id))?;
    let raw = if r.opts.tty && std::io::stdin().is_terminal() {
        caixa_engine::attach::RawTerminal::enter()
    } else {
        None
    };
    if let Some(t) = &raw {
        let (rows, cols) = t.size();
        c.resize(rows, cols);
    }
    c.start()?;
    let out = c.relay(stdin, watch(r, stdin, keys));
    drop(raw);
    if !out.detached {
        // Start claimed the cleanup (no process launch in the monitor for it).
        eng.cleanup_attached(&r.id)?;
    }
    if out.detached {
        return Ok(0);
    }
    if let Some((code, msg)) = out.error {
        return Err(Error::Exec { code, msg });
    }
    if let Some((code, _)) = out.exit {
        return Ok(code as u8);
    }
    // The monitor went away without an exit frame (killed?): use the recorded state.
    eng.wait_monitor(&r.id, Some(Duration::from_secs(5)));
    match eng.find(&r.id) {
        Ok((_, st)) => Ok(st.exit_code as u8),
        Err(_) => Ok(0),
    }
}
