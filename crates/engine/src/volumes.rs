//! `-v`/`--volume`, `--mount` and `--tmpfs`: parsed into one list of
//! mounts, with Docker's rules (absolute host paths, `-v` creates a missing
//! host directory, `--mount type=bind` refuses one) and its errors. Named
//! and anonymous volumes are not supported yet and say so.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::config::CreateOptions;
use crate::error::{Error, Result};

/// What kind of mount the user asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A host path bound into the container.
    Bind,
    /// A fresh tmpfs.
    Tmpfs,
}

/// Which flag a mount came from (inspect shows them in different places).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// `-v`/`--volume`.
    Volume,
    /// `--mount`.
    Mount,
    /// `--tmpfs`.
    Tmpfs,
}

/// One user mount, resolved and checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserMount {
    /// Bind or tmpfs.
    pub kind: Kind,
    /// Where it came from.
    pub origin: Origin,
    /// Host path (binds).
    pub source: Option<PathBuf>,
    /// Path inside the container.
    pub target: String,
    /// Read-only.
    pub readonly: bool,
    /// The mode string as given to `-v` (`ro`, `rw,z`, ...), else empty.
    pub mode: String,
    /// Bind propagation (`rprivate` by default).
    pub propagation: String,
    /// Recursive bind (`rbind`); false for `bind-nonrecursive`.
    pub recursive: bool,
    /// Extra mount options (tmpfs: size=, mode=, ...).
    pub options: Vec<String>,
    /// Create the host directory when it is missing (`-v`, as Docker does).
    pub create_source: bool,
}

const PROPAGATIONS: &[&str] = &[
    "private", "rprivate", "shared", "rshared", "slave", "rslave",
];

/// tmpfs options accepted by `--tmpfs` and `--mount type=tmpfs`.
const TMPFS_FLAGS: &[&str] = &[
    "ro",
    "rw",
    "exec",
    "noexec",
    "suid",
    "nosuid",
    "dev",
    "nodev",
    "atime",
    "noatime",
    "relatime",
    "norelatime",
    "strictatime",
    "nostrictatime",
    "diratime",
    "nodiratime",
    "sync",
    "async",
    "dirsync",
    "mand",
    "nomand",
];
const TMPFS_KEYS: &[&str] = &["size", "mode", "nr_inodes", "nr_blocks", "uid", "gid"];

fn check_target(field: &str, spec: &str, target: &str) -> Result<()> {
    if !target.starts_with('/') {
        return Err(Error::invalid(
            field,
            format!("{spec:?}: invalid mount path {target:?}: mount path must be absolute"),
        ));
    }
    if Path::new(target).components().count() <= 1 {
        return Err(Error::invalid(
            field,
            format!("{spec:?}: invalid specification: destination can't be '/'"),
        ));
    }
    Ok(())
}

fn check_tmpfs_options(field: &str, spec: &str, opts: &[String]) -> Result<()> {
    for o in opts {
        let ok = match o.split_once('=') {
            Some((k, v)) => TMPFS_KEYS.contains(&k) && !v.is_empty(),
            None => TMPFS_FLAGS.contains(&o.as_str()),
        };
        if !ok {
            return Err(Error::invalid(
                field,
                format!("{spec:?}: unknown tmpfs option {o:?}"),
            ));
        }
    }
    Ok(())
}

/// Docker's answer to a relative or named `-v` source.
fn not_a_host_path(spec: &str, src: &str) -> Error {
    let named = !src.is_empty()
        && src
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && src
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if named {
        Error::invalid(
            "--volume",
            format!("{spec:?}: named volumes are not supported yet (use an absolute host path)"),
        )
    } else {
        Error::invalid(
            "--volume",
            format!(
                "{spec:?}: {src:?} includes invalid characters for a local volume name; \
                 if you intended to pass a host directory, use an absolute path"
            ),
        )
    }
}

/// Parses one `-v HOST:CTR[:OPTS]`.
pub fn parse_volume(spec: &str) -> Result<UserMount> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (src, dst, mode) = match parts.as_slice() {
        [dst] => {
            return Err(Error::invalid(
                "--volume",
                format!("{spec:?}: anonymous volumes are not supported yet (use HOST-PATH:{dst})"),
            ));
        }
        [src, dst] => (*src, *dst, ""),
        [src, dst, mode] => (*src, *dst, *mode),
        _ => {
            return Err(Error::invalid(
                "--volume",
                format!(
                    "{spec:?}: invalid volume specification (HOST-PATH:CONTAINER-PATH[:OPTIONS])"
                ),
            ));
        }
    };
    if src.is_empty() || dst.is_empty() {
        return Err(Error::invalid(
            "--volume",
            format!("{spec:?}: invalid volume specification (HOST-PATH:CONTAINER-PATH[:OPTIONS])"),
        ));
    }
    if !src.starts_with('/') {
        return Err(not_a_host_path(spec, src));
    }
    check_target("--volume", spec, dst)?;
    let mut readonly = false;
    let mut propagation = "rprivate".to_string();
    let mut seen_rw = false;
    for o in mode.split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" | "rw" => {
                if seen_rw {
                    return Err(Error::invalid(
                        "--volume",
                        format!("{spec:?}: invalid mode: {mode}"),
                    ));
                }
                seen_rw = true;
                readonly = o == "ro";
            }
            p if PROPAGATIONS.contains(&p) => propagation = p.to_string(),
            // SELinux relabelling, copy-up and macOS consistency: accepted, no effect here.
            "z" | "Z" | "nocopy" | "consistent" | "cached" | "delegated" => {}
            _ => {
                return Err(Error::invalid(
                    "--volume",
                    format!("{spec:?}: invalid mode: {mode}"),
                ));
            }
        }
    }
    Ok(UserMount {
        kind: Kind::Bind,
        origin: Origin::Volume,
        source: Some(PathBuf::from(src)),
        target: dst.to_string(),
        readonly,
        mode: mode.to_string(),
        propagation,
        recursive: true,
        options: Vec::new(),
        create_source: true,
    })
}

fn parse_bool(spec: &str, key: &str, v: Option<&str>) -> Result<bool> {
    match v {
        None | Some("1") | Some("true") => Ok(true),
        Some("0") | Some("false") => Ok(false),
        Some(v) => Err(Error::invalid(
            "--mount",
            format!("{spec:?}: invalid value {v:?} for {key} (true or false)"),
        )),
    }
}

/// Parses one `--mount type=bind|tmpfs,source=…,target=…[,readonly]…`.
pub fn parse_mount(spec: &str) -> Result<UserMount> {
    let bad = |why: String| Error::invalid("--mount", format!("{spec:?}: {why}"));
    let mut kind = None;
    let mut source = None;
    let mut target = None;
    let mut readonly = false;
    let mut propagation = None;
    let mut recursive = true;
    let mut tmpfs_opts = Vec::new();
    for field in spec.split(',').filter(|f| !f.is_empty()) {
        let (k, v) = match field.split_once('=') {
            Some((k, v)) => (k.trim(), Some(v.trim())),
            None => (field.trim(), None),
        };
        let val =
            || v.ok_or_else(|| bad(format!("invalid field {field:?}: must be a key=value pair")));
        match k.to_ascii_lowercase().as_str() {
            "type" => kind = Some(val()?.to_string()),
            "source" | "src" => source = Some(val()?.to_string()),
            "target" | "destination" | "dst" => target = Some(val()?.to_string()),
            "readonly" | "ro" => readonly = parse_bool(spec, k, v)?,
            "bind-propagation" => {
                let p = val()?;
                if !PROPAGATIONS.contains(&p) {
                    return Err(bad(format!("invalid bind-propagation {p:?}")));
                }
                propagation = Some(p.to_string());
            }
            "bind-nonrecursive" => recursive = !parse_bool(spec, k, v)?,
            "consistency" => {}
            "tmpfs-size" => tmpfs_opts.push(format!("size={}", val()?)),
            "tmpfs-mode" => tmpfs_opts.push(format!("mode={}", val()?)),
            _ => return Err(bad(format!("unexpected key {k:?}"))),
        }
    }
    let target = target.ok_or_else(|| bad("target is required".into()))?;
    check_target("--mount", spec, &target)?;
    match kind.as_deref().unwrap_or("volume") {
        "bind" => {
            if !tmpfs_opts.is_empty() {
                return Err(bad("tmpfs options are not allowed with type=bind".into()));
            }
            let src = source.ok_or_else(|| bad("source is required for type=bind".into()))?;
            if !src.starts_with('/') {
                return Err(bad(format!(
                    "invalid mount config for type \"bind\": invalid mount path: {src:?} mount path must be absolute"
                )));
            }
            Ok(UserMount {
                kind: Kind::Bind,
                origin: Origin::Mount,
                source: Some(PathBuf::from(src)),
                target,
                readonly,
                mode: String::new(),
                propagation: propagation.unwrap_or_else(|| "rprivate".into()),
                recursive,
                options: Vec::new(),
                create_source: false,
            })
        }
        "tmpfs" => {
            if source.is_some() {
                return Err(bad("source is not allowed with type=tmpfs".into()));
            }
            if propagation.is_some() || !recursive {
                return Err(bad("bind options are not allowed with type=tmpfs".into()));
            }
            check_tmpfs_options("--mount", spec, &tmpfs_opts)?;
            Ok(UserMount {
                kind: Kind::Tmpfs,
                origin: Origin::Mount,
                source: None,
                target,
                readonly,
                mode: String::new(),
                propagation: String::new(),
                recursive: false,
                options: tmpfs_opts,
                create_source: false,
            })
        }
        "volume" => Err(bad(
            "volumes (type=volume) are not supported yet: use type=bind".into(),
        )),
        t => Err(bad(format!("unknown mount type {t:?} (bind, tmpfs)"))),
    }
}

/// Parses one `--tmpfs /path[:opts]`.
pub fn parse_tmpfs(spec: &str) -> Result<UserMount> {
    let (target, opts) = spec.split_once(':').unwrap_or((spec, ""));
    check_target("--tmpfs", spec, target)?;
    let options: Vec<String> = opts
        .split(',')
        .filter(|o| !o.is_empty())
        .map(String::from)
        .collect();
    check_tmpfs_options("--tmpfs", spec, &options)?;
    let readonly = options.iter().any(|o| o == "ro");
    Ok(UserMount {
        kind: Kind::Tmpfs,
        origin: Origin::Tmpfs,
        source: None,
        target: target.to_string(),
        readonly,
        mode: String::new(),
        propagation: String::new(),
        recursive: false,
        options: options
            .into_iter()
            .filter(|o| o != "ro" && o != "rw")
            .collect(),
        create_source: false,
    })
}

/// Every user mount of `o`, in flag order (-v, --mount, --tmpfs), checked
/// for syntax and one mount per target (not against the host: see
/// [`check_sources`]).
pub fn parse_all(o: &CreateOptions) -> Result<Vec<UserMount>> {
    let mut out: Vec<UserMount> = Vec::new();
    for v in &o.volumes {
        out.push(parse_volume(v)?);
    }
    for m in &o.mounts {
        out.push(parse_mount(m)?);
    }
    for t in &o.tmpfs {
        out.push(parse_tmpfs(t)?);
    }
    let mut seen = std::collections::HashSet::new();
    for m in &out {
        let t = Path::new(&m.target)
            .components()
            .collect::<PathBuf>()
            .display()
            .to_string();
        if !seen.insert(t.clone()) {
            let field = match m.origin {
                Origin::Volume => "--volume",
                Origin::Mount => "--mount",
                Origin::Tmpfs => "--tmpfs",
            };
            return Err(Error::invalid(field, format!("duplicate mount point: {t}")));
        }
    }
    Ok(out)
}

/// Checks that the host paths of `--mount type=bind` exist (Docker refuses
/// a missing one, where `-v` creates it).
pub fn check_sources(mounts: &[UserMount]) -> Result<()> {
    for m in mounts.iter().filter(|m| !m.create_source) {
        if let Some(src) = &m.source
            && std::fs::symlink_metadata(src).is_err()
        {
            return Err(Error::invalid(
                "--mount",
                format!(
                    "invalid mount config for type \"bind\": bind source path does not exist: {}",
                    src.display()
                ),
            ));
        }
    }
    Ok(())
}

/// Creates the missing host directories of `-v` binds (Docker creates them,
/// mode 0755, when the container starts).
pub fn create_sources(mounts: &[UserMount]) -> Result<()> {
    for m in mounts.iter().filter(|m| m.create_source) {
        let Some(src) = &m.source else { continue };
        if std::fs::symlink_metadata(src).is_err() {
            std::fs::create_dir_all(src).map_err(|e| {
                Error::io(
                    format!("--volume: create host directory {}", src.display()),
                    e,
                )
            })?;
        }
    }
    Ok(())
}

/// The runtime-spec `mounts` entry of one user mount.
pub fn oci_mount(m: &UserMount) -> Value {
    match m.kind {
        Kind::Bind => {
            let mut opts = vec![
                if m.recursive { "rbind" } else { "bind" }.to_string(),
                m.propagation.clone(),
            ];
            if m.readonly {
                opts.push("ro".into());
            }
            json!({"destination": m.target, "type": "bind", "source": m.source, "options": opts})
        }
        Kind::Tmpfs => {
            let mut opts: Vec<String> = vec!["nosuid".into(), "nodev".into(), "noexec".into()];
            if !m.options.iter().any(|o| o.starts_with("mode=")) {
                opts.push("mode=1777".into());
            }
            // The user's flags come last and win (exec after noexec, ...).
            opts.extend(m.options.iter().cloned());
            if m.readonly {
                opts.push("ro".into());
            }
            json!({"destination": m.target, "type": "tmpfs", "source": "tmpfs", "options": opts})
        }
    }
}

/// Docker's `Mounts` entry in `inspect` (binds only, as Docker lists
/// `--tmpfs` under `HostConfig.Tmpfs` instead).
pub fn inspect_entry(m: &UserMount) -> Option<Value> {
    match (m.kind.clone(), m.origin) {
        (Kind::Bind, _) => Some(json!({
            "Type": "bind",
            "Source": m.source,
            "Destination": m.target,
            "Mode": m.mode,
            "RW": !m.readonly,
            "Propagation": m.propagation,
        })),
        (Kind::Tmpfs, Origin::Mount) => Some(json!({
            "Type": "tmpfs",
            "Source": "",
            "Destination": m.target,
            "Mode": "",
            "RW": !m.readonly,
            "Propagation": "",
        })),
        (Kind::Tmpfs, _) => None,
    }
}
