//! seccomp: compiles `linux.seccomp` to BPF once (cached by hash) and
//! installs it in the container process right before execve.
//!
//! CONTRACT (keep stable): [`prepare`] runs in the runtime before fork (it
//! may be slow, it caches); [`Prepared::install`] runs in the child as the
//! last step before execve and must not allocate much or take locks.
//!
//! How it fits together:
//! - [`prepare`] validates the profile, looks for `seccomp-<sha256>.bpf` in
//!   the cache directory (the key covers the BPF-relevant part of the
//!   profile, the libseccomp version, the CPU architecture and the kernel
//!   release) and only when it is missing compiles the profile with
//!   libseccomp and writes the file atomically (temp file + rename).
//! - [`Prepared::install`] makes no libseccomp call: it hands the cached
//!   program to `seccomp(SECCOMP_SET_MODE_FILTER)` with the profile's flags
//!   (plus `SECCOMP_FILTER_FLAG_NEW_LISTENER` when `SCMP_ACT_NOTIFY` is used,
//!   returning the listener fd).
//! - [`send_listener`] gives that fd to the seccomp agent at `listenerPath`.
//! - [`docker`] resolves Docker-format profiles (Docker's default profile is
//!   shipped in `profiles/docker-default-seccomp.json`) for a capability set.
//!
//! # What the caller of [`Prepared::install`] must ensure
//! The kernel only accepts a filter from a process that has
//! `no_new_privs` set or `CAP_SYS_ADMIN` in its effective set (in its user
//! namespace). libseccomp would set `no_new_privs` itself; this module does
//! not, because that changes the meaning of `process.noNewPrivileges`. So
//! the init either sets `PR_SET_NO_NEW_PRIVS` (when the spec asks for it)
//! before calling `install`, or calls `install` while it still holds
//! `CAP_SYS_ADMIN` (i.e. before dropping capabilities, as runc does when
//! `noNewPrivileges` is false). Every syscall the init makes after `install`
//! (including `execve`) is filtered, and with `SCMP_ACT_NOTIFY` the listener
//! fd must be handed to the runtime (not sent to the agent from inside the
//! container, since that process is now filtered).

mod compile;
pub mod docker;
mod notify;

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag};
use sha2::{Digest, Sha256};

pub use compile::{arch_supported, libseccomp_version, supported_flags};
pub use notify::{container_process_state, send_listener};

/// Errors from compiling or loading a seccomp profile.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    /// A field of the profile that is invalid or unsupported.
    #[error("linux.seccomp.{field}: {reason}")]
    Invalid {
        /// The field, e.g. `syscalls[2].action`.
        field: String,
        /// Why.
        reason: String,
    },
    /// A system call failed.
    #[error("seccomp: {0}")]
    Sys(#[from] std::io::Error),
}

impl SeccompError {
    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        SeccompError::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

// seccomp(2) constants (linux/seccomp.h); defined here so the values are
// visible next to the code that uses them.
const SECCOMP_SET_MODE_FILTER: libc::c_ulong = 1;
/// `SECCOMP_FILTER_FLAG_TSYNC`: install the filter on every thread.
pub const FLAG_TSYNC: u32 = 1;
/// `SECCOMP_FILTER_FLAG_LOG`: log every action but `SECCOMP_RET_ALLOW`.
pub const FLAG_LOG: u32 = 1 << 1;
/// `SECCOMP_FILTER_FLAG_SPEC_ALLOW`: keep speculative store bypass mitigation off.
pub const FLAG_SPEC_ALLOW: u32 = 1 << 2;
/// `SECCOMP_FILTER_FLAG_NEW_LISTENER`: return a user-notification listener fd.
pub const FLAG_NEW_LISTENER: u32 = 1 << 3;
/// `SECCOMP_FILTER_FLAG_TSYNC_ESRCH`: TSYNC failures return ESRCH (so NEW_LISTENER works with TSYNC).
pub const FLAG_TSYNC_ESRCH: u32 = 1 << 4;
/// `SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV`: a notified task waits killably once the agent received it.
pub const FLAG_WAIT_KILLABLE_RECV: u32 = 1 << 5;
/// The kernel's limit on the length of one classic BPF program.
const BPF_MAXINSNS: usize = 4096;
/// Bumped whenever the way profiles are compiled changes, so old cache
/// files are never reused.
const CACHE_FORMAT: &str = "caixa-seccomp-v2";

static COMPILES: AtomicU64 = AtomicU64::new(0);

/// How many times this process compiled a profile with libseccomp (cache
/// misses). Lets callers and tests see that the cache is used.
pub fn compile_count() -> u64 {
    COMPILES.load(Ordering::Relaxed)
}

/// A compiled filter, ready to install.
#[derive(Debug)]
pub struct Prepared {
    program: Vec<libc::sock_filter>,
    flags: u32,
    notify: bool,
    cache_path: PathBuf,
    from_cache: bool,
}

/// Parses a `linux.seccomp` JSON object, naming the offending field on
/// error (e.g. `linux.seccomp.syscalls[3].action: unknown variant ...`).
pub fn parse_profile(json: &[u8]) -> Result<LinuxSeccomp, SeccompError> {
    let de = &mut serde_json::Deserializer::from_slice(json);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().to_string();
        let field = if field == "." {
            "(profile)".into()
        } else {
            field
        };
        SeccompError::invalid(field, e.into_inner().to_string())
    })
}

/// Compiles (or loads from `cache_dir`) the BPF for `profile`.
pub fn prepare(profile: &LinuxSeccomp, cache_dir: &Path) -> Result<Prepared, SeccompError> {
    compile::validate(profile)?;
    let flags = filter_flags(profile)?;
    let notify = compile::uses_notify(profile);
    let cache_path = cache_dir.join(format!("seccomp-{}.bpf", cache_key(profile)?));

    if let Some(program) = read_cache(&cache_path) {
        return Ok(Prepared {
            program,
            flags,
            notify,
            cache_path,
            from_cache: true,
        });
    }

    COMPILES.fetch_add(1, Ordering::Relaxed);
    let bytes = compile::compile(profile)?;
    let program = decode(&bytes).ok_or_else(|| {
        SeccompError::invalid("(profile)", "libseccomp produced a malformed BPF program")
    })?;
    if program.len() > BPF_MAXINSNS {
        return Err(SeccompError::invalid(
            "syscalls",
            format!(
                "the profile compiles to {} BPF instructions, more than the kernel's {BPF_MAXINSNS}",
                program.len()
            ),
        ));
    }
    if let Err(e) = write_cache(cache_dir, &cache_path, &bytes) {
        // A cache that cannot be written only costs speed.
        tracing::warn!("seccomp: cannot cache BPF in {}: {e}", cache_dir.display());
    }
    Ok(Prepared {
        program,
        flags,
        notify,
        cache_path,
        from_cache: false,
    })
}

impl Prepared {
    /// Installs the filter in the calling process. Returns the notify
    /// listener fd when the profile uses SCMP_ACT_NOTIFY (the caller sends
    /// it to `listenerPath`).
    ///
    /// Needs `no_new_privs` or `CAP_SYS_ADMIN` (see the module docs). Makes
    /// no allocation on success and no libseccomp call.
    pub fn install(&self) -> Result<Option<OwnedFd>, SeccompError> {
        let prog = libc::sock_fprog {
            // prepare() guarantees at most BPF_MAXINSNS instructions.
            len: self.program.len() as libc::c_ushort,
            filter: self.program.as_ptr().cast_mut(),
        };
        // SAFETY: `prog` points to `len` valid sock_filter structs owned by
        // `self`, which outlives the call; the kernel copies the program.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                SECCOMP_SET_MODE_FILTER,
                libc::c_ulong::from(self.flags),
                &prog as *const libc::sock_fprog,
            )
        };
        if ret < 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EACCES) && !no_new_privs_set() {
                return Err(SeccompError::invalid(
                    "(install)",
                    "the kernel refused the filter: the process needs no_new_privs or CAP_SYS_ADMIN",
                ));
            }
            return Err(SeccompError::Sys(err));
        }
        if self.notify {
            // SAFETY: with SECCOMP_FILTER_FLAG_NEW_LISTENER a non-negative
            // return value is a new fd that we now own.
            return Ok(Some(unsafe { OwnedFd::from_raw_fd(ret as i32) }));
        }
        if ret > 0 {
            // TSYNC without NEW_LISTENER reports the thread that could not
            // be synchronised.
            return Err(SeccompError::invalid(
                "flags",
                format!("SECCOMP_FILTER_FLAG_TSYNC failed: thread {ret} cannot be synchronised"),
            ));
        }
        Ok(None)
    }

    /// Whether the filter uses SCMP_ACT_NOTIFY (install returns a listener fd).
    pub fn uses_notify(&self) -> bool {
        self.notify
    }

    /// True when the BPF came from the cache instead of being compiled.
    pub fn from_cache(&self) -> bool {
        self.from_cache
    }

    /// The cache file holding this filter's BPF.
    pub fn cache_path(&self) -> &Path {
        &self.cache_path
    }

    /// Number of BPF instructions.
    pub fn instructions(&self) -> usize {
        self.program.len()
    }

    /// The seccomp(2) flags passed at install time.
    pub fn flags(&self) -> u32 {
        self.flags
    }
}

fn no_new_privs_set() -> bool {
    // SAFETY: PR_GET_NO_NEW_PRIVS takes no pointer arguments.
    unsafe { libc::prctl(libc::PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1 }
}

/// The kernel bit for one runtime-spec filter flag.
pub(crate) fn flag_bit(flag: LinuxSeccompFilterFlag) -> u32 {
    match flag {
        LinuxSeccompFilterFlag::SeccompFilterFlagTsync => FLAG_TSYNC,
        LinuxSeccompFilterFlag::SeccompFilterFlagLog => FLAG_LOG,
        LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => FLAG_SPEC_ALLOW,
        LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => FLAG_WAIT_KILLABLE_RECV,
    }
}

fn filter_flags(profile: &LinuxSeccomp) -> Result<u32, SeccompError> {
    let supported = supported_flags();
    let mut bits = 0;
    for (i, flag) in profile.flags().iter().flatten().enumerate() {
        let bit = flag_bit(*flag);
        if supported & bit == 0 {
            return Err(SeccompError::invalid(
                format!("flags[{i}]"),
                format!("{flag} is not supported by this kernel"),
            ));
        }
        bits |= bit;
    }
    if compile::uses_notify(profile) {
        bits |= FLAG_NEW_LISTENER;
        if bits & FLAG_TSYNC != 0 {
            // TSYNC and NEW_LISTENER both want the return value; ESRCH
            // makes TSYNC failures an error instead.
            bits |= FLAG_TSYNC_ESRCH;
        }
    } else if bits & FLAG_WAIT_KILLABLE_RECV != 0 {
        // The kernel rejects this flag without a listener; it means nothing then.
        bits &= !FLAG_WAIT_KILLABLE_RECV;
    }
    Ok(bits)
}

/// sha256 over what determines the BPF: the profile without its
/// install-time fields, libseccomp's version, the arch and the kernel.
fn cache_key(profile: &LinuxSeccomp) -> Result<String, SeccompError> {
    let mut bpf_relevant = profile.clone();
    bpf_relevant.set_flags(None);
    bpf_relevant.set_listener_path(None);
    bpf_relevant.set_listener_metadata(None);
    if bpf_relevant.default_action() != LinuxSeccompAction::ScmpActErrno
        && bpf_relevant.default_action() != LinuxSeccompAction::ScmpActTrace
    {
        bpf_relevant.set_default_errno_ret(None);
    }
    let json = serde_json::to_vec(&bpf_relevant)
        .map_err(|e| SeccompError::invalid("(profile)", e.to_string()))?;
    let uname = rustix::system::uname();
    let mut h = Sha256::new();
    h.update(CACHE_FORMAT.as_bytes());
    h.update([0]);
    h.update(libseccomp_version().as_bytes());
    h.update([0]);
    h.update(std::env::consts::ARCH.as_bytes());
    h.update([0]);
    h.update(uname.release().to_bytes());
    h.update([0]);
    h.update(&json);
    Ok(hex::encode(h.finalize()))
}

fn read_cache(path: &Path) -> Option<Vec<libc::sock_filter>> {
    use std::os::unix::fs::MetadataExt;
    let mut f = File::open(path).ok()?;
    // The BPF decides what the container may do: only trust a file that
    // we (our euid) wrote and nobody else can rewrite.
    let meta = f.metadata().ok()?;
    if meta.uid() != rustix::process::geteuid().as_raw() || meta.mode() & 0o022 != 0 {
        tracing::warn!(
            "seccomp: ignoring {}: not owned by us or writable by others",
            path.display()
        );
        return None;
    }
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes).ok()?;
    let program = decode(&bytes)?;
    (program.len() <= BPF_MAXINSNS).then_some(program)
}

/// Turns exported BPF bytes into instructions (native endian, 8 bytes each).
fn decode(bytes: &[u8]) -> Option<Vec<libc::sock_filter>> {
    if bytes.is_empty() || !bytes.len().is_multiple_of(8) {
        return None;
    }
    Some(
        bytes
            .chunks_exact(8)
            .map(|c| libc::sock_filter {
                code: u16::from_ne_bytes([c[0], c[1]]),
                jt: c[2],
                jf: c[3],
                k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
            })
            .collect(),
    )
}

fn write_cache(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let tmp = dir.join(format!(
        ".seccomp-{}-{}.tmp",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        drop(f);
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_rejects_partial_instructions() {
        assert!(decode(&[]).is_none());
        assert!(decode(&[0; 7]).is_none());
        assert_eq!(decode(&[0; 16]).map(|p| p.len()), Some(2));
    }

    #[test]
    fn parse_profile_names_the_field() {
        let err = parse_profile(
            br#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["getpid"],"action":"SCMP_ACT_NOPE"}]}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("linux.seccomp.syscalls[0].action:"),
            "{err}"
        );
    }
}
