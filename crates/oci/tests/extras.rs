//! Process extras applied in a forked child and checked from the outside
//! (/proc/PID/personality, /proc/PID/stat, /proc/PID/status, ioprio_get).

use std::os::fd::{AsRawFd, OwnedFd};

use caixa_oci::extras;
use nix::sys::wait::waitpid;
use nix::unistd::{ForkResult, Pid, fork, pipe};

/// Forks a child that runs `apply`, reports readiness (exit code byte),
/// then waits for the parent to finish inspecting it. Returns the pid while
/// the child is paused, and a guard that releases and reaps it.
struct Paused {
    pid: Pid,
    release: Option<OwnedFd>,
}

impl Drop for Paused {
    fn drop(&mut self) {
        drop(self.release.take());
        let _ = waitpid(self.pid, None);
    }
}

fn paused_child(apply: impl FnOnce() -> bool) -> (Paused, bool) {
    let (ready_r, ready_w) = pipe().unwrap();
    let (go_r, go_w) = pipe().unwrap();
    // SAFETY: the child runs `apply` (raw syscalls) and pipe I/O, then _exit.
    match unsafe { fork() }.unwrap() {
        ForkResult::Child => {
            drop(go_w);
            let ok = apply();
            let b = [ok as u8];
            // SAFETY: pipe I/O on stack buffers, then _exit.
            unsafe {
                libc::write(ready_w.as_raw_fd(), b.as_ptr().cast(), 1);
                let mut x = [0u8; 1];
                libc::read(go_r.as_raw_fd(), x.as_mut_ptr().cast(), 1);
                libc::_exit(0)
            }
        }
        ForkResult::Parent { child } => {
            drop(ready_w);
            drop(go_r);
            let mut b = [0u8; 1];
            nix::unistd::read(&ready_r, &mut b).unwrap();
            (
                Paused {
                    pid: child,
                    release: Some(go_w),
                },
                b[0] == 1,
            )
        }
    }
}

fn stat_fields(pid: Pid) -> Vec<String> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the parenthesised comm; field 3 (state) is index 0.
    let rest = &s[s.rfind(')').unwrap() + 2..];
    rest.split_whitespace().map(String::from).collect()
}

/// rt_priority and policy: stat fields 40 and 41.
fn sched_of(pid: Pid) -> (u32, u32) {
    let f = stat_fields(pid);
    (f[40 - 3].parse().unwrap(), f[41 - 3].parse().unwrap())
}

#[test]
fn personality_is_applied() {
    let p = serde_json::from_str(r#"{"domain":"LINUX32"}"#).unwrap();
    let (child, ok) = paused_child(|| extras::apply_personality(&p).is_ok());
    assert!(ok);
    let v = std::fs::read_to_string(format!("/proc/{}/personality", child.pid)).unwrap();
    assert_eq!(u32::from_str_radix(v.trim(), 16).unwrap(), 0x0008);
}

#[test]
fn io_priority_is_applied() {
    let io = serde_json::from_str(r#"{"class":"IOPRIO_CLASS_IDLE","priority":7}"#).unwrap();
    let (child, ok) = paused_child(|| extras::apply_io_priority(&io).is_ok());
    assert!(ok);
    // SAFETY: ioprio_get(IOPRIO_WHO_PROCESS, pid) has no pointer arguments.
    let got = unsafe { libc::syscall(libc::SYS_ioprio_get, 1, child.pid.as_raw()) };
    // The idle class has no levels: the kernel reports class 3 with its data.
    assert_eq!(got >> 13, 3, "ioprio {got:#x}");
}

#[test]
fn scheduler_policies_are_applied() {
    let fifo = serde_json::from_str(r#"{"policy":"SCHED_FIFO","priority":10}"#).unwrap();
    let (child, ok) = paused_child(|| extras::apply_scheduler(&fifo).is_ok());
    assert!(ok);
    assert_eq!(sched_of(child.pid), (10, 1));
    drop(child);

    let batch = serde_json::from_str(r#"{"policy":"SCHED_BATCH","nice":7}"#).unwrap();
    let (child, ok) = paused_child(|| extras::apply_scheduler(&batch).is_ok());
    assert!(ok);
    assert_eq!(sched_of(child.pid), (0, 3));
    // nice is stat field 19.
    assert_eq!(stat_fields(child.pid)[19 - 3], "7");
    drop(child);

    let dl = serde_json::from_str(
        r#"{"policy":"SCHED_DEADLINE","runtime":1000000,"deadline":10000000,"period":10000000}"#,
    )
    .unwrap();
    let (child, ok) = paused_child(|| extras::apply_scheduler(&dl).is_ok());
    assert!(ok);
    assert_eq!(sched_of(child.pid).1, 6);
}

#[test]
fn exec_cpu_affinity_is_applied() {
    let online = std::fs::read_to_string("/sys/devices/system/cpu/online").unwrap();
    let cpus = extras::parse_cpu_list("online", online.trim()).unwrap();
    let last = *cpus.last().unwrap();
    let a = serde_json::from_str(&format!(r#"{{"final":"{last}"}}"#)).unwrap();
    extras::validate_exec_cpu_affinity(&a).unwrap();
    let (child, ok) = paused_child(|| extras::apply_exec_cpu_affinity_final(&a).is_ok());
    assert!(ok);
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.pid)).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("Cpus_allowed_list:"))
        .unwrap();
    assert_eq!(
        line.split_whitespace().nth(1),
        Some(last.to_string().as_str())
    );
    drop(child);

    // initial is applied by the parent to another process.
    let a = serde_json::from_str(r#"{"initial":"0"}"#).unwrap();
    let (child, ok) = paused_child(|| true);
    assert!(ok);
    extras::apply_exec_cpu_affinity_initial(&a, child.pid.as_raw()).unwrap();
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.pid)).unwrap();
    assert!(status.contains("Cpus_allowed_list:\t0\n"), "{status}");
}
