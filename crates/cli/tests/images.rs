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
#[test]
fn docker_interop_if_available() {
    let up = Command::new("docker")
        .arg("info")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !up {
        eprintln!("note: no running dockerd; skipping docker save/load interop");
        return;
    }
    let t = tempdir("docker");
    let out = t.path().join("bb.tar");
    ok(t.path(), &["tag", "busybox", "caixa-test/interop:1"]);
    ok(
        t.path(),
        &["save", "-o", out.to_str().unwrap(), "caixa-test/interop:1"],
    );
    let o = Command::new("docker")
        .args(["load", "-i", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = Command::new("docker")
        .args(["run", "--rm", "caixa-test/interop:1", "echo", "hello"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "hello");
    let back = t.path().join("back.tar");
    let o = Command::new("docker")
        .args(["save", "-o", back.to_str().unwrap(), "caixa-test/interop:1"])
        .output()
        .unwrap();
    assert!(o.status.success());
    let _ = Command::new("docker")
        .args(["rmi", "caixa-test/interop:1"])
        .output();
    ok(t.path(), &["rmi", "-f", "caixa-test/interop:1"]);
    let msg = ok(t.path(), &["load", "-i", back.to_str().unwrap()]);
    assert!(msg.contains("caixa-test/interop:1"), "{msg}");
}
