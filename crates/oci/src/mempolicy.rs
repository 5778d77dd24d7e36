//! `linux.memoryPolicy`: the NUMA memory policy of the container process,
//! set with set_mempolicy(2) by the init right before it becomes the
//! user's process (the policy is inherited across fork and execve).
//!
//! [`prepare`] checks the field and turns it into the syscall's arguments
//! (run by the runtime before fork so bad configs fail with the field
//! named); [`Prepared::apply`] makes the call. The kernel has the last
//! word on the combination (e.g. `MPOL_F_NUMA_BALANCING` only with
//! `MPOL_BIND`): its refusal is reported with the field.

use oci_spec::runtime::{LinuxMemoryPolicy, MemoryPolicyFlagType, MemoryPolicyModeType};

use crate::error::{OciError, Result};

/// The largest node number accepted (the kernel's MAX_NUMNODES is at most
/// 1024).
const MAX_NODE: usize = 1023;

// Modes and mode flags of set_mempolicy(2) (linux/mempolicy.h).
const MPOL_DEFAULT: i32 = 0;
const MPOL_PREFERRED: i32 = 1;
const MPOL_BIND: i32 = 2;
const MPOL_INTERLEAVE: i32 = 3;
const MPOL_LOCAL: i32 = 4;
const MPOL_PREFERRED_MANY: i32 = 5;
const MPOL_WEIGHTED_INTERLEAVE: i32 = 6;
const MPOL_F_NUMA_BALANCING: i32 = 1 << 13;
const MPOL_F_RELATIVE_NODES: i32 = 1 << 14;
const MPOL_F_STATIC_NODES: i32 = 1 << 15;

/// set_mempolicy(2)'s arguments for a validated policy.
#[derive(Debug, Clone)]
pub struct Prepared {
    mode: i32,
    mask: Vec<libc::c_ulong>,
}

fn invalid(field: &str, reason: impl Into<String>) -> OciError {
    OciError::invalid(format!("linux.memoryPolicy.{field}"), reason)
}

/// Parses a node list such as `0-3,5` into sorted node numbers.
pub fn parse_nodes(s: &str) -> Result<Vec<usize>> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let num = |t: &str| -> Result<usize> {
            let n: usize = t
                .trim()
                .parse()
                .map_err(|_| invalid("nodes", format!("{t:?} is not a node number")))?;
            if n > MAX_NODE {
                return Err(invalid(
                    "nodes",
                    format!("node {n} is out of range (0-{MAX_NODE})"),
                ));
            }
            Ok(n)
        };
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (num(a)?, num(b)?);
                if a > b {
                    return Err(invalid("nodes", format!("range {part:?} is reversed")));
                }
                out.extend(a..=b);
            }
            None => out.push(num(part)?),
        }
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// Checks `p` and computes the syscall arguments.
pub fn prepare(p: &LinuxMemoryPolicy) -> Result<Prepared> {
    let nodes = parse_nodes(p.nodes().as_deref().unwrap_or(""))?;
    let mut mode = match p.mode() {
        MemoryPolicyModeType::MpolDefault => MPOL_DEFAULT,
        MemoryPolicyModeType::MpolPreferred => MPOL_PREFERRED,
        MemoryPolicyModeType::MpolBind => MPOL_BIND,
        MemoryPolicyModeType::MpolInterleave => MPOL_INTERLEAVE,
        MemoryPolicyModeType::MpolLocal => MPOL_LOCAL,
        MemoryPolicyModeType::MpolPreferredMany => MPOL_PREFERRED_MANY,
        MemoryPolicyModeType::MpolWeightedInterleave => MPOL_WEIGHTED_INTERLEAVE,
    };
    let flags = p.flags().clone().unwrap_or_default();
    for f in &flags {
        mode |= match f {
            MemoryPolicyFlagType::MpolFNumaBalancing => MPOL_F_NUMA_BALANCING,
            MemoryPolicyFlagType::MpolFRelativeNodes => MPOL_F_RELATIVE_NODES,
            MemoryPolicyFlagType::MpolFStaticNodes => MPOL_F_STATIC_NODES,
        };
    }
    if mode & MPOL_F_STATIC_NODES != 0 && mode & MPOL_F_RELATIVE_NODES != 0 {
        return Err(invalid(
            "flags",
            "MPOL_F_STATIC_NODES and MPOL_F_RELATIVE_NODES exclude each other",
        ));
    }
    let base = mode & !(MPOL_F_NUMA_BALANCING | MPOL_F_RELATIVE_NODES | MPOL_F_STATIC_NODES);
    match base {
        MPOL_DEFAULT | MPOL_LOCAL => {
            if !nodes.is_empty() {
                return Err(invalid("nodes", format!("must be empty with {}", p.mode())));
            }
            if !flags.is_empty() {
                return Err(invalid("flags", format!("must be empty with {}", p.mode())));
            }
        }
        MPOL_PREFERRED => {}
        _ => {
            if nodes.is_empty() {
                return Err(invalid("nodes", format!("required with {}", p.mode())));
            }
        }
    }
    let bits = libc::c_ulong::BITS as usize;
    let mut mask = vec![0 as libc::c_ulong; nodes.last().map_or(1, |n| n / bits + 1)];
    for n in nodes {
        mask[n / bits] |= 1 << (n % bits);
    }
    Ok(Prepared { mode, mask })
}

impl Prepared {
    /// Sets the calling thread's policy (inherited by its children and
    /// kept across execve).
    pub fn apply(&self) -> Result<()> {
        let maxnode = self.mask.len() * libc::c_ulong::BITS as usize + 1;
        // SAFETY: the mask pointer covers `maxnode - 1` bits of our vector.
        let r = unsafe {
            libc::syscall(
                libc::SYS_set_mempolicy,
                self.mode as libc::c_long,
                self.mask.as_ptr(),
                maxnode as libc::c_ulong,
            )
        };
        if r != 0 {
            return Err(invalid(
                "mode",
                format!("set_mempolicy: {}", std::io::Error::last_os_error()),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_lists() {
        assert_eq!(parse_nodes("0-2,5, 1").unwrap(), vec![0, 1, 2, 5]);
        assert!(parse_nodes("").unwrap().is_empty());
        assert!(parse_nodes("0-9876543210").is_err());
        assert!(parse_nodes("3-1").is_err());
        assert!(parse_nodes("x").is_err());
    }
}
