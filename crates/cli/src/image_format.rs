//! Output formatting for image commands: rows for `images`, Docker-style
//! inspect JSON, human sizes/times and a small Go-template subset.

use anyhow::{Result, bail};
use caixa_image::reference::familiar;
use caixa_image::{Digest, Image, Reference, Store};
use serde_json::{Value, json};

/// One line of `caixa images`.
pub struct Row {
    /// Repository (familiar) or `<none>`.
    pub repository: String,
    /// Tag or `<none>`.
    pub tag: String,
    /// Repo digest or `<none>`.
    pub digest: String,
    /// Image id.
    pub id: Digest,
    /// "2 days ago".
    pub created_since: String,
    /// RFC 3339 creation time.
    pub created_at: String,
    /// Bytes.
    pub size: u64,
}

impl Row {
    /// Fields as Docker's `images --format` names them.
    pub fn to_json(&self, no_trunc: bool) -> Value {
        json!({
            "Repository": self.repository,
            "Tag": self.tag,
            "Digest": self.digest,
            "ID": if no_trunc { self.id.to_string() } else { self.id.short().to_string() },
            "CreatedSince": self.created_since,
            "CreatedAt": self.created_at,
            "Size": human_size(self.size),
        })
    }
}

fn created(img: &Image) -> String {
    img.config
        .created
        .clone()
        .unwrap_or_else(|| img.added.clone())
}

/// Builds and filters the rows of `caixa images`.
pub fn list_rows(
    store: &Store,
    images: &[Image],
    reference: Option<&str>,
    filters: &[String],
) -> Result<Vec<Row>> {
    let mut before: Option<String> = None;
    let mut since: Option<String> = None;
    let mut dangling: Option<bool> = None;
    let mut refs: Vec<String> = reference.map(|r| r.to_string()).into_iter().collect();
    let mut labels: Vec<(String, Option<String>)> = Vec::new();
    for f in filters {
        let Some((k, v)) = f.split_once('=') else {
            bail!("invalid filter {f:?}: expected KEY=VALUE");
        };
        match k {
            "dangling" => dangling = Some(v == "true" || v == "1"),
            "reference" => refs.push(v.to_string()),
            "label" => labels.push(match v.split_once('=') {
                Some((a, b)) => (a.to_string(), Some(b.to_string())),
                None => (v.to_string(), None),
            }),
            "before" => before = Some(created(&store.resolve(v)?)),
            "since" => since = Some(created(&store.resolve(v)?)),
            _ => {
                bail!("invalid filter {k:?} (supported: dangling, reference, label, before, since)")
            }
        }
    }
    let mut rows = Vec::new();
    for img in images {
        let c = created(img);
        if before.as_ref().is_some_and(|b| c >= *b) || since.as_ref().is_some_and(|s| c <= *s) {
            continue;
        }
        let labs = img.config.container_config().labels.unwrap_or_default();
        if !labels.iter().all(|(k, v)| match v {
            Some(v) => labs.get(k) == Some(v),
            None => labs.contains_key(k),
        }) {
            continue;
        }
        let is_dangling = img.repo_tags.is_empty();
        if dangling.is_some_and(|d| d != is_dangling) {
            continue;
        }
        let digest_for = |repo: &str| {
            img.repo_digests
                .iter()
                .find_map(|d| {
                    d.split_once('@')
                        .filter(|(r, _)| *r == repo)
                        .map(|(_, d)| d.to_string())
                })
                .unwrap_or_else(|| "<none>".into())
        };
        let mut entries: Vec<(String, String, String)> = Vec::new();
        for t in &img.repo_tags {
            let (repo, tag) = t.rsplit_once(':').unwrap_or((t, "latest"));
            entries.push((repo.to_string(), tag.to_string(), digest_for(repo)));
        }
        if entries.is_empty() {
            entries.push(("<none>".into(), "<none>".into(), "<none>".into()));
        }
        for (repo, tag, digest) in entries {
            if !refs.is_empty() && !refs.iter().any(|r| ref_matches(r, &repo, &tag)) {
                continue;
            }
            rows.push(Row {
                repository: if repo == "<none>" {
                    repo.clone()
                } else {
                    familiar(&repo)
                },
                tag,
                digest,
                id: img.id.clone(),
                created_since: human_duration(&c),
                created_at: c.clone(),
                size: img.size,
            });
        }
    }
    Ok(rows)
}

/// `busybox`, `busybox:1.*`, `*/app` style matching against a repo/tag.
fn ref_matches(pattern: &str, repo: &str, tag: &str) -> bool {
    if repo == "<none>" {
        return false;
    }
    let fam = familiar(repo);
    let (pr, pt) = match pattern.rfind(':') {
        Some(i) if !pattern[i..].contains('/') => (&pattern[..i], Some(&pattern[i + 1..])),
        _ => (pattern, None),
    };
    let repo_ok = glob(pr, &fam)
        || glob(pr, repo)
        || Reference::parse(pr)
            .map(|r| r.name() == repo)
            .unwrap_or(false);
    repo_ok && pt.is_none_or(|t| glob(t, tag))
}

/// Minimal `*`/`?` glob.
fn glob(p: &str, s: &str) -> bool {
    fn m(p: &[u8], s: &[u8]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some(b'*'), _) => m(&p[1..], s) || (!s.is_empty() && m(p, &s[1..])),
            (Some(b'?'), Some(_)) => m(&p[1..], &s[1..]),
            (Some(a), Some(b)) if a == b => m(&p[1..], &s[1..]),
            _ => false,
        }
    }
    m(p.as_bytes(), s.as_bytes())
}

/// Docker-compatible `image inspect` object.
pub fn inspect_json(store: &Store, img: &Image) -> Value {
    let c = &img.config;
    let lower: Vec<String> = img
        .layers
        .iter()
        .rev()
        .map(|l| store.layer_diff(&l.diff_id).display().to_string())
        .collect();
    json!({
        "Id": img.id.to_string(),
        "RepoTags": img.familiar_tags(),
        "RepoDigests": img.repo_digests.iter().map(|d| familiar(d)).collect::<Vec<_>>(),
        "Parent": "",
        "Comment": c.history.last().and_then(|h| h.comment.clone()).unwrap_or_default(),
        "Created": c.created.clone().unwrap_or_default(),
        "DockerVersion": c.extra.get("docker_version").cloned().unwrap_or(Value::String(String::new())),
        "Author": c.author.clone().unwrap_or_default(),
        "Config": serde_json::to_value(c.container_config()).unwrap_or(Value::Null),
        "Architecture": c.architecture,
        "Variant": c.variant,
        "Os": c.os,
        "Size": img.size,
        "GraphDriver": {
            "Name": "overlay",
            "Data": { "LowerDir": lower.join(":") }
        },
        "RootFS": {
            "Type": "layers",
            "Layers": img.layers.iter().map(|l| l.diff_id.to_string()).collect::<Vec<_>>(),
        },
        "Metadata": { "LastTagTime": img.added },
        "Descriptor": {
            "mediaType": img.manifest_media_type,
            "digest": img.manifest_digest.to_string(),
        }
    })
}

/// Docker's SI size: `4.26MB`, `512B`.
pub fn human_size(n: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1000.0 && i + 1 < units.len() {
        v /= 1000.0;
        i += 1;
    }
    if i == 0 {
        format!("{n}B")
    } else {
        let s = format!("{v:.3}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        let s = if s.len() > 4 {
            format!("{v:.3}")
                .chars()
                .take(4)
                .collect::<String>()
                .trim_end_matches('.')
                .to_string()
        } else {
            s.to_string()
        };
        format!("{s}{}", units[i])
    }
}

/// "3 days ago" for an RFC 3339 time.
pub fn human_duration(rfc3339: &str) -> String {
    let Ok(t) = chrono_parse(rfc3339) else {
        return String::new();
    };
    let secs = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
        - t)
        .max(0);
    let (n, unit) = match secs {
        s if s < 60 => return "Less than a minute ago".into(),
        s if s < 3600 => (s / 60, "minute"),
        s if s < 86400 * 2 => (s / 3600, "hour"),
        s if s < 86400 * 14 => (s / 86400, "day"),
        s if s < 86400 * 60 => (s / (86400 * 7), "week"),
        s if s < 86400 * 365 * 2 => (s / (86400 * 30), "month"),
        s => (s / (86400 * 365), "year"),
    };
    if n == 1 {
        format!(
            "{} {unit} ago",
            if unit == "hour" { "About an" } else { "1" }
        )
    } else {
        format!("{n} {unit}s ago")
    }
}

fn chrono_parse(s: &str) -> Result<i64> {
    // Seconds since the epoch from an RFC 3339 string, via serde_json + caixa_image's chrono-free path.
    let (date, rest) = s
        .split_once('T')
        .ok_or_else(|| anyhow::anyhow!("bad time"))?;
    let d: Vec<i64> = date.split('-').map(|x| x.parse().unwrap_or(0)).collect();
    let hms: Vec<i64> = rest
        .get(..8)
        .unwrap_or("00:00:00")
        .split(':')
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    if d.len() != 3 || hms.len() != 3 {
        bail!("bad time");
    }
    // Days from civil (Howard Hinnant's algorithm).
    let (y, m, day) = (if d[1] <= 2 { d[0] - 1 } else { d[0] }, d[1], d[2]);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    Ok(days * 86400 + hms[0] * 3600 + hms[1] * 60 + hms[2])
}

/// Renders a Go-template subset: `{{.Field}}`, `{{.A.B}}`, `{{json .}}`,
/// `{{json .Field}}`, `\t`. With `header`, each `{{.Field}}` becomes its
/// upper-cased name (for `table` formats).
pub fn render_template(tmpl: &str, v: &Value, header: bool) -> String {
    let tmpl = tmpl.replace("\\t", "\t").replace("\\n", "\n");
    let mut out = String::new();
    let mut rest = tmpl.as_str();
    while let Some(i) = rest.find("{{") {
        out.push_str(&rest[..i]);
        let Some(j) = rest[i..].find("}}") else {
            out.push_str(&rest[i..]);
            return out;
        };
        let expr = rest[i + 2..i + j].trim();
        rest = &rest[i + j + 2..];
        let (json, path) = match expr.strip_prefix("json ") {
            Some(p) => (true, p.trim()),
            None => (false, expr),
        };
        if header {
            let name = path.trim_start_matches('.');
            out.push_str(&upper_snake(name));
            continue;
        }
        let mut cur = v;
        for part in path
            .trim_start_matches('.')
            .split('.')
            .filter(|p| !p.is_empty())
        {
            cur = cur.get(part).unwrap_or(&Value::Null);
        }
        if json {
            out.push_str(&serde_json::to_string(cur).unwrap_or_default());
        } else {
            match cur {
                Value::String(s) => out.push_str(s),
                Value::Null => out.push_str("<no value>"),
                other => out.push_str(&other.to_string()),
            }
        }
    }
    out.push_str(rest);
    out
}

fn upper_snake(s: &str) -> String {
    let mut o = String::new();
    for (i, c) in s.char_indices() {
        if c.is_uppercase() && i > 0 && !s[..i].ends_with(|p: char| p.is_uppercase()) {
            o.push(' ');
        }
        o.extend(c.to_uppercase());
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_templates() {
        assert_eq!(human_size(512), "512B");
        assert_eq!(human_size(4_261_000), "4.26MB");
        let v = json!({"Repository":"busybox","Tag":"latest","Config":{"Cmd":["sh"]}});
        assert_eq!(
            render_template("{{.Repository}}:{{.Tag}}", &v, false),
            "busybox:latest"
        );
        assert_eq!(
            render_template("{{json .Config.Cmd}}", &v, false),
            "[\"sh\"]"
        );
        assert_eq!(
            render_template("{{.Repository}}\\t{{.CreatedSince}}", &v, true),
            "REPOSITORY\tCREATED SINCE"
        );
        assert!(glob("busy*", "busybox"));
        assert!(ref_matches(
            "busybox",
            "docker.io/library/busybox",
            "latest"
        ));
        assert!(!ref_matches(
            "busybox:1",
            "docker.io/library/busybox",
            "latest"
        ));
    }
}
