//! Runtime-spec `linux.seccomp` → libseccomp filter → exported BPF bytes.
//!
//! Semantics follow runc: unknown syscall names are skipped (they may not
//! exist on this architecture), rules whose action equals the default action
//! are dropped (libseccomp refuses them), and the `args` of one rule are
//! ANDed when every index is distinct, otherwise each arg becomes its own
//! rule (ORed), which is how Docker's profile lists several allowed values
//! of one argument.

use std::io::{Read, Seek};
use std::sync::OnceLock;

use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompOperator,
};

use super::{
    FLAG_LOG, FLAG_NEW_LISTENER, FLAG_SPEC_ALLOW, FLAG_TSYNC, FLAG_WAIT_KILLABLE_RECV, SeccompError,
};

/// Highest syscall argument index (syscalls take at most 6 arguments).
const MAX_ARG_INDEX: usize = 5;

/// The version of the system libseccomp, e.g. `2.5.4`.
pub fn libseccomp_version() -> &'static str {
    static V: OnceLock<String> = OnceLock::new();
    V.get_or_init(|| match libseccomp::ScmpVersion::current() {
        Ok(v) => v.to_string(),
        Err(_) => "unknown".into(),
    })
}

/// The seccomp(2) filter flags this kernel accepts, as a bit set of the
/// `SECCOMP_FILTER_FLAG_*` values.
pub fn supported_flags() -> u32 {
    static F: OnceLock<u32> = OnceLock::new();
    *F.get_or_init(|| {
        [
            FLAG_TSYNC,
            FLAG_LOG,
            FLAG_SPEC_ALLOW,
            FLAG_NEW_LISTENER,
            FLAG_WAIT_KILLABLE_RECV,
        ]
        .into_iter()
        .filter(|&bit| probe_flag(bit))
        .fold(0, |acc, bit| acc | bit)
    })
}

/// A flag is supported when seccomp(SET_MODE_FILTER, flag, NULL) fails with
/// EFAULT (the kernel accepted the flag and then tried to read the program)
/// rather than EINVAL. Nothing is installed either way.
fn probe_flag(bit: u32) -> bool {
    // WAIT_KILLABLE_RECV is only accepted together with NEW_LISTENER.
    let flags = if bit == FLAG_WAIT_KILLABLE_RECV {
        bit | FLAG_NEW_LISTENER
    } else {
        bit
    };
    // SAFETY: a NULL program makes the kernel fail with EFAULT after the
    // flag check; no memory of ours is read or written.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            super::SECCOMP_SET_MODE_FILTER,
            libc::c_ulong::from(flags),
            std::ptr::null::<libc::sock_fprog>(),
        )
    };
    ret < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EFAULT)
}

/// True when any rule uses SCMP_ACT_NOTIFY.
pub(crate) fn uses_notify(profile: &LinuxSeccomp) -> bool {
    profile
        .syscalls()
        .iter()
        .flatten()
        .any(|s| s.action() == LinuxSeccompAction::ScmpActNotify)
}

/// Checks what the type system does not: combinations, ranges, names.
pub(crate) fn validate(profile: &LinuxSeccomp) -> Result<(), SeccompError> {
    if profile.default_action() == LinuxSeccompAction::ScmpActNotify {
        return Err(SeccompError::invalid(
            "defaultAction",
            "SCMP_ACT_NOTIFY cannot be the default action",
        ));
    }
    action(
        profile.default_action(),
        profile.default_errno_ret(),
        "defaultErrnoRet",
    )?;
    for (i, arch) in profile.architectures().iter().flatten().enumerate() {
        scmp_arch(*arch, &format!("architectures[{i}]"))?;
    }
    for (i, sc) in profile.syscalls().iter().flatten().enumerate() {
        if sc.names().is_empty() {
            return Err(SeccompError::invalid(
                format!("syscalls[{i}].names"),
                "must name at least one syscall",
            ));
        }
        for (j, name) in sc.names().iter().enumerate() {
            if name.is_empty() {
                return Err(SeccompError::invalid(
                    format!("syscalls[{i}].names[{j}]"),
                    "empty syscall name",
                ));
            }
            if sc.action() == LinuxSeccompAction::ScmpActNotify && name == "write" {
                // The runtime and init talk over pipes after the filter is
                // installed; notifying write would deadlock them (runc
                // refuses this too).
                return Err(SeccompError::invalid(
                    format!("syscalls[{i}].names[{j}]"),
                    "SCMP_ACT_NOTIFY cannot be used for write",
                ));
            }
        }
        action(
            sc.action(),
            sc.errno_ret(),
            &format!("syscalls[{i}].errnoRet"),
        )?;
        for (j, arg) in sc.args().iter().flatten().enumerate() {
            if arg.index() > MAX_ARG_INDEX {
                return Err(SeccompError::invalid(
                    format!("syscalls[{i}].args[{j}].index"),
                    format!("{} is out of range (0-{MAX_ARG_INDEX})", arg.index()),
                ));
            }
        }
    }
    if uses_notify(profile) && profile.listener_path().is_none() {
        return Err(SeccompError::invalid(
            "listenerPath",
            "required when SCMP_ACT_NOTIFY is used",
        ));
    }
    Ok(())
}

/// The libseccomp action for a spec action and its optional errnoRet.
fn action(
    act: LinuxSeccompAction,
    errno_ret: Option<u32>,
    errno_field: &str,
) -> Result<ScmpAction, SeccompError> {
    let ret = |default: u32| -> Result<u16, SeccompError> {
        let v = errno_ret.unwrap_or(default);
        u16::try_from(v).map_err(|_| {
            SeccompError::invalid(errno_field, format!("{v} is out of range (0-65535)"))
        })
    };
    if errno_ret.is_some()
        && !matches!(
            act,
            LinuxSeccompAction::ScmpActErrno | LinuxSeccompAction::ScmpActTrace
        )
    {
        return Err(SeccompError::invalid(
            errno_field,
            format!("only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, not {act}"),
        ));
    }
    Ok(match act {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            ScmpAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => ScmpAction::Errno(i32::from(ret(libc::EPERM as u32)?)),
        LinuxSeccompAction::ScmpActTrace => ScmpAction::Trace(ret(libc::EPERM as u32)?),
        LinuxSeccompAction::ScmpActNotify => ScmpAction::Notify,
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
    })
}

/// The libseccomp architecture token for a spec architecture.
pub(crate) fn scmp_arch(arch: Arch, field: &str) -> Result<ScmpArch, SeccompError> {
    Ok(match arch {
        Arch::ScmpArchNative => ScmpArch::Native,
        Arch::ScmpArchX86 => ScmpArch::X86,
        Arch::ScmpArchX86_64 => ScmpArch::X8664,
        Arch::ScmpArchX32 => ScmpArch::X32,
        Arch::ScmpArchArm => ScmpArch::Arm,
        Arch::ScmpArchAarch64 => ScmpArch::Aarch64,
        Arch::ScmpArchMips => ScmpArch::Mips,
        Arch::ScmpArchMips64 => ScmpArch::Mips64,
        Arch::ScmpArchMips64n32 => ScmpArch::Mips64N32,
        Arch::ScmpArchMipsel => ScmpArch::Mipsel,
        Arch::ScmpArchMipsel64 => ScmpArch::Mipsel64,
        Arch::ScmpArchMipsel64n32 => ScmpArch::Mipsel64N32,
        Arch::ScmpArchPpc => ScmpArch::Ppc,
        Arch::ScmpArchPpc64 => ScmpArch::Ppc64,
        Arch::ScmpArchPpc64le => ScmpArch::Ppc64Le,
        Arch::ScmpArchS390 => ScmpArch::S390,
        Arch::ScmpArchS390x => ScmpArch::S390X,
        Arch::ScmpArchParisc => ScmpArch::Parisc,
        Arch::ScmpArchParisc64 => ScmpArch::Parisc64,
        Arch::ScmpArchRiscv64 => ScmpArch::Riscv64,
        Arch::ScmpArchLoongarch64 => ScmpArch::Loongarch64,
        Arch::ScmpArchM68k => ScmpArch::M68k,
        Arch::ScmpArchSh => ScmpArch::Sh,
        Arch::ScmpArchSheb => ScmpArch::Sheb,
        #[allow(unreachable_patterns)]
        other => {
            return Err(SeccompError::invalid(
                field,
                format!("{other:?} is not supported"),
            ));
        }
    })
}

fn compare(arg: &LinuxSeccompArg) -> ScmpArgCompare {
    // index() <= 5 was checked by validate().
    let index = arg.index() as u32;
    match arg.op() {
        // runtime-spec: value is the mask, valueTwo the value to compare.
        LinuxSeccompOperator::ScmpCmpMaskedEq => ScmpArgCompare::new(
            index,
            ScmpCompareOp::MaskedEqual(arg.value()),
            arg.value_two().unwrap_or(0),
        ),
        op => {
            let op = match op {
                LinuxSeccompOperator::ScmpCmpNe => ScmpCompareOp::NotEqual,
                LinuxSeccompOperator::ScmpCmpLt => ScmpCompareOp::Less,
                LinuxSeccompOperator::ScmpCmpLe => ScmpCompareOp::LessOrEqual,
                LinuxSeccompOperator::ScmpCmpGe => ScmpCompareOp::GreaterEqual,
                LinuxSeccompOperator::ScmpCmpGt => ScmpCompareOp::Greater,
                _ => ScmpCompareOp::Equal,
            };
            ScmpArgCompare::new(index, op, arg.value())
        }
    }
}

fn lib_err(field: String, e: libseccomp::error::SeccompError) -> SeccompError {
    SeccompError::invalid(field, format!("libseccomp: {e}"))
}

/// Compiles a validated profile to BPF bytes (the kernel's sock_filter
/// array, native endian).
pub(crate) fn compile(profile: &LinuxSeccomp) -> Result<Vec<u8>, SeccompError> {
    let default = action(
        profile.default_action(),
        profile.default_errno_ret(),
        "defaultErrnoRet",
    )?;
    let mut ctx =
        ScmpFilterContext::new(default).map_err(|e| lib_err("defaultAction".into(), e))?;
    // A binary tree of syscall numbers instead of a linear chain: fewer
    // instructions per syscall, and the kernel's per-syscall action cache
    // (computed by emulating the filter for every syscall at install time)
    // is built much faster.
    ctx.set_ctl_optimize(2)
        .map_err(|e| lib_err("(profile)".into(), e))?;
    for (i, arch) in profile.architectures().iter().flatten().enumerate() {
        let field = format!("architectures[{i}]");
        let a = scmp_arch(*arch, &field)?;
        ctx.add_arch(a).map_err(|e| lib_err(field, e))?;
    }
    for (i, sc) in profile.syscalls().iter().flatten().enumerate() {
        let act = action(
            sc.action(),
            sc.errno_ret(),
            &format!("syscalls[{i}].errnoRet"),
        )?;
        if act == default {
            continue;
        }
        let args = sc.args().as_deref().unwrap_or_default();
        let conds: Vec<ScmpArgCompare> = args.iter().map(compare).collect();
        let distinct = {
            let mut seen = [false; MAX_ARG_INDEX + 1];
            args.iter()
                .all(|a| !std::mem::replace(&mut seen[a.index()], true))
        };
        for (j, name) in sc.names().iter().enumerate() {
            let Ok(nr) = ScmpSyscall::from_name(name) else {
                tracing::debug!("seccomp: skipping unknown syscall {name}");
                continue;
            };
            let field = || format!("syscalls[{i}].names[{j}]");
            if conds.is_empty() {
                ctx.add_rule(act, nr).map_err(|e| lib_err(field(), e))?;
            } else if distinct {
                ctx.add_rule_conditional(act, nr, &conds)
                    .map_err(|e| lib_err(field(), e))?;
            } else {
                for c in &conds {
                    ctx.add_rule_conditional(act, nr, std::slice::from_ref(c))
                        .map_err(|e| lib_err(field(), e))?;
                }
            }
        }
    }
    export(&ctx)
}

/// Exports the BPF through a memfd (libseccomp 2.5 only exports to an fd).
fn export(ctx: &ScmpFilterContext) -> Result<Vec<u8>, SeccompError> {
    let fd = rustix::fs::memfd_create("caixa-seccomp", rustix::fs::MemfdFlags::CLOEXEC)
        .map_err(std::io::Error::from)?;
    ctx.export_bpf(&fd)
        .map_err(|e| lib_err("(profile)".into(), e))?;
    let mut f = std::fs::File::from(fd);
    f.rewind()?;
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Whether the system libseccomp can build filters for `arch`.
pub fn arch_supported(arch: Arch) -> bool {
    let Ok(a) = scmp_arch(arch, "") else {
        return false;
    };
    ScmpFilterContext::new(ScmpAction::Allow)
        .and_then(|mut ctx| ctx.add_arch(a).map(|_| ()))
        .is_ok()
}
