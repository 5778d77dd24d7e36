//! Pulling a layer straight from the network: the download (async) feeds
//! chunks through a bounded channel to a blocking thread that tees them into
//! the blob file (hashing) while decompressing and untarring them into a
//! temp layer dir. The layer is renamed into place only after its diff_id
//! and then the whole blob's digest were verified; on any error the temp
//! layer dir and the temp blob are removed before the error is returned.

use std::io::{self, Read};

use bytes::{Buf, Bytes};
use futures_util::StreamExt;
use tokio::sync::mpsc;

use crate::blobs::BlobStore;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::import::Tee;
use crate::layers::LayerStore;
use crate::manifest::Descriptor;
use crate::registry::{Event, Progress};
use crate::session::Session;

/// A chunk, or the reason the download stopped.
type Chunk = std::result::Result<Bytes, String>;

/// Chunks in flight between the download and the unpacker (~ 8 × 16 KiB-1 MiB).
const CHANNEL_DEPTH: usize = 8;

/// The blocking side: reads chunks from the channel.
struct ChannelReader {
    rx: mpsc::Receiver<Chunk>,
    cur: Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while !self.cur.has_remaining() {
            match self.rx.blocking_recv() {
                Some(Ok(b)) => self.cur = b,
                Some(Err(why)) => return Err(io::Error::other(why)),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len());
        self.cur.copy_to_slice(&mut buf[..n]);
        Ok(n)
    }
}

impl Drop for ChannelReader {
    /// Reads what is left of the download (bounded by the descriptor size),
    /// so that after a failed unpack the download still finishes and a
    /// corrupted transfer is reported as such. Runs on the blocking thread.
    fn drop(&mut self) {
        while let Some(Ok(_)) = self.rx.blocking_recv() {}
    }
}

/// Unpacks the layer from the channel while writing the blob; publishes
/// the layer only when diff_id and blob digest match.
fn unpack_channel(
    layers: &LayerStore,
    blobs: &BlobStore,
    rx: mpsc::Receiver<Chunk>,
    blob: &Digest,
    diff_id: &Digest,
) -> Result<()> {
    let tee = Tee {
        r: ChannelReader {
            rx,
            cur: Bytes::new(),
        },
        w: blobs.writer()?,
    };
    layers
        .unpack_then(tee, Some(diff_id), blob.as_str(), |mut tee| {
            // Compressed bytes after the tar's end still belong to the blob.
            io::copy(&mut tee, &mut io::sink())
                .map_err(|e| crate::error::io_err(format!("read layer {blob}"), e))?;
            tee.w.commit(Some(blob)).map(drop)
        })
        .map(drop)
}

/// Downloads blob `d` and unpacks it as layer `diff_id` in one pass.
pub(crate) async fn fetch_and_unpack(
    layers: &LayerStore,
    blobs: &BlobStore,
    s: &Session,
    oref: &oci_client::Reference,
    d: &Descriptor,
    diff_id: &Digest,
    progress: &dyn Progress,
) -> Result<()> {
    let (tx, rx) = mpsc::channel::<Chunk>(CHANNEL_DEPTH);
    let (l, b, blob, diff) = (
        layers.clone(),
        blobs.clone(),
        d.digest.clone(),
        diff_id.clone(),
    );
    let unpack = tokio::task::spawn_blocking(move || unpack_channel(&l, &b, rx, &blob, &diff));
    let dl = download(s, oref, d, progress, &tx).await;
    if let Err(e) = &dl {
        let _ = tx.send(Err(e.to_string())).await;
    }
    drop(tx);
    let up = unpack.await.map_err(|e| Error::Registry {
        registry: s.reg.clone(),
        reason: format!("unpack task for layer {} failed: {e}", d.digest),
    })?;
    // A download error is the cause of whatever the unpacker then saw.
    dl.and(up)
}

/// Streams the blob into `tx`; stops quietly when the unpacker is gone.
async fn download(
    s: &Session,
    oref: &oci_client::Reference,
    d: &Descriptor,
    progress: &dyn Progress,
    tx: &mpsc::Sender<Chunk>,
) -> Result<()> {
    let id = d.digest.short().to_string();
    let mut stream = s
        .client
        .pull_blob_stream(oref, d.digest.as_str())
        .await
        .map_err(|e| s.err(&format!("fetch layer {}", d.digest), e))?;
    let mut done = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| chunk_err(s, d, e))?;
        done += chunk.len() as u64;
        if done > d.size {
            return Err(Error::Registry {
                registry: s.reg.clone(),
                reason: format!(
                    "layer {} is larger than its descriptor says ({} bytes)",
                    d.digest, d.size
                ),
            });
        }
        if tx.send(Ok(chunk)).await.is_err() {
            return Ok(());
        }
        progress.event(Event::Bytes {
            id: id.clone(),
            done,
        });
    }
    progress.event(Event::Status {
        id,
        status: "Download complete".into(),
    });
    Ok(())
}

/// A failed chunk: a digest mismatch found by oci-client's verifying
/// stream is final; anything else is a transfer error (retried).
pub(crate) fn chunk_err(s: &Session, d: &Descriptor, e: io::Error) -> Error {
    use oci_client::errors::DigestError;
    if let Some(DigestError::VerificationError { expected, actual }) =
        e.get_ref().and_then(|i| i.downcast_ref::<DigestError>())
    {
        return Error::DigestMismatch {
            what: format!("layer {} from {}", d.digest, s.reg),
            expected: expected.clone(),
            actual: actual.clone(),
        };
    }
    Error::Registry {
        registry: s.reg.clone(),
        reason: format!("fetch layer {}: download interrupted: {e}", d.digest),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer() -> (Vec<u8>, Digest, Digest) {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_ustar();
        let data = vec![7u8; 300_000];
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, "f", &data[..]).unwrap();
        let tar = b.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        io::Write::write_all(&mut gz, &tar).unwrap();
        let gz = gz.finish().unwrap();
        (gz.clone(), Digest::of(&gz), Digest::of(&tar))
    }

    /// Feeds `gz` in 4 KiB chunks (then `tail`) from a thread and unpacks it.
    fn run(
        store: &crate::Store,
        gz: Vec<u8>,
        tail: Option<Chunk>,
        blob: &Digest,
        diff: &Digest,
    ) -> Result<()> {
        let (tx, rx) = mpsc::channel::<Chunk>(CHANNEL_DEPTH);
        let feeder = std::thread::spawn(move || {
            for c in gz.chunks(4096) {
                if tx.blocking_send(Ok(Bytes::copy_from_slice(c))).is_err() {
                    return false;
                }
            }
            if let Some(t) = tail {
                let _ = tx.blocking_send(t);
            }
            true
        });
        let r = unpack_channel(store.layers(), store.blobs(), rx, blob, diff);
        // The feeder always finishes: the reader drains after a failure.
        assert!(feeder.join().unwrap(), "feeder was cut off");
        r
    }

    fn empty(dir: &std::path::Path) -> bool {
        std::fs::read_dir(dir)
            .map(|mut d| d.next().is_none())
            .unwrap_or(true)
    }

    #[test]
    fn layer_is_published_only_after_both_digests_match() {
        let t = tempfile::Builder::new()
            .prefix("caixa-test-stream-")
            .tempdir()
            .unwrap();
        let store = crate::Store::open(t.path()).unwrap();
        let (gz, blob, diff) = layer();
        let img = t.path().join("image");
        // Right diff_id, wrong blob digest: nothing visible, nothing left.
        let wrong = Digest::of(b"another blob");
        let e = run(&store, gz.clone(), None, &wrong, &diff).unwrap_err();
        assert!(matches!(e, Error::DigestMismatch { .. }), "{e}");
        assert!(!store.has_layer(&diff) && !store.blobs().exists(&blob));
        assert!(empty(&img.join("layers")) && empty(&img.join("tmp")));
        // Wrong diff_id.
        let e = run(&store, gz.clone(), None, &blob, &wrong).unwrap_err();
        assert!(e.to_string().contains("diff_id"), "{e}");
        assert!(empty(&img.join("layers")) && empty(&img.join("tmp")));
        assert!(!store.blobs().exists(&blob));
        // The download fails after all bytes arrived.
        let e = run(
            &store,
            gz.clone(),
            Some(Err("connection reset".into())),
            &blob,
            &diff,
        )
        .unwrap_err();
        assert!(e.to_string().contains("connection reset"), "{e}");
        assert!(empty(&img.join("layers")) && empty(&img.join("tmp")));
        // Garbage: refused early, the rest of the stream is still read.
        let mut bad = gz.clone();
        bad.truncate(40);
        bad.extend(std::iter::repeat_n(0x55u8, 200_000));
        assert!(run(&store, bad, None, &blob, &diff).is_err());
        assert!(empty(&img.join("layers")) && empty(&img.join("tmp")));
        // Good.
        run(&store, gz, None, &blob, &diff).unwrap();
        assert!(store.has_layer(&diff) && store.blobs().exists(&blob));
        assert!(empty(&img.join("tmp")));
    }
}
