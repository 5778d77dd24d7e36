//! `caixa` image commands end to end, against a temp root and a real
//! docker-registry on 127.0.0.1.

use std::process::{Command, Output};

fn caixa(root: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_caixa"))
        .args(args)
        .env("CAIXA_ROOT", root)
        .env("DOCKER_CONFIG", root.join("docker-config"))
        .output()
        .expect("run caixa")
}

fn ok(root: &std::path::Path, args: &[&str]) -> String {
    let o = caixa(root, args);
    assert!(
        o.status.success(),
        "caixa {args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn tempdir(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("caixa-test-cli-{name}-{}-", std::process::id()))
        .tempdir()
        .unwrap()
}

#[test]
fn images_tag_inspect_import_rmi() {
    let t = tempdir("local");
    let root = t.path();
    let out = ok(root, &["images"]);
    assert!(out.starts_with("REPOSITORY"), "{out}");
    assert!(out.contains("busybox") && out.contains("latest"), "{out}");
    ok(root, &["tag", "busybox", "localhost/mine:v2"]);
    let out = ok(root, &["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(out.lines().any(|l| l == "localhost/mine:v2"), "{out}");
    let q = ok(root, &["images", "-q"]);
    assert_eq!(q.lines().count(), 1, "one image, two tags: {q}");
    let js: serde_json::Value =
        serde_json::from_str(&ok(root, &["image", "inspect", "localhost/mine:v2"])).unwrap();
    assert_eq!(js[0]["Config"]["Cmd"][0], "sh");
    assert_eq!(js[0]["RepoTags"].as_array().unwrap().len(), 2);
    assert!(js[0]["Id"].as_str().unwrap().starts_with("sha256:"));
    let f = ok(
        root,
        &[
            "image",
            "inspect",
            "-f",
            "{{json .RootFS.Layers}}",
            "busybox",
        ],
    );
    assert!(f.starts_with("[\"sha256:"), "{f}");
    // import a rootfs tarball
    let tar = root.join("rootfs.tar");
    let mut b = tar::Builder::new(std::fs::File::create(&tar).unwrap());
    let mut h = tar::Header::new_gnu();
    h.set_size(5);
    h.set_mode(0o644);
    h.set_cksum();
    b.append_data(&mut h, "hello.txt", &b"hello"[..]).unwrap();
    b.finish().unwrap();
    drop(b);
    let id = ok(root, &["import", tar.to_str().unwrap(), "imported:1"]);
    assert!(id.trim().starts_with("sha256:"), "{id}");
    let h = ok(root, &["image", "history", "imported:1"]);
    assert!(h.contains("caixa import"), "{h}");
    // rmi by one tag only untags; bad reference is a clear error.
    let out = ok(root, &["rmi", "localhost/mine:v2"]);
    assert!(
        out.contains("Untagged: localhost/mine:v2") && !out.contains("Deleted"),
        "{out}"
    );
    let o = caixa(root, &["rmi", "Bad/Name"]);
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("invalid reference") && e.contains("lowercase"),
        "{e}"
    );
    let out = ok(root, &["rmi", "imported:1"]);
    assert!(out.contains("Deleted: sha256:"), "{out}");
    let out = ok(root, &["images", "--filter", "dangling=true", "-q"]);
    assert!(out.is_empty(), "{out}");
}

struct Registry(
    std::process::Child,
    #[allow(dead_code)] tempfile::TempDir,
    String,
);
impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn registry() -> Registry {
    registry_with(|_| String::new())
}

/// A registry whose `auth:` YAML section `auth` makes from its temp dir.
fn registry_with(auth: impl FnOnce(&std::path::Path) -> String) -> Registry {
    let dir = tempdir("registry");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let cfg = dir.path().join("config.yml");
    std::fs::write(
        &cfg,
        format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n{}",
            dir.path().join("data").display(),
            auth(dir.path())
        ),
    )
    .unwrap();
    let child = Command::new("/usr/bin/docker-registry")
        .arg("serve")
        .arg(&cfg)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let r = Registry(child, dir, addr);
    for _ in 0..200 {
        if std::net::TcpStream::connect(&r.2).is_ok() {
            return r;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    panic!("registry did not start");
}

/// The token server of caixa-image's tests (Bearer token auth).
#[path = "../../image/tests/common/token.rs"]
mod token;

#[test]
fn login_then_pull_with_token_auth() {
    let t = tempdir("token");
    let root = t.path();
    let tok = token::TokenServer::start(root, &[("caixa", "s3cret", true)]);
    let yaml = tok.registry_yaml();
    let reg = registry_with(|_| yaml);
    let name = format!("{}/caixa-test/tok:1", reg.2);
    ok(root, &["tag", "busybox", &name]);
    let id = ok(root, &["images", "-q", "--no-trunc", "busybox"]);
    // Not logged in: push and pull are refused with one line.
    for args in [vec!["push", &name], vec!["pull", &name]] {
        let o = caixa(root, &args);
        assert!(!o.status.success());
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(e.contains("denied") && e.contains("caixa login"), "{e}");
        assert_eq!(e.trim().lines().count(), 1, "{e}");
    }
    // Wrong password: one line, nothing stored.
    let o = caixa(
        root,
        &["login", "-u", "caixa", "-p", "nope", reg.2.as_str()],
    );
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("incorrect username or password"), "{e}");
    assert_eq!(e.trim().lines().count(), 1, "{e}");
    assert!(!root.join("docker-config/config.json").exists());
    let mut child = Command::new(env!("CARGO_BIN_EXE_caixa"))
        .args(["login", "-u", "caixa", "--password-stdin", reg.2.as_str()])
        .env("CAIXA_ROOT", root)
        .env("DOCKER_CONFIG", root.join("docker-config"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"s3cret\n").unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).contains("Login Succeeded"));
    ok(root, &["push", &name]);
    ok(root, &["rmi", &name]);
    ok(root, &["rmi", "busybox"]);
    let out = ok(root, &["pull", &name]);
    assert!(out.contains("Pull complete"), "{out}");
    assert_eq!(ok(root, &["images", "-q", "--no-trunc", &name]), id);
    ok(root, &["logout", reg.2.as_str()]);
    ok(root, &["rmi", &name]);
    assert!(!caixa(root, &["pull", &name]).status.success());
}

#[test]
fn push_rmi_pull_via_cli() {
    let reg = registry();
    let t = tempdir("push");
    let root = t.path();
    let name = format!("{}/caixa-test/bb:1", reg.2);
    ok(root, &["tag", "busybox", &name]);
    let id = ok(root, &["images", "-q", "--no-trunc", "busybox"]);
    let out = ok(root, &["push", &name]);
    assert!(out.contains("digest: sha256:"), "{out}");
    ok(root, &["rmi", &name]);
    ok(root, &["rmi", "busybox"]);
    let out = ok(root, &["pull", &name]);
    assert!(
        out.contains("Pull complete") && out.contains("Digest: sha256:"),
        "{out}"
    );
    let id2 = ok(root, &["images", "-q", "--no-trunc", &name]);
    assert_eq!(id, id2);
    let q = ok(root, &["pull", "-q", &name]);
    assert_eq!(q.trim(), format!("{}/caixa-test/bb:1", reg.2));
    let digests = ok(root, &["images", "--digests"]);
    assert!(
        digests.contains("DIGEST") && digests.contains("sha256:"),
        "{digests}"
    );
}

#[test]
fn save_load_via_cli() {
    let a = tempdir("save");
    let b = tempdir("load");
    let id = ok(a.path(), &["images", "-q", "--no-trunc", "busybox"]);
    for fmt in ["docker-archive", "oci-archive"] {
        let out = a.path().join(format!("bb-{fmt}.tar"));
        ok(
            a.path(),
            &[
                "save",
                "--format",
                fmt,
                "-o",
                out.to_str().unwrap(),
                "busybox",
            ],
        );
        ok(b.path(), &["rmi", "-f", "busybox"]);
        let msg = ok(b.path(), &["load", "-i", out.to_str().unwrap()]);
        assert!(msg.contains("Loaded image: busybox:latest"), "{fmt}: {msg}");
        assert_eq!(
            ok(b.path(), &["images", "-q", "--no-trunc", "busybox"]),
            id,
            "{fmt}"
        );
    }
    // A bad archive: clear error, no partial output file.
    let bad = a.path().join("bad.tar");
    std::fs::write(&bad, b"not an archive").unwrap();
    let o = caixa(b.path(), &["load", "-i", bad.to_str().unwrap()]);
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("cannot load") && e.contains("bad.tar"), "{e}");
    let o = caixa(
        a.path(),
        &[
            "save",
            "-o",
            a.path().join("x.tar").to_str().unwrap(),
            "nosuch:image",
        ],
    );
    assert!(!o.status.success());
    assert!(!a.path().join("x.tar").exists() && !a.path().join("x.tar.caixa-tmp").exists());
}

/// `docker save` → `caixa load` and back, only when a docker daemon answers.
/// One line per entry under `data/`: kind, mode, owner, symlink target or
/// content; plus the hard-link groups (paths sharing an inode).
type Listing = (
    std::collections::BTreeMap<String, String>,
    std::collections::BTreeSet<Vec<String>>,
);

/// The rootfs tarball the interop test imports: owners above the ustar
/// limit (pax), setuid, private dirs, both kinds of links, a fifo, a long name.
fn interop_rootfs(path: &std::path::Path) {
    use caixa_image::pax::Entry;
    use tar::EntryType as T;
    let long = format!("data/{}", "n".repeat(150));
    let mut b = tar::Builder::new(std::fs::File::create(path).unwrap());
    let mut add =
        |path: &str, kind: T, mode: u32, uid: u64, gid: u64, link: Option<&str>, data: &[u8]| {
            Entry {
                path,
                link,
                kind,
                mode,
                uid,
                gid,
                mtime: 1_600_000_000,
                size: data.len() as u64,
            }
            .write(&mut b, data)
            .unwrap();
        };
    add("data/", T::Directory, 0o755, 0, 0, None, b"");
    add("data/priv/", T::Directory, 0o700, 123, 456, None, b"");
    add(
        "data/priv/secret",
        T::Regular,
        0o600,
        123,
        456,
        None,
        b"s3cret",
    );
    add("data/suid", T::Regular, 0o4755, 0, 0, None, b"setuid");
    add(
        "data/abs-link",
        T::Symlink,
        0o777,
        0,
        0,
        Some("/data/suid"),
        b"",
    );
    add(
        "data/rel-link",
        T::Symlink,
        0o777,
        7,
        8,
        Some("../data/priv"),
        b"",
    );
    add("data/hard", T::Link, 0o4755, 0, 0, Some("data/suid"), b"");
    add("data/fifo", T::Fifo, 0o640, 9, 9, None, b"");
    add(
        "data/big-uid",
        T::Regular,
        0o644,
        3_000_000,
        3_000_001,
        None,
        b"big",
    );
    add(&long, T::Regular, 0o640, 5, 5, None, b"long");
    b.finish().unwrap();
}

/// Lists `root/data` as unpacked on disk.
fn dir_listing(root: &std::path::Path) -> Listing {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let mut out = std::collections::BTreeMap::new();
    let mut inodes: std::collections::BTreeMap<u64, Vec<String>> = Default::default();
    let mut stack = vec![root.join("data")];
    while let Some(p) = stack.pop() {
        let m = std::fs::symlink_metadata(&p).unwrap();
        let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
        let ft = m.file_type();
        let what = if ft.is_dir() {
            for e in std::fs::read_dir(&p).unwrap() {
                stack.push(e.unwrap().path());
            }
            "dir".to_string()
        } else if ft.is_symlink() {
            format!("-> {}", std::fs::read_link(&p).unwrap().display())
        } else if ft.is_fifo() {
            "fifo".to_string()
        } else {
            inodes.entry(m.ino()).or_default().push(rel.clone());
            format!(
                "file {:?}",
                String::from_utf8_lossy(&std::fs::read(&p).unwrap())
            )
        };
        let mode = if ft.is_symlink() {
            0
        } else {
            m.mode() & 0o7777
        };
        out.insert(rel, format!("{what} {mode:o} {}:{}", m.uid(), m.gid()));
    }
    let groups = inodes
        .into_values()
        .filter(|v| v.len() > 1)
        .map(|mut v| {
            v.sort();
            v
        })
        .collect();
    (out, groups)
}

/// Lists `data/` in a tar (e.g. `docker export`).
fn tar_listing(path: &std::path::Path) -> Listing {
    use std::io::Read;
    let mut out = std::collections::BTreeMap::new();
    let mut links: Vec<(String, String)> = Vec::new();
    let mut a = tar::Archive::new(std::fs::File::open(path).unwrap());
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let name = String::from_utf8_lossy(&e.path_bytes()).into_owned();
        let name = name
            .trim_start_matches("./")
            .trim_end_matches('/')
            .to_string();
        if name != "data" && !name.starts_with("data/") {
            continue;
        }
        let h = e.header().clone();
        let pax = caixa_image::pax::read(&mut e).unwrap();
        let uid = pax.uid.map_or(h.uid().unwrap(), u64::from);
        let gid = pax.gid.map_or(h.gid().unwrap(), u64::from);
        let link = e
            .link_name_bytes()
            .map(|l| String::from_utf8_lossy(&l).into_owned());
        let mut mode = h.mode().unwrap() & 0o7777;
        let what = match h.entry_type() {
            tar::EntryType::Directory => "dir".to_string(),
            tar::EntryType::Symlink => {
                mode = 0;
                format!("-> {}", link.unwrap())
            }
            tar::EntryType::Fifo => "fifo".to_string(),
            tar::EntryType::Link => {
                let t = link.unwrap();
                links.push((name, t.trim_start_matches('/').to_string()));
                continue;
            }
            _ => {
                let mut s = Vec::new();
                e.read_to_end(&mut s).unwrap();
                format!("file {:?}", String::from_utf8_lossy(&s))
            }
        };
        out.insert(name, format!("{what} {mode:o} {uid}:{gid}"));
    }
    let mut groups: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (name, target) in links {
        out.insert(name.clone(), out[&target].clone());
        let g = groups.entry(target.clone()).or_insert_with(|| vec![target]);
        g.push(name);
    }
    let groups = groups
        .into_values()
        .map(|mut v| {
            v.sort();
            v
        })
        .collect();
    (out, groups)
}

fn docker(args: &[&str]) -> String {
    let o = Command::new("docker").args(args).output().unwrap();
    assert!(
        o.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The unpacked single layer of `image` in the caixa store at `root`.
fn caixa_rootfs(root: &std::path::Path, image: &str) -> std::path::PathBuf {
    let layers = ok(
        root,
        &["image", "inspect", "-f", "{{json .RootFS.Layers}}", image],
    );
    let layers: Vec<String> = serde_json::from_str(layers.trim()).unwrap();
    assert_eq!(layers.len(), 1, "{layers:?}");
    let hex = layers[0].trim_start_matches("sha256:");
    root.join("image/layers").join(hex).join("diff")
}

#[test]
fn docker_interop_if_available() {
    let up = Command::new("docker")
        .arg("info")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !up {
        eprintln!(
            "SKIPPED docker_interop_if_available: no running dockerd (`docker info` failed); docker save/load interop not checked"
        );
        return;
    }
    let t = tempdir("docker");
    let root = t.path();
    let tag = format!("caixa-test/interop-{}:1", std::process::id());
    let rootfs = root.join("rootfs.tar");
    interop_rootfs(&rootfs);
    ok(root, &["import", rootfs.to_str().unwrap(), &tag]);
    let want = dir_listing(&caixa_rootfs(root, &tag));
    assert_eq!(want.0.len(), 10, "{want:?}");
    assert!(
        want.0["data/big-uid"].ends_with(" 3000000:3000001"),
        "{want:?}"
    );
    assert_eq!(want.1.len(), 1, "{want:?}");
    // caixa save → docker load → the container rootfs docker makes.
    let out = root.join("caixa.tar");
    ok(root, &["save", "-o", out.to_str().unwrap(), &tag]);
    docker(&["load", "-i", out.to_str().unwrap()]);
    let name = format!("caixa-test-interop-{}", std::process::id());
    docker(&["create", "--network", "none", "--name", &name, &tag, "true"]);
    let exported = root.join("export.tar");
    let exp = docker(&["export", "-o", exported.to_str().unwrap(), &name]);
    let _ = exp;
    docker(&["rm", &name]);
    assert_eq!(
        tar_listing(&exported),
        want,
        "docker's rootfs of caixa's image"
    );
    // docker save → caixa load → caixa's rootfs.
    let back = root.join("docker.tar");
    docker(&["save", "-o", back.to_str().unwrap(), &tag]);
    docker(&["rmi", &tag]);
    ok(root, &["rmi", "-f", &tag]);
    let msg = ok(root, &["load", "-i", back.to_str().unwrap()]);
    assert!(msg.contains(&tag), "{msg}");
    assert_eq!(
        dir_listing(&caixa_rootfs(root, &tag)),
        want,
        "caixa's rootfs of docker's image"
    );
    ok(root, &["rmi", &tag]);
}
