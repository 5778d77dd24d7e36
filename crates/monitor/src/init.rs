//! `caixa-monitor --init -- CMD ARGS…`: a tiny PID 1 for containers run with
//! `--init` (like tini). It starts CMD as its child, forwards every
//! catchable signal to it, reaps every zombie re-parented to it, and exits
//! with CMD's status (128+N when CMD was killed by signal N).

use std::ffi::CString;
use std::os::fd::AsRawFd;

use crate::sys;

/// Signals forwarded to the child (everything catchable but SIGCHLD).
const FORWARD: &[libc::c_int] = &[
    libc::SIGHUP,
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGTERM,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGWINCH,
    libc::SIGCONT,
    libc::SIGTSTP,
    libc::SIGTTIN,
    libc::SIGTTOU,
    libc::SIGALRM,
    libc::SIGPIPE,
];

/// Runs `argv` under a reaping, signal-forwarding PID 1. Never returns.
pub fn main(argv: &[String]) -> ! {
    if argv.is_empty() {
        eprintln!("caixa-init: no command given");
        std::process::exit(127);
    }
    let mut all: Vec<libc::c_int> = FORWARD.to_vec();
    all.push(libc::SIGCHLD);
    let sfd = match sys::signalfd(&all) {
        Ok(fd) => fd,
        Err(e) => {
            eprintln!("caixa-init: signalfd: {e}");
            std::process::exit(126);
        }
    };
    let Ok(cargs) = argv
        .iter()
        .map(|a| CString::new(a.as_str()))
        .collect::<Result<Vec<_>, _>>()
    else {
        eprintln!("caixa-init: argument contains a NUL byte");
        std::process::exit(126);
    };
    let mut ptrs: Vec<*const libc::c_char> = cargs.iter().map(|c| c.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    // SAFETY: single-threaded process; the child only calls async-signal-safe
    // functions (sigprocmask, setpgid, execvp, write, _exit) before exec.
    let child = unsafe { libc::fork() };
    if child < 0 {
        eprintln!("caixa-init: fork: {}", std::io::Error::last_os_error());
        std::process::exit(126);
    }
    if child == 0 {
        sys::unblock_all_signals();
        // SAFETY: ptrs is a NUL-terminated array of valid C strings.
        unsafe { libc::execvp(ptrs[0], ptrs.as_ptr()) };
        let e = std::io::Error::last_os_error();
        let code = if e.raw_os_error() == Some(libc::ENOENT) {
            127
        } else {
            126
        };
        let msg = format!("caixa-init: exec {}: {e}\n", argv[0]);
        let _ = sys::write_all(2, msg.as_bytes());
        // SAFETY: leaving the forked child without running destructors.
        unsafe { libc::_exit(code) };
    }
    loop {
        let mut pfd = libc::pollfd {
            fd: sfd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        unsafe { libc::poll(&mut pfd, 1, -1) };
        for s in sys::read_signals(sfd.as_raw_fd()) {
            let s = s as libc::c_int;
            if s != libc::SIGCHLD {
                // SAFETY: signalling our own child.
                unsafe { libc::kill(child, s) };
            }
        }
        while let Some((pid, status)) = sys::try_wait(-1) {
            if pid == child {
                std::process::exit(sys::exit_code(status));
            }
        }
    }
}
