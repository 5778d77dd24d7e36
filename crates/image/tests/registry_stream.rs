//! Pull while the layer streams: a TCP proxy on 127.0.0.1 in front of the
//! registry cuts connections in the middle of a large layer. The pull
//! retries and ends with the right image; when every attempt is cut it fails
//! with one line and leaves no layer, blob or temp file behind.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use caixa_image::registry::{NoProgress, RegistryOptions};
use common::*;

/// Forwards 127.0.0.1:PORT to `upstream`; the first `cuts` connections that
/// carry more than 256 KiB towards the client are cut there.
struct Proxy {
    addr: String,
    cuts: Arc<AtomicUsize>,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl Proxy {
    fn start(upstream: &str, cuts: usize) -> Proxy {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let cuts = Arc::new(AtomicUsize::new(cuts));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (up, c, s) = (upstream.to_string(), cuts.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in l.incoming() {
                if s.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(down) = conn else { continue };
                let Ok(upc) = TcpStream::connect(&up) else {
                    continue;
                };
                let (mut d1, mut u1) = (down.try_clone().unwrap(), upc.try_clone().unwrap());
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut d1, &mut u1);
                    let _ = u1.shutdown(Shutdown::Write);
                });
                let c = c.clone();
                std::thread::spawn(move || {
                    let (mut u, mut d) = (upc, down);
                    let mut buf = [0u8; 16 << 10];
                    let mut sent = 0usize;
                    loop {
                        let n = match u.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        if d.write_all(&buf[..n]).is_err() {
                            break;
                        }
                        sent += n;
                        if sent > 256 << 10
                            && c.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| {
                                v.checked_sub(1)
                            })
                            .is_ok()
                        {
                            break;
                        }
                    }
                    let _ = d.shutdown(Shutdown::Both);
                    let _ = u.shutdown(Shutdown::Both);
                });
            }
        });
        Proxy { addr, cuts, stop }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(&self.addr);
    }
}

/// Pushes a one-layer image with 4 MiB of incompressible data.
fn push_big(store: &caixa_image::Store, name: &str) -> caixa_image::Image {
    let data = noise(4 << 20, 0x2545f4914f6cdd1d);
    let tar = tar_of(&[E::Dir("d"), E::File("d/big.bin", &data)]);
    let img = one_layer_image(store, &tar, name);
    store
        .push(name, &RegistryOptions::default(), &NoProgress)
        .unwrap();
    img
}

fn nothing_left(root: &TestRoot) {
    for d in ["image/layers", "image/blobs/sha256", "image/tmp"] {
        assert!(tree(&root.path().join(d)).is_empty(), "{d} not empty");
    }
}

#[test]
fn cut_downloads_are_retried_or_fail_cleanly() {
    let reg = Registry::start("stream", None);
    let src = TestRoot::new("stream-src");
    let img = push_big(&src.store(), &format!("{}/caixa-test/big:v1", reg.addr));
    let opts = RegistryOptions::default();

    // One cut: the retry completes the pull.
    let proxy = Proxy::start(&reg.addr, 1);
    let dst = TestRoot::new("stream-dst");
    let s = dst.store();
    let pulled = s
        .pull(
            &format!("{}/caixa-test/big:v1", proxy.addr),
            &opts,
            &NoProgress,
        )
        .unwrap();
    assert_eq!(proxy.cuts.load(Ordering::SeqCst), 0, "the proxy never cut");
    assert_eq!(pulled.id, img.id);
    assert_eq!(pulled.layers, img.layers);
    let got = std::fs::read(s.layer_diff(&pulled.layers[0].diff_id).join("d/big.bin")).unwrap();
    assert_eq!(got.len(), 4 << 20);
    assert!(tree(&dst.path().join("image/tmp")).is_empty());
    drop(proxy);

    // Every attempt cut: one line, nothing half-written left.
    let proxy = Proxy::start(&reg.addr, usize::MAX);
    let dst = TestRoot::new("stream-dst-fail");
    let e = dst
        .store()
        .pull(
            &format!("{}/caixa-test/big:v1", proxy.addr),
            &opts,
            &NoProgress,
        )
        .unwrap_err()
        .to_string();
    eprintln!("error: {e}");
    assert!(!e.contains('\n') && e.contains(&proxy.addr), "{e}");
    assert!(
        e.contains("fetch layer") && e.contains("download interrupted"),
        "{e}"
    );
    assert!(dst.store().list().unwrap().is_empty());
    nothing_left(&dst);
}
