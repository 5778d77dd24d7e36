//! The image store: blobs, unpacked layers and the image tables.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, OptionalExtension, params};

use crate::blobs::{BlobStore, unique_name};
use crate::config::ImageConfig;
use crate::db;
use crate::digest::Digest;
use crate::error::{Error, IoContext, Result, invalid};
use crate::layers::LayerStore;
use crate::reference::{Reference, familiar};
use crate::unpack::Unpacked;

/// One layer of an image.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerInfo {
    /// Digest of the uncompressed tar (config `rootfs.diff_ids`).
    pub diff_id: Digest,
    /// Digest of the blob as stored/distributed (maybe compressed).
    pub blob: Digest,
    /// Media type of the blob.
    pub media_type: String,
    /// Size of the blob in bytes.
    pub blob_size: u64,
    /// Uncompressed size in bytes.
    pub size: u64,
}

/// An image in the store.
#[derive(Clone, Debug)]
pub struct Image {
    /// Image id: the digest of its config blob (as Docker).
    pub id: Digest,
    /// Digest of the manifest stored for it.
    pub manifest_digest: Digest,
    /// Media type of that manifest.
    pub manifest_media_type: String,
    /// The parsed config (Entrypoint, Cmd, Env, WorkingDir, User, ExposedPorts,
    /// Volumes, Labels, StopSignal, Healthcheck, Shell, OnBuild under `config.config`).
    pub config: ImageConfig,
    /// Layers, bottom first.
    pub layers: Vec<LayerInfo>,
    /// Full tagged names (`docker.io/library/busybox:latest`).
    pub repo_tags: Vec<String>,
    /// `repo@sha256:...` names.
    pub repo_digests: Vec<String>,
    /// Sum of uncompressed layer sizes.
    pub size: u64,
    /// When the image was added to this store (RFC 3339).
    pub added: String,
}

impl Image {
    /// Tags in Docker's short form (`busybox:latest`).
    pub fn familiar_tags(&self) -> Vec<String> {
        self.repo_tags.iter().map(|t| familiar(t)).collect()
    }
}

/// What a new image consists of (all blobs and layers already present).
#[derive(Clone, Debug)]
pub struct NewImage {
    /// Manifest blob digest.
    pub manifest: Digest,
    /// Manifest media type.
    pub manifest_media_type: String,
    /// Config blob digest (becomes the image id).
    pub config: Digest,
    /// Layers, bottom first.
    pub layers: Vec<LayerInfo>,
    /// Full names to tag (`registry/repo:tag`).
    pub tags: Vec<String>,
    /// (`registry/repo`, digest) to record as a repo digest.
    pub repo_digest: Option<(String, Digest)>,
}

/// The outcome of removing a reference.
#[derive(Clone, Debug, Default)]
pub struct RemoveReport {
    /// Names untagged.
    pub untagged: Vec<String>,
    /// Image ids deleted.
    pub deleted: Vec<Digest>,
}

/// The image store rooted at `ROOT` (layout: `ROOT/image/{blobs,layers,tmp}`, db `ROOT/caixa.db`).
pub struct Store {
    root: PathBuf,
    blobs: BlobStore,
    layers: LayerStore,
    conn: Mutex<Connection>,
}

pub(crate) fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

impl Store {
    /// Opens (creating) the store under `root` (default `/var/lib/caixa`).
    pub fn open(root: &Path) -> Result<Store> {
        let image_dir = root.join("image");
        let layers = image_dir.join("layers");
        fs::create_dir_all(&layers).ctx(|| format!("create {}", layers.display()))?;
        let blobs = BlobStore::open(&image_dir)?;
        let conn = db::open(&root.join("caixa.db"))?;
        Ok(Store {
            root: root.to_path_buf(),
            layers: LayerStore::new(layers, blobs.clone()),
            blobs,
            conn: Mutex::new(conn),
        })
    }

    /// The store's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The blob store.
    pub fn blobs(&self) -> &BlobStore {
        &self.blobs
    }

    pub(crate) fn db(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The layer store (cheap to clone, usable from other threads).
    pub fn layers(&self) -> &LayerStore {
        &self.layers
    }

    /// Directory holding the unpacked layer (`.../layers/<hex>`; content in `diff/`).
    pub fn layer_dir(&self, diff_id: &Digest) -> PathBuf {
        self.layers.layer_dir(diff_id)
    }

    /// The overlay lower directory of a layer.
    pub fn layer_diff(&self, diff_id: &Digest) -> PathBuf {
        self.layers.layer_diff(diff_id)
    }

    /// Temp directory on the store's filesystem.
    pub(crate) fn tmp_dir(&self) -> &Path {
        self.blobs.tmp_dir()
    }

    /// True when the layer is unpacked.
    pub fn has_layer(&self, diff_id: &Digest) -> bool {
        self.layers.has_layer(diff_id)
    }

    /// Uncompressed size of an unpacked layer (0 when unknown).
    pub fn layer_size_of(&self, diff_id: &Digest) -> u64 {
        self.layers.layer_size(diff_id)
    }

    /// See [`LayerStore::unpack_layer_from`].
    pub fn unpack_layer_from(
        &self,
        raw: impl Read,
        expected: Option<&Digest>,
        name: &str,
    ) -> Result<Unpacked> {
        self.layers.unpack_layer_from(raw, expected, name)
    }

    /// See [`LayerStore::unpack_blob`].
    pub fn unpack_blob(&self, blob: &Digest, expected: Option<&Digest>) -> Result<Unpacked> {
        self.layers.unpack_blob(blob, expected)
    }

    /// Records a new image (and its tags) in one transaction. Fails with
    /// [`Error::NotFound`] naming the missing piece when a blob or layer has
    /// vanished meanwhile (e.g. a concurrent rmi); callers retry.
    pub fn register(&self, img: &NewImage) -> Result<Image> {
        let config_bytes = self.blobs.read(&img.config)?;
        let config: ImageConfig = serde_json::from_slice(&config_bytes)
            .map_err(|e| invalid(format!("config {}", img.config), e.to_string()))?;
        if config.rootfs.diff_ids.len() != img.layers.len() {
            return Err(invalid(
                format!("image {}", img.config),
                format!(
                    "config lists {} diff_ids but the manifest has {} layers",
                    config.rootfs.diff_ids.len(),
                    img.layers.len()
                ),
            ));
        }
        for (d, l) in config.rootfs.diff_ids.iter().zip(&img.layers) {
            if d != l.diff_id.as_str() {
                return Err(Error::DigestMismatch {
                    what: format!("layer {} (diff_id)", l.blob),
                    expected: d.clone(),
                    actual: l.diff_id.to_string(),
                });
            }
        }
        let mut conn = self.db();
        let tx = db::writer(&mut conn)?;
        for l in &img.layers {
            if !self.has_layer(&l.diff_id) {
                return Err(Error::NotFound(format!("layer {}", l.diff_id)));
            }
            if !self.blobs.exists(&l.blob) {
                return Err(Error::NotFound(format!("blob {}", l.blob)));
            }
        }
        for b in [&img.manifest, &img.config] {
            if !self.blobs.exists(b) {
                return Err(Error::NotFound(format!("blob {b}")));
            }
        }
        let id = img.config.as_str();
        let exists: bool = tx
            .query_row("SELECT 1 FROM image_images WHERE id = ?1", [id], |_| Ok(()))
            .optional()?
            .is_some();
        if !exists {
            let size: u64 = img.layers.iter().map(|l| l.size).sum();
            tx.execute(
                "INSERT INTO image_images (id, manifest_digest, manifest_media_type, created, size, added)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![id, img.manifest.as_str(), img.manifest_media_type, config.created, size as i64, now_rfc3339()],
            )?;
            for (i, l) in img.layers.iter().enumerate() {
                tx.execute(
                    "INSERT INTO image_layers (image_id, idx, diff_id, blob, media_type, blob_size, size)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![id, i as i64, l.diff_id.as_str(), l.blob.as_str(), l.media_type, l.blob_size as i64, l.size as i64],
                )?;
                db::bump(&tx, "image_layer_refs", "diff_id", l.diff_id.as_str(), 1)?;
                db::bump(&tx, "image_blob_refs", "digest", l.blob.as_str(), 1)?;
            }
            db::bump(&tx, "image_blob_refs", "digest", img.manifest.as_str(), 1)?;
            db::bump(&tx, "image_blob_refs", "digest", img.config.as_str(), 1)?;
        }
        for t in &img.tags {
            tx.execute(
                "INSERT OR REPLACE INTO image_tags (name, image_id) VALUES (?1, ?2)",
                params![t, id],
            )?;
        }
        if let Some((repo, d)) = &img.repo_digest {
            tx.execute(
                "INSERT OR REPLACE INTO image_repo_digests (repo, digest, image_id) VALUES (?1, ?2, ?3)",
                params![repo, d.as_str(), id],
            )?;
        }
        tx.commit()?;
        drop(conn);
        self.by_id(&img.config)
    }

    /// Loads an image by id.
    pub fn by_id(&self, id: &Digest) -> Result<Image> {
        let conn = self.db();
        let row = conn
            .query_row(
                "SELECT manifest_digest, manifest_media_type, size, added FROM image_images WHERE id = ?1",
                [id.as_str()],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?, r.get::<_, String>(3)?)),
            )
            .optional()?
            .ok_or_else(|| Error::NotFound(id.to_string()))?;
        let mut layers = Vec::new();
        {
            let mut st = conn.prepare(
                "SELECT diff_id, blob, media_type, blob_size, size FROM image_layers WHERE image_id = ?1 ORDER BY idx",
            )?;
            let rows = st.query_map([id.as_str()], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, i64>(4)?,
                ))
            })?;
            for row in rows {
                let (d, b, mt, bs, s) = row?;
                layers.push(LayerInfo {
                    diff_id: Digest::parse(&d)?,
                    blob: Digest::parse(&b)?,
                    media_type: mt,
                    blob_size: bs as u64,
                    size: s as u64,
                });
            }
        }
        let repo_tags = strings(
            &conn,
            "SELECT name FROM image_tags WHERE image_id = ?1 ORDER BY name",
            id,
        )?;
        let repo_digests = strings(
            &conn,
            "SELECT repo || '@' || digest FROM image_repo_digests WHERE image_id = ?1 ORDER BY repo",
            id,
        )?;
        drop(conn);
        let config: ImageConfig = serde_json::from_slice(&self.blobs.read(id)?)
            .map_err(|e| invalid(format!("config {id}"), e.to_string()))?;
        Ok(Image {
            id: id.clone(),
            manifest_digest: Digest::parse(&row.0)?,
            manifest_media_type: row.1,
            config,
            layers,
            repo_tags,
            repo_digests,
            size: row.2 as u64,
            added: row.3,
        })
    }

    /// Finds an image by full id, unique id prefix (≥4 hex), `name[:tag]` or `name@digest`.
    pub fn resolve(&self, reference: &str) -> Result<Image> {
        let id = self.resolve_id(reference)?;
        self.by_id(&id)
    }

    /// Like [`Store::resolve`] but returns only the id.
    pub fn resolve_id(&self, reference: &str) -> Result<Digest> {
        let hex = reference.strip_prefix("sha256:").unwrap_or(reference);
        if hex.len() >= 4
            && hex.len() <= 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        {
            let conn = self.db();
            let mut st = conn.prepare("SELECT id FROM image_images WHERE id LIKE ?1 LIMIT 2")?;
            let ids: Vec<String> = st
                .query_map([format!("sha256:{hex}%")], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            match ids.len() {
                1 => return Digest::parse(&ids[0]),
                2 => {
                    return Err(invalid(
                        format!("image id prefix {reference:?}"),
                        "matches more than one image; give more characters",
                    ));
                }
                _ if reference.starts_with("sha256:") => {
                    return Err(Error::NotFound(reference.to_string()));
                }
                _ => {}
            }
        }
        let r = Reference::parse(reference)?;
        let conn = self.db();
        let found: Option<String> = if let Some(d) = &r.digest {
            conn.query_row(
                "SELECT image_id FROM image_repo_digests WHERE repo = ?1 AND digest = ?2
                 UNION SELECT id FROM image_images WHERE manifest_digest = ?2 LIMIT 1",
                params![r.name(), d.as_str()],
                |row| row.get(0),
            )
            .optional()?
        } else {
            conn.query_row(
                "SELECT image_id FROM image_tags WHERE name = ?1",
                [r.tagged()],
                |row| row.get(0),
            )
            .optional()?
        };
        match found {
            Some(id) => Digest::parse(&id),
            None => Err(Error::NotFound(r.familiar_name() + &tag_suffix(&r))),
        }
    }

    /// All images, newest first.
    pub fn list(&self) -> Result<Vec<Image>> {
        let ids: Vec<String> = {
            let conn = self.db();
            let mut st = conn.prepare("SELECT id FROM image_images ORDER BY added DESC")?;
            st.query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?
        };
        ids.iter().map(|i| self.by_id(&Digest::parse(i)?)).collect()
    }

    /// Tags the image `source` resolves to as `target`.
    pub fn tag(&self, source: &str, target: &str) -> Result<Reference> {
        let id = self.resolve_id(source)?;
        let t = Reference::parse(target)?;
        if t.digest.is_some() {
            return Err(Error::InvalidReference {
                reference: target.to_string(),
                reason: "a tag target cannot contain a digest".into(),
            });
        }
        let mut conn = self.db();
        let tx = db::writer(&mut conn)?;
        let still: bool = tx
            .query_row(
                "SELECT 1 FROM image_images WHERE id = ?1",
                [id.as_str()],
                |_| Ok(()),
            )
            .optional()?
            .is_some();
        if !still {
            return Err(Error::NotFound(source.to_string()));
        }
        tx.execute(
            "INSERT OR REPLACE INTO image_tags (name, image_id) VALUES (?1, ?2)",
            params![t.tagged(), id.as_str()],
        )?;
        tx.commit()?;
        Ok(t)
    }

    /// Records that container `container_id` uses image `image_id` (rmi then refuses without force).
    pub fn add_ref(&self, image_id: &Digest, container_id: &str) -> Result<()> {
        let mut conn = self.db();
        let tx = db::writer(&mut conn)?;
        let exists = tx
            .query_row(
                "SELECT 1 FROM image_images WHERE id = ?1",
                [image_id.as_str()],
                |_| Ok(()),
            )
            .optional()?
            .is_some();
        if !exists {
            return Err(Error::NotFound(image_id.to_string()));
        }
        tx.execute(
            "INSERT OR IGNORE INTO image_users (image_id, container_id) VALUES (?1, ?2)",
            params![image_id.as_str(), container_id],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Drops the "in use by `container_id`" mark (missing is fine).
    pub fn remove_ref(&self, image_id: &Digest, container_id: &str) -> Result<()> {
        let mut conn = self.db();
        let tx = db::writer(&mut conn)?;
        tx.execute(
            "DELETE FROM image_users WHERE image_id = ?1 AND container_id = ?2",
            params![image_id.as_str(), container_id],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Containers using an image.
    pub fn users(&self, image_id: &Digest) -> Result<Vec<String>> {
        strings(
            &self.db(),
            "SELECT container_id FROM image_users WHERE image_id = ?1 ORDER BY container_id",
            image_id,
        )
    }

    /// `rmi`: untags `reference`; deletes the image when no tag is left.
    /// An image used by containers is refused unless `force`, and with force
    /// it is only untagged (kept until its containers are gone, like Docker).
    pub fn remove(&self, reference: &str, force: bool) -> Result<RemoveReport> {
        let id = self.resolve_id(reference)?;
        let by_name = Reference::parse(reference)
            .ok()
            .filter(|_| !reference.starts_with("sha256:") && !is_id_prefix_of(reference, &id))
            .filter(|r| r.digest.is_none());
        let mut report = RemoveReport::default();
        let mut trash = Vec::new();
        {
            let mut conn = self.db();
            let tx = db::writer(&mut conn)?;
            let tags: Vec<String> = {
                let mut st = tx.prepare("SELECT name FROM image_tags WHERE image_id = ?1")?;
                st.query_map([id.as_str()], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()?
            };
            let users: Vec<String> = {
                let mut st =
                    tx.prepare("SELECT container_id FROM image_users WHERE image_id = ?1")?;
                st.query_map([id.as_str()], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()?
            };
            let remaining: Vec<String> = match &by_name {
                Some(r) if tags.len() > 1 => {
                    tx.execute("DELETE FROM image_tags WHERE name = ?1", [r.tagged()])?;
                    report.untagged.push(r.tagged());
                    tags.into_iter().filter(|t| *t != r.tagged()).collect()
                }
                _ => {
                    if tags.len() > 1 && !force && by_name.is_none() {
                        return Err(invalid(
                            format!("image {}", id.short()),
                            format!(
                                "is referenced by {} tags ({}); remove them by name or use -f",
                                tags.len(),
                                tags.iter()
                                    .map(|t| familiar(t))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        ));
                    }
                    if !users.is_empty() && !force {
                        return Err(Error::InUse {
                            image: reference.to_string(),
                            containers: users.join(", "),
                        });
                    }
                    tx.execute("DELETE FROM image_tags WHERE image_id = ?1", [id.as_str()])?;
                    report.untagged.extend(tags);
                    Vec::new()
                }
            };
            if remaining.is_empty() && users.is_empty() {
                tx.execute(
                    "DELETE FROM image_repo_digests WHERE image_id = ?1",
                    [id.as_str()],
                )?;
                trash = self.delete_image_rows(&tx, &id)?;
                report.deleted.push(id.clone());
            }
            tx.commit()?;
        }
        for t in trash {
            let _ = fs::remove_dir_all(&t);
        }
        Ok(report)
    }

    /// Deletes an image's rows and drops its refcounts; layers and blobs no
    /// longer referenced are removed (layer dirs are moved to a trash path
    /// inside the transaction and returned for deletion after commit).
    fn delete_image_rows(
        &self,
        tx: &rusqlite::Transaction<'_>,
        id: &Digest,
    ) -> Result<Vec<PathBuf>> {
        let (manifest,): (String,) = tx.query_row(
            "SELECT manifest_digest FROM image_images WHERE id = ?1",
            [id.as_str()],
            |r| Ok((r.get(0)?,)),
        )?;
        let layers: Vec<(String, String)> = {
            let mut st =
                tx.prepare("SELECT diff_id, blob FROM image_layers WHERE image_id = ?1")?;
            st.query_map([id.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?
        };
        tx.execute(
            "DELETE FROM image_layers WHERE image_id = ?1",
            [id.as_str()],
        )?;
        tx.execute("DELETE FROM image_images WHERE id = ?1", [id.as_str()])?;
        let mut trash = Vec::new();
        let mut blobs = vec![manifest, id.to_string()];
        for (diff, blob) in layers {
            if db::bump(tx, "image_layer_refs", "diff_id", &diff, -1)? == 0 {
                let d = Digest::parse(&diff)?;
                let t = self.tmp_dir().join(unique_name("trash"));
                if fs::rename(self.layer_dir(&d), &t).is_ok() {
                    trash.push(t);
                }
            }
            blobs.push(blob);
        }
        for b in blobs {
            if db::bump(tx, "image_blob_refs", "digest", &b, -1)? == 0 {
                self.blobs.remove(&Digest::parse(&b)?)?;
            }
        }
        Ok(trash)
    }

    /// Removes blobs and layers from `blobs`/`layers` that no image
    /// references (cleanup after a failed pull or load).
    pub fn gc_candidates(&self, blobs: &[Digest], layers: &[Digest]) -> Result<()> {
        let mut trash = Vec::new();
        {
            let mut conn = self.db();
            let tx = db::writer(&mut conn)?;
            for b in blobs {
                let used = tx
                    .query_row(
                        "SELECT 1 FROM image_blob_refs WHERE digest = ?1",
                        [b.as_str()],
                        |_| Ok(()),
                    )
                    .optional()?
                    .is_some();
                if !used {
                    self.blobs.remove(b)?;
                }
            }
            for l in layers {
                let used = tx
                    .query_row(
                        "SELECT 1 FROM image_layer_refs WHERE diff_id = ?1",
                        [l.as_str()],
                        |_| Ok(()),
                    )
                    .optional()?
                    .is_some();
                if !used {
                    let t = self.tmp_dir().join(unique_name("trash"));
                    if fs::rename(self.layer_dir(l), &t).is_ok() {
                        trash.push(t);
                    }
                }
            }
            tx.commit()?;
        }
        for t in trash {
            let _ = fs::remove_dir_all(&t);
        }
        Ok(())
    }

    /// Removes blobs and layers no image references that are older than
    /// `grace` (younger ones may belong to a pull or load in progress).
    pub fn gc(&self, grace: std::time::Duration) -> Result<(usize, usize)> {
        let old = |p: &Path| {
            fs::symlink_metadata(p)
                .and_then(|m| m.modified())
                .map(|t| t.elapsed().map(|e| e >= grace).unwrap_or(false))
                .unwrap_or(false)
        };
        let list = |dir: PathBuf| -> Vec<Digest> {
            fs::read_dir(&dir)
                .map(|rd| {
                    rd.flatten()
                        .filter(|e| old(&e.path()))
                        .filter_map(|e| {
                            Digest::parse(&format!("sha256:{}", e.file_name().to_string_lossy()))
                                .ok()
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        let blobs = list(self.root.join("image/blobs/sha256"));
        let layers = list(self.root.join("image/layers"));
        let before = (blobs.len(), layers.len());
        self.gc_candidates(&blobs, &layers)?;
        let after = (
            blobs.iter().filter(|b| self.blobs.exists(b)).count(),
            layers.iter().filter(|l| self.has_layer(l)).count(),
        );
        Ok((before.0 - after.0, before.1 - after.1))
    }

    /// Removes dangling (untagged, unused) images; with `all`, every unused image.
    pub fn prune(&self, all: bool) -> Result<Vec<Digest>> {
        let mut deleted = Vec::new();
        let mut trash = Vec::new();
        {
            let mut conn = self.db();
            let tx = db::writer(&mut conn)?;
            let q = if all {
                "SELECT id FROM image_images WHERE id NOT IN (SELECT image_id FROM image_users)"
            } else {
                "SELECT id FROM image_images WHERE id NOT IN (SELECT image_id FROM image_tags)
                 AND id NOT IN (SELECT image_id FROM image_users)"
            };
            let ids: Vec<String> = {
                let mut st = tx.prepare(q)?;
                st.query_map([], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()?
            };
            for i in ids {
                let d = Digest::parse(&i)?;
                tx.execute("DELETE FROM image_tags WHERE image_id = ?1", [i.as_str()])?;
                tx.execute(
                    "DELETE FROM image_repo_digests WHERE image_id = ?1",
                    [i.as_str()],
                )?;
                trash.extend(self.delete_image_rows(&tx, &d)?);
                deleted.push(d);
            }
            tx.commit()?;
        }
        for t in trash {
            let _ = fs::remove_dir_all(&t);
        }
        Ok(deleted)
    }
}

fn tag_suffix(r: &Reference) -> String {
    match (&r.tag, &r.digest) {
        (_, Some(d)) => format!("@{d}"),
        (Some(t), None) => format!(":{t}"),
        _ => String::new(),
    }
}

fn is_id_prefix_of(s: &str, id: &Digest) -> bool {
    s.len() >= 4 && id.hex().starts_with(s)
}

fn strings(conn: &Connection, sql: &str, id: &Digest) -> Result<Vec<String>> {
    let mut st = conn.prepare(sql)?;
    let v = st
        .query_map([id.as_str()], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(v)
}
