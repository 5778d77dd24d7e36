//! Registry credentials in a `~/.docker/config.json`-compatible file
//! (`$DOCKER_CONFIG/config.json` when set).

use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};

use crate::error::{IoContext, Result, invalid};
use crate::reference::DOCKER_HUB;

/// Docker's key for Docker Hub in `auths`.
const HUB_KEY: &str = "https://index.docker.io/v1/";

/// Path of the credentials file.
pub fn config_path() -> PathBuf {
    if let Some(d) = std::env::var_os("DOCKER_CONFIG") {
        return PathBuf::from(d).join("config.json");
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
    PathBuf::from(home).join(".docker/config.json")
}

fn key_for(registry: &str) -> String {
    if registry == DOCKER_HUB {
        HUB_KEY.to_string()
    } else {
        registry.to_string()
    }
}

fn read() -> Result<Map<String, Value>> {
    let p = config_path();
    match std::fs::read(&p) {
        Ok(b) => match serde_json::from_slice(&b) {
            Ok(Value::Object(m)) => Ok(m),
            _ => Err(invalid(p.display().to_string(), "not a JSON object")),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Map::new()),
        Err(e) => Err(crate::error::io_err(format!("read {}", p.display()), e)),
    }
}

fn write(m: &Map<String, Value>) -> Result<()> {
    let p = config_path();
    if let Some(d) = p.parent() {
        std::fs::create_dir_all(d).ctx(|| format!("create {}", d.display()))?;
    }
    let tmp = p.with_extension("json.caixa-tmp");
    let body = serde_json::to_vec_pretty(&Value::Object(m.clone()))
        .map_err(|e| invalid("credentials", e.to_string()))?;
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .ctx(|| format!("write {}", tmp.display()))?;
        f.write_all(&body)
            .ctx(|| format!("write {}", tmp.display()))?;
    }
    std::fs::rename(&tmp, &p).ctx(|| format!("write {}", p.display()))
}

/// Stored (user, password) for a registry, if any.
pub fn get(registry: &str) -> Result<Option<(String, String)>> {
    let m = read()?;
    let Some(a) = m.get("auths").and_then(|a| a.get(key_for(registry))) else {
        return Ok(None);
    };
    let Some(enc) = a.get("auth").and_then(|v| v.as_str()) else {
        return Ok(None);
    };
    let dec = STANDARD.decode(enc).map_err(|_| {
        invalid(
            config_path().display().to_string(),
            format!("auth for {registry} is not base64"),
        )
    })?;
    let s = String::from_utf8_lossy(&dec);
    Ok(s.split_once(':')
        .map(|(u, p)| (u.to_string(), p.to_string())))
}

/// Saves credentials for a registry.
pub fn store(registry: &str, user: &str, password: &str) -> Result<()> {
    let mut m = read()?;
    let auths = m.entry("auths").or_insert_with(|| json!({}));
    if !auths.is_object() {
        *auths = json!({});
    }
    if let Some(o) = auths.as_object_mut() {
        o.insert(
            key_for(registry),
            json!({ "auth": STANDARD.encode(format!("{user}:{password}")) }),
        );
    }
    write(&m)
}

/// Removes credentials; returns false when none were stored.
pub fn erase(registry: &str) -> Result<bool> {
    let mut m = read()?;
    let removed = m
        .get_mut("auths")
        .and_then(|a| a.as_object_mut())
        .and_then(|a| a.remove(&key_for(registry)))
        .is_some();
    if removed {
        write(&m)?;
    }
    Ok(removed)
}
