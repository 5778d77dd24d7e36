//! Image references with Docker's normalisation.
//!
//! `busybox` → `docker.io/library/busybox:latest`, `localhost:5000/app:v1`,
//! `name@sha256:…`, `name:tag@sha256:…`.

use std::fmt;
use std::str::FromStr;

use crate::digest::Digest;
use crate::error::{Error, Result};

/// The registry Docker Hub images live on.
pub const DOCKER_HUB: &str = "docker.io";

/// A normalised image reference.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Reference {
    /// Registry `host[:port]`, e.g. `docker.io`, `localhost:5000`.
    pub registry: String,
    /// Repository path, e.g. `library/busybox`.
    pub repository: String,
    /// Tag; `latest` when neither tag nor digest was given.
    pub tag: Option<String>,
    /// Manifest digest, when pinned.
    pub digest: Option<Digest>,
}

fn bad(reference: &str, reason: impl Into<String>) -> Error {
    Error::InvalidReference {
        reference: reference.to_string(),
        reason: reason.into(),
    }
}

fn valid_component(c: &str) -> bool {
    // [a-z0-9]+ ( ( [._] | __ | -+ ) [a-z0-9]+ )*
    let b = c.as_bytes();
    if b.is_empty() || !is_alnum(b[0]) || !is_alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if is_alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !is_alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

fn is_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|&x| x.is_ascii_alphanumeric() || x == b'_' || x == b'.' || x == b'-')
}

fn valid_domain(d: &str) -> bool {
    let (host, port) = match d.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (d, None),
    };
    if let Some(p) = port
        && (p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return false;
    }
    !host.is_empty()
        && host.split('.').all(|l| {
            !l.is_empty()
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

impl Reference {
    /// Parses and normalises a reference the way `docker pull` does.
    pub fn parse(s: &str) -> Result<Reference> {
        if s.is_empty() {
            return Err(bad(s, "empty reference"));
        }
        if s.len() > 512 {
            return Err(bad(s, "longer than 512 characters"));
        }
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => (
                r,
                Some(Digest::parse(d).map_err(|e| bad(s, format!("bad digest: {e}")))?),
            ),
            None => (s, None),
        };
        let (name, tag) = match rest.rfind(':') {
            Some(i) if !rest[i..].contains('/') => (&rest[..i], Some(&rest[i + 1..])),
            _ => (rest, None),
        };
        if let Some(t) = tag
            && !valid_tag(t)
        {
            return Err(bad(
                s,
                format!("tag {t:?} must match [A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}}"),
            ));
        }
        if name.is_empty() {
            return Err(bad(s, "missing repository name"));
        }
        let (registry, path) = match name.split_once('/') {
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_string(), rest.to_string())
            }
            _ => (DOCKER_HUB.to_string(), name.to_string()),
        };
        if !valid_domain(&registry) {
            return Err(bad(s, format!("invalid registry host {registry:?}")));
        }
        let registry = match registry.as_str() {
            "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB.to_string(),
            _ => registry,
        };
        let path = if registry == DOCKER_HUB && !path.contains('/') {
            format!("library/{path}")
        } else {
            path
        };
        if path.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(bad(s, "repository name must be lowercase"));
        }
        if let Some(c) = path.split('/').find(|c| !valid_component(c)) {
            return Err(bad(
                s,
                format!(
                    "invalid repository path component {c:?} (allowed: a-z 0-9 and . _ __ - between them)"
                ),
            ));
        }
        if registry.len() + 1 + path.len() > 255 {
            return Err(bad(s, "repository name longer than 255 characters"));
        }
        let tag = match (tag, &digest) {
            (Some(t), _) => Some(t.to_string()),
            (None, Some(_)) => None,
            (None, None) => Some("latest".to_string()),
        };
        Ok(Reference {
            registry,
            repository: path,
            tag,
            digest,
        })
    }

    /// `registry/repository`, e.g. `docker.io/library/busybox`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// `registry/repository:tag` (tag `latest` if only a digest was given).
    pub fn tagged(&self) -> String {
        format!(
            "{}:{}",
            self.name(),
            self.tag.as_deref().unwrap_or("latest")
        )
    }

    /// The short form Docker prints: `busybox:latest`, `localhost:5000/app:v1`.
    pub fn familiar_name(&self) -> String {
        familiar(&self.name())
    }

    /// The tag or digest used to address the manifest on the registry.
    pub fn manifest_ref(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".to_string(),
        }
    }
}

/// Shortens `docker.io/library/x` to `x` and `docker.io/u/x` to `u/x`.
pub fn familiar(full: &str) -> String {
    if let Some(rest) = full.strip_prefix("docker.io/") {
        rest.strip_prefix("library/").unwrap_or(rest).to_string()
    } else {
        full.to_string()
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name())?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl FromStr for Reference {
    type Err = Error;
    fn from_str(s: &str) -> Result<Reference> {
        Reference::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_like_docker() {
        let r = Reference::parse("busybox").unwrap();
        assert_eq!(r.to_string(), "docker.io/library/busybox:latest");
        assert_eq!(r.familiar_name(), "busybox");
        let r = Reference::parse("user/app:1.0").unwrap();
        assert_eq!(r.to_string(), "docker.io/user/app:1.0");
        let r = Reference::parse("localhost:5000/app:v1").unwrap();
        assert_eq!(r.registry, "localhost:5000");
        assert_eq!(r.repository, "app");
        let r = Reference::parse("localhost/app").unwrap();
        assert_eq!(r.registry, "localhost");
        let d = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let r = Reference::parse(&format!("ghcr.io/o/r@{d}")).unwrap();
        assert_eq!(r.tag, None);
        assert_eq!(r.manifest_ref(), d);
        let r = Reference::parse(&format!("o/r:t@{d}")).unwrap();
        assert_eq!(r.tag.as_deref(), Some("t"));
        assert_eq!(
            Reference::parse("index.docker.io/library/x")
                .unwrap()
                .to_string(),
            "docker.io/library/x:latest"
        );
    }

    #[test]
    fn refuses_invalid() {
        for s in [
            "",
            "Busybox",
            "a//b",
            "a:",
            "a@sha256:xyz",
            "-a",
            "a/b_",
            "a:t@g",
            "host:port:x/y",
        ] {
            let e = Reference::parse(s).unwrap_err().to_string();
            assert!(e.starts_with("invalid reference"), "{s}: {e}");
        }
    }
}
