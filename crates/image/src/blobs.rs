//! Content-addressed blob store: `ROOT/image/blobs/sha256/<hex>`.
//!
//! Blobs are written to a temp file under `ROOT/image/tmp`, hashed while
//! written, fsync'd, verified against the expected digest and only then
//! renamed into place: a blob path either does not exist or holds exactly
//! the bytes its name promises.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::digest::{Digest, HashingWriter};
use crate::error::{IoContext, Result};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A name unique across processes and threads for temp files/dirs.
pub(crate) fn unique_name(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}-{}-{n}-{nanos}", std::process::id())
}

/// The blob store.
#[derive(Clone, Debug)]
pub struct BlobStore {
    dir: PathBuf,
    tmp: PathBuf,
}

/// A blob being written; removed on drop unless committed.
pub struct BlobWriter {
    w: Option<HashingWriter<io::BufWriter<File>>>,
    tmp: PathBuf,
    store: BlobStore,
    committed: bool,
}

impl BlobStore {
    /// Opens (creating) the store's directories.
    pub fn open(image_dir: &Path) -> Result<BlobStore> {
        let dir = image_dir.join("blobs/sha256");
        let tmp = image_dir.join("tmp");
        for d in [&dir, &tmp] {
            fs::create_dir_all(d).ctx(|| format!("create {}", d.display()))?;
        }
        Ok(BlobStore { dir, tmp })
    }

    /// Path of a blob (which may not exist).
    pub fn path(&self, d: &Digest) -> PathBuf {
        self.dir.join(d.hex())
    }

    /// True when the blob is present.
    pub fn exists(&self, d: &Digest) -> bool {
        self.path(d).is_file()
    }

    /// The temp directory (same filesystem as the store).
    pub fn tmp_dir(&self) -> &Path {
        &self.tmp
    }

    /// Starts writing a new blob.
    pub fn writer(&self) -> Result<BlobWriter> {
        let tmp = self.tmp.join(unique_name("blob"));
        let f = File::options()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .ctx(|| format!("create {}", tmp.display()))?;
        Ok(BlobWriter {
            w: Some(HashingWriter::new(io::BufWriter::with_capacity(1 << 20, f))),
            tmp,
            store: self.clone(),
            committed: false,
        })
    }

    /// Stores bytes, verifying `expected` when given.
    pub fn put_bytes(&self, bytes: &[u8], expected: Option<&Digest>) -> Result<Digest> {
        let d = Digest::of(bytes);
        if let Some(e) = expected {
            e.verify(&d, "blob")?;
        }
        if self.exists(&d) {
            return Ok(d);
        }
        let mut w = self.writer()?;
        w.write_all(bytes).ctx(|| "write blob".to_string())?;
        w.commit(Some(&d))?;
        Ok(d)
    }

    /// Stores a stream, verifying `expected` when given.
    pub fn put_reader(&self, mut r: impl Read, expected: Option<&Digest>) -> Result<(Digest, u64)> {
        let mut w = self.writer()?;
        io::copy(&mut r, &mut w).ctx(|| "write blob".to_string())?;
        w.commit(expected)
    }

    /// Opens a blob for reading.
    pub fn open_blob(&self, d: &Digest) -> Result<File> {
        let p = self.path(d);
        File::open(&p).ctx(|| format!("open blob {d}"))
    }

    /// Reads a (small) blob fully, re-verifying its digest.
    pub fn read(&self, d: &Digest) -> Result<Vec<u8>> {
        let bytes = fs::read(self.path(d)).ctx(|| format!("read blob {d}"))?;
        d.verify(&Digest::of(&bytes), &format!("stored blob {d}"))?;
        Ok(bytes)
    }

    /// Size of a stored blob.
    pub fn size(&self, d: &Digest) -> Result<u64> {
        Ok(fs::metadata(self.path(d))
            .ctx(|| format!("stat blob {d}"))?
            .len())
    }

    /// Removes a blob (missing is fine).
    pub fn remove(&self, d: &Digest) -> Result<()> {
        match fs::remove_file(self.path(d)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                Err(crate::error::io_err(format!("remove blob {d}"), e))
            }
            _ => Ok(()),
        }
    }
}

impl BlobWriter {
    /// Verifies, syncs and renames the blob into place; returns digest and size.
    pub fn commit(mut self, expected: Option<&Digest>) -> Result<(Digest, u64)> {
        let Some(w) = self.w.take() else {
            unreachable!("commit called once")
        };
        let (buf, d, n) = w.finish();
        let f = buf
            .into_inner()
            .map_err(|e| crate::error::io_err("flush blob", e.into_error()))?;
        if let Some(e) = expected {
            e.verify(&d, &format!("blob {e}"))?;
        }
        f.sync_all().ctx(|| format!("sync blob {d}"))?;
        let dst = self.store.path(&d);
        fs::rename(&self.tmp, &dst).ctx(|| format!("store blob {d}"))?;
        self.committed = true;
        Ok((d, n))
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.w {
            Some(w) => w.write(buf),
            None => Err(io::Error::other("blob already committed")),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match &mut self.w {
            Some(w) => w.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}
