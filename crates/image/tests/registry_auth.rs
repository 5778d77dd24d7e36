//! Basic auth (htpasswd) registry: login/logout, push, pull. Own binary:
//! it sets DOCKER_CONFIG for the process.

mod common;

use caixa_image::registry::{NoProgress, RegistryOptions};
use common::*;

#[test]
fn basic_auth_login_push_pull() {
    let reg = Registry::start("auth", Some(("caixa", "s3cret")));
    let root = TestRoot::new("auth");
    let cfgdir = root.path().join("docker-config");
    // SAFETY: this test binary has a single test, so no other thread reads the
    // environment while it is changed.
    unsafe { std::env::set_var("DOCKER_CONFIG", &cfgdir) };
    let store = root.store();
    let name = format!("{}/caixa-test/secret:v1", reg.addr);
    let img = make_image(&store, &name, 2, "auth");
    let opts = RegistryOptions::default();
    let e = store
        .push(&name, &opts, &NoProgress)
        .unwrap_err()
        .to_string();
    assert!(e.contains("denied") && e.contains("caixa login"), "{e}");
    assert!(!e.contains('\n'), "{e}");
    let e = caixa_image::registry::login(&reg.addr, "caixa", "wrong", &opts)
        .unwrap_err()
        .to_string();
    assert!(e.contains("login failed"), "{e}");
    assert!(!cfgdir.join("config.json").exists());
    caixa_image::registry::login(&reg.addr, "caixa", "s3cret", &opts).unwrap();
    let cfg = std::fs::read_to_string(cfgdir.join("config.json")).unwrap();
    assert!(cfg.contains(&reg.addr), "{cfg}");
    store.push(&name, &opts, &NoProgress).unwrap();
    store.remove(&name, false).unwrap();
    assert_eq!(store.pull(&name, &opts, &NoProgress).unwrap().id, img.id);
    assert!(caixa_image::auth::erase(&reg.addr).unwrap());
    store.remove(&name, false).unwrap();
    assert!(store.pull(&name, &opts, &NoProgress).is_err());
}
