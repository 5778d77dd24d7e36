//! Unpacked layers: `ROOT/image/layers/<diff_id hex>/{diff,size}`, each
//! unpacked once (into a temp dir, verified, then renamed into place) and
//! shared by every image that uses it.

use std::fs;
use std::io::Read;
use std::path::PathBuf;

use crate::blobs::{BlobStore, unique_name};
use crate::digest::Digest;
use crate::error::{IoContext, Result};
use crate::unpack::{self, Unpacked};

/// The layer store; cheap to clone and `'static`, for worker threads.
#[derive(Clone, Debug)]
pub struct LayerStore {
    dir: PathBuf,
    blobs: BlobStore,
}

impl LayerStore {
    pub(crate) fn new(dir: PathBuf, blobs: BlobStore) -> LayerStore {
        LayerStore { dir, blobs }
    }

    /// Directory holding the unpacked layer (`.../layers/<hex>`; content in `diff/`).
    pub fn layer_dir(&self, diff_id: &Digest) -> PathBuf {
        self.dir.join(diff_id.hex())
    }

    /// The overlay lower directory of a layer.
    pub fn layer_diff(&self, diff_id: &Digest) -> PathBuf {
        self.layer_dir(diff_id).join("diff")
    }

    /// True when the layer is unpacked.
    pub fn has_layer(&self, diff_id: &Digest) -> bool {
        self.layer_dir(diff_id).join("size").is_file()
    }

    /// Uncompressed size of an unpacked layer (0 when unknown).
    pub fn layer_size(&self, diff_id: &Digest) -> u64 {
        fs::read_to_string(self.layer_dir(diff_id).join("size"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    }

    /// Unpacks a layer from a raw (maybe compressed) stream into the store,
    /// once: if `expected` is already unpacked the stream is not read.
    /// The diff_id is verified against `expected` before the layer becomes visible.
    pub fn unpack_layer_from(
        &self,
        raw: impl Read,
        expected: Option<&Digest>,
        name: &str,
    ) -> Result<Unpacked> {
        if let Some(d) = expected
            && self.has_layer(d)
        {
            return Ok(Unpacked {
                diff_id: d.clone(),
                size: self.layer_size(d),
            });
        }
        self.unpack_then(raw, expected, name, |_| Ok(()))
    }

    /// Unpacks `raw` into a temp dir and verifies the diff_id; then runs
    /// `publish` on the rest of `raw` (e.g. to verify and commit the blob
    /// it was read from), and only when that succeeds moves the layer into
    /// place. On any error the temp dir is removed.
    pub(crate) fn unpack_then<R: Read>(
        &self,
        mut raw: R,
        expected: Option<&Digest>,
        name: &str,
        publish: impl FnOnce(R) -> Result<()>,
    ) -> Result<Unpacked> {
        let tmp = self.blobs.tmp_dir().join(unique_name("layer"));
        let diff = tmp.join("diff");
        fs::create_dir_all(&diff).ctx(|| format!("create {}", diff.display()))?;
        let res = (|| {
            let u = unpack::unpack_layer(&mut raw, &diff, name)?;
            if let Some(d) = expected {
                d.verify(&u.diff_id, &format!("layer {name} (diff_id)"))?;
            }
            fs::write(tmp.join("size"), u.size.to_string()).ctx(|| "write layer size".into())?;
            publish(raw)?;
            Ok(u)
        })();
        let u = match res {
            Ok(u) => u,
            Err(e) => {
                let _ = fs::remove_dir_all(&tmp);
                return Err(e);
            }
        };
        let dst = self.layer_dir(&u.diff_id);
        if let Err(e) = fs::rename(&tmp, &dst) {
            let _ = fs::remove_dir_all(&tmp);
            // Another process unpacked the same layer first: use theirs.
            if !self.has_layer(&u.diff_id) {
                return Err(crate::error::io_err(
                    format!("store layer {}", u.diff_id),
                    e,
                ));
            }
        }
        Ok(u)
    }

    /// Unpacks a stored blob as a layer (no-op when already unpacked).
    pub fn unpack_blob(&self, blob: &Digest, expected: Option<&Digest>) -> Result<Unpacked> {
        if let Some(d) = expected
            && self.has_layer(d)
        {
            return self.unpack_layer_from(std::io::empty(), expected, blob.as_str());
        }
        let f = self.blobs.open_blob(blob)?;
        self.unpack_layer_from(f, expected, blob.as_str())
    }
}
