//! One conversation with a registry about one repository: the client, the
//! stored credentials and the operation (pull, or push which also pulls).
//!
//! Auth is oci-client's: a `/v2/` probe reads the `WWW-Authenticate`
//! challenge; with `Bearer realm=…,service=…` it asks the realm for a token
//! for `repository:NAME:pull` (or `pull,push`) with the credentials, and
//! caches it per repository and operation until its `exp`. On top of that
//! this module authenticates up front (so bad credentials fail at once with
//! the token server's own words), fetches a fresh token once when the
//! registry refuses the one it has (401), retries transient failures, and
//! turns oci-client's errors into one line naming the registry.

use std::time::Duration;

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError as OciError, OciErrorCode};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, RegistryOperation};

use crate::error::{Error, Result};
use crate::registry::RegistryOptions;

/// A client plus credentials for one repository and operation.
pub(crate) struct Session {
    /// The oci-client client (token cache inside).
    pub client: Client,
    /// Registry host[:port].
    pub reg: String,
    /// Credentials from the docker config file, or anonymous.
    pub auth: RegistryAuth,
    /// The repository, as oci-client names it (tag irrelevant).
    pub oref: oci_client::Reference,
    /// Pull, or push (pull,push scope).
    pub op: RegistryOperation,
}

/// True for localhost registries and those listed as insecure.
pub(crate) fn is_insecure(registry: &str, opts: &RegistryOptions) -> bool {
    let host = registry
        .rsplit_once(':')
        .map(|(h, _)| h)
        .unwrap_or(registry);
    matches!(host, "localhost" | "127.0.0.1" | "[::1]")
        || opts.insecure.iter().any(|i| i == registry || i == host)
}

/// An oci-client client: HTTPS unless the registry is insecure.
pub(crate) fn client_for(registry: &str, opts: &RegistryOptions) -> Client {
    Client::new(ClientConfig {
        protocol: if is_insecure(registry, opts) {
            ClientProtocol::Http
        } else {
            ClientProtocol::Https
        },
        connect_timeout: Some(Duration::from_secs(30)),
        read_timeout: Some(Duration::from_secs(120)),
        ..Default::default()
    })
}

fn auth_for(registry: &str) -> Result<RegistryAuth> {
    Ok(match crate::auth::get(registry)? {
        Some((u, p)) => RegistryAuth::Basic(u, p),
        None => RegistryAuth::Anonymous,
    })
}

/// One line of at most 300 characters.
fn one_line(s: &str) -> String {
    let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    match s.char_indices().nth(300) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s,
    }
}

/// The message in a token server's refusal (`{"errors":[{"message"}]}`,
/// Docker Hub's `{"details"}`, or plain text).
fn server_message(body: &str) -> String {
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(body) {
        let m = v["errors"][0]["message"]
            .as_str()
            .or(v["details"].as_str())
            .or(v["message"].as_str())
            .or(v["error"].as_str());
        if let Some(m) = m {
            return one_line(m);
        }
    }
    match body.lines().map(str::trim).find(|l| !l.is_empty()) {
        Some(l) => one_line(l),
        None => "unauthorized".into(),
    }
}

/// Realm and service of a `Bearer` challenge in a WWW-Authenticate header.
fn bearer_challenge(hdr: &str) -> Option<(String, Option<String>)> {
    http_auth::parser::ChallengeParser::new(hdr)
        .filter_map(|c| c.ok())
        .find(|c| c.scheme.eq_ignore_ascii_case("bearer"))
        .and_then(|c| {
            let get = |k: &str| {
                c.params
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(k))
                    .map(|(_, v)| v.to_unescaped())
            };
            Some((get("realm")?, get("service")))
        })
}

impl Session {
    /// A session for `oref`'s repository on `reg` with the stored credentials.
    pub fn new(
        reg: &str,
        opts: &RegistryOptions,
        oref: oci_client::Reference,
        op: RegistryOperation,
    ) -> Result<Session> {
        Ok(Session {
            client: client_for(reg, opts),
            reg: reg.to_string(),
            auth: auth_for(reg)?,
            oref,
            op,
        })
    }

    /// Runs the auth dance now (and again to refresh a refused token).
    /// Returns true when a Bearer token was issued (token auth).
    pub async fn authenticate(&self) -> Result<bool> {
        self.client
            .auth(&self.oref, &self.auth, self.op)
            .await
            .map(|t| t.is_some())
            .map_err(|e| {
                let what = format!("authentication for {} failed", self.oref.repository());
                self.err(&what, e)
            })
    }

    /// Under token auth, a client for mounting blobs from `source` into
    /// this session's repository: its token is asked for with both scopes,
    /// `repository:TARGET:pull,push` and `repository:SOURCE:pull`, as Docker
    /// does (oci-client asks for one). None when the registry does not use
    /// token auth or the token server refuses; the caller then uploads.
    pub async fn mount_client(&self, source: &str, opts: &RegistryOptions) -> Option<Client> {
        let scheme = if is_insecure(&self.reg, opts) {
            "http"
        } else {
            "https"
        };
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(30))
            .timeout(Duration::from_secs(60))
            .build()
            .ok()?;
        let probe = http
            .get(format!("{scheme}://{}/v2/", self.reg))
            .send()
            .await
            .ok()?;
        let hdr = probe
            .headers()
            .get(http::header::WWW_AUTHENTICATE)?
            .to_str()
            .ok()?;
        let (realm, service) = bearer_challenge(hdr)?;
        let mut query = vec![
            (
                "scope",
                format!("repository:{}:pull,push", self.oref.repository()),
            ),
            ("scope", format!("repository:{source}:pull")),
        ];
        if let Some(s) = service {
            query.push(("service", s));
        }
        let mut req = http.get(&realm).query(&query);
        if let RegistryAuth::Basic(u, p) = &self.auth {
            req = req.basic_auth(u, Some(p));
        }
        let resp = req.send().await.ok()?;
        if !resp.status().is_success() {
            return None;
        }
        let v: serde_json::Value = serde_json::from_slice(&resp.bytes().await.ok()?).ok()?;
        let token = v["token"].as_str().or(v["access_token"].as_str())?;
        let c = client_for(&self.reg, opts);
        c.store_auth_if_needed(&self.reg, &RegistryAuth::Bearer(token.to_string()))
            .await;
        Some(c)
    }

    /// Maps an oci-client error during `what` to one line.
    pub fn err(&self, what: &str, e: OciError) -> Error {
        let repo = self.oref.repository();
        let denied = || {
            let reason = match self.op {
                RegistryOperation::Pull => format!(
                    "{what}: pull access denied for {repo}: the repository does not exist or may require 'caixa login'"
                ),
                RegistryOperation::Push => format!(
                    "{what}: push access denied for {repo}: requested access to the resource is denied (may require 'caixa login')"
                ),
            };
            Error::Denied {
                registry: self.reg.clone(),
                reason,
            }
        };
        match e {
            OciError::AuthenticationFailure(body) => Error::AuthFailed {
                registry: self.reg.clone(),
                reason: format!("{what}: {}", server_message(&body)),
            },
            OciError::UnauthorizedError { .. } | OciError::ServerError { code: 401, .. } => {
                denied()
            }
            OciError::ServerError { code: 403, .. } => denied(),
            OciError::RegistryError { ref envelope, .. }
                if envelope.errors.iter().any(|x| {
                    matches!(x.code, OciErrorCode::Unauthorized | OciErrorCode::Denied)
                }) =>
            {
                denied()
            }
            other => Error::Registry {
                registry: self.reg.clone(),
                reason: format!("{what}: {}", one_line(&other.to_string())),
            },
        }
    }

    /// Runs `f` up to three times for transient failures; when the registry
    /// refuses the token (401), fetches a fresh one once and tries again.
    /// Content and auth errors are returned at once.
    pub async fn call<T, F, Fut>(&self, what: &str, mut f: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let mut refreshed = false;
        let mut attempt = 0u32;
        loop {
            match f().await {
                Ok(v) => return Ok(v),
                Err(Error::Denied { .. }) if !refreshed => {
                    tracing::debug!("{what}: refused by {}, fetching a new token", self.reg);
                    refreshed = true;
                    self.authenticate().await?;
                }
                Err(
                    e @ (Error::DigestMismatch { .. }
                    | Error::Invalid { .. }
                    | Error::UnsafeLayer { .. }
                    | Error::BadLayer { .. }
                    | Error::Denied { .. }
                    | Error::AuthFailed { .. }),
                ) => return Err(e),
                Err(e) if attempt < 2 => {
                    tracing::debug!("{what}: attempt {} failed: {e}", attempt + 1);
                    tokio::time::sleep(Duration::from_millis(200 * 2u64.pow(attempt))).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_server_messages_become_one_line() {
        assert_eq!(
            server_message(
                r#"{"errors":[{"code":"UNAUTHORIZED","message":"incorrect username or password"}]}"#
            ),
            "incorrect username or password"
        );
        assert_eq!(
            server_message(r#"{"details":"incorrect username or password"}"#),
            "incorrect username or password"
        );
        assert_eq!(server_message("\n  bad\ncreds\n"), "bad");
        assert_eq!(server_message(""), "unauthorized");
        assert_eq!(one_line(&"x ".repeat(400)).chars().count(), 301);
    }

    #[test]
    fn bearer_challenges_parse() {
        assert_eq!(
            bearer_challenge(
                r#"Bearer realm="https://auth.example/token",service="reg",scope="x""#
            ),
            Some(("https://auth.example/token".into(), Some("reg".into())))
        );
        assert_eq!(
            bearer_challenge(r#"Basic realm="r", Bearer realm="t""#),
            Some(("t".into(), None))
        );
        assert_eq!(bearer_challenge(r#"Basic realm="r""#), None);
    }
}
