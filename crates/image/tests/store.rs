//! Store basics: default busybox image, rootfs overlay mount, refs, rmi, prune.

mod common;

use common::*;

#[test]
fn busybox_rootfs_mounts_and_cleans_up() {
    let root = TestRoot::new("busybox");
    let store = root.store();
    let img = store.ensure_default_busybox().unwrap();
    assert_eq!(img.familiar_tags(), vec!["busybox:latest".to_string()]);
    assert_eq!(
        img.config.container_config().cmd,
        Some(vec!["sh".to_string()])
    );
    // Deterministic: a second store gets the same id.
    let root2 = TestRoot::new("busybox2");
    assert_eq!(root2.store().ensure_default_busybox().unwrap().id, img.id);
    // Idempotent.
    assert_eq!(store.ensure_default_busybox().unwrap().id, img.id);

    let cdir = root.path().join("containers/c1");
    let m = store.prepare_rootfs(&img, "c1", &cdir).unwrap();
    assert!(is_mounted(&m.rootfs), "overlay not in mountinfo");
    let sh = std::fs::read_link(m.rootfs.join("bin/sh")).unwrap();
    assert_eq!(sh, std::path::Path::new("/bin/busybox"));
    std::fs::write(m.rootfs.join("tmp/x"), b"hi").unwrap();
    assert!(
        m.upper.join("tmp/x").exists(),
        "write did not land in upper"
    );
    // In use: rmi refuses.
    let e = store.remove("busybox", false).unwrap_err().to_string();
    assert!(e.contains("in use") && e.contains("c1"), "{e}");
    store.remove_rootfs(&m).unwrap();
    assert!(!is_mounted(&m.rootfs));
    assert!(!m.upper.exists() && !m.rootfs.exists() && !m.work.exists());
    let rep = store.remove("busybox", false).unwrap();
    assert_eq!(rep.deleted, vec![img.id.clone()]);
    assert!(store.resolve("busybox").is_err());
    // Layers and blobs gone.
    assert!(tree(&root.path().join("image/layers")).is_empty());
    assert!(tree(&root.path().join("image/blobs/sha256")).is_empty());
}

#[test]
fn many_layers_mount() {
    let root = TestRoot::new("manylayers");
    let store = root.store();
    // 150 single-file layers: beyond the classic 128-ish option-string limit.
    let mut layers = Vec::new();
    for i in 0..150 {
        let tar = tar_of(&[E::File(&format!("f{i}"), format!("{i}").as_bytes())]);
        let blob = store.blobs().put_bytes(&tar, None).unwrap();
        let u = store.unpack_blob(&blob, None).unwrap();
        layers.push(caixa_image::LayerInfo {
            diff_id: u.diff_id,
            blob: blob.clone(),
            media_type: caixa_image::manifest::DOCKER_LAYER_TAR.into(),
            blob_size: tar.len() as u64,
            size: u.size,
        });
    }
    let mut cfg = caixa_image::ImageConfig {
        architecture: "amd64".into(),
        os: "linux".into(),
        ..Default::default()
    };
    cfg.rootfs.diff_ids = layers.iter().map(|l| l.diff_id.to_string()).collect();
    let cbytes = serde_json::to_vec(&cfg).unwrap();
    let cdig = store.blobs().put_bytes(&cbytes, None).unwrap();
    let mdig = store.blobs().put_bytes(b"{}", None).unwrap();
    let img = store
        .register(&caixa_image::NewImage {
            manifest: mdig,
            manifest_media_type: "x".into(),
            config: cdig,
            layers,
            tags: vec!["docker.io/library/many:latest".into()],
            repo_digest: None,
        })
        .unwrap();
    let m = store
        .prepare_rootfs(&img, "c-many", &root.path().join("c"))
        .unwrap();
    assert_eq!(std::fs::read_to_string(m.rootfs.join("f0")).unwrap(), "0");
    assert_eq!(
        std::fs::read_to_string(m.rootfs.join("f149")).unwrap(),
        "149"
    );
    store.remove_rootfs(&m).unwrap();
    assert!(!is_mounted(&m.rootfs));
}
