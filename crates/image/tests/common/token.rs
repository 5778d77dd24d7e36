//! A small real token server for registry Bearer auth (the scheme Docker Hub
//! and ghcr use), on 127.0.0.1 for docker-registry's `auth: token:`.
//!
//! It checks HTTP basic credentials, issues RS256 JWTs whose header carries
//! the signing certificate (`x5c`, verified by the registry against its
//! `rootcertbundle`), and grants what the requested scopes ask for within
//! what the user may do: `writer` users get pull and push under
//! `caixa-test/`, `reader` users only pull, anonymous callers a token with no
//! access. A wrong password is a 401. [`TokenServer::stale_next`] makes the
//! next token be signed by a key the registry does not trust (like a token
//! made before a key rotation), to exercise the client's refresh on 401.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine as _;

/// Service name the registry and the token server agree on.
pub const SERVICE: &str = "caixa-test-registry";
/// Token issuer the registry trusts.
pub const ISSUER: &str = "caixa-test-token-issuer";

/// A signing key and its self-signed certificate (base64 DER for `x5c`).
struct Signer {
    key: jsonwebtoken::EncodingKey,
    x5c: String,
}

impl Signer {
    fn make(dir: &Path, name: &str) -> (Signer, PathBuf) {
        let key = dir.join(format!("{name}.key"));
        let cert = dir.join(format!("{name}.pem"));
        let st = std::process::Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .args(["-subj", &format!("/CN=caixa-test-{name}")])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stderr(std::process::Stdio::null())
            .status()
            .expect("run openssl");
        assert!(st.success(), "openssl req failed");
        let pem = std::fs::read_to_string(&cert).unwrap();
        let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        // Check it decodes; x5c wants standard base64 of the DER.
        base64::engine::general_purpose::STANDARD
            .decode(&b64)
            .unwrap();
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(&std::fs::read(&key).unwrap()).unwrap();
        (Signer { key, x5c: b64 }, cert)
    }
}

struct Shared {
    users: Vec<(String, String, bool)>,
    good: Signer,
    stale: Signer,
    stale_next: AtomicBool,
    log: Mutex<Vec<String>>,
}

/// The token server; stops when dropped.
pub struct TokenServer {
    /// `http://127.0.0.1:PORT/token`.
    pub realm: String,
    /// PEM bundle of the trusted signing certificate.
    pub bundle: PathBuf,
    server: Arc<tiny_http::Server>,
    thread: Option<std::thread::JoinHandle<()>>,
    shared: Arc<Shared>,
}

impl TokenServer {
    /// Starts a token server for `users`: (name, password, may push).
    /// Key material goes into `dir`.
    pub fn start(dir: &Path, users: &[(&str, &str, bool)]) -> TokenServer {
        let (good, bundle) = Signer::make(dir, "token-signer");
        let (stale, _) = Signer::make(dir, "token-stale");
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let port = server.server_addr().to_ip().unwrap().port();
        let shared = Arc::new(Shared {
            users: users
                .iter()
                .map(|(u, p, w)| (u.to_string(), p.to_string(), *w))
                .collect(),
            good,
            stale,
            stale_next: AtomicBool::new(false),
            log: Mutex::new(Vec::new()),
        });
        let (srv, sh) = (server.clone(), shared.clone());
        let thread = std::thread::spawn(move || {
            for req in srv.incoming_requests() {
                let (code, body) = answer(&sh, &req);
                let resp = tiny_http::Response::from_string(body)
                    .with_status_code(code)
                    .with_header(
                        "Content-Type: application/json"
                            .parse::<tiny_http::Header>()
                            .unwrap(),
                    );
                let _ = req.respond(resp);
            }
        });
        TokenServer {
            realm: format!("http://127.0.0.1:{port}/token"),
            bundle,
            server,
            thread: Some(thread),
            shared,
        }
    }

    /// The registry's `auth:` section for this server.
    pub fn registry_yaml(&self) -> String {
        format!(
            "auth:\n  token:\n    realm: {}\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {}\n",
            self.realm,
            self.bundle.display()
        )
    }

    /// Signs the next token with an untrusted key (the registry answers 401).
    pub fn stale_next(&self) {
        self.shared.stale_next.store(true, Ordering::SeqCst);
    }

    /// Every answer so far: `USER SCOPE -> GRANTED` or `USER -> 401`.
    pub fn log(&self) -> Vec<String> {
        self.shared.log.lock().unwrap().clone()
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn query_params(url: &str) -> Vec<(String, String)> {
    let q = url.split_once('?').map(|x| x.1).unwrap_or("");
    url::form_urlencoded::parse(q.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn err(code: u16, msg: &str) -> (u16, String) {
    (
        code,
        serde_json::json!({"errors": [{"code": "UNAUTHORIZED", "message": msg}]}).to_string(),
    )
}

fn answer(sh: &Shared, req: &tiny_http::Request) -> (u16, String) {
    if !req.url().starts_with("/token") {
        return (404, "{}".into());
    }
    let params = query_params(req.url());
    if !params.iter().any(|(k, v)| k == "service" && v == SERVICE) {
        return err(400, "unknown service");
    }
    // Who is asking: basic credentials, or anonymous.
    let basic = req
        .headers()
        .iter()
        .find(|h| h.field.equiv("Authorization"))
        .and_then(|h| h.value.as_str().strip_prefix("Basic ").map(str::to_string));
    let (user, writer) = match basic {
        None => ("anonymous".to_string(), None),
        Some(b) => {
            let dec = base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .unwrap_or_default();
            let dec = String::from_utf8_lossy(&dec).into_owned();
            let (u, p) = dec.split_once(':').unwrap_or((&dec, ""));
            match sh.users.iter().find(|(n, pw, _)| n == u && pw == p) {
                Some((n, _, w)) => (n.clone(), Some(*w)),
                None => {
                    sh.log.lock().unwrap().push(format!("{u} -> 401"));
                    return err(401, "incorrect username or password");
                }
            }
        }
    };
    // Scopes: repeated `scope` params, each possibly space-separated.
    let mut access = Vec::new();
    let mut asked = Vec::new();
    for (_, s) in params.iter().filter(|(k, _)| k == "scope") {
        for scope in s.split(' ').filter(|x| !x.is_empty()) {
            asked.push(scope.to_string());
            let mut parts = scope.splitn(3, ':');
            let (Some(typ), Some(name), Some(actions)) = (parts.next(), parts.next(), parts.next())
            else {
                return err(400, "malformed scope");
            };
            let granted: Vec<&str> = actions
                .split(',')
                .filter(|a| match (*a, writer) {
                    (_, None) => false,
                    ("pull", Some(_)) => name.starts_with("caixa-test/"),
                    ("push", Some(true)) => name.starts_with("caixa-test/"),
                    _ => false,
                })
                .collect();
            if !granted.is_empty() {
                access.push(serde_json::json!({"type": typ, "name": name, "actions": granted}));
            }
        }
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = serde_json::json!({
        "iss": ISSUER,
        "sub": user,
        "aud": SERVICE,
        "exp": now + 300,
        "nbf": now - 10,
        "iat": now,
        "jti": format!("caixa-test-{now}-{}", sh.log.lock().unwrap().len()),
        "access": access,
    });
    let stale = sh.stale_next.swap(false, Ordering::SeqCst);
    let signer = if stale { &sh.stale } else { &sh.good };
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.x5c = Some(vec![signer.x5c.clone()]);
    let token = jsonwebtoken::encode(&header, &claims, &signer.key).unwrap();
    let granted: Vec<String> = access
        .iter()
        .map(|a| format!("{}:{}", a["name"].as_str().unwrap(), a["actions"]))
        .collect();
    sh.log.lock().unwrap().push(format!(
        "{user} {} -> {}{}",
        asked.join(" "),
        granted.join(" "),
        if stale { " (stale)" } else { "" }
    ));
    (
        200,
        serde_json::json!({"token": token, "access_token": token, "expires_in": 300}).to_string(),
    )
}
