//! Messages between the runtime and the processes it forks, over a
//! SOCK_SEQPACKET socketpair (one write is one message; a peer that dies
//! shows up as end-of-file, so nobody waits forever or polls).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};

use crate::error::{Context, OciError, Result};

/// One message of the create/exec protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Msg {
    /// Parent → child: go on (the child is in its cgroup / maps written).
    Go,
    /// Child → parent: write the uid/gid maps of my new user namespace.
    MapIds,
    /// Child → parent: the host pid of the process I forked.
    Pid(i32),
    /// Init → parent: namespaces are ready, waiting for createRuntime hooks.
    Ready,
    /// Parent → init: go on; the payload is the state JSON for hooks.
    Continue(Vec<u8>),
    /// Init → parent: setup done, waiting for `start`.
    Created,
    /// Child → parent: setup failed, with a one-line reason.
    Error(String),
    /// Init → parent: the seccomp notify listener is attached (SCM_RIGHTS,
    /// see [`Channel::send_fd`]); the parent hands it to `listenerPath`.
    SeccompFd,
}

const MAX: usize = 1 << 16;

impl Msg {
    fn encode(&self) -> Vec<u8> {
        let mut v = Vec::new();
        match self {
            Msg::Go => v.push(1),
            Msg::MapIds => v.push(2),
            Msg::Pid(p) => {
                v.push(3);
                v.extend_from_slice(&p.to_le_bytes());
            }
            Msg::Ready => v.push(4),
            Msg::Continue(d) => {
                v.push(5);
                v.extend_from_slice(d);
            }
            Msg::Created => v.push(6),
            Msg::Error(s) => {
                v.push(7);
                v.extend_from_slice(s.as_bytes());
            }
            Msg::SeccompFd => v.push(8),
        }
        v.truncate(MAX);
        v
    }

    fn decode(b: &[u8]) -> Option<Msg> {
        let (&tag, rest) = b.split_first()?;
        Some(match tag {
            1 => Msg::Go,
            2 => Msg::MapIds,
            3 => Msg::Pid(i32::from_le_bytes(rest.get(..4)?.try_into().ok()?)),
            4 => Msg::Ready,
            5 => Msg::Continue(rest.to_vec()),
            6 => Msg::Created,
            7 => Msg::Error(String::from_utf8_lossy(rest).into_owned()),
            8 => Msg::SeccompFd,
            _ => return None,
        })
    }
}

/// One end of the channel.
#[derive(Debug)]
pub struct Channel {
    fd: OwnedFd,
}

/// A connected pair: (parent end, child end). Both are close-on-exec.
pub fn pair() -> Result<(Channel, Channel)> {
    let (a, b) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .ctx(|| "socketpair".into())?;
    Ok((Channel { fd: a }, Channel { fd: b }))
}

impl Channel {
    /// Sends one message.
    pub fn send(&self, m: &Msg) -> Result<()> {
        let b = m.encode();
        loop {
            match nix::unistd::write(self.fd.as_fd(), &b) {
                Ok(_) => return Ok(()),
                Err(nix::Error::EINTR) => continue,
                Err(e) => return Err(e).ctx(|| "sync: send".into()),
            }
        }
    }

    /// Receives one message; `None` when the peer closed (died).
    pub fn recv(&self) -> Result<Option<Msg>> {
        let mut buf = vec![0u8; MAX];
        loop {
            match nix::unistd::read(self.fd.as_fd(), &mut buf) {
                Ok(0) => return Ok(None),
                Ok(n) => {
                    return Msg::decode(&buf[..n])
                        .map(Some)
                        .ok_or_else(|| OciError::Init("sync: malformed message".into()));
                }
                Err(nix::Error::EINTR) => continue,
                Err(e) => return Err(e).ctx(|| "sync: receive".into()),
            }
        }
    }

    /// Sends `m` with `fd` attached (SCM_RIGHTS); the receiver gets it from
    /// [`Channel::recv_fd`].
    pub fn send_fd(&self, m: &Msg, fd: BorrowedFd<'_>) -> Result<()> {
        use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};
        let b = m.encode();
        let fds = [fd.as_raw_fd()];
        let cmsg = [ControlMessage::ScmRights(&fds)];
        let iov = [std::io::IoSlice::new(&b)];
        loop {
            match sendmsg::<()>(self.fd.as_raw_fd(), &iov, &cmsg, MsgFlags::empty(), None) {
                Ok(_) => return Ok(()),
                Err(nix::Error::EINTR) => continue,
                Err(e) => return Err(e).ctx(|| "sync: send fd".into()),
            }
        }
    }

    /// Like [`Channel::recv`], also returning an fd attached to the message
    /// (close-on-exec), if any.
    pub fn recv_fd(&self) -> Result<Option<(Msg, Option<OwnedFd>)>> {
        use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
        let mut buf = vec![0u8; MAX];
        let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
        loop {
            let mut iov = [std::io::IoSliceMut::new(&mut buf)];
            let r = recvmsg::<()>(
                self.fd.as_raw_fd(),
                &mut iov,
                Some(&mut space),
                MsgFlags::MSG_CMSG_CLOEXEC,
            );
            let msg = match r {
                Ok(m) => m,
                Err(nix::Error::EINTR) => continue,
                Err(e) => return Err(e).ctx(|| "sync: receive".into()),
            };
            let mut fd = None;
            for c in msg.cmsgs().ctx(|| "sync: receive".into())? {
                if let ControlMessageOwned::ScmRights(fds) = c {
                    for raw in fds {
                        // SAFETY: SCM_RIGHTS gave us a new fd that nobody else owns.
                        let owned = unsafe { OwnedFd::from_raw_fd(raw) };
                        fd.get_or_insert(owned);
                    }
                }
            }
            let n = msg.bytes;
            if n == 0 {
                return Ok(None);
            }
            return Msg::decode(&buf[..n])
                .map(|m| Some((m, fd)))
                .ok_or_else(|| OciError::Init("sync: malformed message".into()));
        }
    }

    /// Receives and expects `want`; an error message or EOF is an error.
    pub fn expect(&self, want: &Msg) -> Result<()> {
        match self.recv()? {
            Some(ref m) if m == want => Ok(()),
            Some(Msg::Error(e)) => Err(OciError::Init(e)),
            Some(m) => Err(OciError::Init(format!(
                "sync: expected {want:?}, got {m:?}"
            ))),
            None => Err(OciError::Init("sync: peer exited".into())),
        }
    }
}
