//! pax extended headers in layers: ids above the ustar limit (2^21-1), long
//! names and link names, fractional mtimes and sizes from pax records are
//! honoured by unpack (checked with stat); bad pax values are refused with
//! one line and leave nothing behind.

mod common;

use std::os::unix::fs::MetadataExt;

use common::*;

/// Appends a raw pax header ('x') with `records` to `out`.
fn pax_header(out: &mut Vec<u8>, records: &[(&str, &str)]) {
    let mut body = Vec::new();
    for (k, v) in records {
        // "LEN KEY=VALUE\n" where LEN counts itself.
        let rest = format!(" {k}={v}\n");
        let mut len = rest.len() + 1;
        while format!("{len}{rest}").len() != len {
            len += 1;
        }
        body.extend_from_slice(format!("{len}{rest}").as_bytes());
    }
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::XHeader);
    h.set_path("PaxHeaders/x").unwrap();
    h.set_size(body.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    out.extend_from_slice(h.as_bytes());
    body.resize(body.len().div_ceil(512) * 512, 0);
    out.extend_from_slice(&body);
}

/// Appends a ustar entry with a (possibly wrong) header size and `data`.
fn entry(out: &mut Vec<u8>, kind: tar::EntryType, name: &str, link: &str, hsize: u64, data: &[u8]) {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(kind);
    h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
    h.set_size(hsize);
    h.set_mode(if kind == tar::EntryType::Directory {
        0o755
    } else {
        0o640
    });
    h.set_uid(7);
    h.set_gid(7);
    h.set_mtime(1_000);
    h.set_cksum();
    out.extend_from_slice(h.as_bytes());
    let mut d = data.to_vec();
    d.resize(d.len().div_ceil(512) * 512, 0);
    out.extend_from_slice(&d);
}

fn finish(mut out: Vec<u8>) -> Vec<u8> {
    out.extend_from_slice(&[0u8; 1024]);
    out
}

#[test]
fn pax_ids_names_times_and_sizes_are_honoured() {
    let root = TestRoot::new("pax");
    let store = root.store();
    let long_dir = "d".repeat(120);
    let long_file = format!("{long_dir}/{}", "f".repeat(200));
    let long_target = format!("../{}/{}", "d".repeat(120), "f".repeat(200));
    let mut t = Vec::new();
    pax_header(
        &mut t,
        &[("path", &long_dir), ("uid", "3000000"), ("gid", "3000001")],
    );
    entry(&mut t, tar::EntryType::Directory, "short-dir", "", 0, b"");
    // Header size 0, pax size 11: the pax record wins.
    pax_header(
        &mut t,
        &[
            ("path", &long_file),
            ("size", "11"),
            ("uid", "4000000000"),
            ("gid", "2097152"),
            ("mtime", "1700000000.123456789"),
            ("SCHILY.xattr.user.caixa", "pax"),
        ],
    );
    entry(
        &mut t,
        tar::EntryType::Regular,
        "short-file",
        "",
        0,
        b"hello world",
    );
    pax_header(
        &mut t,
        &[
            ("linkpath", &long_target),
            ("uid", "3000000"),
            ("mtime", "-86400.5"),
        ],
    );
    entry(&mut t, tar::EntryType::Symlink, "link", "short", 0, b"");
    pax_header(&mut t, &[("path", "hard"), ("linkpath", &long_file)]);
    entry(&mut t, tar::EntryType::Link, "h", "x", 0, b"");
    let t = finish(t);
    let u = store.unpack_layer_from(&t[..], None, "pax").unwrap();
    let dir = root
        .path()
        .join("image/layers")
        .join(u.diff_id.hex())
        .join("diff");

    let m = std::fs::symlink_metadata(dir.join(&long_dir)).unwrap();
    assert!(m.is_dir());
    assert_eq!((m.uid(), m.gid()), (3_000_000, 3_000_001));
    assert!(!dir.join("short-dir").exists());

    let f = dir.join(&long_file);
    let m = std::fs::symlink_metadata(&f).unwrap();
    assert_eq!(std::fs::read(&f).unwrap(), b"hello world");
    assert_eq!((m.uid(), m.gid()), (4_000_000_000, 2_097_152));
    assert_eq!((m.mtime(), m.mtime_nsec()), (1_700_000_000, 123_456_789));
    assert_eq!(m.mode() & 0o7777, 0o640);
    assert_eq!(
        xattr::get(&f, "user.caixa").unwrap().as_deref(),
        Some(&b"pax"[..])
    );

    let l = dir.join("link");
    let m = std::fs::symlink_metadata(&l).unwrap();
    assert!(m.file_type().is_symlink());
    assert_eq!(
        std::fs::read_link(&l).unwrap().to_str().unwrap(),
        long_target
    );
    assert_eq!(m.uid(), 3_000_000);
    assert_eq!((m.mtime(), m.mtime_nsec()), (-86_401, 500_000_000));

    let h = std::fs::symlink_metadata(dir.join("hard")).unwrap();
    assert_eq!(h.ino(), std::fs::symlink_metadata(&f).unwrap().ino());
    assert_eq!(h.nlink(), 2);
}

#[test]
fn bad_pax_values_refused_leaving_nothing() {
    for (name, rec, expect) in [
        (
            "pax-uid-range",
            ("uid", "4294967296"),
            "pax uid 4294967296 is out of range",
        ),
        (
            "pax-gid-text",
            ("gid", "12abc"),
            "pax gid \"12abc\" is not a number",
        ),
        (
            "pax-mtime-text",
            ("mtime", "soon"),
            "pax mtime \"soon\" is not a time",
        ),
    ] {
        let root = TestRoot::new(name);
        let store = root.store();
        let mut t = Vec::new();
        entry(&mut t, tar::EntryType::Regular, "first", "", 2, b"ok");
        pax_header(&mut t, &[rec]);
        entry(&mut t, tar::EntryType::Regular, "f", "", 2, b"hi");
        let t = finish(t);
        let e = store
            .unpack_layer_from(&t[..], None, name)
            .unwrap_err()
            .to_string();
        assert!(e.contains(expect) && !e.contains('\n'), "{name}: {e}");
        assert!(tree(&root.path().join("image/layers")).is_empty(), "{name}");
        assert!(tree(&root.path().join("image/tmp")).is_empty(), "{name}");
    }
}
