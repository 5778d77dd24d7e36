//! Bearer token auth: docker-registry with `auth: token:` and a real token
//! server (tests/common/token.rs) on 127.0.0.1. Own binary: it sets
//! DOCKER_CONFIG for the process.

mod common;

use caixa_image::registry::{NoProgress, RegistryOptions};
use common::token::TokenServer;
use common::*;

/// Records status events.
struct Collect(std::sync::Mutex<Vec<String>>);
impl caixa_image::registry::Progress for Collect {
    fn event(&self, e: caixa_image::registry::Event) {
        if let caixa_image::registry::Event::Status { status, .. } = e {
            self.0.lock().unwrap().push(status);
        }
    }
}

fn one_line(e: &str) {
    eprintln!("error: {e}");
    assert!(
        !e.trim().is_empty() && !e.contains('\n'),
        "not one line: {e}"
    );
}

#[test]
fn bearer_token_dance_push_pull_refresh_and_refusals() {
    let root = TestRoot::new("token");
    let tok = TokenServer::start(
        root.path(),
        &[("caixa", "s3cret", true), ("reader", "r3ad", false)],
    );
    let yaml = tok.registry_yaml();
    let reg = Registry::start_with("token", |_| yaml);
    let cfgdir = root.path().join("docker-config");
    // SAFETY: this test binary has a single test, so no other thread reads the
    // environment while it is changed.
    unsafe { std::env::set_var("DOCKER_CONFIG", &cfgdir) };
    let store = root.store();
    let opts = RegistryOptions::default();
    let name = format!("{}/caixa-test/tok:v1", reg.addr);
    let img = make_image(&store, &name, 3, "token");

    // Anonymous push: the token server grants nothing, the registry refuses.
    let e = store
        .push(&name, &opts, &NoProgress)
        .unwrap_err()
        .to_string();
    one_line(&e);
    assert!(e.contains("denied") && e.contains("login"), "{e}");

    // Wrong password: the token server says 401; nothing is stored.
    let e = caixa_image::registry::login(&reg.addr, "caixa", "wrong", &opts)
        .unwrap_err()
        .to_string();
    one_line(&e);
    assert!(e.contains("incorrect username or password"), "{e}");
    assert!(!cfgdir.join("config.json").exists());

    // Login, push, rmi, pull: same digests through the token dance.
    caixa_image::registry::login(&reg.addr, "caixa", "s3cret", &opts).unwrap();
    assert_eq!(
        store.push(&name, &opts, &NoProgress).unwrap(),
        img.manifest_digest
    );
    store.remove(&name, false).unwrap();
    let pulled = store.pull(&name, &opts, &NoProgress).unwrap();
    assert_eq!(pulled.id, img.id);
    assert_eq!(pulled.manifest_digest, img.manifest_digest);
    assert_eq!(pulled.layers, img.layers);
    let log = tok.log();
    assert!(
        log.iter().any(
            |l| l.starts_with("caixa repository:caixa-test/tok:pull,push ->")
                && l.contains("\"push\"")
        ),
        "push asked for push,pull: {log:?}"
    );
    assert!(
        log.iter()
            .any(|l| l.starts_with("caixa repository:caixa-test/tok:pull ->")),
        "pull asked for pull only: {log:?}"
    );

    // Another repository: blobs are mounted from the first one, with a
    // token asked for both scopes.
    let copy = format!("{}/caixa-test/tok-copy:v1", reg.addr);
    store.tag(&name, &copy).unwrap();
    let seen = Collect(std::sync::Mutex::new(Vec::new()));
    store.push(&copy, &opts, &seen).unwrap();
    let statuses = seen.0.lock().unwrap().clone();
    assert_eq!(
        statuses
            .iter()
            .filter(|s| *s == "Mounted from caixa-test/tok")
            .count(),
        4,
        "3 layers and the config: {statuses:?}"
    );
    assert!(
        tok.log().iter().any(|l| l.starts_with(
            "caixa repository:caixa-test/tok-copy:pull,push repository:caixa-test/tok:pull ->"
        )),
        "{:?}",
        tok.log()
    );
    store.remove(&copy, false).unwrap();

    // A token the registry refuses (signed before a key rotation): the client
    // fetches a new one and goes on.
    store.remove(&name, false).unwrap();
    let before = tok.log().len();
    tok.stale_next();
    assert_eq!(store.pull(&name, &opts, &NoProgress).unwrap().id, img.id);
    let log = tok.log()[before..].to_vec();
    assert!(log[0].ends_with("(stale)"), "{log:?}");
    assert!(
        log[1..]
            .iter()
            .any(|l| l.starts_with("caixa repository:caixa-test/tok:pull ->")),
        "no fresh token after the refused one: {log:?}"
    );

    // A pull-only user: pull works, push is refused with one line.
    caixa_image::registry::login(&reg.addr, "reader", "r3ad", &opts).unwrap();
    store.remove(&name, false).unwrap();
    assert_eq!(store.pull(&name, &opts, &NoProgress).unwrap().id, img.id);
    let other = format!("{}/caixa-test/tok-other:v1", reg.addr);
    store.tag(&name, &other).unwrap();
    let e = store
        .push(&other, &opts, &NoProgress)
        .unwrap_err()
        .to_string();
    one_line(&e);
    assert!(e.contains("denied"), "{e}");

    // Stored credentials gone wrong: a clear one-line error, not a retry loop.
    caixa_image::auth::store(&reg.addr, "caixa", "changed").unwrap();
    store.remove(&name, false).unwrap();
    store.remove(&other, false).unwrap();
    let e = store
        .pull(&name, &opts, &NoProgress)
        .unwrap_err()
        .to_string();
    one_line(&e);
    assert!(e.contains("incorrect username or password"), "{e}");

    // Anonymous pull refused, and nothing of it left in the store.
    assert!(caixa_image::auth::erase(&reg.addr).unwrap());
    let e = store
        .pull(&name, &opts, &NoProgress)
        .unwrap_err()
        .to_string();
    one_line(&e);
    assert!(e.contains("denied") && e.contains("login"), "{e}");
    assert!(tree(&root.path().join("image/layers")).is_empty());
    assert!(tree(&root.path().join("image/blobs/sha256")).is_empty());
}
