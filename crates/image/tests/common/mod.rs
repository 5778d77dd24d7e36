//! Shared helpers for caixa-image integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use caixa_image::Store;

/// A temp store root named after the test (contains "caixa-test").
pub struct TestRoot {
    pub dir: tempfile::TempDir,
}

impl TestRoot {
    pub fn new(name: &str) -> TestRoot {
        let dir = tempfile::Builder::new()
            .prefix(&format!("caixa-test-{name}-{}-", std::process::id()))
            .tempdir()
            .expect("tempdir");
        TestRoot { dir }
    }
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
    pub fn store(&self) -> Store {
        Store::open(self.dir.path()).expect("open store")
    }
}

/// Builds a tar in memory from (path, kind) entries.
pub enum E<'a> {
    Dir(&'a str),
    File(&'a str, &'a [u8]),
    Sym(&'a str, &'a str),
    Hard(&'a str, &'a str),
    Char(&'a str, u32, u32),
    Block(&'a str, u32, u32),
    Fifo(&'a str),
}

pub fn tar_of(entries: &[E]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(1_600_000_000);
        h.set_uid(0);
        h.set_gid(0);
        let (path, data): (&str, &[u8]) = match e {
            E::Dir(p) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                (p, b"")
            }
            E::File(p, d) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o644);
                (p, d)
            }
            E::Sym(p, t) | E::Hard(p, t) => {
                h.set_entry_type(if matches!(e, E::Sym(..)) {
                    tar::EntryType::Symlink
                } else {
                    tar::EntryType::Link
                });
                h.set_mode(0o777);
                h.set_size(0);
                // set_link_name refuses nothing we need; write raw bytes for '..' cases
                let raw = t.as_bytes();
                h.as_old_mut().linkname[..raw.len()].copy_from_slice(raw);
                (p, b"")
            }
            E::Char(p, ma, mi) | E::Block(p, ma, mi) => {
                h.set_entry_type(if matches!(e, E::Char(..)) {
                    tar::EntryType::Char
                } else {
                    tar::EntryType::Block
                });
                h.set_mode(0o666);
                h.set_device_major(*ma).unwrap();
                h.set_device_minor(*mi).unwrap();
                (p, b"")
            }
            E::Fifo(p) => {
                h.set_entry_type(tar::EntryType::Fifo);
                h.set_mode(0o644);
                (p, b"")
            }
        };
        h.set_size(data.len() as u64);
        // Write the name raw so hostile names ('..', absolute) survive the builder.
        let raw = path.as_bytes();
        h.as_old_mut().name[..raw.len()].copy_from_slice(raw);
        h.set_cksum();
        b.append(&h, data).unwrap();
    }
    b.into_inner().unwrap()
}

pub mod token;

pub fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// Lists everything under a dir (relative paths, sorted).
pub fn tree(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    fn walk(base: &Path, d: &Path, out: &mut Vec<PathBuf>) {
        if let Ok(rd) = std::fs::read_dir(d) {
            for e in rd.flatten() {
                let p = e.path();
                out.push(p.strip_prefix(base).unwrap().to_path_buf());
                if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                    walk(base, &p, out);
                }
            }
        }
    }
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// True when `path` is a mount point according to /proc/self/mountinfo.
pub fn is_mounted(path: &Path) -> bool {
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let p = path.to_string_lossy();
    mi.lines().any(|l| l.split(' ').nth(4) == Some(&p))
}

/// A docker-registry (Debian's distribution) on 127.0.0.1 with a temp storage dir.
pub struct Registry {
    pub addr: String,
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl Registry {
    /// Starts a registry; with `htpasswd`, basic auth for (user, password).
    pub fn start(name: &str, htpasswd: Option<(&str, &str)>) -> Registry {
        Registry::start_with(name, |dir| match htpasswd {
            Some((u, p)) => {
                let hash = bcrypt::hash(p, 5).unwrap();
                let f = dir.join("htpasswd");
                std::fs::write(&f, format!("{u}:{hash}\n")).unwrap();
                format!(
                    "auth:\n  htpasswd:\n    realm: caixa-test\n    path: {}\n",
                    f.display()
                )
            }
            None => String::new(),
        })
    }

    /// Starts a registry whose `auth:` section (YAML, may be empty) is made
    /// by `auth` from the registry's temp dir.
    pub fn start_with(name: &str, auth: impl FnOnce(&Path) -> String) -> Registry {
        let dir = tempfile::Builder::new()
            .prefix(&format!(
                "caixa-test-registry-{name}-{}-",
                std::process::id()
            ))
            .tempdir()
            .unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let mut cfg = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n",
            dir.path().join("data").display()
        );
        cfg.push_str(&auth(dir.path()));
        let cfg_path = dir.path().join("config.yml");
        std::fs::write(&cfg_path, cfg).unwrap();
        let child = std::process::Command::new("/usr/bin/docker-registry")
            .arg("serve")
            .arg(&cfg_path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start docker-registry");
        let reg = Registry {
            addr,
            child,
            _dir: dir,
        };
        // Wait for the listener (bounded).
        for _ in 0..200 {
            if std::net::TcpStream::connect(&reg.addr).is_ok() {
                return reg;
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
        panic!("docker-registry did not start on {}", reg.addr);
    }
}

impl Registry {
    /// The registry's storage root.
    pub fn storage(&self) -> PathBuf {
        self._dir.path().join("data")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `len` incompressible bytes (xorshift from `seed`).
pub fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        })
        .collect()
}

/// Commits a one-layer image (the gzip of `tar`) for this host tagged `tag`.
pub fn one_layer_image(store: &Store, tar: &[u8], tag: &str) -> caixa_image::Image {
    let gz = gzip(tar);
    let blob = store.blobs().put_bytes(&gz, None).unwrap();
    let u = store.unpack_blob(&blob, None).unwrap();
    let mut cfg = caixa_image::ImageConfig {
        architecture: caixa_image::Platform::host().architecture,
        os: "linux".into(),
        ..Default::default()
    };
    cfg.rootfs.diff_ids = vec![u.diff_id.to_string()];
    let layer = caixa_image::LayerInfo {
        diff_id: u.diff_id,
        blob,
        media_type: caixa_image::manifest::DOCKER_LAYER_GZIP.into(),
        blob_size: gz.len() as u64,
        size: u.size,
    };
    let full = caixa_image::Reference::parse(tag).unwrap().tagged();
    store.commit_image(cfg, vec![layer], vec![full]).unwrap()
}

/// Makes an image of `n` gzip layers (plus one with a whiteout) tagged `tag`.
pub fn make_image(store: &Store, tag: &str, n: usize, salt: &str) -> caixa_image::Image {
    let mut layers = Vec::new();
    for i in 0..n {
        let body = format!("layer {i} {salt}\n").repeat(1000);
        let tar = tar_of(&[
            E::Dir("data"),
            E::File(&format!("data/f{i}"), body.as_bytes()),
            E::File("shared", format!("{i}").as_bytes()),
            E::Sym(&format!("link{i}"), &format!("data/f{i}")),
        ]);
        let gz = gzip(&tar);
        let blob = store.blobs().put_bytes(&gz, None).unwrap();
        let u = store.unpack_blob(&blob, None).unwrap();
        layers.push(caixa_image::LayerInfo {
            diff_id: u.diff_id,
            blob,
            media_type: caixa_image::manifest::DOCKER_LAYER_GZIP.into(),
            blob_size: gz.len() as u64,
            size: u.size,
        });
    }
    let mut cfg = caixa_image::ImageConfig {
        architecture: caixa_image::Platform::host().architecture,
        os: "linux".into(),
        created: Some("2026-01-01T00:00:00Z".into()),
        config: Some(caixa_image::ContainerConfig {
            cmd: Some(vec!["sh".into()]),
            ..Default::default()
        }),
        ..Default::default()
    };
    cfg.rootfs.diff_ids = layers.iter().map(|l| l.diff_id.to_string()).collect();
    let full = caixa_image::Reference::parse(tag).unwrap().tagged();
    store.commit_image(cfg, layers, vec![full]).unwrap()
}

/// Mounts an image and returns (relative path, content-or-link) for every entry.
pub fn rootfs_listing(
    store: &Store,
    img: &caixa_image::Image,
    cid: &str,
    dir: &Path,
) -> Vec<(PathBuf, String)> {
    let m = store.prepare_rootfs(img, cid, dir).unwrap();
    let out = tree(&m.rootfs)
        .into_iter()
        .map(|p| {
            let full = m.rootfs.join(&p);
            let meta = std::fs::symlink_metadata(&full).unwrap();
            let v = if meta.file_type().is_symlink() {
                format!("-> {}", std::fs::read_link(&full).unwrap().display())
            } else if meta.is_file() {
                String::from_utf8_lossy(&std::fs::read(&full).unwrap()).into_owned()
            } else {
                "dir".into()
            };
            (p, v)
        })
        .collect();
    store.remove_rootfs(&m).unwrap();
    out
}
