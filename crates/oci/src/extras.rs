//! Process extras of the runtime-spec: `linux.personality`,
//! `process.ioPriority`, `process.scheduler` and `process.execCPUAffinity`.
//!
//! Each has a `validate_*` (cheap, run by the runtime before fork so bad
//! configs fail early with the field named) and an `apply_*` that acts on
//! the calling thread/process and is meant for the container init (or the
//! exec'd process) right before execve. None of them allocates on success
//! except [`parse_cpu_list`].
//!
//! Order the init should use (as runc/crun do): personality after the
//! rootfs is ready; then `apply_scheduler` and `apply_io_priority` while
//! still privileged (raising the priority needs CAP_SYS_NICE / CAP_SYS_ADMIN,
//! which the container may not keep); `execCPUAffinity.final` right after
//! the process has joined the container's cgroup (the cpuset cgroup would
//! otherwise override it), and `initial` in the runtime parent before the
//! child is moved into the cgroup.

use oci_spec::runtime::{
    ExecCPUAffinity, IOPriorityClass, LinuxIOPriority, LinuxPersonality, LinuxPersonalityDomain,
    LinuxSchedulerFlag, LinuxSchedulerPolicy, Scheduler,
};

/// A process extra that is invalid or could not be applied.
#[derive(Debug, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ExtrasError {
    /// The config field, e.g. `process.scheduler.priority`.
    pub field: String,
    /// Why.
    pub reason: String,
}

fn bad(field: &str, reason: impl Into<String>) -> ExtrasError {
    ExtrasError {
        field: field.into(),
        reason: reason.into(),
    }
}

fn os_err(field: &str, what: &str) -> ExtrasError {
    bad(
        field,
        format!("{what}: {}", std::io::Error::last_os_error()),
    )
}

// ---- personality ----------------------------------------------------------

/// PER_LINUX and PER_LINUX32 (sys/personality.h).
const PER_LINUX: libc::c_ulong = 0x0000;
const PER_LINUX32: libc::c_ulong = 0x0008;

/// The personality(2) value for `p`. runtime-spec defines no flags yet, so
/// any flag is refused rather than silently ignored.
pub fn personality_value(p: &LinuxPersonality) -> Result<libc::c_ulong, ExtrasError> {
    if let Some(flag) = p.flags().iter().flatten().next() {
        return Err(bad(
            "linux.personality.flags",
            format!("unsupported flag {flag:?} (the runtime-spec defines none)"),
        ));
    }
    Ok(match p.domain() {
        LinuxPersonalityDomain::PerLinux => PER_LINUX,
        LinuxPersonalityDomain::PerLinux32 => PER_LINUX32,
    })
}

/// Sets the execution domain of the calling process (inherited across
/// execve and fork).
pub fn apply_personality(p: &LinuxPersonality) -> Result<(), ExtrasError> {
    let v = personality_value(p)?;
    // SAFETY: personality(2) only changes this process's execution domain.
    if unsafe { libc::personality(v) } < 0 {
        return Err(os_err("linux.personality", "personality"));
    }
    Ok(())
}

// ---- I/O priority ----------------------------------------------------------

const IOPRIO_WHO_PROCESS: libc::c_int = 1;
const IOPRIO_CLASS_SHIFT: u32 = 13;

/// The ioprio_set(2) value for `p` (class << 13 | level, level 0-7).
pub fn io_priority_value(p: &LinuxIOPriority) -> Result<libc::c_int, ExtrasError> {
    let level = p.priority();
    if !(0..=7).contains(&level) {
        return Err(bad(
            "process.ioPriority.priority",
            format!("{level} is out of range (0-7)"),
        ));
    }
    let class = match p.class() {
        IOPriorityClass::IoprioClassRt => 1,
        IOPriorityClass::IoprioClassBe => 2,
        IOPriorityClass::IoprioClassIdle => 3,
    };
    Ok((class << IOPRIO_CLASS_SHIFT) | level as libc::c_int)
}

/// Sets the I/O priority of the calling process (inherited by children).
/// The realtime class needs CAP_SYS_ADMIN.
pub fn apply_io_priority(p: &LinuxIOPriority) -> Result<(), ExtrasError> {
    let v = io_priority_value(p)?;
    // SAFETY: ioprio_set(IOPRIO_WHO_PROCESS, 0 = the caller, value) has no pointer arguments.
    if unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, v) } != 0 {
        return Err(os_err("process.ioPriority", "ioprio_set"));
    }
    Ok(())
}

// ---- scheduler --------------------------------------------------------------

/// `struct sched_attr` (SCHED_ATTR_SIZE_VER1, include/uapi/linux/sched/types.h).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SchedAttr {
    /// Size of this struct.
    pub size: u32,
    /// SCHED_* policy.
    pub sched_policy: u32,
    /// SCHED_FLAG_* bits.
    pub sched_flags: u64,
    /// Nice value (SCHED_OTHER, SCHED_BATCH).
    pub sched_nice: i32,
    /// Static priority (SCHED_FIFO, SCHED_RR).
    pub sched_priority: u32,
    /// SCHED_DEADLINE runtime, ns.
    pub sched_runtime: u64,
    /// SCHED_DEADLINE deadline, ns.
    pub sched_deadline: u64,
    /// SCHED_DEADLINE period, ns.
    pub sched_period: u64,
    /// Utilization clamp minimum.
    pub sched_util_min: u32,
    /// Utilization clamp maximum.
    pub sched_util_max: u32,
}

fn policy_number(p: LinuxSchedulerPolicy) -> u32 {
    match p {
        LinuxSchedulerPolicy::SchedOther => 0,
        LinuxSchedulerPolicy::SchedFifo => 1,
        LinuxSchedulerPolicy::SchedRr => 2,
        LinuxSchedulerPolicy::SchedBatch => 3,
        LinuxSchedulerPolicy::SchedIso => 4,
        LinuxSchedulerPolicy::SchedIdle => 5,
        LinuxSchedulerPolicy::SchedDeadline => 6,
    }
}

fn flag_bit(f: LinuxSchedulerFlag) -> u64 {
    match f {
        LinuxSchedulerFlag::SchedResetOnFork => 0x01,
        LinuxSchedulerFlag::SchedFlagReclaim => 0x02,
        LinuxSchedulerFlag::SchedFlagDLOverrun => 0x04,
        LinuxSchedulerFlag::SchedFlagKeepPolicy => 0x08,
        LinuxSchedulerFlag::SchedFlagKeepParams => 0x10,
        LinuxSchedulerFlag::SchedFlagUtilClampMin => 0x20,
        LinuxSchedulerFlag::SchedFlagUtilClampMax => 0x40,
    }
}

/// Validates `s` and builds the `sched_attr` for it.
pub fn sched_attr(s: &Scheduler) -> Result<SchedAttr, ExtrasError> {
    let policy = *s.policy();
    let realtime = matches!(
        policy,
        LinuxSchedulerPolicy::SchedFifo | LinuxSchedulerPolicy::SchedRr
    );
    let deadline = policy == LinuxSchedulerPolicy::SchedDeadline;
    if policy == LinuxSchedulerPolicy::SchedIso {
        return Err(bad(
            "process.scheduler.policy",
            "SCHED_ISO is not implemented by Linux",
        ));
    }
    let nice = s.nice().unwrap_or(0);
    if !(-20..=19).contains(&nice) {
        return Err(bad(
            "process.scheduler.nice",
            format!("{nice} is out of range (-20 to 19)"),
        ));
    }
    let priority = s.priority().unwrap_or(0);
    if realtime && !(1..=99).contains(&priority) {
        return Err(bad(
            "process.scheduler.priority",
            format!("{priority} is out of range for {policy} (1-99)"),
        ));
    }
    if !realtime && priority != 0 {
        return Err(bad(
            "process.scheduler.priority",
            format!("must be 0 for {policy}"),
        ));
    }
    let (runtime, dl, period) = (
        s.runtime().unwrap_or(0),
        s.deadline().unwrap_or(0),
        s.period().unwrap_or(0),
    );
    if !deadline && (runtime | dl | period) != 0 {
        return Err(bad(
            "process.scheduler",
            format!("runtime, deadline and period only apply to SCHED_DEADLINE, not {policy}"),
        ));
    }
    if deadline {
        let period_eff = if period == 0 { dl } else { period };
        if runtime == 0 || dl == 0 || runtime > dl || dl > period_eff {
            return Err(bad(
                "process.scheduler",
                "SCHED_DEADLINE needs 0 < runtime <= deadline <= period",
            ));
        }
    }
    let flags = s
        .flags()
        .iter()
        .flatten()
        .fold(0u64, |acc, f| acc | flag_bit(*f));
    Ok(SchedAttr {
        size: std::mem::size_of::<SchedAttr>() as u32,
        sched_policy: policy_number(policy),
        sched_flags: flags,
        sched_nice: nice,
        sched_priority: priority as u32,
        sched_runtime: runtime,
        sched_deadline: dl,
        sched_period: period,
        // No clamp values in the spec: the full range, i.e. no clamping.
        sched_util_min: 0,
        sched_util_max: 1024,
    })
}

/// Sets the scheduling policy and attributes of the calling thread with
/// sched_setattr(2). Raising priority needs CAP_SYS_NICE.
pub fn apply_scheduler(s: &Scheduler) -> Result<(), ExtrasError> {
    let attr = sched_attr(s)?;
    // SAFETY: `attr` is a valid, fully initialised sched_attr whose size
    // field matches its layout; the kernel only reads it.
    let ret = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0u32) };
    if ret != 0 {
        return Err(os_err("process.scheduler", "sched_setattr"));
    }
    Ok(())
}

// ---- CPU affinity -----------------------------------------------------------

/// Parses a runtime-spec CPU list (`"0-3,7"`) into sorted, unique CPUs.
pub fn parse_cpu_list(field: &str, s: &str) -> Result<Vec<usize>, ExtrasError> {
    let max = nix::sched::CpuSet::count();
    let mut cpus = Vec::new();
    for part in s.split(',') {
        let part = part.trim();
        let num = |t: &str| -> Result<usize, ExtrasError> {
            t.parse::<usize>()
                .map_err(|_| bad(field, format!("{s:?}: {t:?} is not a CPU number")))
        };
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (num(a)?, num(b)?),
            None => {
                let n = num(part)?;
                (n, n)
            }
        };
        if lo > hi {
            return Err(bad(field, format!("{s:?}: range {part} is reversed")));
        }
        if hi >= max {
            return Err(bad(
                field,
                format!("{s:?}: CPU {hi} is beyond the supported {max}"),
            ));
        }
        cpus.extend(lo..=hi);
    }
    cpus.sort_unstable();
    cpus.dedup();
    Ok(cpus)
}

/// Pins `pid` (0 = the calling thread) to the CPUs in `list`.
pub fn set_cpu_affinity(field: &str, pid: i32, list: &str) -> Result<(), ExtrasError> {
    let cpus = parse_cpu_list(field, list)?;
    let mut set = nix::sched::CpuSet::new();
    for c in cpus {
        set.set(c)
            .map_err(|e| bad(field, format!("CPU {c}: {e}")))?;
    }
    nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(pid), &set)
        .map_err(|e| bad(field, format!("sched_setaffinity({list}): {e}")))
}

/// Checks both lists of `execCPUAffinity` without applying them.
pub fn validate_exec_cpu_affinity(a: &ExecCPUAffinity) -> Result<(), ExtrasError> {
    if let Some(s) = a.initial().as_deref().filter(|s| !s.is_empty()) {
        parse_cpu_list("process.execCPUAffinity.initial", s)?;
    }
    if let Some(s) = a.cpu_affinity_final().as_deref().filter(|s| !s.is_empty()) {
        parse_cpu_list("process.execCPUAffinity.final", s)?;
    }
    Ok(())
}

/// Applies `execCPUAffinity.initial` to `pid` (the runtime's child, before
/// it is moved into the container's cgroup). No-op when unset or empty.
pub fn apply_exec_cpu_affinity_initial(a: &ExecCPUAffinity, pid: i32) -> Result<(), ExtrasError> {
    match a.initial().as_deref().filter(|s| !s.is_empty()) {
        Some(s) => set_cpu_affinity("process.execCPUAffinity.initial", pid, s),
        None => Ok(()),
    }
}

/// Applies `execCPUAffinity.final` to the calling process (after it joined
/// the container's cgroup, before execve). No-op when unset or empty: the
/// kernel's affinity from the cgroup is kept, as the spec says.
pub fn apply_exec_cpu_affinity_final(a: &ExecCPUAffinity) -> Result<(), ExtrasError> {
    match a.cpu_affinity_final().as_deref().filter(|s| !s.is_empty()) {
        Some(s) => set_cpu_affinity("process.execCPUAffinity.final", 0, s),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sched(json: &str) -> Result<SchedAttr, ExtrasError> {
        sched_attr(&serde_json::from_str::<Scheduler>(json).unwrap())
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("f", "0-1,3").unwrap(), vec![0, 1, 3]);
        assert_eq!(parse_cpu_list("f", "3,1-2,2").unwrap(), vec![1, 2, 3]);
        for bad_list in ["", "a", "1-", "3-1", "1,,2", "99999"] {
            let e = parse_cpu_list("process.execCPUAffinity.final", bad_list).unwrap_err();
            assert_eq!(e.field, "process.execCPUAffinity.final", "{bad_list}");
        }
    }

    #[test]
    fn scheduler_validation_names_fields() {
        assert_eq!(
            sched(r#"{"policy":"SCHED_FIFO","priority":10}"#)
                .unwrap()
                .sched_policy,
            1
        );
        let a =
            sched(r#"{"policy":"SCHED_BATCH","nice":5,"flags":["SCHED_RESET_ON_FORK"]}"#).unwrap();
        assert_eq!((a.sched_policy, a.sched_nice, a.sched_flags), (3, 5, 1));
        assert_eq!(std::mem::size_of::<SchedAttr>(), 56);
        for (json, field) in [
            (r#"{"policy":"SCHED_FIFO"}"#, "process.scheduler.priority"),
            (
                r#"{"policy":"SCHED_OTHER","priority":3}"#,
                "process.scheduler.priority",
            ),
            (
                r#"{"policy":"SCHED_OTHER","nice":30}"#,
                "process.scheduler.nice",
            ),
            (r#"{"policy":"SCHED_ISO"}"#, "process.scheduler.policy"),
            (
                r#"{"policy":"SCHED_OTHER","runtime":5}"#,
                "process.scheduler",
            ),
            (
                r#"{"policy":"SCHED_DEADLINE","runtime":50,"deadline":10,"period":100}"#,
                "process.scheduler",
            ),
        ] {
            assert_eq!(sched(json).unwrap_err().field, field, "{json}");
        }
    }

    #[test]
    fn personality_and_ioprio_values() {
        let p: LinuxPersonality = serde_json::from_str(r#"{"domain":"LINUX32"}"#).unwrap();
        assert_eq!(personality_value(&p).unwrap(), 8);
        let p: LinuxPersonality =
            serde_json::from_str(r#"{"domain":"LINUX","flags":["X"]}"#).unwrap();
        assert_eq!(
            personality_value(&p).unwrap_err().field,
            "linux.personality.flags"
        );
        let io: LinuxIOPriority =
            serde_json::from_str(r#"{"class":"IOPRIO_CLASS_IDLE","priority":7}"#).unwrap();
        assert_eq!(io_priority_value(&io).unwrap(), (3 << 13) | 7);
        let io: LinuxIOPriority =
            serde_json::from_str(r#"{"class":"IOPRIO_CLASS_BE","priority":8}"#).unwrap();
        assert_eq!(
            io_priority_value(&io).unwrap_err().field,
            "process.ioPriority.priority"
        );
    }
}
