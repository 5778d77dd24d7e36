//! Real seccomp filters installed in forked children; the kernel decides.
//!
//! Each test forks a child that installs a prepared filter, makes syscalls
//! and reports through its exit code (0 = every check passed, N = check N
//! failed) or dies by a signal; the parent inspects the wait status.

mod common;

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;
use std::time::Instant;

use caixa_seccomp::{self as seccomp, Prepared, SeccompError, docker};
use nix::sys::signal::Signal;
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, fork};

use common::{assert_exit0, cache_dir, profile};

/// Forks; the child installs `p` and runs `checks`, exiting with its result.
fn run_filtered(p: &Prepared, checks: impl FnOnce() -> i32) -> WaitStatus {
    // SAFETY: the child only makes raw syscalls (and glibc's malloc, which
    // is fork-safe) before _exit; it never returns into the test harness.
    match unsafe { fork() }.unwrap() {
        ForkResult::Child => {
            let code = match p.install() {
                Ok(_) => checks(),
                Err(_) => 100,
            };
            // SAFETY: terminates the child without running the parent's atexit handlers.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => waitpid(child, None).unwrap(),
    }
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Returns the errno of a raw syscall, or 0 when it succeeded.
fn sys_errno(ret: libc::c_long) -> i32 {
    if ret < 0 { errno() } else { 0 }
}

#[test]
fn errno_action_blocks_only_the_listed_syscall() {
    let dir = cache_dir("errno");
    let p = seccomp::prepare(
        &profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
                {"names":["chdir","caixa_no_such_syscall"],"action":"SCMP_ACT_ERRNO","errnoRet":13},
                {"names":["fchdir"],"action":"SCMP_ACT_ERRNO"}]}"#,
        ),
        dir.path(),
    )
    .unwrap();
    let st = run_filtered(&p, || {
        // SAFETY: plain syscalls with valid arguments.
        unsafe {
            if sys_errno(libc::syscall(libc::SYS_chdir, c"/".as_ptr())) != libc::EACCES {
                return 1;
            }
            if sys_errno(libc::syscall(libc::SYS_fchdir, 0)) != libc::EPERM {
                return 2;
            }
            if libc::getpid() <= 0
                || libc::syscall(libc::SYS_getcwd, [0u8; 64].as_mut_ptr(), 64) < 0
            {
                return 3;
            }
        }
        0
    });
    assert_exit0(st);
}

#[test]
fn argument_conditions_and_or_masked() {
    let dir = cache_dir("args");
    // personality: blocked for 8 OR 0x20008 (same index twice = separate rules);
    // unshare: blocked when CLONE_NEWUTS is among the flags (masked);
    // setpriority: blocked only when which == PRIO_PROCESS AND prio > 10 (AND).
    let p = seccomp::prepare(
        &profile(&format!(
            r#"{{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
                {{"names":["personality"],"action":"SCMP_ACT_ERRNO","args":[
                    {{"index":0,"value":8,"op":"SCMP_CMP_EQ"}},
                    {{"index":0,"value":131080,"op":"SCMP_CMP_EQ"}}]}},
                {{"names":["unshare"],"action":"SCMP_ACT_ERRNO","errnoRet":22,"args":[
                    {{"index":0,"value":{uts},"valueTwo":{uts},"op":"SCMP_CMP_MASKED_EQ"}}]}},
                {{"names":["setpriority"],"action":"SCMP_ACT_ERRNO","args":[
                    {{"index":0,"value":0,"op":"SCMP_CMP_EQ"}},
                    {{"index":2,"value":10,"op":"SCMP_CMP_GT"}}]}}]}}"#,
            uts = libc::CLONE_NEWUTS
        )),
        dir.path(),
    )
    .unwrap();
    let st = run_filtered(&p, || {
        // SAFETY: plain syscalls; the child exits right after.
        unsafe {
            if sys_errno(libc::syscall(libc::SYS_personality, 8)) != libc::EPERM {
                return 1;
            }
            if sys_errno(libc::syscall(libc::SYS_personality, 0x20008)) != libc::EPERM {
                return 2;
            }
            if libc::syscall(libc::SYS_personality, 0xffff_ffffu64) < 0 {
                return 3;
            }
            if sys_errno(libc::syscall(
                libc::SYS_unshare,
                libc::CLONE_NEWUTS | libc::CLONE_NEWIPC,
            )) != libc::EINVAL
            {
                return 4;
            }
            if libc::syscall(libc::SYS_unshare, libc::CLONE_NEWIPC) < 0 {
                return 5;
            }
            if sys_errno(libc::syscall(
                libc::SYS_setpriority,
                libc::PRIO_PROCESS,
                0,
                15,
            )) != libc::EPERM
            {
                return 6;
            }
            if libc::syscall(libc::SYS_setpriority, libc::PRIO_PROCESS, 0, 5) < 0 {
                return 7;
            }
            if libc::syscall(libc::SYS_setpriority, libc::PRIO_PGRP, 0, 15) < 0 {
                return 8;
            }
        }
        0
    });
    assert_exit0(st);
}

fn killed_by(json: &str, name: &str) -> WaitStatus {
    let dir = cache_dir(name);
    let p = seccomp::prepare(&profile(json), dir.path()).unwrap();
    run_filtered(&p, || {
        // SAFETY: the filter kills the process on this syscall.
        unsafe { libc::syscall(libc::SYS_getpgid, 0) };
        0
    })
}

#[test]
fn kill_process_kill_thread_and_trap_deliver_sigsys() {
    for act in [
        "SCMP_ACT_KILL_PROCESS",
        "SCMP_ACT_KILL",
        "SCMP_ACT_KILL_THREAD",
        "SCMP_ACT_TRAP",
    ] {
        let st = killed_by(
            &format!(
                r#"{{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{{"names":["getpgid"],"action":"{act}"}}]}}"#
            ),
            "kill",
        );
        assert!(
            matches!(st, WaitStatus::Signaled(_, Signal::SIGSYS, _)),
            "{act}: {st:?}"
        );
    }
    // LOG allows the call.
    let st = killed_by(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_LOG"],"syscalls":[{"names":["getpgid"],"action":"SCMP_ACT_LOG"}]}"#,
        "log",
    );
    assert_exit0(st);
}

fn files_in(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

#[test]
fn bpf_is_compiled_once_and_cached() {
    let dir = cache_dir("cache");
    let caps: Vec<String> = ["CAP_CHOWN", "CAP_KILL"].map(String::from).to_vec();
    let prof = docker::default_profile(&caps).unwrap();

    let before = seccomp::compile_count();
    let t0 = Instant::now();
    let cold = seccomp::prepare(&prof, dir.path()).unwrap();
    let cold_t = t0.elapsed();
    assert!(!cold.from_cache());
    assert!(cold.cache_path().exists());
    let mtime = std::fs::metadata(cold.cache_path())
        .unwrap()
        .modified()
        .unwrap();
    let compiled = seccomp::compile_count();
    assert!(compiled > before);

    let t1 = Instant::now();
    let warm = seccomp::prepare(&prof, dir.path()).unwrap();
    let warm_t = t1.elapsed();
    assert!(warm.from_cache());
    assert_eq!(warm.cache_path(), cold.cache_path());
    assert_eq!(warm.instructions(), cold.instructions());
    assert_eq!(
        std::fs::metadata(warm.cache_path())
            .unwrap()
            .modified()
            .unwrap(),
        mtime
    );
    // Only this thread compiles in this dir; other tests may compile elsewhere,
    // so the cache file itself is the proof: still exactly one file, unchanged.
    assert_eq!(files_in(dir.path()), vec![cold.cache_path().to_path_buf()]);

    // Flags and listener settings do not change the BPF: same cache entry.
    let mut flagged = prof.clone();
    flagged.set_flags(Some(vec![
        oci_spec::runtime::LinuxSeccompFilterFlag::SeccompFilterFlagLog,
    ]));
    let f = seccomp::prepare(&flagged, dir.path()).unwrap();
    assert!(f.from_cache());
    assert_ne!(f.flags(), warm.flags());

    // A different profile is a different entry.
    let admin = docker::default_profile(&["CAP_SYS_ADMIN".into()]).unwrap();
    let a = seccomp::prepare(&admin, dir.path()).unwrap();
    assert!(!a.from_cache());
    assert_eq!(files_in(dir.path()).len(), 2);

    // A cache file others could have written is not trusted.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(a.cache_path(), std::fs::Permissions::from_mode(0o666)).unwrap();
    assert!(!seccomp::prepare(&admin, dir.path()).unwrap().from_cache());
    assert!(seccomp::prepare(&admin, dir.path()).unwrap().from_cache());

    // A corrupt cache file is recompiled, not trusted.
    std::fs::write(a.cache_path(), b"garbage").unwrap();
    let again = seccomp::prepare(&admin, dir.path()).unwrap();
    assert!(!again.from_cache());

    // install() cost, measured in a child.
    let (rd, wr) = nix::unistd::pipe().unwrap();
    let st = run_filtered_timed(&warm, &wr);
    drop(wr);
    assert_exit0(st);
    let mut buf = [0u8; 8];
    nix::unistd::read(&rd, &mut buf).unwrap();
    let install_ns = u64::from_ne_bytes(buf);
    eprintln!(
        "seccomp docker profile ({} insns): prepare cold {:?}, cached {:?}, install {} us",
        cold.instructions(),
        cold_t,
        warm_t,
        install_ns / 1000
    );
}

/// Like run_filtered, but times install() and writes the ns to `out`.
fn run_filtered_timed(p: &Prepared, out: &OwnedFd) -> WaitStatus {
    // SAFETY: see run_filtered.
    match unsafe { fork() }.unwrap() {
        ForkResult::Child => {
            let t = Instant::now();
            let r = p.install();
            let ns = t.elapsed().as_nanos() as u64;
            let code = match r {
                Ok(_) => {
                    // SAFETY: writes 8 bytes from a stack buffer to a pipe.
                    let n = unsafe {
                        libc::write(out.as_raw_fd(), ns.to_ne_bytes().as_ptr().cast(), 8)
                    };
                    if n == 8 { 0 } else { 2 }
                }
                Err(_) => 1,
            };
            // SAFETY: see run_filtered.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => waitpid(child, None).unwrap(),
    }
}

fn invalid_field(r: Result<impl std::fmt::Debug, SeccompError>) -> String {
    match r {
        Err(SeccompError::Invalid { field, .. }) => field,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[test]
fn invalid_profiles_name_the_field_and_leave_nothing() {
    // Unknown enum values are caught while parsing, with the JSON path.
    for (json, field) in [
        (r#"{"defaultAction":"SCMP_ACT_BOGUS"}"#, "defaultAction"),
        (
            r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_Z80"]}"#,
            "architectures[0]",
        ),
        (
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"},{"names":["getpid"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":1,"op":"SCMP_CMP_ABOUT"}]}]}"#,
            "syscalls[1].args[0].op",
        ),
        (
            r#"{"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_NOPE"]}"#,
            "flags[0]",
        ),
    ] {
        let err = seccomp::parse_profile(json.as_bytes()).unwrap_err();
        assert_eq!(invalid_field(Err::<(), _>(err)), field, "{json}");
    }

    // What parses but is still wrong is caught by prepare(), before any file is written.
    let dir = cache_dir("invalid");
    for (json, field) in [
        (
            r#"{"defaultAction":"SCMP_ACT_NOTIFY","listenerPath":"/x"}"#,
            "defaultAction",
        ),
        (
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["getpid"],"action":"SCMP_ACT_ERRNO","args":[{"index":6,"value":1,"op":"SCMP_CMP_EQ"}]}]}"#,
            "syscalls[0].args[0].index",
        ),
        (
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["getpid"],"action":"SCMP_ACT_KILL","errnoRet":1}]}"#,
            "syscalls[0].errnoRet",
        ),
        (
            r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":70000}"#,
            "defaultErrnoRet",
        ),
        (
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":[],"action":"SCMP_ACT_KILL"}]}"#,
            "syscalls[0].names",
        ),
        (
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["getpid"],"action":"SCMP_ACT_NOTIFY"}]}"#,
            "listenerPath",
        ),
        (
            r#"{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/x","syscalls":[{"names":["write"],"action":"SCMP_ACT_NOTIFY"}]}"#,
            "syscalls[0].names[0]",
        ),
    ] {
        let field_got = invalid_field(seccomp::prepare(&profile(json), dir.path()));
        assert_eq!(field_got, field, "{json}");
    }
    assert!(files_in(dir.path()).is_empty());
    let msg = seccomp::prepare(
        &profile(r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["getpid"],"action":"SCMP_ACT_KILL","errnoRet":1}]}"#),
        dir.path(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        msg.starts_with("linux.seccomp.syscalls[0].errnoRet: "),
        "{msg}"
    );
    assert!(!msg.contains('\n'));
}

#[test]
fn docker_default_profile_blocks_privileged_syscalls() {
    let dir = cache_dir("docker");
    let caps: Vec<String> = docker::DEFAULT_CAPS.iter().map(|c| c.to_string()).collect();
    let p = seccomp::prepare(&docker::default_profile(&caps).unwrap(), dir.path()).unwrap();
    let st = run_filtered(&p, || {
        // SAFETY: raw syscalls with valid (or deliberately null) arguments;
        // the blocked ones never reach the kernel's implementation.
        unsafe {
            if sys_errno(libc::syscall(libc::SYS_unshare, libc::CLONE_NEWUTS)) != libc::EPERM {
                return 1;
            }
            let none = std::ptr::null::<libc::c_char>();
            if sys_errno(libc::syscall(
                libc::SYS_mount,
                none,
                c"/".as_ptr(),
                none,
                libc::MS_REMOUNT,
                none,
            )) != libc::EPERM
            {
                return 2;
            }
            if sys_errno(libc::syscall(libc::SYS_keyctl, 0, 0, 0, 0, 0)) != libc::EPERM {
                return 3;
            }
            if sys_errno(libc::syscall(libc::SYS_clone3, none, 0)) != libc::ENOSYS {
                return 4;
            }
            if sys_errno(libc::syscall(
                libc::SYS_socket,
                libc::AF_VSOCK,
                libc::SOCK_STREAM,
                0,
            )) != libc::EPERM
            {
                return 5;
            }
            let s = libc::syscall(libc::SYS_socket, libc::AF_UNIX, libc::SOCK_STREAM, 0);
            if s < 0 {
                return 6;
            }
            libc::close(s as i32);
            let fd = libc::open(c"/proc/self/status".as_ptr(), libc::O_RDONLY);
            if fd < 0 || libc::read(fd, [0u8; 16].as_mut_ptr().cast(), 16) != 16 {
                return 7;
            }
            libc::close(fd);
            if libc::getpid() <= 0 {
                return 8;
            }
            // fork without namespace flags is allowed (clone with the mask check).
            let pid = libc::fork();
            if pid == 0 {
                libc::_exit(0);
            }
            if pid < 0 || libc::waitpid(pid, std::ptr::null_mut(), 0) != pid {
                return 9;
            }
            if sys_errno(libc::syscall(libc::SYS_personality, 0x0040_0000)) != libc::EPERM {
                return 10;
            }
        }
        0
    });
    assert_exit0(st);

    // With CAP_SYS_ADMIN the namespace syscalls are allowed.
    let mut admin = caps.clone();
    admin.push("CAP_SYS_ADMIN".into());
    let p = seccomp::prepare(&docker::default_profile(&admin).unwrap(), dir.path()).unwrap();
    let st = run_filtered(&p, || {
        // SAFETY: unshare in the short-lived child only.
        if unsafe { libc::syscall(libc::SYS_unshare, libc::CLONE_NEWUTS) } < 0 {
            return 1;
        }
        0
    });
    assert_exit0(st);
}

#[test]
fn install_without_nnp_or_cap_sys_admin_is_explained() {
    let dir = cache_dir("nnp");
    let p = seccomp::prepare(
        &profile(r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["getpgid"],"action":"SCMP_ACT_ERRNO"}]}"#),
        dir.path(),
    )
    .unwrap();
    // SAFETY: see run_filtered; the child drops CAP_SYS_ADMIN from its
    // effective set with raw capget/capset on stack buffers.
    let st = match unsafe { fork() }.unwrap() {
        ForkResult::Child => {
            let mut hdr = libc_cap_header();
            let mut data = [[0u32; 3]; 2];
            // SAFETY: header and two data structs, as _LINUX_CAPABILITY_VERSION_3 wants.
            let code = unsafe {
                if libc::syscall(libc::SYS_capget, &mut hdr, data.as_mut_ptr()) != 0 {
                    libc::_exit(1);
                }
                data[0][0] &= !(1 << 21); // CAP_SYS_ADMIN
                if libc::syscall(libc::SYS_capset, &mut hdr, data.as_ptr()) != 0 {
                    libc::_exit(2);
                }
                match p.install() {
                    Err(SeccompError::Invalid { field, .. }) if field == "(install)" => {
                        // With no_new_privs it works.
                        libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
                        match p.install() {
                            Ok(None)
                                if sys_errno(libc::syscall(libc::SYS_getpgid, 0))
                                    == libc::EPERM =>
                            {
                                0
                            }
                            _ => 4,
                        }
                    }
                    _ => 3,
                }
            };
            // SAFETY: see run_filtered.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => waitpid(child, None).unwrap(),
    };
    assert_exit0(st);
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

fn libc_cap_header() -> CapHeader {
    CapHeader {
        version: 0x2008_0522,
        pid: 0,
    }
}

#[test]
fn docker_profile_compiles_for_no_caps_and_all_caps() {
    let dir = cache_dir("allcaps");
    // Every capability the caps crate knows (what caixa-oci's features
    // document lists as known capabilities).
    let all: Vec<String> = caps::all().iter().map(|c| c.to_string()).collect();
    for caps in [Vec::new(), all] {
        let prof = docker::default_profile(&caps).unwrap();
        let p = seccomp::prepare(&prof, dir.path()).unwrap();
        assert!(p.instructions() > 100);
    }
}

#[test]
fn filter_flags_are_passed_to_the_kernel() {
    let dir = cache_dir("flags");
    let p = seccomp::prepare(
        &profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_TSYNC","SECCOMP_FILTER_FLAG_LOG","SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
                "syscalls":[{"names":["getpgid"],"action":"SCMP_ACT_ERRNO","errnoRet":2}]}"#,
        ),
        dir.path(),
    )
    .unwrap();
    assert_eq!(p.flags(), 0b111);
    let st = run_filtered(&p, || {
        // SAFETY: a plain syscall in the child.
        (sys_errno(unsafe { libc::syscall(libc::SYS_getpgid, 0) }) != libc::ENOENT) as i32
    });
    assert_exit0(st);
    // TSYNC together with NOTIFY needs TSYNC_ESRCH (bit 4) to get the listener
    // fd; run_filtered exits 100 if that first install fails.
    let n = seccomp::prepare(
        &profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/x","flags":["SECCOMP_FILTER_FLAG_TSYNC"],
                "syscalls":[{"names":["getpgid"],"action":"SCMP_ACT_NOTIFY"}]}"#,
        ),
        dir.path(),
    )
    .unwrap();
    assert_eq!(n.flags(), 1 | 8 | 16);
    let st = run_filtered(&n, || match n.install() {
        // The first install succeeded; the kernel allows one listener per
        // filter tree, so a second one is refused with EBUSY.
        Err(SeccompError::Sys(e)) if e.raw_os_error() == Some(libc::EBUSY) => 0,
        _ => 1,
    });
    assert_exit0(st);
}

#[test]
fn an_unwritable_cache_dir_only_costs_speed() {
    let dir = cache_dir("rofs");
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"").unwrap();
    let prof = profile(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["getpgid"],"action":"SCMP_ACT_ERRNO"}]}"#,
    );
    for _ in 0..2 {
        let p = seccomp::prepare(&prof, &file).unwrap();
        assert!(!p.from_cache());
        let st = run_filtered(&p, || {
            // SAFETY: a plain syscall in the child.
            (sys_errno(unsafe { libc::syscall(libc::SYS_getpgid, 0) }) != libc::EPERM) as i32
        });
        assert_exit0(st);
    }
    assert_eq!(files_in(dir.path()), vec![file]);
}

#[test]
fn default_errno_allow_list_and_trace_without_tracer() {
    let dir = cache_dir("allowlist");
    let p = seccomp::prepare(
        &profile(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":95,
                "architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86","SCMP_ARCH_X32"],
                "syscalls":[
                  {"names":["exit","exit_group","getpid","rt_sigreturn"],"action":"SCMP_ACT_ALLOW"},
                  {"names":["getpgid"],"action":"SCMP_ACT_TRACE","errnoRet":7}]}"#,
        ),
        dir.path(),
    )
    .unwrap();
    let st = run_filtered(&p, || {
        // SAFETY: plain syscalls in the child; exit_group is allowed.
        unsafe {
            if sys_errno(libc::syscall(libc::SYS_getppid)) != libc::EOPNOTSUPP {
                return 1;
            }
            if libc::syscall(libc::SYS_getpid) <= 0 {
                return 2;
            }
            // SECCOMP_RET_TRACE with no tracer attached fails with ENOSYS.
            if sys_errno(libc::syscall(libc::SYS_getpgid, 0)) != libc::ENOSYS {
                return 3;
            }
        }
        0
    });
    assert_exit0(st);
}
