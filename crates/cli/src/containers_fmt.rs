//! Output helpers for container commands: a small Go-template renderer
//! (`{{.Field}}`, `{{.A.B}}`, `{{json .X}}`, `{{index .Map "k"}}`,
//! `{{.Label "k"}}`, `table` headers) and tab-aligned tables like
//! Go's tabwriter (min width 10, padding 3).

use serde_json::Value;

fn lookup<'a>(root: &'a Value, path: &str) -> Option<&'a Value> {
    let mut v = root;
    for part in path
        .trim_start_matches('.')
        .split('.')
        .filter(|p| !p.is_empty())
    {
        v = v.get(part)?;
    }
    Some(v)
}

fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "<no value>".into(),
        Value::Array(a) => format!("[{}]", a.iter().map(plain).collect::<Vec<_>>().join(" ")),
        Value::Object(m) => format!(
            "map[{}]",
            m.iter()
                .map(|(k, v)| format!("{k}:{}", plain(v)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        other => other.to_string(),
    }
}

fn unquote(s: &str) -> &str {
    s.trim().trim_matches('"')
}

fn eval(expr: &str, v: &Value) -> String {
    let words: Vec<&str> = expr.split_whitespace().collect();
    match words.as_slice() {
        ["json", path] => lookup(v, path).map_or("null".into(), |x| x.to_string()),
        ["index", path, key] => lookup(v, path)
            .and_then(|m| m.get(unquote(key)))
            .map_or(String::new(), plain),
        ["upper", path] => lookup(v, path).map_or(String::new(), plain).to_uppercase(),
        ["lower", path] => lookup(v, path).map_or(String::new(), plain).to_lowercase(),
        [".Label", key] => v
            .get("LabelMap")
            .and_then(|m| m.get(unquote(key)))
            .map_or(String::new(), plain),
        [path] if path.starts_with('.') => {
            if *path == "." {
                return v.to_string();
            }
            lookup(v, path).map_or("<no value>".into(), plain)
        }
        _ => format!("{{{{{expr}}}}}"),
    }
}

/// Renders a Go-style template against `v`.
pub fn render(tmpl: &str, v: &Value) -> String {
    let tmpl = tmpl.replace("\\t", "\t").replace("\\n", "\n");
    let mut out = String::new();
    let mut rest = tmpl.as_str();
    while let Some(i) = rest.find("{{") {
        out.push_str(&rest[..i]);
        let Some(j) = rest[i..].find("}}") else {
            out.push_str(&rest[i..]);
            return out;
        };
        let expr = rest[i + 2..i + j]
            .trim()
            .trim_start_matches('-')
            .trim_end_matches('-')
            .trim();
        out.push_str(&eval(expr, v));
        rest = &rest[i + j + 2..];
    }
    out.push_str(rest);
    out
}

/// Header names of `ps` fields, as Docker prints them.
pub fn header_for(tmpl: &str) -> String {
    let mut h = tmpl.to_string();
    for (f, name) in [
        ("ID", "CONTAINER ID"),
        ("Image", "IMAGE"),
        ("Command", "COMMAND"),
        ("CreatedAt", "CREATED AT"),
        ("RunningFor", "CREATED"),
        ("Ports", "PORTS"),
        ("State", "STATE"),
        ("Status", "STATUS"),
        ("Size", "SIZE"),
        ("Names", "NAMES"),
        ("Labels", "LABELS"),
        ("Mounts", "MOUNTS"),
        ("Networks", "NETWORKS"),
        ("Name", "NAME"),
        ("CPUPerc", "CPU %"),
        ("MemUsage", "MEM USAGE / LIMIT"),
        ("MemPerc", "MEM %"),
        ("NetIO", "NET I/O"),
        ("BlockIO", "BLOCK I/O"),
        ("PIDs", "PIDS"),
        ("Container", "CONTAINER"),
    ] {
        h = h.replace(&format!("{{{{.{f}}}}}"), name);
    }
    h
}

/// Renders rows with a template; `table` prefix adds a header and aligns columns.
pub fn print_rows(tmpl: &str, rows: &[Value]) {
    if let Some(t) = tmpl.strip_prefix("table") {
        let t = t.trim_start();
        let mut lines = vec![header_for(t).replace("\\t", "\t")];
        lines.extend(rows.iter().map(|r| render(t, r)));
        print!("{}", align(&lines));
    } else {
        for r in rows {
            println!("{}", render(tmpl, r));
        }
    }
}

/// Aligns tab-separated lines like Go's tabwriter (minwidth 10, padding 3).
pub fn align(lines: &[String]) -> String {
    let cells: Vec<Vec<&str>> = lines.iter().map(|l| l.split('\t').collect()).collect();
    let ncol = cells.iter().map(Vec::len).max().unwrap_or(0);
    let mut width = vec![0usize; ncol];
    for row in &cells {
        for (i, c) in row.iter().enumerate() {
            if i + 1 < row.len() {
                width[i] = width[i].max(c.chars().count() + 3).max(10);
            }
        }
    }
    let mut out = String::new();
    for row in &cells {
        let mut line = String::new();
        for (i, c) in row.iter().enumerate() {
            line.push_str(c);
            if i + 1 < row.len() {
                line.push_str(&" ".repeat(width[i].saturating_sub(c.chars().count())));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn templates_render_fields_json_and_index() {
        let v = json!({"ID": "abc", "State": {"Status": "running", "OOMKilled": false}, "Config": {"Labels": {"a": "b"}}});
        assert_eq!(render("{{.ID}} {{.State.Status}}", &v), "abc running");
        assert_eq!(render("{{.State.OOMKilled}}", &v), "false");
        assert_eq!(render("{{json .Config.Labels}}", &v), "{\"a\":\"b\"}");
        assert_eq!(render("{{index .Config.Labels \"a\"}}", &v), "b");
        assert_eq!(render("{{.ID}}\\t{{.Nope}}", &v), "abc\t<no value>");
    }

    #[test]
    fn tables_align_like_tabwriter() {
        let out = align(&["A\tBB".into(), "CCCCCCCCCCCC\tD".into()]);
        // Widest cell (12) + padding 3 = 15 columns, as `docker ps` prints.
        assert_eq!(out, "A              BB\nCCCCCCCCCCCC   D\n");
    }
}
