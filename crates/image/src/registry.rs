//! Registry client (OCI distribution spec) on top of oci-client: anonymous,
//! basic and Bearer-token auth, HTTPS by default and plain HTTP for
//! localhost/127.0.0.1 and `--insecure-registry`, multi-arch index → host
//! platform, parallel layer downloads with retries that unpack as each
//! layer arrives, push with blob-exists checks and cross-repo mounts.
//! Every blob and manifest digest is verified.

use futures_util::StreamExt;
use oci_client::RegistryOperation;
use oci_client::secrets::RegistryAuth;

use crate::digest::Digest;
use crate::error::{Error, Result, invalid};
use crate::manifest::{self, Parsed, Platform};
use crate::reference::Reference;
use crate::session::{Session, client_for};
use crate::store::{Image, LayerInfo, NewImage, Store};

/// Options for pull/push/login.
#[derive(Clone, Debug, Default)]
pub struct RegistryOptions {
    /// Registries (`host[:port]`) to talk to over plain HTTP.
    pub insecure: Vec<String>,
    /// Platform to pull from a multi-arch index (default: host).
    pub platform: Option<Platform>,
    /// Parallel blob transfers (default 3).
    pub parallel: usize,
}

/// Progress events for a pull or push.
#[derive(Clone, Debug)]
pub enum Event {
    /// A layer transfer is about to start (`id` = short blob digest).
    Start {
        /// Short id.
        id: String,
        /// Total bytes.
        size: u64,
    },
    /// Bytes transferred so far.
    Bytes {
        /// Short id.
        id: String,
        /// Bytes so far.
        done: u64,
    },
    /// A status line for a layer ("Already exists", "Pull complete", "Pushed"...).
    Status {
        /// Short id.
        id: String,
        /// The status.
        status: String,
    },
}

/// Receives progress events; must be cheap.
pub trait Progress: Send + Sync {
    /// Called for each event.
    fn event(&self, e: Event);
}

/// A progress sink that drops events.
pub struct NoProgress;
impl Progress for NoProgress {
    fn event(&self, _: Event) {}
}

fn reg_err(registry: &str, reason: impl std::fmt::Display) -> Error {
    Error::Registry {
        registry: registry.to_string(),
        reason: reason.to_string(),
    }
}

fn oci_ref(r: &Reference, digest: Option<&Digest>) -> oci_client::Reference {
    match digest.or(r.digest.as_ref()) {
        Some(d) => oci_client::Reference::with_digest(
            r.registry.clone(),
            r.repository.clone(),
            d.to_string(),
        ),
        None => oci_client::Reference::with_tag(
            r.registry.clone(),
            r.repository.clone(),
            r.tag.clone().unwrap_or_else(|| "latest".into()),
        ),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| crate::error::io_err("start async runtime", e))
}

impl Store {
    /// Pulls `reference` (Docker-normalised) and returns the stored image.
    /// Blocking: runs its own async runtime (do not call from inside one).
    pub fn pull(
        &self,
        reference: &str,
        opts: &RegistryOptions,
        progress: &dyn Progress,
    ) -> Result<Image> {
        let r = Reference::parse(reference)?;
        runtime()?.block_on(self.pull_async(&r, opts, progress))
    }

    /// Async form of [`Store::pull`].
    /// On failure, blobs and layers fetched for it and used by no image are removed.
    pub async fn pull_async(
        &self,
        r: &Reference,
        opts: &RegistryOptions,
        progress: &dyn Progress,
    ) -> Result<Image> {
        let mut blobs = Vec::new();
        let mut layers = Vec::new();
        let res = self
            .pull_inner(r, opts, progress, &mut blobs, &mut layers)
            .await;
        if res.is_err() {
            let _ = self.gc_candidates(&blobs, &layers);
        }
        res
    }

    async fn pull_inner(
        &self,
        r: &Reference,
        opts: &RegistryOptions,
        progress: &dyn Progress,
        cand_blobs: &mut Vec<Digest>,
        cand_layers: &mut Vec<Digest>,
    ) -> Result<Image> {
        let s = Session::new(&r.registry, opts, oci_ref(r, None), RegistryOperation::Pull)?;
        let what = r.to_string();
        s.authenticate().await?;
        let (bytes, _) = s
            .call("fetch manifest", || async {
                s.client
                    .pull_manifest_raw(&s.oref, &s.auth, manifest::ACCEPTED)
                    .await
                    .map_err(|e| s.err(&format!("{what}: fetch manifest"), e))
            })
            .await?;
        let top = Digest::of(&bytes);
        if let Some(d) = &r.digest {
            d.verify(&top, &format!("manifest of {what}"))?;
        }
        let (mbytes, mdigest, m) = match manifest::parse(&bytes, None, &what)? {
            Parsed::Manifest(m) => (bytes.to_vec(), top.clone(), *m),
            Parsed::Index(idx) => {
                let platform = opts.platform.clone().unwrap_or_else(Platform::host);
                let d = idx
                    .select(&platform, &format!("index of {what}"))?
                    .digest
                    .clone();
                let (b, _) = s
                    .call("fetch manifest", || async {
                        s.client
                            .pull_manifest_raw(&oci_ref(r, Some(&d)), &s.auth, manifest::ACCEPTED)
                            .await
                            .map_err(|e| s.err(&format!("{what}: fetch manifest {d}"), e))
                    })
                    .await?;
                d.verify(&Digest::of(&b), &format!("manifest {d} of {what}"))?;
                match manifest::parse(&b, None, &what)? {
                    Parsed::Manifest(m) => (b.to_vec(), d, *m),
                    Parsed::Index(_) => {
                        return Err(invalid(
                            format!("index of {what}"),
                            "nested index not supported",
                        ));
                    }
                }
            }
        };
        let media_type = m
            .media_type
            .clone()
            .unwrap_or_else(|| manifest::OCI_MANIFEST.into());
        let oref = oci_ref(r, Some(&mdigest));
        // Config.
        let mut attempt = 0;
        loop {
            self.blobs().put_bytes(&mbytes, Some(&mdigest))?;
            if !self.blobs().exists(&m.config.digest) {
                let cfg = s
                    .call("fetch config", || async {
                        let mut buf = Vec::new();
                        s.client
                            .pull_blob(&oref, m.config.digest.as_str(), &mut buf)
                            .await
                            .map_err(|e| s.err(&format!("{what}: fetch config"), e))?;
                        Ok(buf)
                    })
                    .await?;
                self.blobs().put_bytes(&cfg, Some(&m.config.digest))?;
            }
            let config: crate::config::ImageConfig =
                serde_json::from_slice(&self.blobs().read(&m.config.digest)?)
                    .map_err(|e| invalid(format!("config of {what}"), e.to_string()))?;
            if config.rootfs.diff_ids.len() != m.layers.len() {
                return Err(invalid(
                    format!("image {what}"),
                    "config diff_ids and manifest layers differ in number",
                ));
            }
            let diff_ids: Vec<Digest> = config
                .rootfs
                .diff_ids
                .iter()
                .map(|d| Digest::parse(d))
                .collect::<Result<_>>()?;
            cand_blobs.extend([mdigest.clone(), m.config.digest.clone()]);
            cand_blobs.extend(m.layers.iter().map(|l| l.digest.clone()));
            cand_layers.extend(diff_ids.iter().cloned());
            let layers = self
                .fetch_layers(&s, &oref, &m.layers, &diff_ids, opts, progress)
                .await?;
            let new = NewImage {
                manifest: mdigest.clone(),
                manifest_media_type: media_type.clone(),
                config: m.config.digest.clone(),
                layers,
                tags: r.tag.as_ref().map(|_| r.tagged()).into_iter().collect(),
                repo_digest: Some((r.name(), top.clone())),
            };
            match self.register(&new) {
                // A concurrent rmi removed a blob or layer we found present: fetch again.
                Err(Error::NotFound(_)) if attempt < 3 => attempt += 1,
                other => return other,
            }
        }
    }

    async fn fetch_layers(
        &self,
        s: &Session,
        oref: &oci_client::Reference,
        descs: &[manifest::Descriptor],
        diff_ids: &[Digest],
        opts: &RegistryOptions,
        progress: &dyn Progress,
    ) -> Result<Vec<LayerInfo>> {
        let parallel = if opts.parallel == 0 { 3 } else { opts.parallel };
        let jobs = descs.iter().zip(diff_ids).map(|(d, diff)| async move {
            let id = d.digest.short().to_string();
            let have_blob = self.blobs().exists(&d.digest);
            let have_layer = self.has_layer(diff);
            if have_blob && have_layer {
                progress.event(Event::Status {
                    id,
                    status: "Already exists".into(),
                });
            } else if have_blob {
                // Only the layer is missing: unpack the stored blob.
                let (blob, diff2, layers) = (d.digest.clone(), diff.clone(), self.layers().clone());
                progress.event(Event::Status {
                    id: id.clone(),
                    status: "Extracting".into(),
                });
                tokio::task::spawn_blocking(move || layers.unpack_blob(&blob, Some(&diff2)))
                    .await
                    .map_err(|e| reg_err(&s.reg, format!("unpack task failed: {e}")))??;
                progress.event(Event::Status {
                    id,
                    status: "Pull complete".into(),
                });
            } else {
                progress.event(Event::Start {
                    id: id.clone(),
                    size: d.size,
                });
                if have_layer {
                    // Only the blob is missing (kept for push and save).
                    s.call("fetch layer", || self.download(s, oref, d, progress))
                        .await?;
                } else {
                    // Decompress and untar while the blob downloads.
                    s.call("fetch layer", || {
                        crate::stream::fetch_and_unpack(
                            self.layers(),
                            self.blobs(),
                            s,
                            oref,
                            d,
                            diff,
                            progress,
                        )
                    })
                    .await?;
                }
                progress.event(Event::Status {
                    id,
                    status: "Pull complete".into(),
                });
            }
            Ok::<LayerInfo, Error>(LayerInfo {
                diff_id: diff.clone(),
                blob: d.digest.clone(),
                media_type: d.media_type.clone(),
                blob_size: d.size,
                size: self.layer_size_of(diff),
            })
        });
        let results: Vec<Result<LayerInfo>> = futures_util::stream::iter(jobs)
            .buffered(parallel)
            .collect()
            .await;
        results.into_iter().collect()
    }

    async fn download(
        &self,
        s: &Session,
        oref: &oci_client::Reference,
        d: &manifest::Descriptor,
        progress: &dyn Progress,
    ) -> Result<()> {
        use std::io::Write;
        let id = d.digest.short().to_string();
        let reg = s.reg.as_str();
        let mut stream = s
            .client
            .pull_blob_stream(oref, d.digest.as_str())
            .await
            .map_err(|e| s.err(&format!("fetch layer {}", d.digest), e))?;
        let mut w = self.blobs().writer()?;
        let mut done = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| crate::stream::chunk_err(s, d, e))?;
            done += chunk.len() as u64;
            if done > d.size {
                return Err(reg_err(
                    reg,
                    format!(
                        "layer {} is larger than its descriptor says ({} bytes)",
                        d.digest, d.size
                    ),
                ));
            }
            w.write_all(&chunk)
                .map_err(|e| crate::error::io_err(format!("write layer {}", d.digest), e))?;
            progress.event(Event::Bytes {
                id: id.clone(),
                done,
            });
        }
        w.commit(Some(&d.digest))?;
        Ok(())
    }

    /// Pushes a local image to `reference` (its own name when it has a tag).
    /// Returns the manifest digest. Blocking, like [`Store::pull`].
    pub fn push(
        &self,
        reference: &str,
        opts: &RegistryOptions,
        progress: &dyn Progress,
    ) -> Result<Digest> {
        let r = Reference::parse(reference)?;
        let img = self.resolve(reference)?;
        let rt = runtime()?;
        let d = rt.block_on(self.push_async(&img, &r, opts, progress))?;
        Ok(d)
    }

    /// Async form of [`Store::push`].
    pub async fn push_async(
        &self,
        img: &Image,
        r: &Reference,
        opts: &RegistryOptions,
        progress: &dyn Progress,
    ) -> Result<Digest> {
        let sess = Session::new(&r.registry, opts, oci_ref(r, None), RegistryOperation::Push)?;
        let token_auth = sess.authenticate().await?;
        let (client, oref) = (&sess.client, &sess.oref);
        // Other repositories of the same registry that hold this image: mount sources.
        let sources: Vec<String> = img
            .repo_digests
            .iter()
            .chain(img.repo_tags.iter())
            .filter_map(|n| n.split(['@']).next())
            .filter_map(|n| Reference::parse(n).ok())
            .filter(|s| s.registry == r.registry && s.repository != r.repository)
            .map(|s| s.repository)
            .collect();
        let mut blobs: Vec<(Digest, u64)> = img
            .layers
            .iter()
            .map(|l| (l.blob.clone(), l.blob_size))
            .collect();
        blobs.push((img.id.clone(), self.blobs().size(&img.id)?));
        let parallel = if opts.parallel == 0 { 3 } else { opts.parallel };
        // Under token auth a mount needs a token that also covers the source.
        let mut mounters = Vec::new();
        for s in sources.iter().collect::<std::collections::BTreeSet<_>>() {
            let c = match token_auth {
                true => sess.mount_client(s, opts).await,
                false => None,
            };
            mounters.push((s.clone(), c));
        }
        let sess = &sess;
        let mounters = &mounters;
        let jobs = blobs.iter().map(|(d, size)| async move {
            let id = d.short().to_string();
            if client.blob_exists(oref, d.as_str()).await.unwrap_or(false) {
                progress.event(Event::Status {
                    id,
                    status: "Layer already exists".into(),
                });
                return Ok(());
            }
            for (s, mounter) in mounters {
                let src =
                    oci_client::Reference::with_tag(r.registry.clone(), s.clone(), "latest".into());
                let mc = mounter.as_ref().unwrap_or(client);
                if mc.mount_blob(oref, &src, d.as_str()).await.is_ok()
                    && client.blob_exists(oref, d.as_str()).await.unwrap_or(false)
                {
                    progress.event(Event::Status {
                        id,
                        status: format!("Mounted from {s}"),
                    });
                    return Ok(());
                }
            }
            progress.event(Event::Start {
                id: id.clone(),
                size: *size,
            });
            sess.call("push blob", || self.upload(sess, d, progress))
                .await?;
            progress.event(Event::Status {
                id,
                status: "Pushed".into(),
            });
            Ok::<(), Error>(())
        });
        let results: Vec<Result<()>> = futures_util::stream::iter(jobs)
            .buffer_unordered(parallel)
            .collect()
            .await;
        results.into_iter().collect::<Result<Vec<()>>>()?;
        let body = self.blobs().read(&img.manifest_digest)?;
        let ct: http::HeaderValue = img
            .manifest_media_type
            .parse()
            .map_err(|_| invalid(format!("image {}", img.id), "bad manifest media type"))?;
        sess.call("push manifest", || async {
            client
                .push_manifest_raw(oref, body.clone(), ct.clone())
                .await
                .map_err(|e| sess.err(&format!("push manifest to {r}"), e))
        })
        .await?;
        {
            let mut conn = self.db();
            let tx = crate::db::writer(&mut conn)?;
            tx.execute(
                "INSERT OR REPLACE INTO image_repo_digests (repo, digest, image_id) VALUES (?1, ?2, ?3)",
                rusqlite::params![r.name(), img.manifest_digest.as_str(), img.id.as_str()],
            )?;
            tx.commit()?;
        }
        Ok(img.manifest_digest.clone())
    }

    async fn upload(&self, sess: &Session, d: &Digest, progress: &dyn Progress) -> Result<()> {
        use std::io::Read;
        let size = self.blobs().size(d)?;
        let mut f = self.blobs().open_blob(d)?;
        let id = d.short().to_string();
        if size <= 8 << 20 {
            let mut buf = Vec::with_capacity(size as usize);
            f.read_to_end(&mut buf)
                .map_err(|e| crate::error::io_err(format!("read blob {d}"), e))?;
            sess.client
                .push_blob(&sess.oref, buf, d.as_str())
                .await
                .map_err(|e| sess.err(&format!("push blob {d}"), e))?;
            progress.event(Event::Bytes { id, done: size });
            return Ok(());
        }
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<u64>();
        let mut done = 0u64;
        let stream = futures_util::stream::poll_fn(move |_| {
            let mut buf = vec![0u8; 4 << 20];
            match f.read(&mut buf) {
                Ok(0) => std::task::Poll::Ready(None),
                Ok(n) => {
                    buf.truncate(n);
                    done += n as u64;
                    let _ = tx.send(done);
                    std::task::Poll::Ready(Some(Ok(bytes::Bytes::from(buf))))
                }
                Err(e) => std::task::Poll::Ready(Some(Err(
                    oci_client::errors::OciDistributionError::IoError(e),
                ))),
            }
        });
        // Forward byte counts while the upload runs; the channel closes when
        // the stream (and its sender) is dropped.
        let report = async {
            while let Some(done) = rx.recv().await {
                progress.event(Event::Bytes {
                    id: id.clone(),
                    done,
                });
            }
        };
        let push = sess
            .client
            .push_blob_stream(&sess.oref, stream, d.as_str(), Some(size));
        let (res, ()) = futures_util::future::join(push, report).await;
        res.map_err(|e| sess.err(&format!("push blob {d}"), e))?;
        Ok(())
    }
}

/// Checks credentials against a registry and stores them on success.
/// With token auth, the token server checking them is the test; with basic
/// auth, a request for a probe repository (404 = accepted).
pub fn login(registry: &str, user: &str, password: &str, opts: &RegistryOptions) -> Result<()> {
    let registry = if registry.is_empty() {
        crate::reference::DOCKER_HUB
    } else {
        registry
    };
    let refused = || {
        reg_err(
            registry,
            "login failed: unauthorized: incorrect username or password",
        )
    };
    let rt = runtime()?;
    rt.block_on(async {
        let probe = oci_client::Reference::with_tag(
            registry.to_string(),
            "caixa-login-probe/probe".into(),
            "latest".into(),
        );
        let s = Session {
            client: client_for(registry, opts),
            reg: registry.to_string(),
            auth: RegistryAuth::Basic(user.to_string(), password.to_string()),
            oref: probe,
            op: RegistryOperation::Pull,
        };
        match s.authenticate().await {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(Error::AuthFailed { reason, .. }) => {
                return Err(reg_err(
                    registry,
                    format!(
                        "login failed: {}",
                        reason.split_once(" failed: ").map_or(&*reason, |x| x.1)
                    ),
                ));
            }
            Err(e) => return Err(e),
        }
        match s.client.fetch_manifest_digest(&s.oref, &s.auth).await {
            Ok(_) => Ok(()),
            Err(e) => match s.err("login", e) {
                Error::Denied { .. } | Error::AuthFailed { .. } => Err(refused()),
                // A 404 for the probe repository means the credentials were accepted.
                _ => Ok(()),
            },
        }
    })?;
    crate::auth::store(registry, user, password)
}
