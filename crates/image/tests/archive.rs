//! Archives: docker-archive and OCI layout/oci-archive round trips, and
//! interop with skopeo (installed) in both directions.

mod common;

use std::process::Command;

use caixa_image::archive::Format;
use common::*;

fn skopeo(args: &[&str]) {
    let o = Command::new("skopeo")
        .args(["--insecure-policy", "--tmpdir", "/tmp"])
        .args(args)
        .output()
        .expect("run skopeo");
    assert!(
        o.status.success(),
        "skopeo {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn docker_archive_round_trip() {
    let root = TestRoot::new("darchive");
    let store = root.store();
    let img = make_image(&store, "caixa-test/arch:v1", 3, "darchive");
    let before = rootfs_listing(&store, &img, "c1", &root.path().join("c1"));
    let tar = root.path().join("out.tar");
    let mut f = std::fs::File::create(&tar).unwrap();
    store
        .save(
            &["caixa-test/arch:v1".into()],
            Format::DockerArchive,
            &mut f,
            None,
        )
        .unwrap();
    drop(f);
    let dst = TestRoot::new("darchive-dst");
    let s2 = dst.store();
    let loaded = s2.load_path(&tar).unwrap();
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].id, img.id);
    assert_eq!(
        loaded[0].familiar_tags(),
        vec!["caixa-test/arch:v1".to_string()]
    );
    let after = rootfs_listing(&s2, &loaded[0], "c2", &dst.path().join("c2"));
    assert_eq!(before, after);
    // Gzip-compressed archive loads too (docker save | gzip).
    let gz = gzip(&std::fs::read(&tar).unwrap());
    let dst3 = TestRoot::new("darchive-gz");
    assert_eq!(dst3.store().load(&gz[..], "gz").unwrap()[0].id, img.id);
}

#[test]
fn oci_dir_and_archive_with_skopeo() {
    let root = TestRoot::new("oci");
    let store = root.store();
    let img = make_image(&store, "caixa-test/oci:v2", 2, "oci");
    let before = rootfs_listing(&store, &img, "c1", &root.path().join("c1"));
    // caixa → OCI dir → skopeo → docker-archive → caixa.
    let dir = root.path().join("layout");
    store
        .save(
            &["caixa-test/oci:v2".into()],
            Format::OciDir,
            &mut std::io::sink(),
            Some(&dir),
        )
        .unwrap();
    let da = root.path().join("skopeo-docker.tar");
    skopeo(&[
        "copy",
        &format!("oci:{}:v2", dir.display()),
        &format!("docker-archive:{}:caixa-test/from-skopeo:v2", da.display()),
    ]);
    let d1 = TestRoot::new("oci-d1");
    let s1 = d1.store();
    let l = s1.load_path(&da).unwrap();
    assert_eq!(l[0].id, img.id, "config digest changed through skopeo");
    assert_eq!(
        l[0].familiar_tags(),
        vec!["caixa-test/from-skopeo:v2".to_string()]
    );
    assert_eq!(
        rootfs_listing(&s1, &l[0], "c", &d1.path().join("c")),
        before
    );
    // caixa docker-archive → skopeo → oci-archive → caixa.
    let ours = root.path().join("ours.tar");
    let mut f = std::fs::File::create(&ours).unwrap();
    store
        .save(
            &["caixa-test/oci:v2".into()],
            Format::DockerArchive,
            &mut f,
            None,
        )
        .unwrap();
    drop(f);
    let oa = root.path().join("skopeo-oci.tar");
    skopeo(&[
        "copy",
        &format!("docker-archive:{}", ours.display()),
        &format!(
            "oci-archive:{}:docker.io/caixa-test/oci-back:v3",
            oa.display()
        ),
    ]);
    let d2 = TestRoot::new("oci-d2");
    let s2 = d2.store();
    let l = s2.load_path(&oa).unwrap();
    // skopeo rewrites the config when converting to OCI: compare layers instead.
    let diffs = |i: &caixa_image::Image| {
        i.layers
            .iter()
            .map(|l| l.diff_id.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(diffs(&l[0]), diffs(&img));
    assert_eq!(
        l[0].familiar_tags(),
        vec!["caixa-test/oci-back:v3".to_string()]
    );
    assert_eq!(
        rootfs_listing(&s2, &l[0], "c", &d2.path().join("c")),
        before
    );
    // Our oci-archive is readable by skopeo.
    let ooa = root.path().join("ours-oci.tar");
    let mut f = std::fs::File::create(&ooa).unwrap();
    store
        .save(
            &["caixa-test/oci:v2".into()],
            Format::OciArchive,
            &mut f,
            None,
        )
        .unwrap();
    drop(f);
    let back = root.path().join("back-dir");
    skopeo(&[
        "copy",
        &format!("oci-archive:{}:v2", ooa.display()),
        &format!("dir:{}", back.display()),
    ]);
    assert!(back.join("manifest.json").exists());
}

#[test]
fn tampered_archive_refused() {
    let root = TestRoot::new("tamper");
    let store = root.store();
    let img = make_image(&store, "caixa-test/t:v1", 1, "tamper");
    let dir = root.path().join("layout");
    store
        .save(
            &["caixa-test/t:v1".into()],
            Format::OciDir,
            &mut std::io::sink(),
            Some(&dir),
        )
        .unwrap();
    // Corrupt the layer blob: its name no longer matches its content.
    let layer = dir.join("blobs/sha256").join(img.layers[0].blob.hex());
    let mut b = std::fs::read(&layer).unwrap();
    let n = b.len();
    b[n - 1] ^= 0xff;
    std::fs::write(&layer, b).unwrap();
    let dst = TestRoot::new("tamper-dst");
    let e = dst.store().load_path(&dir).unwrap_err().to_string();
    assert!(e.contains("digest mismatch"), "{e}");
    assert!(tree(&dst.path().join("image/layers")).is_empty());
    // No blob of the failed load stays.
    assert!(tree(&dst.path().join("image/blobs/sha256")).is_empty());
    assert!(tree(&dst.path().join("image/tmp")).is_empty());
}
