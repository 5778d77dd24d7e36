//! Hostile layers: each refused with a clear error, nothing written outside
//! the store, nothing half-written left in it.

mod common;

use common::*;

/// Unpacks `raw` into a fresh store next to an "outside" dir and checks the
/// refusal message, that outside is untouched and no layer/temp dir remains.
fn refused(name: &str, raw: Vec<u8>, expect: &str) {
    let root = TestRoot::new(name);
    let outside = root.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("victim"), b"original").unwrap();
    let store_root = root.path().join("store");
    let store = caixa_image::Store::open(&store_root).unwrap();
    // Relative escape target: store/image/tmp/layer-x/diff → ../../../../../outside
    let err = store
        .unpack_layer_from(&raw[..], None, name)
        .expect_err("hostile layer accepted")
        .to_string();
    assert!(
        err.contains(expect),
        "{name}: error {err:?} lacks {expect:?}"
    );
    assert_eq!(
        tree(&outside),
        vec![std::path::PathBuf::from("victim")],
        "{name}: outside touched"
    );
    assert_eq!(std::fs::read(outside.join("victim")).unwrap(), b"original");
    assert!(
        tree(&store_root.join("image/layers")).is_empty(),
        "{name}: layer left"
    );
    assert!(
        tree(&store_root.join("image/tmp")).is_empty(),
        "{name}: temp left"
    );
}

#[test]
fn dotdot_names_refused() {
    refused(
        "dotdot",
        tar_of(&[E::File(
            "../../../../../../../../tmp/caixa-test-pwned",
            b"x",
        )]),
        "'..'",
    );
    refused(
        "dotdot-mid",
        tar_of(&[E::Dir("a"), E::File("a/../../x", b"x")]),
        "'..'",
    );
}

#[test]
fn symlink_then_write_refused() {
    // Absolute and relative symlinks out, then a write through them.
    refused(
        "symwrite-abs",
        tar_of(&[E::Sym("esc", "/tmp"), E::File("esc/caixa-test-pwned", b"x")]),
        "symlink",
    );
    refused(
        "symwrite-rel",
        tar_of(&[
            E::Sym("esc", "../../../../../../outside"),
            E::File("esc/victim", b"pwned"),
        ]),
        "symlink",
    );
    // A symlinked directory in the middle of the path.
    refused(
        "symwrite-mid",
        tar_of(&[
            E::Dir("d"),
            E::Sym("d/l", "/"),
            E::File("d/l/tmp/caixa-test-pwned", b"x"),
        ]),
        "symlink",
    );
    assert!(!std::path::Path::new("/tmp/caixa-test-pwned").exists());
}

#[test]
fn hardlink_escapes_refused() {
    refused(
        "hard-dotdot",
        tar_of(&[E::Hard("h", "../../../../../../etc/passwd")]),
        "'..'",
    );
    refused(
        "hard-abs-missing",
        tar_of(&[E::Hard("h", "/etc/passwd")]),
        "earlier entry",
    );
    refused(
        "hard-via-symlink",
        tar_of(&[E::Sym("s", "/etc"), E::Hard("h", "s/passwd")]),
        "symlink",
    );
}

#[test]
fn devices_refused() {
    refused(
        "dev-block",
        tar_of(&[E::Block("sda", 8, 0)]),
        "device node b 8:0",
    );
    refused(
        "dev-mem",
        tar_of(&[E::Char("mem", 1, 1)]),
        "device node c 1:1",
    );
}

#[test]
fn bad_headers_and_digests_refused() {
    // Truncated: header announces 1 MiB, data stops.
    let mut t = tar_of(&[E::File("big", &[7u8; 4096])]);
    t.truncate(512 + 1000);
    refused("truncated", t, "");
    // Corrupt checksum.
    let mut t = tar_of(&[E::File("f", b"x")]);
    t[148] = b'9';
    refused("cksum", t, "corrupt tar");
    // Huge size field in the header (octal 77777777777 = 8 GiB) with no data.
    let mut t = tar_of(&[E::File("huge", b"")]);
    t[124..136].copy_from_slice(b"77777777777\0");
    let mut h = tar::Header::from_byte_slice(&t[..512]).clone();
    h.set_cksum();
    t[..512].copy_from_slice(h.as_bytes());
    refused("huge", t, "");
    // A GNU long-name header announcing 4 MiB (a memory bomb once gzipped, at scale).
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::GNULongName);
    h.set_size(4 << 20);
    h.set_cksum();
    let mut t = h.as_bytes().to_vec();
    t.extend(vec![b'a'; 4 << 20]);
    refused("longname-bomb", gzip(&t), "exceeds the 1048576-byte limit");
    // Truncated gzip stream.
    let mut g = gzip(&tar_of(&[E::File("f", &[1u8; 100_000])]));
    g.truncate(g.len() / 2);
    refused("gz-trunc", g, "");
}

#[test]
fn wrong_diff_id_refused() {
    let root = TestRoot::new("wrongdiff");
    let store = root.store();
    let tar = tar_of(&[E::File("f", b"x")]);
    let wrong = caixa_image::Digest::of(b"other");
    let e = store
        .unpack_layer_from(&tar[..], Some(&wrong), "l")
        .unwrap_err()
        .to_string();
    assert!(e.contains("digest mismatch"), "{e}");
    assert!(tree(&root.path().join("image/layers")).is_empty());
    assert!(tree(&root.path().join("image/tmp")).is_empty());
    // Wrong blob digest: nothing becomes visible.
    let e = store
        .blobs()
        .put_bytes(b"data", Some(&wrong))
        .unwrap_err()
        .to_string();
    assert!(e.contains("digest mismatch"), "{e}");
    let e = store
        .blobs()
        .put_reader(&b"data"[..], Some(&wrong))
        .unwrap_err()
        .to_string();
    assert!(e.contains("digest mismatch"), "{e}");
    assert!(tree(&root.path().join("image/blobs/sha256")).is_empty());
    assert!(tree(&root.path().join("image/tmp")).is_empty());
}

#[test]
fn legit_layer_kept_exactly() {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let root = TestRoot::new("legit");
    let store = root.store();
    let tar = tar_of(&[
        E::Dir("etc"),
        E::File("etc/conf", b"hello"),
        E::Hard("etc/conf2", "etc/conf"),
        E::Sym("etc/abs", "/etc/passwd"),
        E::Sym("up", "../../../.."),
        E::Char("dev-null", 1, 3),
        E::Fifo("fifo"),
        E::File(".wh.gone", b""),
        E::Dir("opq"),
        E::File("opq/.wh..wh..opq", b""),
    ]);
    for (n, raw) in [
        ("plain", tar.clone()),
        ("gz", gzip(&tar)),
        ("zst", zstd::encode_all(&tar[..], 1).unwrap()),
    ] {
        let u = store.unpack_layer_from(&raw[..], None, n).unwrap();
        assert_eq!(u.diff_id, caixa_image::Digest::of(&tar), "{n}");
    }
    let d = store.layer_diff(&caixa_image::Digest::of(&tar));
    assert_eq!(std::fs::read(d.join("etc/conf")).unwrap(), b"hello");
    let m1 = std::fs::metadata(d.join("etc/conf")).unwrap();
    let m2 = std::fs::metadata(d.join("etc/conf2")).unwrap();
    assert_eq!(m1.ino(), m2.ino(), "hardlink not kept");
    assert_eq!(m1.mode() & 0o7777, 0o644);
    assert_eq!(m1.mtime(), 1_600_000_000);
    assert_eq!(
        std::fs::metadata(d.join("etc")).unwrap().mtime(),
        1_600_000_000
    );
    assert_eq!(
        std::fs::read_link(d.join("etc/abs")).unwrap().to_str(),
        Some("/etc/passwd")
    );
    let wh = std::fs::symlink_metadata(d.join("gone")).unwrap();
    assert!(
        wh.file_type().is_char_device() && wh.rdev() == 0,
        "whiteout not char 0/0"
    );
    assert!(
        std::fs::symlink_metadata(d.join("fifo"))
            .unwrap()
            .file_type()
            .is_fifo()
    );
    assert_eq!(
        std::fs::symlink_metadata(d.join("dev-null"))
            .unwrap()
            .rdev(),
        libc_makedev(1, 3)
    );
    let opq = xattr::get(d.join("opq"), "trusted.overlay.opaque").unwrap();
    assert_eq!(opq.as_deref(), Some(&b"y"[..]));
    assert!(!d.join("opq/.wh..wh..opq").exists());
    assert!(tree(&root.path().join("image/tmp")).is_empty());
}

fn libc_makedev(ma: u64, mi: u64) -> u64 {
    (ma << 8) | mi
}

#[test]
fn xattrs_kept_and_overlay_xattrs_dropped() {
    let root = TestRoot::new("xattr");
    let store = root.store();
    let mut b = tar::Builder::new(Vec::new());
    b.append_pax_extensions([
        ("SCHILY.xattr.user.caixa", &b"kept"[..]),
        ("SCHILY.xattr.trusted.overlay.opaque", &b"y"[..]),
    ])
    .unwrap();
    let mut h = tar::Header::new_ustar();
    h.set_size(2);
    h.set_mode(0o640);
    h.set_uid(1234);
    h.set_gid(4321);
    h.set_cksum();
    b.append_data(&mut h, "dir-file", &b"hi"[..]).unwrap();
    let tar = b.into_inner().unwrap();
    let u = store.unpack_layer_from(&tar[..], None, "xattr").unwrap();
    let f = store.layer_diff(&u.diff_id).join("dir-file");
    assert_eq!(
        xattr::get(&f, "user.caixa").unwrap().as_deref(),
        Some(&b"kept"[..])
    );
    assert_eq!(xattr::get(&f, "trusted.overlay.opaque").unwrap(), None);
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(&f).unwrap();
    assert_eq!((m.uid(), m.gid(), m.mode() & 0o7777), (1234, 4321, 0o640));
}
