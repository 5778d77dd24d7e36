//! Image commands of the `caixa` CLI: pull, push, images, tag, rmi, image
//! inspect/history/prune, login, logout, save, load, import.

use std::io::Write;

use anyhow::{Context, Result};
use caixa_image::{Image, ImportOptions, Store};
use clap::{Args, Subcommand};

use crate::Global;
use crate::image_archive;
use crate::image_format::{human_duration, human_size, inspect_json, list_rows, render_template};
use crate::image_registry::{self, NetArgs};

/// Image commands (flattened into the top-level command enum).
#[derive(Subcommand, Debug)]
pub enum ImageCommand {
    /// Download an image from a registry.
    Pull {
        /// Image reference (`busybox`, `localhost:5000/app:v1`, `name@sha256:...`).
        reference: String,
        /// Platform for multi-arch images, e.g. linux/arm64.
        #[arg(long)]
        platform: Option<String>,
        #[command(flatten)]
        net: NetArgs,
    },
    /// Upload an image to a registry.
    Push {
        /// Image reference to push (must name the target repository).
        reference: String,
        #[command(flatten)]
        net: NetArgs,
    },
    /// Save images to an archive (docker-archive by default, interchangeable with `docker save`).
    Save {
        /// Images to save.
        #[arg(required = true)]
        images: Vec<String>,
        /// Output file (or directory for oci-dir); stdout when omitted.
        #[arg(short, long)]
        output: Option<String>,
        /// docker-archive, oci-archive or oci-dir.
        #[arg(long, default_value = "docker-archive")]
        format: String,
    },
    /// Load images from an archive (docker-archive, oci-archive, OCI layout dir; gzip/zstd ok).
    Load {
        /// Archive file or OCI layout directory; stdin when omitted.
        #[arg(short, long)]
        input: Option<String>,
        /// Suppress progress output.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Log in to a registry (credentials saved in ~/.docker/config.json).
    Login {
        /// Registry (default docker.io).
        server: Option<String>,
        /// Username.
        #[arg(short, long)]
        username: Option<String>,
        /// Password.
        #[arg(short, long)]
        password: Option<String>,
        /// Read the password from stdin.
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        net: NetArgs,
    },
    /// Log out from a registry.
    Logout {
        /// Registry (default docker.io).
        server: Option<String>,
    },
    /// List images.
    Images(ImagesArgs),
    /// Create a tag TARGET that refers to SOURCE.
    Tag {
        /// Source image (name, id or digest reference).
        source: String,
        /// New name[:tag].
        target: String,
    },
    /// Remove one or more images.
    Rmi(RmiArgs),
    /// Import a rootfs tarball (tar, tar.gz, tar.zst; `-` for stdin) as an image.
    Import {
        /// Tarball path or `-`.
        file: String,
        /// Name[:tag] for the new image.
        name: Option<String>,
        /// Commit message recorded in the history.
        #[arg(short, long)]
        message: Option<String>,
    },
    /// Manage images.
    #[command(subcommand)]
    Image(ImageSub),
}

/// `caixa image ...`.
#[derive(Subcommand, Debug)]
pub enum ImageSub {
    /// Display detailed information on one or more images (Docker-compatible JSON).
    Inspect {
        /// Images.
        #[arg(required = true)]
        images: Vec<String>,
        /// Go-template-like format (`{{.Id}}`, `{{json .Config}}`).
        #[arg(short, long)]
        format: Option<String>,
    },
    /// Show the history of an image.
    History {
        /// Image.
        image: String,
        /// Only show image ids.
        #[arg(short, long)]
        quiet: bool,
        /// Do not truncate output.
        #[arg(long)]
        no_trunc: bool,
    },
    /// Remove unused images.
    Prune {
        /// Remove all images not used by a container, not just dangling ones.
        #[arg(short, long)]
        all: bool,
        /// Do not prompt (accepted for Docker compatibility; never prompts).
        #[arg(short, long)]
        force: bool,
    },
    /// List images.
    Ls(ImagesArgs),
    /// Remove images.
    Rm(RmiArgs),
}

/// Arguments of `caixa images`.
#[derive(Args, Debug)]
pub struct ImagesArgs {
    /// Repository to list (optionally with :tag).
    pub reference: Option<String>,
    /// Show all images (caixa has no hidden intermediate images).
    #[arg(short, long)]
    pub all: bool,
    /// Only show image ids.
    #[arg(short, long)]
    pub quiet: bool,
    /// Show digests.
    #[arg(long)]
    pub digests: bool,
    /// Don't truncate ids.
    #[arg(long)]
    pub no_trunc: bool,
    /// Filter: dangling=true|false, reference=PATTERN, label=KEY[=VALUE], before=IMG, since=IMG.
    #[arg(short, long)]
    pub filter: Vec<String>,
    /// Go-template-like format: `{{.Repository}}:{{.Tag}} {{.ID}}`, `table ...`, `json`.
    #[arg(long)]
    pub format: Option<String>,
}

/// Arguments of `caixa rmi`.
#[derive(Args, Debug)]
pub struct RmiArgs {
    /// Images (name, id or digest reference).
    #[arg(required = true)]
    pub images: Vec<String>,
    /// Force removal (untag an image in use; remove an image with several tags).
    #[arg(short, long)]
    pub force: bool,
}

/// Runs an image command; returns the exit code.
pub fn run(g: &Global, cmd: ImageCommand) -> Result<u8> {
    match &cmd {
        ImageCommand::Login {
            server,
            username,
            password,
            password_stdin,
            net,
        } => {
            return image_registry::login(
                server.as_deref(),
                username.as_deref(),
                password.as_deref(),
                *password_stdin,
                net,
            );
        }
        ImageCommand::Logout { server } => return image_registry::logout(server.as_deref()),
        _ => {}
    }
    let store = open(g)?;
    match cmd {
        ImageCommand::Pull {
            reference,
            platform,
            net,
        } => image_registry::pull(&store, &reference, platform.as_deref(), &net),
        ImageCommand::Push { reference, net } => image_registry::push(&store, &reference, &net),
        ImageCommand::Save {
            images,
            output,
            format,
        } => image_archive::save(&store, &images, output.as_deref(), &format),
        ImageCommand::Load { input, quiet } => image_archive::load(&store, input.as_deref(), quiet),
        ImageCommand::Login { .. } | ImageCommand::Logout { .. } => Ok(0),
        ImageCommand::Images(a) | ImageCommand::Image(ImageSub::Ls(a)) => images(&store, &a),
        ImageCommand::Tag { source, target } => {
            store
                .tag(&source, &target)
                .with_context(|| format!("cannot tag {source} as {target}"))?;
            Ok(0)
        }
        ImageCommand::Rmi(a) | ImageCommand::Image(ImageSub::Rm(a)) => rmi(&store, &a),
        ImageCommand::Import {
            file,
            name,
            message,
        } => {
            let opts = ImportOptions {
                tag: name,
                comment: message,
                ..Default::default()
            };
            let img = if file == "-" {
                store.import(std::io::stdin().lock(), &opts)
            } else {
                let f =
                    std::fs::File::open(&file).with_context(|| format!("cannot open {file}"))?;
                store.import(f, &opts)
            }
            .with_context(|| format!("cannot import {file}"))?;
            println!("{}", img.id);
            Ok(0)
        }
        ImageCommand::Image(ImageSub::Inspect { images, format }) => {
            inspect(&store, &images, format.as_deref())
        }
        ImageCommand::Image(ImageSub::History {
            image,
            quiet,
            no_trunc,
        }) => history(&store, &image, quiet, no_trunc),
        ImageCommand::Image(ImageSub::Prune { all, .. }) => {
            let deleted = store.prune(all).context("cannot prune images")?;
            if !deleted.is_empty() {
                println!("Deleted Images:");
                for d in &deleted {
                    println!("deleted: {d}");
                }
            }
            // Also drop blobs/layers no image uses (older than 10 min: younger
            // ones may belong to a pull or load in progress).
            let (blobs, layers) = store
                .gc(std::time::Duration::from_secs(600))
                .context("cannot remove unused blobs")?;
            println!(
                "Total reclaimed images: {} (unused blobs: {blobs}, layers: {layers})",
                deleted.len()
            );
            Ok(0)
        }
    }
}

/// Opens the store under `--root`. A fresh store gets the default busybox
/// image once (a marker file records it, so `rmi busybox` sticks).
pub fn open(g: &Global) -> Result<Store> {
    let store = Store::open(&g.root)
        .with_context(|| format!("cannot open image store {}", g.root.display()))?;
    let marker = g.root.join("image/.default-busybox");
    if !marker.exists() {
        match store.ensure_default_busybox() {
            Ok(_) => {
                let _ = std::fs::write(&marker, b"");
            }
            Err(e) => tracing::warn!("default busybox image not available: {e}"),
        }
    }
    Ok(store)
}

fn images(store: &Store, a: &ImagesArgs) -> Result<u8> {
    let all = store.list()?;
    let rows = list_rows(store, &all, a.reference.as_deref(), &a.filter)?;
    let mut out = std::io::stdout().lock();
    if a.quiet {
        let mut seen = std::collections::HashSet::new();
        for r in &rows {
            let id = if a.no_trunc {
                r.id.to_string()
            } else {
                r.id.short().to_string()
            };
            if seen.insert(id.clone()) {
                writeln!(out, "{id}")?;
            }
        }
        return Ok(0);
    }
    if let Some(f) = &a.format {
        let (table, tmpl) = match f.strip_prefix("table") {
            Some(rest) => (true, rest.trim_start().to_string()),
            None => (false, f.clone()),
        };
        let tmpl = if tmpl == "json" || f == "json" {
            "{{json .}}".to_string()
        } else {
            tmpl
        };
        if table {
            writeln!(
                out,
                "{}",
                render_template(&tmpl, &serde_json::Value::Null, true)
            )?;
        }
        for r in &rows {
            writeln!(
                out,
                "{}",
                render_template(&tmpl, &r.to_json(a.no_trunc), false)
            )?;
        }
        return Ok(0);
    }
    let mut table: Vec<Vec<String>> = Vec::new();
    let mut head = vec!["REPOSITORY", "TAG"];
    if a.digests {
        head.push("DIGEST");
    }
    head.extend(["IMAGE ID", "CREATED", "SIZE"]);
    table.push(head.iter().map(|s| s.to_string()).collect());
    for r in &rows {
        let mut row = vec![r.repository.clone(), r.tag.clone()];
        if a.digests {
            row.push(r.digest.clone());
        }
        row.push(if a.no_trunc {
            r.id.to_string()
        } else {
            r.id.short().to_string()
        });
        row.push(r.created_since.clone());
        row.push(human_size(r.size));
        table.push(row);
    }
    print_table(&mut out, &table)?;
    Ok(0)
}

/// Prints columns separated by 3 spaces, like docker's tabwriter output.
pub fn print_table(out: &mut impl Write, rows: &[Vec<String>]) -> Result<()> {
    let cols = rows.iter().map(|r| r.len()).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for r in rows {
        let mut line = String::new();
        for (i, cell) in r.iter().enumerate() {
            if i + 1 == r.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}   ", w = widths[i]));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

fn rmi(store: &Store, a: &RmiArgs) -> Result<u8> {
    let mut code = 0;
    for i in &a.images {
        match store.remove(i, a.force) {
            Ok(rep) => {
                for t in rep.untagged {
                    println!("Untagged: {}", caixa_image::reference::familiar(&t));
                }
                for d in rep.deleted {
                    println!("Deleted: {d}");
                }
            }
            Err(e) => {
                eprintln!("caixa: cannot remove {i}: {e}");
                code = 1;
            }
        }
    }
    Ok(code)
}

fn inspect(store: &Store, names: &[String], format: Option<&str>) -> Result<u8> {
    let mut out = Vec::new();
    let mut code = 0;
    for n in names {
        match store.resolve(n) {
            Ok(img) => out.push(inspect_json(store, &img)),
            Err(e) => {
                eprintln!("caixa: no such image: {n}: {e}");
                code = 1;
            }
        }
    }
    match format {
        Some(f) => {
            for v in &out {
                println!("{}", render_template(f, v, false));
            }
        }
        None => println!("{}", serde_json::to_string_pretty(&out)?),
    }
    Ok(code)
}

fn history(store: &Store, name: &str, quiet: bool, no_trunc: bool) -> Result<u8> {
    let img: Image = store
        .resolve(name)
        .with_context(|| format!("no such image: {name}"))?;
    let mut layer_sizes = img.layers.iter().map(|l| l.size);
    let mut rows = vec![vec![
        "IMAGE".to_string(),
        "CREATED".into(),
        "CREATED BY".into(),
        "SIZE".into(),
        "COMMENT".into(),
    ]];
    let n = img.config.history.len();
    for (i, h) in img.config.history.iter().enumerate().rev() {
        let size = if h.empty_layer {
            0
        } else {
            layer_sizes.next_back().unwrap_or(0)
        };
        let id = if i + 1 == n {
            if no_trunc {
                img.id.to_string()
            } else {
                img.id.short().to_string()
            }
        } else {
            "<missing>".to_string()
        };
        if quiet {
            println!("{id}");
            continue;
        }
        let mut by = h.created_by.clone().unwrap_or_default();
        if !no_trunc && by.chars().count() > 45 {
            by = by.chars().take(44).collect::<String>() + "…";
        }
        rows.push(vec![
            id,
            h.created.as_deref().map(human_duration).unwrap_or_default(),
            by,
            human_size(size),
            h.comment.clone().unwrap_or_default(),
        ]);
    }
    if !quiet {
        print_table(&mut std::io::stdout().lock(), &rows)?;
    }
    Ok(0)
}
