//! `exec --cgroup`: put an exec'd process in an existing sub-cgroup of the
//! container's cgroup (runc's flag and forms).

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

use super::{CgroupError, Hierarchy, Manager, fsutil};

const FLAG: &str = "--cgroup";

/// Parses `--cgroup` values: `PATH` (every hierarchy) or
/// `CTRL[,CTRL...]:PATH` (those controllers), each at most once. The key
/// "" stands for every hierarchy.
fn parse(specs: &[String]) -> Result<HashMap<String, PathBuf>, CgroupError> {
    let mut out = HashMap::new();
    for s in specs {
        let (ctrls, path) = match s.split_once(':') {
            Some((c, p)) => (c.split(',').map(str::to_string).collect(), p),
            None => (vec![String::new()], s.as_str()),
        };
        let mut rel = PathBuf::new();
        for c in Path::new(path).components() {
            match c {
                Component::Normal(n) => rel.push(n),
                Component::RootDir | Component::CurDir => {}
                _ => {
                    return Err(CgroupError::invalid(
                        FLAG,
                        format!("{s:?}: the path must stay inside the container's cgroup"),
                    ));
                }
            }
        }
        for c in ctrls {
            if c.is_empty() && s.contains(':') {
                return Err(CgroupError::invalid(
                    FLAG,
                    format!("{s:?}: empty controller name"),
                ));
            }
            if out.insert(c.clone(), rel.clone()).is_some() {
                return Err(CgroupError::invalid(
                    FLAG,
                    format!("{s:?}: controller {c:?} given twice"),
                ));
            }
        }
    }
    Ok(out)
}

impl Manager {
    /// Moves `pid` into the container's cgroup, or into the sub-cgroups
    /// `specs` name (`exec --cgroup`; they must exist). On v1 a hierarchy
    /// gets the path given for one of its controllers, else the one for
    /// every hierarchy, else the container's own directory; v2 has no
    /// per-controller paths.
    pub fn add_task_sub(&self, pid: i32, specs: &[String]) -> Result<(), CgroupError> {
        let map = parse(specs)?;
        for c in map.keys().filter(|c| !c.is_empty()) {
            if self.hierarchy == Hierarchy::V2 {
                return Err(CgroupError::invalid(
                    FLAG,
                    format!("{c}: cgroup v2 has no per-controller cgroups (use --cgroup PATH)"),
                ));
            }
            if !self.dirs.iter().any(|d| d.has(c)) {
                return Err(CgroupError::invalid(
                    FLAG,
                    format!("{c}: no such controller in the container's cgroup"),
                ));
            }
        }
        let mut targets = Vec::new();
        for dir in &self.dirs {
            let sub = dir
                .subsystems
                .split(',')
                .find_map(|s| map.get(s))
                .or_else(|| map.get(""));
            let path = match sub {
                Some(rel) => dir.path.join(rel),
                None => dir.path.clone(),
            };
            if !path.is_dir() {
                return Err(CgroupError::invalid(
                    FLAG,
                    format!("sub-cgroup {} does not exist", path.display()),
                ));
            }
            targets.push(path);
        }
        for t in targets {
            fsutil::write_file(&t.join("cgroup.procs"), &pid.to_string())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let m = parse(&["a/b".into(), "cpu,memory:/x".into()]).unwrap();
        assert_eq!(m[""], PathBuf::from("a/b"));
        assert_eq!(m["cpu"], PathBuf::from("x"));
        assert_eq!(m["memory"], PathBuf::from("x"));
        assert!(parse(&["..".into()]).is_err());
        assert!(parse(&["cpu:../x".into()]).is_err());
        assert!(parse(&[":x".into()]).is_err());
        assert!(parse(&["x".into(), "/y".into()]).is_err());
    }
}
