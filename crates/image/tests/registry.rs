//! Push/pull against a real registry (Debian's docker-registry on 127.0.0.1).

mod common;

use caixa_image::registry::{NoProgress, RegistryOptions};
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

#[test]
fn push_rmi_pull_round_trip() {
    let reg = Registry::start("roundtrip", None);
    let root = TestRoot::new("roundtrip");
    let store = root.store();
    let name = format!("{}/caixa-test/app:v1", reg.addr);
    let img = make_image(&store, &name, 3, "rt");
    let before = rootfs_listing(&store, &img, "c-before", &root.path().join("c1"));
    let opts = RegistryOptions::default();
    let pushed = store.push(&name, &opts, &NoProgress).unwrap();
    assert_eq!(pushed, img.manifest_digest);
    // Second push: every blob already exists.
    store.push(&name, &opts, &NoProgress).unwrap();
    let rep = store.remove(&name, false).unwrap();
    assert_eq!(rep.deleted, vec![img.id.clone()]);
    assert!(tree(&root.path().join("image/layers")).is_empty());
    let pulled = store.pull(&name, &opts, &NoProgress).unwrap();
    assert_eq!(pulled.id, img.id);
    assert_eq!(pulled.manifest_digest, img.manifest_digest);
    assert_eq!(pulled.layers, img.layers);
    let after = rootfs_listing(&store, &pulled, "c-after", &root.path().join("c2"));
    assert_eq!(before, after);
    assert!(
        pulled
            .repo_digests
            .iter()
            .any(|d| d.ends_with(img.manifest_digest.as_str()))
    );
    // Pull by digest works too, and a wrong digest is refused.
    let by_digest = format!("{}/caixa-test/app@{}", reg.addr, img.manifest_digest);
    assert_eq!(
        store.pull(&by_digest, &opts, &NoProgress).unwrap().id,
        img.id
    );
    // Cross-repository mount: push the same image under another repo.
    let other = format!("{}/caixa-test/other:v1", reg.addr);
    store.tag(&name, &other).unwrap();
    let seen = Collect(std::sync::Mutex::new(Vec::new()));
    store.push(&other, &opts, &seen).unwrap();
    let statuses = seen.0.lock().unwrap().clone();
    assert!(
        statuses
            .iter()
            .filter(|s| s.starts_with("Mounted from caixa-test/app"))
            .count()
            >= 3,
        "layers not mounted across repositories: {statuses:?}"
    );
    let missing = format!("{}/caixa-test/nothing:v1", reg.addr);
    let e = store
        .pull(&missing, &opts, &NoProgress)
        .unwrap_err()
        .to_string();
    assert!(e.contains(&reg.addr), "{e}");
}

#[test]
fn concurrent_pulls_sharing_layers_and_pull_during_rmi() {
    let reg = Registry::start("concurrent", None);
    let src = TestRoot::new("concurrent-src");
    let s = src.store();
    let a = format!("{}/caixa-test/a:v1", reg.addr);
    let b = format!("{}/caixa-test/b:v1", reg.addr);
    // Same salt: identical layers in both images; different tags → same id, so
    // make b differ by one extra layer.
    let ia = make_image(&s, &a, 3, "shared");
    let ib = make_image(&s, &b, 4, "shared");
    let opts = RegistryOptions::default();
    s.push(&a, &opts, &NoProgress).unwrap();
    s.push(&b, &opts, &NoProgress).unwrap();
    let root = TestRoot::new("concurrent-dst");
    let path = root.path().to_path_buf();
    // Two "processes" (separate Store handles on the same root) pulling at once.
    let (ra, rb) = std::thread::scope(|sc| {
        let h1 = sc.spawn(|| {
            caixa_image::Store::open(&path)
                .unwrap()
                .pull(&a, &opts, &NoProgress)
        });
        let h2 = sc.spawn(|| {
            caixa_image::Store::open(&path)
                .unwrap()
                .pull(&b, &opts, &NoProgress)
        });
        (h1.join().unwrap(), h2.join().unwrap())
    });
    assert_eq!(ra.unwrap().id, ia.id);
    assert_eq!(rb.unwrap().id, ib.id);
    let store = root.store();
    // Pull b again while a is removed repeatedly: both must end consistent.
    for _ in 0..3 {
        std::thread::scope(|sc| {
            let h1 = sc.spawn(|| caixa_image::Store::open(&path).unwrap().remove(&a, false));
            let h2 = sc.spawn(|| {
                caixa_image::Store::open(&path)
                    .unwrap()
                    .pull(&a, &opts, &NoProgress)
            });
            let _ = h1.join().unwrap();
            h2.join().unwrap().unwrap();
        });
    }
    // Whatever state a is in, b's rootfs is complete and a re-pull works.
    let imgb = store.resolve(&b).unwrap();
    for l in &imgb.layers {
        assert!(store.has_layer(&l.diff_id), "layer of b vanished");
    }
    let ia2 = store.pull(&a, &opts, &NoProgress).unwrap();
    let listing = rootfs_listing(&store, &ia2, "c-a", &root.path().join("ca"));
    assert!(listing.iter().any(|(p, _)| p.ends_with("data/f2")));
    assert!(
        tree(&root.path().join("image/tmp"))
            .iter()
            .all(|p| !p.to_string_lossy().contains("layer-"))
    );
}

#[test]
fn tampered_registry_blob_refused_and_cleaned() {
    let reg = Registry::start("tamper", None);
    let root = TestRoot::new("reg-tamper");
    let store = root.store();
    let name = format!("{}/caixa-test/tampered:v1", reg.addr);
    let img = make_image(&store, &name, 2, "tamper");
    let opts = RegistryOptions::default();
    store.push(&name, &opts, &NoProgress).unwrap();
    // Corrupt the top layer's bytes inside the registry's storage.
    let hex = img.layers[1].blob.hex().to_string();
    let data = reg.storage().join(format!(
        "docker/registry/v2/blobs/sha256/{}/{hex}/data",
        &hex[..2]
    ));
    let mut b = std::fs::read(&data).unwrap();
    let n = b.len();
    b[n / 2] ^= 0xff;
    std::fs::write(&data, b).unwrap();
    let dst = TestRoot::new("reg-tamper-dst");
    let s2 = dst.store();
    let e = s2.pull(&name, &opts, &NoProgress).unwrap_err().to_string();
    assert!(e.contains("digest") || e.contains("Digest"), "{e}");
    assert!(s2.list().unwrap().is_empty());
    assert!(
        tree(&dst.path().join("image/layers")).is_empty(),
        "layer left behind"
    );
    assert!(
        tree(&dst.path().join("image/blobs/sha256")).is_empty(),
        "blob left behind"
    );
    assert!(
        tree(&dst.path().join("image/tmp")).is_empty(),
        "temp left behind"
    );
}

#[test]
fn multi_arch_index_selects_platform() {
    let reg = Registry::start("index", None);
    let root = TestRoot::new("index");
    let store = root.store();
    let name = format!("{}/caixa-test/multi:single", reg.addr);
    let img = make_image(&store, &name, 1, "index");
    let opts = RegistryOptions::default();
    store.push(&name, &opts, &NoProgress).unwrap();
    let host = caixa_image::Platform::host();
    let msize = store.blobs().size(&img.manifest_digest).unwrap();
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": caixa_image::manifest::DOCKER_LIST,
        "manifests": [
            {"mediaType": caixa_image::manifest::DOCKER_MANIFEST, "digest": img.manifest_digest.to_string(),
             "size": msize, "platform": {"architecture": "s390x", "os": "linux"}},
            {"mediaType": caixa_image::manifest::DOCKER_MANIFEST, "digest": img.manifest_digest.to_string(),
             "size": msize, "platform": {"architecture": host.architecture, "os": "linux"}},
        ]
    });
    let body = serde_json::to_vec(&index).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = oci_client::Client::new(oci_client::client::ClientConfig {
            protocol: oci_client::client::ClientProtocol::Http,
            ..Default::default()
        });
        let r = oci_client::Reference::with_tag(
            reg.addr.clone(),
            "caixa-test/multi".into(),
            "list".into(),
        );
        client
            .auth(
                &r,
                &oci_client::secrets::RegistryAuth::Anonymous,
                oci_client::RegistryOperation::Push,
            )
            .await
            .unwrap();
        client
            .push_manifest_raw(
                &r,
                body.clone(),
                caixa_image::manifest::DOCKER_LIST.parse().unwrap(),
            )
            .await
            .unwrap();
    });
    let list = format!("{}/caixa-test/multi:list", reg.addr);
    let dst = TestRoot::new("index-dst");
    let s2 = dst.store();
    let pulled = s2.pull(&list, &opts, &NoProgress).unwrap();
    assert_eq!(pulled.id, img.id);
    let idx_digest = caixa_image::Digest::of(&body);
    assert!(
        pulled
            .repo_digests
            .iter()
            .any(|d| d.ends_with(idx_digest.as_str())),
        "{:?}",
        pulled.repo_digests
    );
    let other = RegistryOptions {
        platform: Some(caixa_image::Platform::parse("linux/mips64").unwrap()),
        ..Default::default()
    };
    let e = s2.pull(&list, &other, &NoProgress).unwrap_err().to_string();
    assert!(
        e.contains("no manifest for platform linux/mips64") && e.contains("linux/s390x"),
        "{e}"
    );
}

#[test]
fn large_layer_streams_up_and_down() {
    let reg = Registry::start("large", None);
    let root = TestRoot::new("large");
    let store = root.store();
    // 9 MB of incompressible bytes: above the 8 MB single-request limit.
    let data = noise(9 << 20, 0x9e3779b97f4a7c15);
    let name = format!("{}/caixa-test/large:v1", reg.addr);
    let img = one_layer_image(&store, &tar_of(&[E::File("big.bin", &data)]), &name);
    let opts = RegistryOptions::default();
    store.push(&name, &opts, &NoProgress).unwrap();
    let dst = TestRoot::new("large-dst");
    let s2 = dst.store();
    let pulled = s2.pull(&name, &opts, &NoProgress).unwrap();
    assert_eq!(pulled.id, img.id);
    let got = std::fs::read(s2.layer_diff(&pulled.layers[0].diff_id).join("big.bin")).unwrap();
    assert!(got == data, "large file differs after push/pull");
}
