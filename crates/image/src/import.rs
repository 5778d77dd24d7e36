//! `caixa import` (rootfs tarball → single-layer image) and the default
//! offline `busybox` image built from the host's busybox-static.

use std::io::{self, Read, Write};
use std::path::Path;

use flate2::Compression as GzLevel;
use flate2::write::GzEncoder;

use crate::config::{ContainerConfig, History, ImageConfig, RootFs};
use crate::digest::Digest;
use crate::error::{IoContext, Result, invalid};
use crate::manifest::{self, Descriptor, Manifest, Platform};
use crate::reference::Reference;
use crate::store::{Image, LayerInfo, NewImage, Store, now_rfc3339};
use crate::unpack;

/// Options for [`Store::import`].
#[derive(Clone, Debug, Default)]
pub struct ImportOptions {
    /// Name to tag the image with.
    pub tag: Option<String>,
    /// Container defaults for the new image.
    pub config: ContainerConfig,
    /// Creation time (RFC 3339); now when `None`.
    pub created: Option<String>,
    /// History comment.
    pub comment: Option<String>,
}

/// A reader that copies everything it reads into a writer.
pub(crate) struct Tee<R, W> {
    /// The source.
    pub r: R,
    /// Receives a copy of every byte read.
    pub w: W,
}

impl<R: Read, W: Write> Read for Tee<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.r.read(buf)?;
        self.w.write_all(&buf[..n])?;
        Ok(n)
    }
}

impl Store {
    /// Imports a rootfs tarball (tar, tar.gz or tar.zst) as a one-layer image.
    /// The layer is unpacked and gzip-compressed into the blob store in one pass.
    pub fn import(&self, input: impl Read, opts: &ImportOptions) -> Result<Image> {
        let tag = opts.tag.as_deref().map(Reference::parse).transpose()?;
        let plain = unpack::decompress(input).ctx(|| "read import tarball".into())?;
        let gz = GzEncoder::new(self.blobs().writer()?, GzLevel::fast());
        let mut tee = Tee { r: plain, w: gz };
        let u = self.unpack_layer_from(&mut tee, None, "import")?;
        // Whatever the unpacker did not consume (nothing, normally) still belongs to the blob.
        io::copy(&mut tee, &mut io::sink()).ctx(|| "read import tarball".into())?;
        let bw = tee.w.finish().ctx(|| "compress layer".into())?;
        let (blob, blob_size) = bw.commit(None)?;
        let created = opts.created.clone().unwrap_or_else(now_rfc3339);
        let host = Platform::host();
        let config = ImageConfig {
            architecture: host.architecture,
            os: host.os,
            variant: host.variant,
            created: Some(created.clone()),
            config: Some(opts.config.clone()),
            rootfs: RootFs {
                kind: "layers".into(),
                diff_ids: vec![u.diff_id.to_string()],
            },
            history: vec![History {
                created: Some(created),
                created_by: Some("caixa import".into()),
                comment: opts.comment.clone(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let layer = LayerInfo {
            diff_id: u.diff_id,
            blob,
            media_type: manifest::DOCKER_LAYER_GZIP.into(),
            blob_size,
            size: u.size,
        };
        self.commit_image(
            config,
            vec![layer],
            tag.map(|t| t.tagged()).into_iter().collect(),
        )
    }

    /// Stores `config` and a Docker schema2 manifest for it, then registers the
    /// image with `tags` (full names). The layers must already be in the store.
    pub fn commit_image(
        &self,
        config: ImageConfig,
        layers: Vec<LayerInfo>,
        tags: Vec<String>,
    ) -> Result<Image> {
        let cbytes =
            serde_json::to_vec(&config).map_err(|e| invalid("image config", e.to_string()))?;
        self.commit_image_raw(&cbytes, layers, tags)
    }

    /// Like [`Store::commit_image`] with the config's exact bytes (keeps its digest).
    pub fn commit_image_raw(
        &self,
        cbytes: &[u8],
        layers: Vec<LayerInfo>,
        tags: Vec<String>,
    ) -> Result<Image> {
        let cdig = self.blobs().put_bytes(cbytes, None)?;
        let m = Manifest {
            schema_version: 2,
            media_type: Some(manifest::DOCKER_MANIFEST.into()),
            config: Descriptor {
                media_type: manifest::DOCKER_CONFIG.into(),
                digest: cdig.clone(),
                size: cbytes.len() as u64,
                platform: None,
                annotations: None,
                urls: None,
            },
            layers: layers
                .iter()
                .map(|l| Descriptor {
                    media_type: l.media_type.clone(),
                    digest: l.blob.clone(),
                    size: l.blob_size,
                    platform: None,
                    annotations: None,
                    urls: None,
                })
                .collect(),
            annotations: None,
        };
        let mbytes =
            serde_json::to_vec_pretty(&m).map_err(|e| invalid("manifest", e.to_string()))?;
        let mdig = self.blobs().put_bytes(&mbytes, None)?;
        self.register(&NewImage {
            manifest: mdig,
            manifest_media_type: manifest::DOCKER_MANIFEST.into(),
            config: cdig,
            layers,
            tags,
            repo_digest: None,
        })
    }

    /// Makes sure `busybox:latest` exists, building it from the host's
    /// `/bin/busybox` (busybox-static) with one symlink per applet, so
    /// `caixa run --rm busybox echo hello` works offline. Returns the image.
    pub fn ensure_default_busybox(&self) -> Result<Image> {
        if let Ok(img) = self.resolve("busybox:latest") {
            return Ok(img);
        }
        let bin = Path::new("/bin/busybox");
        let tar = busybox_tar(bin)?;
        let mtime = std::fs::metadata(bin)
            .ctx(|| format!("stat {}", bin.display()))
            .map(|m| std::os::unix::fs::MetadataExt::mtime(&m))?;
        let created = chrono::DateTime::from_timestamp(mtime, 0)
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let opts = ImportOptions {
            tag: Some("busybox:latest".into()),
            config: ContainerConfig {
                env: Some(vec![
                    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
                ]),
                cmd: Some(vec!["sh".into()]),
                ..Default::default()
            },
            created: Some(created),
            comment: Some("caixa default image from the host's busybox-static".into()),
        };
        self.import(&tar[..], &opts)
    }
}

/// Builds the busybox rootfs tar in memory (deterministic: fixed mtimes, sorted).
fn busybox_tar(bin: &Path) -> Result<Vec<u8>> {
    let meta = std::fs::metadata(bin).ctx(|| {
        format!(
            "{}: the default busybox image needs busybox-static installed",
            bin.display()
        )
    })?;
    let mtime = std::os::unix::fs::MetadataExt::mtime(&meta) as u64;
    let out = std::process::Command::new(bin)
        .arg("--list-full")
        .output()
        .ctx(|| format!("run {} --list-full", bin.display()))?;
    if !out.status.success() {
        return Err(invalid(
            bin.display().to_string(),
            "`busybox --list-full` failed",
        ));
    }
    let mut applets: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().trim_start_matches('/').to_string())
        .filter(|l| !l.is_empty() && l != "bin/busybox" && !l.contains(".."))
        .collect();
    applets.sort();
    applets.dedup();
    let data = std::fs::read(bin).ctx(|| format!("read {}", bin.display()))?;
    let mut b = tar::Builder::new(Vec::new());
    let w = |e: io::Error| crate::error::io_err("build busybox layer", e);
    let dir = |b: &mut tar::Builder<Vec<u8>>, path: &str, mode: u32| -> Result<()> {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(mode);
        h.set_mtime(mtime);
        h.set_size(0);
        b.append_data(&mut h, path, io::empty()).map_err(w)
    };
    for (d, mode) in [
        ("bin", 0o755),
        ("dev", 0o755),
        ("etc", 0o755),
        ("home", 0o755),
        ("proc", 0o555),
        ("root", 0o700),
        ("sbin", 0o755),
        ("sys", 0o555),
        ("tmp", 0o1777),
        ("usr", 0o755),
        ("usr/bin", 0o755),
        ("usr/sbin", 0o755),
        ("var", 0o755),
        ("var/spool", 0o755),
        ("var/spool/mail", 0o755),
        ("var/www", 0o755),
    ] {
        dir(&mut b, d, mode)?;
    }
    let file = |b: &mut tar::Builder<Vec<u8>>, path: &str, mode: u32, data: &[u8]| -> Result<()> {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(mode);
        h.set_mtime(mtime);
        h.set_size(data.len() as u64);
        b.append_data(&mut h, path, data).map_err(w)
    };
    file(&mut b, "bin/busybox", 0o755, &data)?;
    file(
        &mut b,
        "etc/passwd",
        0o644,
        b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n",
    )?;
    file(&mut b, "etc/group", 0o644, b"root:x:0:\nnobody:x:65534:\n")?;
    file(
        &mut b,
        "etc/hosts",
        0o644,
        b"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n",
    )?;
    for a in &applets {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_mode(0o777);
        h.set_mtime(mtime);
        h.set_size(0);
        b.append_link(&mut h, a, "/bin/busybox").map_err(w)?;
    }
    b.into_inner().map_err(w)
}

/// Digest helper re-exported for callers that build layers themselves.
pub fn digest_of(bytes: &[u8]) -> Digest {
    Digest::of(bytes)
}
