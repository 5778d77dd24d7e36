//! Archives in and out: docker-archive (`docker save`/`docker load`, legacy
//! and Docker ≥25 layouts), OCI layout directories and oci-archive tarballs
//! (as skopeo writes them).
//!
//! Loading streams the (maybe gzip/zstd-compressed) outer tar once: every
//! large or `blobs/` file goes straight into the blob store (hashed while
//! written, verified against its name when it has one), small JSON files
//! stay in memory. Layers are then unpacked in parallel, one thread per core.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::ImageConfig;
use crate::digest::Digest;
use crate::error::{Error, IoContext, Result, invalid};
use crate::manifest::{self, Compression, Descriptor, Index, Parsed, Platform};
use crate::reference::{Reference, familiar};
use crate::store::{Image, LayerInfo, NewImage, Store};
use crate::unpack;

/// Archive formats for [`Store::save`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `docker save` format (a tar).
    DockerArchive,
    /// An OCI image layout directory.
    OciDir,
    /// An OCI image layout in a tar.
    OciArchive,
}

impl std::str::FromStr for Format {
    type Err = Error;
    fn from_str(s: &str) -> Result<Format> {
        match s {
            "docker-archive" | "docker" => Ok(Format::DockerArchive),
            "oci-dir" | "oci" => Ok(Format::OciDir),
            "oci-archive" => Ok(Format::OciArchive),
            _ => Err(invalid(
                format!("format {s:?}"),
                "expected docker-archive, oci-archive or oci-dir",
            )),
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerManifestEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

const REF_NAME: &str = "org.opencontainers.image.ref.name";
const CONTAINERD_NAME: &str = "io.containerd.image.name";

/// A file found in an archive: bytes in memory or a blob in the store.
enum Item {
    Mem(Vec<u8>),
    Blob(Digest),
    Link(String),
}

struct Loaded {
    items: HashMap<String, Item>,
    dir: Option<PathBuf>,
    /// Blobs stored from a layout directory (for cleanup on failure).
    stored: std::sync::Mutex<Vec<Digest>>,
    /// Layers unpacked (for cleanup on failure).
    unpacked: std::sync::Mutex<Vec<Digest>>,
}

impl Loaded {
    fn get(&self, store: &Store, name: &str, depth: u32) -> Result<Vec<u8>> {
        let name = name.trim_start_matches("./");
        if let Some(dir) = &self.dir {
            return std::fs::read(dir.join(name)).ctx(|| format!("read {name} in archive"));
        }
        match self.items.get(name) {
            Some(Item::Mem(b)) => Ok(b.clone()),
            Some(Item::Blob(d)) => store.blobs().read(d),
            Some(Item::Link(t)) if depth < 8 => self.get(store, t, depth + 1),
            _ => Err(invalid("archive", format!("{name} is missing"))),
        }
    }

    /// The blob digest holding `name` (stored in the blob store if needed).
    fn blob(&self, store: &Store, name: &str, depth: u32) -> Result<Digest> {
        let name = name.trim_start_matches("./");
        if let Some(dir) = &self.dir {
            let f =
                std::fs::File::open(dir.join(name)).ctx(|| format!("open {name} in archive"))?;
            let expected = name
                .strip_prefix("blobs/sha256/")
                .map(|h| Digest::parse(&format!("sha256:{h}")))
                .transpose()?;
            let d = store.blobs().put_reader(f, expected.as_ref())?.0;
            if let Ok(mut v) = self.stored.lock() {
                v.push(d.clone());
            }
            return Ok(d);
        }
        match self.items.get(name) {
            Some(Item::Blob(d)) => Ok(d.clone()),
            Some(Item::Mem(b)) => {
                let d = store.blobs().put_bytes(b, None)?;
                if let Ok(mut v) = self.stored.lock() {
                    v.push(d.clone());
                }
                Ok(d)
            }
            Some(Item::Link(t)) if depth < 8 => self.blob(store, t, depth + 1),
            _ => Err(invalid("archive", format!("{name} is missing"))),
        }
    }
}

fn join_link(entry: &str, target: &str) -> String {
    let base = Path::new(entry).parent().unwrap_or(Path::new(""));
    let mut parts: Vec<String> = base
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    for c in target.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c.to_string()),
        }
    }
    parts.join("/")
}

impl Store {
    /// Loads images from a docker-archive/oci-archive tar (maybe compressed)
    /// or an OCI layout directory. Returns the loaded images.
    pub fn load_path(&self, path: &Path) -> Result<Vec<Image>> {
        if path.is_dir() {
            let loaded = Loaded {
                items: HashMap::new(),
                dir: Some(path.to_path_buf()),
                stored: Default::default(),
                unpacked: Default::default(),
            };
            return self.load_cleaning(&loaded, &path.display().to_string());
        }
        let f = std::fs::File::open(path).ctx(|| format!("open {}", path.display()))?;
        self.load(f, &path.display().to_string())
    }

    /// Loads images from an archive stream (`what` names it in errors).
    pub fn load(&self, input: impl Read, what: &str) -> Result<Vec<Image>> {
        let plain = unpack::decompress(input).ctx(|| format!("read {what}"))?;
        let mut ar = tar::Archive::new(plain);
        let mut items = HashMap::new();
        let bad = |e: io::Error| invalid(what.to_string(), format!("not a valid archive: {e}"));
        for e in ar.entries().map_err(bad)? {
            let mut e = e.map_err(bad)?;
            let name = String::from_utf8_lossy(&e.path_bytes())
                .trim_start_matches("./")
                .to_string();
            let kind = e.header().entry_type();
            if kind.is_symlink() || kind.is_hard_link() {
                if let Some(t) = e.link_name_bytes() {
                    let t = String::from_utf8_lossy(&t).into_owned();
                    let target = if kind.is_symlink() {
                        join_link(&name, &t)
                    } else {
                        t
                    };
                    items.insert(name, Item::Link(target));
                }
                continue;
            }
            if !kind.is_file() {
                continue;
            }
            let size = e.size();
            if let Some(hex) = name.strip_prefix("blobs/sha256/") {
                let d = Digest::parse(&format!("sha256:{hex}"))?;
                if !self.blobs().exists(&d) {
                    self.blobs().put_reader(&mut e, Some(&d))?;
                }
                items.insert(name, Item::Blob(d));
            } else if size <= 4 << 20 && !name.ends_with(".tar") {
                let mut b = Vec::with_capacity(size as usize);
                e.read_to_end(&mut b).map_err(bad)?;
                items.insert(name, Item::Mem(b));
            } else {
                let (d, _) = self.blobs().put_reader(&mut e, None)?;
                items.insert(name, Item::Blob(d));
            }
        }
        self.load_cleaning(
            &Loaded {
                items,
                dir: None,
                stored: Default::default(),
                unpacked: Default::default(),
            },
            what,
        )
    }

    /// Runs [`Store::load_from`]; on failure removes what it stored that no image uses.
    fn load_cleaning(&self, l: &Loaded, what: &str) -> Result<Vec<Image>> {
        let res = self.load_from(l, what);
        if res.is_err() {
            let mut blobs: Vec<Digest> = l
                .items
                .values()
                .filter_map(|i| match i {
                    Item::Blob(d) => Some(d.clone()),
                    _ => None,
                })
                .collect();
            blobs.extend(l.stored.lock().map(|v| v.clone()).unwrap_or_default());
            let layers = l.unpacked.lock().map(|v| v.clone()).unwrap_or_default();
            let _ = self.gc_candidates(&blobs, &layers);
        }
        res
    }

    fn load_from(&self, l: &Loaded, what: &str) -> Result<Vec<Image>> {
        if let Ok(m) = l.get(self, "manifest.json", 0) {
            let entries: Vec<DockerManifestEntry> = serde_json::from_slice(&m)
                .map_err(|e| invalid(format!("{what}: manifest.json"), e.to_string()))?;
            let mut out = Vec::new();
            for ent in entries {
                let cbytes = l.get(self, &ent.config, 0)?;
                let config: ImageConfig = serde_json::from_slice(&cbytes)
                    .map_err(|e| invalid(format!("{what}: {}", ent.config), e.to_string()))?;
                if config.rootfs.diff_ids.len() != ent.layers.len() {
                    return Err(invalid(
                        format!("{what}: {}", ent.config),
                        "diff_ids and Layers differ in number",
                    ));
                }
                let jobs: Vec<(Digest, Digest)> = ent
                    .layers
                    .iter()
                    .zip(&config.rootfs.diff_ids)
                    .map(|(p, d)| Ok((l.blob(self, p, 0)?, Digest::parse(d)?)))
                    .collect::<Result<_>>()?;
                let layers = {
                    if let Ok(mut v) = l.unpacked.lock() {
                        v.extend(jobs.iter().map(|j| j.1.clone()));
                    }
                    self.unpack_parallel(&jobs, true)?
                };
                let tags = ent
                    .repo_tags
                    .unwrap_or_default()
                    .iter()
                    .map(|t| Reference::parse(t).map(|r| r.tagged()))
                    .collect::<Result<Vec<_>>>()?;
                out.push(self.commit_image_raw(&cbytes, layers, tags)?);
            }
            return Ok(out);
        }
        let idx = l.get(self, "index.json", 0).map_err(|_| {
            invalid(
                what.to_string(),
                "neither manifest.json (docker-archive) nor index.json (OCI layout) found",
            )
        })?;
        let index: Index = match manifest::parse(
            &idx,
            Some(manifest::OCI_INDEX),
            &format!("{what}: index.json"),
        )? {
            Parsed::Index(i) => i,
            Parsed::Manifest(_) => {
                return Err(invalid(format!("{what}: index.json"), "is not an index"));
            }
        };
        let mut out = Vec::new();
        for desc in &index.manifests {
            let ann = desc.annotations.clone().unwrap_or_default();
            let name = ann
                .get(CONTAINERD_NAME)
                .and_then(|n| Reference::parse(n).ok())
                .or_else(|| {
                    ann.get(REF_NAME)
                        .filter(|n| n.contains('/') || n.contains(':'))
                        .and_then(|n| Reference::parse(n).ok())
                });
            let (mbytes, mdig) = self.oci_manifest_for(l, desc, what)?;
            let m = match manifest::parse(&mbytes, Some(&desc.media_type), what)? {
                Parsed::Manifest(m) => *m,
                Parsed::Index(_) => {
                    return Err(invalid(what.to_string(), "nested index not supported"));
                }
            };
            let cdig = l.blob(self, &format!("blobs/sha256/{}", m.config.digest.hex()), 0)?;
            m.config.digest.verify(&cdig, &format!("{what}: config"))?;
            let config: ImageConfig = serde_json::from_slice(&self.blobs().read(&cdig)?)
                .map_err(|e| invalid(format!("{what}: config"), e.to_string()))?;
            if config.rootfs.diff_ids.len() != m.layers.len() {
                return Err(invalid(
                    format!("{what}: config"),
                    "diff_ids and manifest layers differ in number",
                ));
            }
            let jobs: Vec<(Digest, Digest)> = m
                .layers
                .iter()
                .zip(&config.rootfs.diff_ids)
                .map(|(d, diff)| {
                    let b = l.blob(self, &format!("blobs/sha256/{}", d.digest.hex()), 0)?;
                    Ok((b, Digest::parse(diff)?))
                })
                .collect::<Result<_>>()?;
            let mut layers = {
                if let Ok(mut v) = l.unpacked.lock() {
                    v.extend(jobs.iter().map(|j| j.1.clone()));
                }
                self.unpack_parallel(&jobs, false)?
            };
            for (li, d) in layers.iter_mut().zip(&m.layers) {
                li.media_type = d.media_type.clone();
            }
            out.push(
                self.register(&NewImage {
                    manifest: mdig,
                    manifest_media_type: m
                        .media_type
                        .clone()
                        .unwrap_or_else(|| manifest::OCI_MANIFEST.into()),
                    config: cdig,
                    layers,
                    tags: name.map(|r| r.tagged()).into_iter().collect(),
                    repo_digest: None,
                })?,
            );
        }
        Ok(out)
    }

    fn oci_manifest_for(
        &self,
        l: &Loaded,
        desc: &Descriptor,
        what: &str,
    ) -> Result<(Vec<u8>, Digest)> {
        let d = l.blob(self, &format!("blobs/sha256/{}", desc.digest.hex()), 0)?;
        desc.digest.verify(&d, &format!("{what}: manifest"))?;
        let bytes = self.blobs().read(&d)?;
        if let Parsed::Index(i) = manifest::parse(&bytes, Some(&desc.media_type), what)? {
            let sel = i.select(&Platform::host(), what)?.clone();
            return self.oci_manifest_for(l, &sel, what);
        }
        Ok((bytes, d))
    }

    /// Unpacks (blob, diff_id) pairs on all cores; returns layer infos in order.
    fn unpack_parallel(
        &self,
        jobs: &[(Digest, Digest)],
        docker_types: bool,
    ) -> Result<Vec<LayerInfo>> {
        // One thread per core (CAIXA_UNPACK_THREADS overrides, e.g. for slow disks).
        let threads = std::env::var("CAIXA_UNPACK_THREADS")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|n| *n > 0)
            .unwrap_or_else(|| {
                std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(2)
            })
            .min(jobs.len().max(1));
        let next = std::sync::atomic::AtomicUsize::new(0);
        let results: Vec<std::sync::Mutex<Option<Result<LayerInfo>>>> =
            jobs.iter().map(|_| std::sync::Mutex::new(None)).collect();
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some((blob, diff)) = jobs.get(i) else {
                            break;
                        };
                        let r = (|| {
                            let u = self.unpack_blob(blob, Some(diff))?;
                            let mut head = [0u8; 4];
                            let n = self.blobs().open_blob(blob)?.read(&mut head).unwrap_or(0);
                            let c = Compression::detect(&head[..n]);
                            Ok(LayerInfo {
                                diff_id: diff.clone(),
                                blob: blob.clone(),
                                media_type: if docker_types {
                                    c.docker_media_type()
                                } else {
                                    c.oci_media_type()
                                }
                                .into(),
                                blob_size: self.blobs().size(blob)?,
                                size: u.size,
                            })
                        })();
                        if let Ok(mut slot) = results[i].lock() {
                            *slot = Some(r);
                        }
                    }
                });
            }
        });
        results
            .into_iter()
            .map(|m| {
                m.into_inner()
                    .ok()
                    .flatten()
                    .unwrap_or_else(|| Err(invalid("layer", "not unpacked")))
            })
            .collect()
    }

    /// Writes `images` in `format`: to `out` for the tar formats, or into the
    /// directory `dir` for [`Format::OciDir`].
    pub fn save(
        &self,
        images: &[String],
        format: Format,
        out: &mut dyn Write,
        dir: Option<&Path>,
    ) -> Result<()> {
        let imgs: Vec<(String, Image)> = images
            .iter()
            .map(|n| Ok((n.clone(), self.resolve(n)?)))
            .collect::<Result<_>>()?;
        match format {
            Format::DockerArchive => self.save_docker(&imgs, out),
            Format::OciArchive => {
                let mut b = tar::Builder::new(out);
                self.save_oci(&imgs, &mut |name: &str, size: u64, r: &mut dyn Read| {
                    file_entry(name, size)
                        .write(&mut b, r)
                        .ctx(|| format!("write {name}"))
                })?;
                b.finish().ctx(|| "finish archive".into())
            }
            Format::OciDir => {
                let dir =
                    dir.ok_or_else(|| invalid("save", "oci-dir needs an output directory"))?;
                std::fs::create_dir_all(dir.join("blobs/sha256"))
                    .ctx(|| format!("create {}", dir.display()))?;
                self.save_oci(&imgs, &mut |name: &str, _size: u64, r: &mut dyn Read| {
                    let p = dir.join(name);
                    let mut f =
                        std::fs::File::create(&p).ctx(|| format!("create {}", p.display()))?;
                    io::copy(r, &mut f).ctx(|| format!("write {}", p.display()))?;
                    Ok(())
                })
            }
        }
    }

    fn save_docker(&self, imgs: &[(String, Image)], out: &mut dyn Write) -> Result<()> {
        let mut b = tar::Builder::new(out);
        let mut done = std::collections::HashSet::new();
        let mut entries = Vec::new();
        let add = |b: &mut tar::Builder<&mut dyn Write>,
                   name: &str,
                   size: u64,
                   r: &mut dyn Read,
                   dir: bool|
         -> Result<()> {
            if dir {
                crate::pax::Entry {
                    kind: tar::EntryType::Directory,
                    mode: 0o755,
                    size: 0,
                    ..file_entry(name, 0)
                }
                .write(b, io::empty())
                .ctx(|| format!("write {name}"))
            } else {
                file_entry(name, size)
                    .write(b, r)
                    .ctx(|| format!("write {name}"))
            }
        };
        let mut by_id: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (n, img) in imgs {
            let tags = by_id.entry(img.id.to_string()).or_default();
            if let Ok(r) = Reference::parse(n)
                && r.digest.is_none()
                && !n.starts_with("sha256:")
                && img.repo_tags.contains(&r.tagged())
            {
                tags.push(familiar(&r.tagged()));
            }
        }
        for (_, img) in imgs {
            if !done.insert(img.id.clone()) {
                continue;
            }
            let cfg = self.blobs().read(&img.id)?;
            add(
                &mut b,
                &format!("{}.json", img.id.hex()),
                cfg.len() as u64,
                &mut &cfg[..],
                false,
            )?;
            let mut paths = Vec::new();
            for l in &img.layers {
                let p = format!("{}/layer.tar", l.diff_id.hex());
                if done.insert(l.diff_id.clone()) {
                    add(&mut b, l.diff_id.hex(), 0, &mut io::empty(), true)?;
                    let mut plain = unpack::decompress(self.blobs().open_blob(&l.blob)?)
                        .ctx(|| format!("read blob {}", l.blob))?;
                    let size = if l.size > 0 {
                        l.size
                    } else {
                        self.layer_size_of(&l.diff_id)
                    };
                    add(&mut b, &p, size, &mut plain, false)?;
                }
                paths.push(p);
            }
            entries.push(DockerManifestEntry {
                config: format!("{}.json", img.id.hex()),
                repo_tags: Some(by_id.get(img.id.as_str()).cloned().unwrap_or_default()),
                layers: paths,
            });
        }
        let m =
            serde_json::to_vec(&entries).map_err(|e| invalid("manifest.json", e.to_string()))?;
        add(&mut b, "manifest.json", m.len() as u64, &mut &m[..], false)?;
        b.finish().ctx(|| "finish archive".into())
    }

    fn save_oci(
        &self,
        imgs: &[(String, Image)],
        put: &mut dyn FnMut(&str, u64, &mut dyn Read) -> Result<()>,
    ) -> Result<()> {
        let written = std::cell::RefCell::new(std::collections::HashSet::new());
        let mut index = Index {
            schema_version: 2,
            media_type: Some(manifest::OCI_INDEX.into()),
            manifests: Vec::new(),
            annotations: None,
        };
        let blob = |put: &mut dyn FnMut(&str, u64, &mut dyn Read) -> Result<()>,
                    d: &Digest|
         -> Result<()> {
            if written.borrow_mut().insert(d.clone()) {
                let size = self.blobs().size(d)?;
                put(
                    &format!("blobs/sha256/{}", d.hex()),
                    size,
                    &mut self.blobs().open_blob(d)?,
                )?;
            }
            Ok(())
        };
        for (n, img) in imgs {
            let mut m = match manifest::parse(
                &self.blobs().read(&img.manifest_digest)?,
                Some(&img.manifest_media_type),
                n,
            )? {
                Parsed::Manifest(m) => *m,
                Parsed::Index(_) => return Err(invalid(n.clone(), "stored manifest is an index")),
            };
            if m.media_type.as_deref() != Some(manifest::OCI_MANIFEST) {
                // Docker schema2 → OCI media types (same blobs).
                m.media_type = Some(manifest::OCI_MANIFEST.into());
                m.config.media_type = manifest::OCI_CONFIG.into();
                for l in &mut m.layers {
                    let c = match l.media_type.as_str() {
                        manifest::DOCKER_LAYER_GZIP => Compression::Gzip,
                        manifest::DOCKER_LAYER_TAR => Compression::None,
                        t if t.ends_with("zstd") => Compression::Zstd,
                        t if t.ends_with("gzip") => Compression::Gzip,
                        _ => Compression::None,
                    };
                    l.media_type = c.oci_media_type().into();
                }
            }
            let mbytes = serde_json::to_vec(&m).map_err(|e| invalid("manifest", e.to_string()))?;
            let mdig = Digest::of(&mbytes);
            blob(put, &img.id)?;
            for l in &img.layers {
                blob(put, &l.blob)?;
            }
            if written.borrow_mut().insert(mdig.clone()) {
                put(
                    &format!("blobs/sha256/{}", mdig.hex()),
                    mbytes.len() as u64,
                    &mut &mbytes[..],
                )?;
            }
            let mut ann = BTreeMap::new();
            if let Ok(r) = Reference::parse(n)
                && r.digest.is_none()
                && !n.starts_with("sha256:")
            {
                ann.insert(CONTAINERD_NAME.to_string(), r.tagged());
                ann.insert(
                    REF_NAME.to_string(),
                    r.tag.clone().unwrap_or_else(|| "latest".into()),
                );
            }
            index.manifests.push(Descriptor {
                media_type: manifest::OCI_MANIFEST.into(),
                digest: mdig,
                size: mbytes.len() as u64,
                platform: Some(Platform {
                    architecture: img.config.architecture.clone(),
                    os: img.config.os.clone(),
                    variant: img.config.variant.clone(),
                    os_version: None,
                }),
                annotations: (!ann.is_empty()).then_some(ann),
                urls: None,
            });
        }
        let layout = br#"{"imageLayoutVersion":"1.0.0"}"#;
        put("oci-layout", layout.len() as u64, &mut &layout[..])?;
        let ib = serde_json::to_vec(&index).map_err(|e| invalid("index.json", e.to_string()))?;
        put("index.json", ib.len() as u64, &mut &ib[..])?;
        Ok(())
    }
}

/// A regular file entry of a saved archive (pax records for sizes of 8 GiB
/// and more, or long names).
fn file_entry(name: &str, size: u64) -> crate::pax::Entry<'_> {
    crate::pax::Entry {
        path: name,
        link: None,
        kind: tar::EntryType::Regular,
        mode: 0o644,
        uid: 0,
        gid: 0,
        mtime: 0,
        size,
    }
}
