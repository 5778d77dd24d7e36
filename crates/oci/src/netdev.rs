//! `linux.netDevices`: existing host network interfaces moved into the
//! container's network namespace at `create` (runtime-spec "Network
//! Devices").
//!
//! Each device is moved and renamed in one RTM_SETLINK (IFLA_NET_NS_FD
//! with IFLA_IFNAME, so a name that exists in one namespace never has to
//! exist in the other); a move drops the device's addresses, so its
//! permanent global-scope ones are added again inside, then it is brought
//! up, as the spec requires.
//!
//! From then on the device belongs to the namespace: `delete` does not
//! move it out (the spec forbids it). When a namespace the runtime made
//! dies, the kernel destroys virtual devices (a veth takes its peer with
//! it) and returns physical ones to the host under their current name.
//! Only a failed `create` moves back what it moved, under the host names
//! with their addresses and up state, so the host is left as it was.
//!
//! The requests are netlink-packet-route messages on a synchronous
//! netlink socket; a socket serves the namespace it was opened in, so the
//! one for the container's namespace is opened after a setns of this
//! thread there and back.

use std::collections::HashSet;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage,
    NetlinkPayload,
};
use netlink_packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage, AddressScope,
};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};
use nix::sched::CloneFlags;
use oci_spec::runtime::{Linux, LinuxNamespaceType};

use crate::error::{Context, OciError, Result};
use crate::namespaces::Plan;

/// Longest interface name (IFNAMSIZ less the terminating NUL).
const MAX_NAME: usize = 15;

/// One entry of `linux.netDevices`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetDevice {
    /// The device's name on the host (the entry's key).
    pub host: String,
    /// Its name in the container (`name`, else the host name); may be a
    /// `%d` template the kernel completes.
    pub name: String,
}

impl NetDevice {
    fn field(&self) -> String {
        format!("linux.netDevices.{}", self.host)
    }
}

/// The spec's devices, ordered by host name (the map has no order).
pub fn devices(linux: &Linux) -> Vec<NetDevice> {
    let mut out: Vec<NetDevice> = linux
        .net_devices()
        .iter()
        .flatten()
        .map(|(host, d)| NetDevice {
            host: host.clone(),
            name: d
                .name()
                .as_ref()
                .filter(|n| !n.is_empty())
                .unwrap_or(host)
                .clone(),
        })
        .collect();
    out.sort_by(|a, b| a.host.cmp(&b.host));
    out
}

/// Why `name` is not a valid interface name (the kernel's rules: 1 to 15
/// bytes, not `.` or `..`, no `/`, `:` or white space); a `%d` template
/// (one `%`, followed by `d`) is allowed when `template` is set.
fn name_error(name: &str, template: bool) -> Option<&'static str> {
    if name.is_empty() {
        return Some("is empty");
    }
    if name.len() > MAX_NAME {
        return Some("is longer than 15 bytes");
    }
    if name == "." || name == ".." {
        return Some("is not a valid interface name");
    }
    if name
        .chars()
        .any(|c| c == '/' || c == ':' || c == '\0' || c.is_ascii_whitespace())
    {
        return Some("contains '/', ':' or white space");
    }
    if let Some(i) = name.find('%') {
        if !template {
            return Some("contains '%'");
        }
        if !name[i..].starts_with("%d") || name[i + 2..].contains('%') {
            return Some("has a '%' that is not one %d template");
        }
    }
    None
}

/// Checks `linux.netDevices` against the rest of the spec (no host
/// access): valid names, no two devices with one name in the container,
/// and a network namespace to move them into.
pub fn validate(linux: &Linux, has_netns: bool) -> Result<()> {
    let devs = devices(linux);
    if devs.is_empty() {
        return Ok(());
    }
    if !has_netns {
        return Err(OciError::invalid(
            "linux.netDevices",
            "needs a network namespace in linux.namespaces (devices cannot move into the host's)",
        ));
    }
    let mut names = HashSet::new();
    for d in &devs {
        if let Some(why) = name_error(&d.host, false) {
            return Err(OciError::invalid(d.field(), format!("{:?} {why}", d.host)));
        }
        if d.host == "lo" {
            return Err(OciError::invalid(
                d.field(),
                "the loopback device cannot be moved",
            ));
        }
        let field = format!("{}.name", d.field());
        if let Some(why) = name_error(&d.name, true) {
            return Err(OciError::invalid(field, format!("{:?} {why}", d.name)));
        }
        if d.name == "lo" {
            return Err(OciError::invalid(
                field,
                "\"lo\" already exists in every network namespace",
            ));
        }
        if !d.name.contains('%') && !names.insert(d.name.as_str()) {
            return Err(OciError::invalid(
                field,
                format!("{:?} is given to two devices", d.name),
            ));
        }
    }
    Ok(())
}

/// Checks the host before anything is made: root, a container network
/// namespace that is not the runtime's own, and every device present in
/// the runtime's namespace. Returns the devices to move.
pub fn preflight(linux: &Linux, ns: &Plan) -> Result<Vec<NetDevice>> {
    let devs = devices(linux);
    if devs.is_empty() {
        return Ok(devs);
    }
    if !rustix::process::geteuid().is_root() {
        return Err(OciError::invalid(
            "linux.netDevices",
            "moving network devices needs root (not supported rootless)",
        ));
    }
    let own = own_netns()?;
    let own_st = rustix::fs::fstat(&own).ctx(|| "fstat /proc/thread-self/ns/net".into())?;
    for j in ns
        .join
        .iter()
        .filter(|j| j.typ == LinuxNamespaceType::Network)
    {
        let st = rustix::fs::fstat(&j.fd).ctx(|| "fstat the joined network namespace".into())?;
        if (st.st_dev, st.st_ino) == (own_st.st_dev, own_st.st_ino) {
            return Err(OciError::invalid(
                "linux.netDevices",
                "the joined network namespace is the runtime's own (the host's)",
            ));
        }
    }
    let mut host = Rtnl::open().ctx(|| "netlink socket".into())?;
    for d in &devs {
        match host.link_by_name(&d.host) {
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => {
                return Err(OciError::invalid(
                    d.field(),
                    format!("no network device {:?} on the host", d.host),
                ));
            }
            Err(e) => return Err(e).ctx(|| format!("{}: looking up the device", d.field())),
        }
    }
    Ok(devs)
}

fn own_netns() -> Result<OwnedFd> {
    rustix::fs::open(
        "/proc/thread-self/ns/net",
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .ctx(|| "open /proc/thread-self/ns/net".into())
}

/// A device moved by [`move_in`].
#[derive(Debug)]
struct MovedDev {
    /// Its host name.
    host: String,
    /// Its index in the container's namespace.
    index: u32,
    /// It was up on the host.
    was_up: bool,
    /// Its permanent addresses on the host.
    addrs: Vec<AddressMessage>,
}

/// Devices moved into a container's network namespace: what a failed
/// `create` moves back with [`Moved::restore`].
#[derive(Debug)]
pub struct Moved {
    host_ns: OwnedFd,
    netns: OwnedFd,
    devs: Vec<MovedDev>,
}

/// Moves `devices` into the network namespace of process `pid` (the
/// container's init), renames them, adds their permanent global addresses
/// and brings them up. Each device is recorded in `moved` as soon as it
/// has moved, so a failure part way leaves `moved` complete for
/// [`Moved::restore`].
pub fn move_in(devices: &[NetDevice], pid: i32, moved: &mut Option<Moved>) -> Result<()> {
    let path = format!("/proc/{pid}/ns/net");
    let netns = rustix::fs::open(
        path.as_str(),
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .ctx(|| format!("open {path}"))?;
    let host_ns = own_netns()?;
    let mut host = Rtnl::open().ctx(|| "netlink socket".into())?;
    let mut inside = Rtnl::open_in(netns.as_fd(), host_ns.as_fd())?;
    let m = moved.insert(Moved {
        host_ns,
        netns,
        devs: Vec::new(),
    });
    for d in devices {
        move_one(d, &mut host, &mut inside, m)?;
    }
    Ok(())
}

fn move_one(d: &NetDevice, host: &mut Rtnl, inside: &mut Rtnl, m: &mut Moved) -> Result<()> {
    let field = d.field();
    let link = host.link_by_name(&d.host).map_err(|e| {
        if e.raw_os_error() == Some(libc::ENODEV) {
            OciError::invalid(
                &field,
                format!("no network device {:?} on the host", d.host),
            )
        } else {
            OciError::Sys {
                what: format!("{field}: looking up the device"),
                source: e,
            }
        }
    })?;
    let index = link.header.index;
    let was_up = link.header.flags.contains(LinkFlags::Up);
    let addrs: Vec<AddressMessage> = host
        .addresses(index)
        .ctx(|| format!("{field}: listing its addresses"))?
        .into_iter()
        .filter(permanent)
        .collect();
    let template = d.name.contains('%');
    let before: HashSet<u32> = if template {
        inside
            .links()
            .ctx(|| format!("{field}: listing the container's devices"))?
            .iter()
            .map(|l| l.header.index)
            .collect()
    } else {
        HashSet::new()
    };
    let attrs = vec![
        LinkAttribute::IfName(d.name.clone()),
        LinkAttribute::NetNsFd(m.netns.as_raw_fd()),
    ];
    let res = host.set_link(index, attrs, None);
    if res.is_err() && host.link_by_index(index).is_err() {
        // The kernel moves the device, then renames it: a name taken in
        // the container's namespace fails the request with the device
        // already inside under its host name. Recorded to move it back.
        match inside.link_by_name(&d.host) {
            Ok(l) => m.devs.push(MovedDev {
                host: d.host.clone(),
                index: l.header.index,
                was_up,
                addrs: addrs.clone(),
            }),
            Err(e) => tracing::warn!("{field}: left in the container's namespace: {e}"),
        }
    }
    res.map_err(|e| {
        if e.raw_os_error() == Some(libc::EEXIST) {
            OciError::invalid(
                &field,
                format!(
                    "a device named {:?} already exists in the container's network namespace",
                    d.name
                ),
            )
        } else {
            OciError::Sys {
                what: format!("{field}: moving it into the container's network namespace"),
                source: e,
            }
        }
    })?;
    // The kernel keeps the index when it is free in the new namespace;
    // recorded now so a failure below still moves the device back.
    m.devs.push(MovedDev {
        host: d.host.clone(),
        index,
        was_up,
        addrs: addrs.clone(),
    });
    let new_index = if template {
        let found: Vec<u32> = inside
            .links()
            .ctx(|| format!("{field}: listing the container's devices"))?
            .iter()
            .filter(|l| !before.contains(&l.header.index))
            .filter(|l| link_name(l).is_some_and(|n| matches_template(n, &d.name)))
            .map(|l| l.header.index)
            .collect();
        match found.as_slice() {
            [i] => *i,
            _ => {
                return Err(OciError::invalid(
                    field,
                    format!("cannot tell which device {:?} became", d.name),
                ));
            }
        }
    } else {
        inside
            .link_by_name(&d.name)
            .ctx(|| format!("{field}: finding {:?} in the container", d.name))?
            .header
            .index
    };
    if let Some(last) = m.devs.last_mut() {
        last.index = new_index;
    }
    for a in addrs
        .iter()
        .filter(|a| a.header.scope == AddressScope::Universe)
    {
        inside
            .add_address(new_index, a)
            .ctx(|| format!("{field}: adding address {} in the container", show_addr(a)))?;
    }
    inside
        .set_link(new_index, Vec::new(), Some(true))
        .ctx(|| format!("{field}: bringing it up in the container"))
}

impl Moved {
    /// Moves every recorded device that still exists back to the runtime's
    /// network namespace under its host name, with its addresses and up
    /// state (the rollback of a failed `create`). Failures are logged.
    pub fn restore(self) {
        let (mut inside, mut host) = match (
            Rtnl::open_in(self.netns.as_fd(), self.host_ns.as_fd()),
            Rtnl::open(),
        ) {
            (Ok(i), Ok(h)) => (i, h),
            (Err(e), _) => {
                tracing::warn!("rollback: network devices: {e}");
                return;
            }
            (_, Err(e)) => {
                tracing::warn!("rollback: network devices: netlink socket: {e}");
                return;
            }
        };
        for d in self.devs.iter().rev() {
            if let Err(e) = restore_one(d, &mut inside, &mut host, self.host_ns.as_fd()) {
                tracing::warn!("rollback: moving network device {} back: {e}", d.host);
            }
        }
    }
}

fn restore_one(
    d: &MovedDev,
    inside: &mut Rtnl,
    host: &mut Rtnl,
    host_ns: BorrowedFd<'_>,
) -> io::Result<()> {
    match inside.link_by_index(d.index) {
        Ok(_) => {}
        // Gone with its namespace's processes? Nothing to move.
        Err(e) if e.raw_os_error() == Some(libc::ENODEV) => return Ok(()),
        Err(e) => return Err(e),
    }
    let attrs = vec![
        LinkAttribute::IfName(d.host.clone()),
        LinkAttribute::NetNsFd(host_ns.as_raw_fd()),
    ];
    inside.set_link(d.index, attrs, None)?;
    let index = host.link_by_name(&d.host)?.header.index;
    // IPv6 link-local addresses are the kernel's own (made again when the
    // device comes up); every other permanent one was the host's setup.
    let kernel_made = |a: &&AddressMessage| {
        a.header.family == AddressFamily::Inet6 && a.header.scope == AddressScope::Link
    };
    for a in d.addrs.iter().filter(|a| !kernel_made(a)) {
        host.add_address(index, a)?;
    }
    if d.was_up {
        host.set_link(index, Vec::new(), Some(true))?;
    }
    Ok(())
}

/// A permanent (not dynamically configured) address.
fn permanent(a: &AddressMessage) -> bool {
    let flags = a.attributes.iter().find_map(|at| match at {
        AddressAttribute::Flags(f) => Some(*f),
        _ => None,
    });
    match flags {
        Some(f) => f.contains(AddressFlags::Permanent),
        None => a.header.flags.contains(AddressHeaderFlags::Permanent),
    }
}

fn show_addr(a: &AddressMessage) -> String {
    let ip = a.attributes.iter().find_map(|at| match at {
        AddressAttribute::Local(ip) | AddressAttribute::Address(ip) => Some(ip.to_string()),
        _ => None,
    });
    format!("{}/{}", ip.unwrap_or_default(), a.header.prefix_len)
}

fn link_name(l: &LinkMessage) -> Option<&str> {
    l.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfName(n) => Some(n.as_str()),
        _ => None,
    })
}

/// Whether `name` is what the kernel makes of `template` (`%d` → a number).
fn matches_template(name: &str, template: &str) -> bool {
    let Some((pre, post)) = template.split_once("%d") else {
        return name == template;
    };
    name.len() > pre.len() + post.len()
        && name.starts_with(pre)
        && name.ends_with(post)
        && name[pre.len()..name.len() - post.len()]
            .bytes()
            .all(|b| b.is_ascii_digit())
}

/// A route netlink socket with request/reply handling.
struct Rtnl {
    sock: Socket,
    seq: u32,
}

impl Rtnl {
    /// A socket in this thread's network namespace.
    fn open() -> io::Result<Rtnl> {
        let mut sock = Socket::new(NETLINK_ROUTE)?;
        sock.bind_auto()?;
        sock.connect(&SocketAddr::new(0, 0))?;
        Ok(Rtnl { sock, seq: 0 })
    }

    /// A socket in network namespace `ns`: this thread enters it, opens
    /// the socket and returns to `home`.
    fn open_in(ns: BorrowedFd<'_>, home: BorrowedFd<'_>) -> Result<Rtnl> {
        nix::sched::setns(ns, CloneFlags::CLONE_NEWNET)
            .ctx(|| "entering the container's network namespace".into())?;
        let sock = Rtnl::open();
        nix::sched::setns(home, CloneFlags::CLONE_NEWNET)
            .ctx(|| "returning to the runtime's network namespace".into())?;
        sock.ctx(|| "netlink socket in the container's network namespace".into())
    }

    /// Sends `msg` and collects the replies: up to the ACK (or error)
    /// with `NLM_F_ACK`, up to NLMSG_DONE with `NLM_F_DUMP`.
    fn call(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> io::Result<Vec<RouteNetlinkMessage>> {
        self.seq = self.seq.wrapping_add(1);
        let mut hdr = NetlinkHeader::default();
        hdr.flags = NLM_F_REQUEST | flags;
        hdr.sequence_number = self.seq;
        let mut req = NetlinkMessage::new(hdr, NetlinkPayload::InnerMessage(msg));
        req.finalize();
        let mut buf = vec![0; req.buffer_len()];
        req.serialize(&mut buf);
        self.sock.send(&buf, 0)?;
        let bad = |what: String| io::Error::new(io::ErrorKind::InvalidData, what);
        let mut out = Vec::new();
        loop {
            let (data, _) = self.sock.recv_from_full()?;
            let mut off = 0;
            while off < data.len() {
                let msg = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&data[off..])
                    .map_err(|e| bad(format!("netlink reply: {e}")))?;
                let len = msg.header.length as usize;
                if len == 0 {
                    return Err(bad("netlink reply of length 0".into()));
                }
                off += len.next_multiple_of(4);
                if msg.header.sequence_number != self.seq {
                    continue;
                }
                match msg.payload {
                    NetlinkPayload::Done(_) => return Ok(out),
                    NetlinkPayload::Error(e) => {
                        return match e.code {
                            None => Ok(out),
                            Some(c) => Err(io::Error::from_raw_os_error(-c.get())),
                        };
                    }
                    NetlinkPayload::InnerMessage(m) => out.push(m),
                    _ => {}
                }
            }
        }
    }

    fn get_link(&mut self, link: LinkMessage) -> io::Result<LinkMessage> {
        self.call(RouteNetlinkMessage::GetLink(link), NLM_F_ACK)?
            .into_iter()
            .find_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(l),
                _ => None,
            })
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENODEV))
    }

    fn link_by_name(&mut self, name: &str) -> io::Result<LinkMessage> {
        let mut l = LinkMessage::default();
        l.attributes.push(LinkAttribute::IfName(name.to_string()));
        self.get_link(l)
    }

    fn link_by_index(&mut self, index: u32) -> io::Result<LinkMessage> {
        let mut l = LinkMessage::default();
        l.header.index = index;
        self.get_link(l)
    }

    fn links(&mut self) -> io::Result<Vec<LinkMessage>> {
        let replies = self.call(
            RouteNetlinkMessage::GetLink(LinkMessage::default()),
            NLM_F_DUMP,
        )?;
        Ok(replies
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(l),
                _ => None,
            })
            .collect())
    }

    /// RTM_SETLINK on device `index` with `attrs`, and IFF_UP set or
    /// cleared when `up` is given.
    fn set_link(
        &mut self,
        index: u32,
        attrs: Vec<LinkAttribute>,
        up: Option<bool>,
    ) -> io::Result<()> {
        let mut l = LinkMessage::default();
        l.header.index = index;
        if let Some(up) = up {
            l.header.change_mask = LinkFlags::Up;
            if up {
                l.header.flags = LinkFlags::Up;
            }
        }
        l.attributes = attrs;
        self.call(RouteNetlinkMessage::SetLink(l), NLM_F_ACK)
            .map(drop)
    }

    /// The addresses of device `index`, every family.
    fn addresses(&mut self, index: u32) -> io::Result<Vec<AddressMessage>> {
        let replies = self.call(
            RouteNetlinkMessage::GetAddress(AddressMessage::default()),
            NLM_F_DUMP,
        )?;
        Ok(replies
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewAddress(a) if a.header.index == index => Some(a),
                _ => None,
            })
            .collect())
    }

    /// Adds address `a` (as listed on another device) to device `index`:
    /// its family, prefix, scope, local/peer/broadcast addresses and the
    /// flags a user sets (nodad, noprefixroute, ...).
    fn add_address(&mut self, index: u32, a: &AddressMessage) -> io::Result<()> {
        let mut n = AddressMessage::default();
        n.header.family = a.header.family;
        n.header.prefix_len = a.header.prefix_len;
        n.header.scope = a.header.scope;
        n.header.index = index;
        let user_flags = AddressFlags::Nodad
            | AddressFlags::Noprefixroute
            | AddressFlags::Managetempaddr
            | AddressFlags::Mcautojoin
            | AddressFlags::Homeaddress;
        for at in &a.attributes {
            match at {
                AddressAttribute::Local(_)
                | AddressAttribute::Address(_)
                | AddressAttribute::Broadcast(_) => n.attributes.push(at.clone()),
                AddressAttribute::Flags(f) if f.intersects(user_flags) => {
                    n.attributes.push(AddressAttribute::Flags(*f & user_flags))
                }
                _ => {}
            }
        }
        self.call(
            RouteNetlinkMessage::NewAddress(n),
            NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
        )
        .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_names() {
        assert_eq!(name_error("eth0", false), None);
        assert_eq!(name_error("veth-caixa.1_x", false), None);
        assert!(name_error("", false).is_some());
        assert!(name_error("0123456789abcdef", false).is_some());
        assert_eq!(name_error("0123456789abcde", false), None);
        for bad in [".", "..", "a/b", "a:b", "a b", "a\tb"] {
            assert!(name_error(bad, true).is_some(), "{bad}");
        }
        assert!(name_error("eth%d", false).is_some());
        assert_eq!(name_error("eth%d", true), None);
        assert!(name_error("eth%s", true).is_some());
        assert!(name_error("e%d%d", true).is_some());
    }

    #[test]
    fn templates() {
        assert!(matches_template("eth3", "eth%d"));
        assert!(matches_template("net12x", "net%dx"));
        assert!(!matches_template("eth", "eth%d"));
        assert!(!matches_template("ethx", "eth%d"));
        assert!(matches_template("eth0", "eth0"));
    }
}
