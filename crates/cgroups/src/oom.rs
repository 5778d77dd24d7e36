//! OOM notification without polling: v1 registers an eventfd for
//! `memory.oom_control` through `cgroup.event_control`; v2 watches
//! `memory.events` with inotify. Either fd becomes readable when something
//! happened; [`Manager::oom_kill_count`] then says whether a process died.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use rustix::event::{EventfdFlags, PollFd, PollFlags, Timespec, eventfd, poll};
use rustix::fs::inotify;

use super::fsutil::write_file;
use super::{CgroupError, Hierarchy, Manager};

/// A readable-on-OOM file descriptor for one cgroup (for `events`, the
/// engine's monitor). Poll it (it is `AsFd`) or call [`OomNotifier::wait`].
#[derive(Debug)]
pub struct OomNotifier {
    fd: OwnedFd,
    /// v1: `memory.oom_control`, kept open while the event is registered.
    _oom_control: Option<std::fs::File>,
}

impl AsFd for OomNotifier {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl OomNotifier {
    pub(crate) fn new(m: &Manager) -> Result<Self, CgroupError> {
        let dir = m.dir_for("memory").map(|d| d.path.clone()).ok_or_else(|| {
            CgroupError::unsupported("memory", "the memory cgroup controller is not mounted")
        })?;
        match m.kind() {
            Hierarchy::V1 => {
                let ctl = dir.join("memory.oom_control");
                let oc = std::fs::File::open(&ctl).map_err(|e| CgroupError::io(&ctl, e))?;
                let fd = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)
                    .map_err(|e| CgroupError::io(&ctl, e.into()))?;
                write_file(
                    &dir.join("cgroup.event_control"),
                    &format!("{} {}", fd.as_raw_fd(), oc.as_raw_fd()),
                )?;
                Ok(OomNotifier {
                    fd,
                    _oom_control: Some(oc),
                })
            }
            Hierarchy::V2 => {
                let ev = dir.join("memory.events");
                let fd =
                    inotify::init(inotify::CreateFlags::CLOEXEC | inotify::CreateFlags::NONBLOCK)
                        .map_err(|e| CgroupError::io(&ev, e.into()))?;
                inotify::add_watch(&fd, &ev, inotify::WatchFlags::MODIFY)
                    .map_err(|e| CgroupError::io(&ev, e.into()))?;
                Ok(OomNotifier {
                    fd,
                    _oom_control: None,
                })
            }
        }
    }

    /// Waits until the kernel signals a memory event (or the cgroup is
    /// removed, on v1), at most `timeout` (`None`: no limit). Returns
    /// whether something was signalled, and consumes the notification.
    pub fn wait(&self, timeout: Option<Duration>) -> Result<bool, CgroupError> {
        let ts = timeout.map(|t| Timespec {
            tv_sec: t.as_secs() as i64,
            tv_nsec: i64::from(t.subsec_nanos()),
        });
        let mut fds = [PollFd::new(&self.fd, PollFlags::IN)];
        loop {
            match poll(&mut fds, ts.as_ref()) {
                Ok(0) => return Ok(false),
                Ok(_) => break,
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(CgroupError::io("oom notifier", e.into())),
            }
        }
        // Drain: an eventfd counter or queued inotify events.
        let mut buf = [0u8; 4096];
        while let Ok(n) = rustix::io::read(&self.fd, &mut buf) {
            if n == 0 {
                break;
            }
        }
        Ok(true)
    }
}
