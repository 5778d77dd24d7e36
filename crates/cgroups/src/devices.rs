//! Device access rules: v1 `devices.allow`/`devices.deny`, and on v2 a
//! `BPF_PROG_TYPE_CGROUP_DEVICE` program assembled here and attached to the
//! cgroup directory.
//!
//! Semantics on both, as runc and crun: the starting point is "deny
//! everything", then the rules apply in order and the last matching rule
//! wins. A leading wildcard allow (`{"allow": true, "access": "rwm"}`)
//! therefore turns it into an allow-by-default list. An empty list leaves
//! the cgroup's device access unchanged.

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use super::CgroupError;
use super::fsutil::write_field;

const FIELD: &str = "linux.resources.devices";

/// One rule in kernel terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rule {
    allow: bool,
    /// 'a', 'b' or 'c'.
    typ: char,
    major: Option<u32>,
    minor: Option<u32>,
    /// Bits: 1 mknod, 2 read, 4 write (the BPF_DEVCG_ACC_* values).
    access: u32,
}

impl Rule {
    fn is_wildcard(&self) -> bool {
        self.typ == 'a' && self.major.is_none() && self.minor.is_none()
    }

    fn access_str(&self) -> String {
        let mut s = String::new();
        if self.access & 2 != 0 {
            s.push('r');
        }
        if self.access & 4 != 0 {
            s.push('w');
        }
        if self.access & 1 != 0 {
            s.push('m');
        }
        s
    }

    /// The v1 `devices.allow` / `devices.deny` lines. The kernel reads a
    /// line of type `a` as "everything" whatever numbers follow, so a
    /// type-`a` rule with a major or minor becomes one `c` and one `b` line.
    fn v1_lines(&self) -> Vec<String> {
        if self.is_wildcard() {
            return vec!["a".to_string()];
        }
        let n = |v: Option<u32>| v.map_or("*".to_string(), |v| v.to_string());
        let types: &[char] = if self.typ == 'a' {
            &['c', 'b']
        } else {
            &[self.typ]
        };
        types
            .iter()
            .map(|t| {
                format!(
                    "{t} {}:{} {}",
                    n(self.major),
                    n(self.minor),
                    self.access_str()
                )
            })
            .collect()
    }
}

/// Turns config.json rules into kernel rules; FIFO rules (type `p`) are
/// dropped, as no device cgroup controls FIFOs.
pub(crate) fn rules(list: &[LinuxDeviceCgroup]) -> Vec<Rule> {
    list.iter()
        .filter_map(|d| {
            let typ = match d.typ().unwrap_or(LinuxDeviceType::A) {
                LinuxDeviceType::A => 'a',
                LinuxDeviceType::B => 'b',
                LinuxDeviceType::C | LinuxDeviceType::U => 'c',
                LinuxDeviceType::P => return None,
            };
            let num = |v: Option<i64>| v.filter(|v| *v >= 0).and_then(|v| u32::try_from(v).ok());
            let access_s = d
                .access()
                .as_deref()
                .filter(|a| !a.is_empty())
                .unwrap_or("rwm");
            let mut access = 0;
            for c in access_s.chars() {
                access |= match c {
                    'm' => 1,
                    'r' => 2,
                    'w' => 4,
                    _ => 0,
                };
            }
            Some(Rule {
                allow: d.allow(),
                typ,
                major: num(d.major()),
                minor: num(d.minor()),
                access,
            })
        })
        .collect()
}

/// Writes the rules into a v1 devices cgroup.
pub(crate) fn apply_v1(dir: &Path, list: &[LinuxDeviceCgroup]) -> Result<(), CgroupError> {
    let rules = rules(list);
    let allow = dir.join("devices.allow");
    let deny = dir.join("devices.deny");
    // Start from "deny everything" unless the first rule resets the state
    // itself.
    if !rules.first().is_some_and(Rule::is_wildcard) {
        write_field(&deny, "a", FIELD)?;
    }
    for (i, r) in rules.iter().enumerate() {
        let file = if r.allow { &allow } else { &deny };
        for line in r.v1_lines() {
            write_field(file, &line, &format!("{FIELD}[{i}]"))?;
        }
    }
    Ok(())
}

// ---- eBPF assembly (v2) ----

/// One eBPF instruction as the kernel reads it (struct bpf_insn).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
struct Insn {
    code: u8,
    regs: u8,
    off: i16,
    imm: i32,
}

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | (dst & 0xf),
        off,
        imm,
    }
}

// Opcodes (class | op | source).
const LDX_MEM_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
const ALU32_AND_K: u8 = 0x54; // BPF_ALU | BPF_AND | BPF_K
const ALU32_RSH_K: u8 = 0x74; // BPF_ALU | BPF_RSH | BPF_K
const ALU32_MOV_X: u8 = 0xbc; // BPF_ALU | BPF_MOV | BPF_X
const ALU64_MOV_K: u8 = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K
const JMP32_JNE_K: u8 = 0x56; // BPF_JMP32 | BPF_JNE | BPF_K
const JMP32_JNE_X: u8 = 0x5e; // BPF_JMP32 | BPF_JNE | BPF_X
const JMP32_JEQ_K: u8 = 0x16; // BPF_JMP32 | BPF_JEQ | BPF_K
const EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT

/// Registers: r1 = ctx (struct bpf_cgroup_dev_ctx { access_type, major,
/// minor }); r2 = device type, r3 = requested access, r4 = major,
/// r5 = minor, r0 = verdict.
fn assemble(rules: &[Rule]) -> Vec<Insn> {
    let mut p = vec![
        insn(LDX_MEM_W, 2, 1, 0, 0),
        insn(ALU32_AND_K, 2, 0, 0, 0xffff),
        insn(LDX_MEM_W, 3, 1, 0, 0),
        insn(ALU32_RSH_K, 3, 0, 0, 16),
        insn(LDX_MEM_W, 4, 1, 4, 0),
        insn(LDX_MEM_W, 5, 1, 8, 0),
    ];
    // Last rule wins: test rules from the end; the first match returns.
    for r in rules.iter().rev() {
        // (instruction, jumps-to-end-of-block?)
        let mut block: Vec<(Insn, bool)> = Vec::new();
        match r.typ {
            'b' => block.push((insn(JMP32_JNE_K, 2, 0, 0, 1), true)),
            'c' => block.push((insn(JMP32_JNE_K, 2, 0, 0, 2), true)),
            _ => {}
        }
        if r.access != 7 {
            block.push((insn(ALU32_MOV_X, 1, 3, 0, 0), false));
            block.push((insn(ALU32_AND_K, 1, 0, 0, r.access as i32), false));
            if r.allow {
                // Allow only when every requested bit is granted.
                block.push((insn(JMP32_JNE_X, 1, 3, 0, 0), true));
            } else {
                // Deny when any requested bit is denied.
                block.push((insn(JMP32_JEQ_K, 1, 0, 0, 0), true));
            }
        }
        if let Some(m) = r.major {
            block.push((insn(JMP32_JNE_K, 4, 0, 0, m as i32), true));
        }
        if let Some(m) = r.minor {
            block.push((insn(JMP32_JNE_K, 5, 0, 0, m as i32), true));
        }
        block.push((insn(ALU64_MOV_K, 0, 0, 0, i32::from(r.allow)), false));
        block.push((insn(EXIT, 0, 0, 0, 0), false));
        let len = block.len();
        let conditional = block.iter().any(|(_, j)| *j);
        for (i, (mut ins, jumps)) in block.into_iter().enumerate() {
            if jumps {
                ins.off = (len - i - 1) as i16;
            }
            p.push(ins);
        }
        if !conditional {
            // A rule matching everything decides; the verifier refuses
            // unreachable code after it.
            return p;
        }
    }
    // No rule matched: deny.
    p.push(insn(ALU64_MOV_K, 0, 0, 0, 0));
    p.push(insn(EXIT, 0, 0, 0, 0));
    p
}

// bpf(2) commands and constants.
const BPF_PROG_LOAD: libc::c_int = 5;
const BPF_PROG_ATTACH: libc::c_int = 8;
const BPF_PROG_DETACH: libc::c_int = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_int = 13;
const BPF_PROG_QUERY: libc::c_int = 16;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

/// The head of union bpf_attr for BPF_PROG_LOAD (zero-padded).
#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
    _pad: [u64; 8],
}

/// union bpf_attr for BPF_PROG_ATTACH / DETACH.
#[repr(C)]
#[derive(Default)]
struct AttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
    _pad: [u32; 11],
}

/// union bpf_attr for BPF_PROG_QUERY.
#[repr(C)]
#[derive(Default)]
struct QueryAttr {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
    _pad: [u32; 11],
}

/// union bpf_attr for BPF_PROG_GET_FD_BY_ID.
#[repr(C)]
#[derive(Default)]
struct GetFdAttr {
    prog_id: u32,
    next_id: u32,
    open_flags: u32,
    _pad: [u32; 13],
}

fn bpf<T>(cmd: libc::c_int, attr: &mut T) -> std::io::Result<libc::c_long> {
    // SAFETY: `attr` is a live, properly laid out bpf_attr prefix of
    // size_of::<T>() bytes; the kernel reads (and for QUERY writes) only
    // within that size.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T as *mut libc::c_void,
            std::mem::size_of::<T>() as libc::c_uint,
        )
    };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn load(prog: &[Insn]) -> Result<OwnedFd, CgroupError> {
    // Without a verifier log first (much faster); with one only to explain
    // a refusal.
    match load_with_log(prog, None) {
        Ok(fd) => Ok(fd),
        Err(_) => {
            let mut log = vec![0u8; 64 * 1024];
            load_with_log(prog, Some(&mut log)).map_err(|e| {
                let end = log.iter().position(|b| *b == 0).unwrap_or(0);
                let msg = String::from_utf8_lossy(&log[..end]);
                let last = msg
                    .lines()
                    .rev()
                    .find(|l| !l.trim().is_empty() && !l.starts_with("processed "))
                    .unwrap_or("");
                tracing::debug!("device eBPF verifier log: {msg}");
                CgroupError::unsupported(
                    FIELD,
                    format!("cannot load the device eBPF program: {e} {last}"),
                )
            })
        }
    }
}

fn load_with_log(prog: &[Insn], log: Option<&mut [u8]>) -> std::io::Result<OwnedFd> {
    let license = c"Apache";
    let mut attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: prog.len() as u32,
        insns: prog.as_ptr() as u64,
        license: license.as_ptr() as u64,
        ..Default::default()
    };
    if let Some(log) = log {
        attr.log_level = 1;
        attr.log_size = log.len() as u32;
        attr.log_buf = log.as_mut_ptr() as u64;
    }
    attr.prog_name[..5].copy_from_slice(b"caixa");
    let fd = bpf(BPF_PROG_LOAD, &mut attr)?;
    // SAFETY: BPF_PROG_LOAD returned a new file descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// The ids of the device programs attached to the cgroup itself.
fn attached(cg: &OwnedFd) -> std::io::Result<Vec<u32>> {
    let mut ids = vec![0u32; 64];
    let mut attr = QueryAttr {
        target_fd: cg.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        prog_ids: ids.as_mut_ptr() as u64,
        prog_cnt: ids.len() as u32,
        ..Default::default()
    };
    bpf(BPF_PROG_QUERY, &mut attr)?;
    ids.truncate(attr.prog_cnt as usize);
    Ok(ids)
}

/// Loads the program for `list` and attaches it to the v2 cgroup `dir`,
/// then detaches the programs that were there before (an update), so the
/// cgroup is never without a filter.
pub(crate) fn apply_v2(dir: &Path, list: &[LinuxDeviceCgroup]) -> Result<(), CgroupError> {
    let prog = load(&assemble(&rules(list)))?;
    let cg = rustix::fs::open(
        dir,
        rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| CgroupError::io(dir, e.into()))?;
    let old = attached(&cg).unwrap_or_default();
    let mut attr = AttachAttr {
        target_fd: cg.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_fd().as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        ..Default::default()
    };
    bpf(BPF_PROG_ATTACH, &mut attr).map_err(|e| {
        CgroupError::unsupported(
            FIELD,
            format!(
                "cannot attach the device eBPF program to {}: {e}",
                dir.display()
            ),
        )
    })?;
    for id in old {
        let mut ga = GetFdAttr {
            prog_id: id,
            ..Default::default()
        };
        let Ok(fd) = bpf(BPF_PROG_GET_FD_BY_ID, &mut ga) else {
            continue;
        };
        // SAFETY: BPF_PROG_GET_FD_BY_ID returned a new descriptor we own.
        let old_fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        let mut da = AttachAttr {
            target_fd: cg.as_raw_fd() as u32,
            attach_bpf_fd: old_fd.as_raw_fd() as u32,
            attach_type: BPF_CGROUP_DEVICE,
            ..Default::default()
        };
        if let Err(e) = bpf(BPF_PROG_DETACH, &mut da) {
            tracing::warn!(
                "cannot detach old device program {id} from {}: {e}",
                dir.display()
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_lines_and_program_shape() {
        let list: Vec<LinuxDeviceCgroup> = serde_json::from_str(
            r#"[{"allow":false,"access":"rwm"},
                {"allow":true,"type":"c","major":1,"minor":3,"access":"rw"},
                {"allow":true,"type":"p","access":"rwm"}]"#,
        )
        .unwrap();
        let r = rules(&list);
        assert_eq!(r.len(), 2);
        assert!(r[0].is_wildcard());
        assert_eq!(r[0].v1_lines(), vec!["a"]);
        assert_eq!(r[1].v1_lines(), vec!["c 1:3 rw"]);
        let any_type: Vec<LinuxDeviceCgroup> =
            serde_json::from_str(r#"[{"allow":true,"type":"a","major":136,"access":"rwm"}]"#)
                .unwrap();
        assert_eq!(
            rules(&any_type)[0].v1_lines(),
            vec!["c 136:* rwm", "b 136:* rwm"]
        );
        let p = assemble(&r);
        // 6 loads + (type, mov, and, jne, major, minor, mov, exit) + (mov, exit)
        assert_eq!(p.len(), 6 + 8 + 2);
        assert_eq!(p[6].off, 7);
    }
}
