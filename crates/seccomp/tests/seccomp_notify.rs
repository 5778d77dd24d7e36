//! SCMP_ACT_NOTIFY end to end: a forked child installs a notifying filter,
//! the parent (playing the seccomp agent) takes the listener fd and answers
//! the notification; and send_listener's wire format as an agent sees it.

mod common;

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use caixa_seccomp as seccomp;
use nix::sys::wait::waitpid;
use nix::unistd::{ForkResult, fork};

use common::{assert_exit0, cache_dir, profile};

#[test]
fn notify_returns_a_listener_and_the_agent_answers() {
    use libseccomp::{ScmpNotifReq, ScmpNotifResp, ScmpNotifRespFlags, ScmpSyscall};
    let dir = cache_dir("notify");
    let p = seccomp::prepare(
        &profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/run/caixa-test-agent.sock",
                "flags":["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
                "syscalls":[{"names":["getpgid"],"action":"SCMP_ACT_NOTIFY"}]}"#,
        ),
        dir.path(),
    )
    .unwrap();
    assert!(p.uses_notify());
    let (to_parent_r, to_parent_w) = nix::unistd::pipe().unwrap();
    let (to_child_r, to_child_w) = nix::unistd::pipe().unwrap();
    // SAFETY: see run_filtered.
    let child = match unsafe { fork() }.unwrap() {
        ForkResult::Child => {
            let code = (|| {
                let Ok(Some(listener)) = p.install() else {
                    return 1;
                };
                let fdnum = listener.as_raw_fd();
                // SAFETY: pipe I/O with stack buffers; write/read are not notified.
                unsafe {
                    if libc::write(
                        to_parent_w.as_raw_fd(),
                        fdnum.to_ne_bytes().as_ptr().cast(),
                        4,
                    ) != 4
                    {
                        return 2;
                    }
                    // Wait until the parent holds its own copy, then drop ours so
                    // that a parent failure turns the notified call into ENOSYS
                    // instead of a hang.
                    let mut b = [0u8; 1];
                    if libc::read(to_child_r.as_raw_fd(), b.as_mut_ptr().cast(), 1) != 1 {
                        return 3;
                    }
                    drop(listener);
                    if libc::syscall(libc::SYS_getpgid, 0) != 4242 {
                        return 4;
                    }
                }
                0
            })();
            // SAFETY: see run_filtered.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => child,
    };
    drop(to_parent_w);
    drop(to_child_r);
    let mut b = [0u8; 4];
    assert_eq!(nix::unistd::read(&to_parent_r, &mut b).unwrap(), 4);
    let child_fd = i32::from_ne_bytes(b);
    let pidfd = rustix::process::pidfd_open(
        rustix::process::Pid::from_raw(child.as_raw()).unwrap(),
        rustix::process::PidfdFlags::empty(),
    )
    .unwrap();
    // SAFETY: pidfd_getfd returns a new fd (a duplicate of the child's listener) that we own.
    let listener = unsafe {
        let fd = libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), child_fd, 0);
        assert!(fd >= 0, "pidfd_getfd: {}", std::io::Error::last_os_error());
        OwnedFd::from_raw_fd(fd as i32)
    };
    nix::unistd::write(&to_child_w, b"g").unwrap();
    let req = ScmpNotifReq::receive(listener.as_raw_fd()).unwrap();
    assert_eq!(req.pid, child.as_raw() as u32);
    assert_eq!(req.data.syscall, ScmpSyscall::from_name("getpgid").unwrap());
    ScmpNotifResp::new_val(req.id, 4242, ScmpNotifRespFlags::empty())
        .respond(listener.as_raw_fd())
        .unwrap();
    assert_exit0(waitpid(child, None).unwrap());
}

#[test]
fn send_listener_passes_fd_and_state_over_scm_rights() {
    use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
    use std::io::IoSliceMut;
    use std::os::unix::net::UnixListener;

    let dir = cache_dir("agent");
    let sock_path = dir.path().join("agent.sock");
    let server = UnixListener::bind(&sock_path).unwrap();
    let (r, _w) = nix::unistd::pipe().unwrap();
    let state = br#"{"ociVersion":"1.2.1","id":"caixa-test-c1","status":"creating","pid":77,"bundle":"/b"}"#;
    seccomp::send_listener(
        &sock_path,
        std::os::fd::AsFd::as_fd(&r),
        77,
        Some("meta-1"),
        state,
    )
    .unwrap();

    let (conn, _) = server.accept().unwrap();
    let mut buf = vec![0u8; 4096];
    let mut cmsg = nix::cmsg_space!([i32; 1]);
    let mut iov = [IoSliceMut::new(&mut buf)];
    let msg = recvmsg::<()>(
        conn.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::empty(),
    )
    .unwrap();
    let mut fds = Vec::new();
    for c in msg.cmsgs().unwrap() {
        if let ControlMessageOwned::ScmRights(f) = c {
            fds.extend(f);
        }
    }
    let n = msg.bytes;
    assert_eq!(fds.len(), 1);
    // SAFETY: the fd just arrived by SCM_RIGHTS; we own it now.
    let got = unsafe { OwnedFd::from_raw_fd(fds[0]) };
    let st = nix::sys::stat::fstat(&got).unwrap();
    assert_eq!(st.st_mode & libc::S_IFMT, libc::S_IFIFO);
    let v: serde_json::Value = serde_json::from_slice(&buf[..n]).unwrap();
    assert_eq!(v["fds"], serde_json::json!(["seccompFd"]));
    assert_eq!(v["pid"], 77);
    assert_eq!(v["metadata"], "meta-1");
    assert_eq!(v["ociVersion"], "1.2.1");
    assert_eq!(v["state"]["id"], "caixa-test-c1");

    let err = seccomp::send_listener(
        &dir.path().join("missing.sock"),
        std::os::fd::AsFd::as_fd(&r),
        1,
        None,
        state,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with("linux.seccomp.listenerPath: cannot connect to "),
        "{err}"
    );
}
