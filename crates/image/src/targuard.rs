//! A reader between decompression and the tar parser that bounds tar
//! extension headers (GNU long names/links, pax headers) to 1 MiB, so a
//! hostile layer cannot make the parser buffer gigabytes for a "name".
//!
//! It follows the tar block structure (headers, data padded to 512 bytes,
//! pax `size` overrides, GNU sparse extension blocks); anything it does not
//! understand makes it stop checking rather than refuse a valid layer.

use std::io::{self, Read};

/// Largest extension header accepted.
pub const MAX_EXTENSION: u64 = 1 << 20;

enum State {
    /// Collecting a 512-byte header block.
    Header,
    /// Passing `left` bytes of data + padding; `pax` collects pax data.
    Data { left: u64, collect: bool },
    /// GNU sparse extension blocks follow the header.
    SparseExt { data: u64 },
    /// Past the end marker or lost: pass everything through.
    Off,
}

/// See the module docs.
pub struct TarGuard<R> {
    inner: R,
    state: State,
    block: Vec<u8>,
    pax: Vec<u8>,
    pax_size: Option<u64>,
}

fn pad(n: u64) -> u64 {
    n.div_ceil(512) * 512
}

fn parse_size(f: &[u8]) -> Option<u64> {
    if f[0] & 0x80 != 0 {
        // base-256
        let mut v: u64 = 0;
        for (i, b) in f.iter().enumerate() {
            let b = if i == 0 { b & 0x7f } else { *b };
            v = v.checked_mul(256)?.checked_add(b as u64)?;
        }
        return Some(v);
    }
    let s: Vec<u8> = f
        .iter()
        .copied()
        .filter(|b| *b != 0 && *b != b' ')
        .collect();
    if s.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(std::str::from_utf8(&s).ok()?, 8).ok()
}

impl<R: Read> TarGuard<R> {
    /// Wraps a plain tar stream.
    pub fn new(inner: R) -> Self {
        TarGuard {
            inner,
            state: State::Header,
            block: Vec::with_capacity(512),
            pax: Vec::new(),
            pax_size: None,
        }
    }

    fn header(&mut self) -> io::Result<()> {
        let h = std::mem::take(&mut self.block);
        if h.iter().all(|b| *b == 0) {
            self.state = State::Off; // end-of-archive marker
            return Ok(());
        }
        let kind = h[156];
        let Some(size) = parse_size(&h[124..136]) else {
            self.state = State::Off;
            return Ok(());
        };
        let ext = matches!(kind, b'L' | b'K' | b'x' | b'g' | b'X');
        if ext && size > MAX_EXTENSION {
            return Err(io::Error::other(format!(
                "tar extension header of {size} bytes (type {:?}) exceeds the {MAX_EXTENSION}-byte limit",
                kind as char
            )));
        }
        let size = if ext {
            size
        } else {
            self.pax_size.take().unwrap_or(size)
        };
        if kind == b'x' {
            self.pax.clear();
        }
        // Entries without data: links, dirs, devices, fifos.
        let data = match kind {
            b'1' | b'2' | b'3' | b'4' | b'5' | b'6' => 0,
            _ => size,
        };
        if kind == b'S' && h[482] != 0 {
            self.state = State::SparseExt { data };
            return Ok(());
        }
        self.state = State::Data {
            left: pad(data),
            collect: kind == b'x',
        };
        if pad(data) == 0 {
            self.state = State::Header;
        }
        Ok(())
    }

    fn pax_done(&mut self) {
        // Records: "<len> key=value\n"; only `size` matters here.
        for line in self.pax.split(|b| *b == b'\n') {
            if let Some(i) = line.iter().position(|b| *b == b' ') {
                let rec = &line[i + 1..];
                if let Some(v) = rec.strip_prefix(b"size=") {
                    self.pax_size = std::str::from_utf8(v).ok().and_then(|s| s.parse().ok());
                }
            }
        }
        self.pax.clear();
    }

    fn feed(&mut self, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            match &mut self.state {
                State::Off => return Ok(()),
                State::Header | State::SparseExt { .. } => {
                    let take = (512 - self.block.len()).min(buf.len());
                    self.block.extend_from_slice(&buf[..take]);
                    buf = &buf[take..];
                    if self.block.len() == 512 {
                        if let State::SparseExt { data } = self.state {
                            let more = self.block[504] != 0;
                            self.block.clear();
                            if !more {
                                self.state = if data == 0 {
                                    State::Header
                                } else {
                                    State::Data {
                                        left: pad(data),
                                        collect: false,
                                    }
                                };
                            }
                        } else {
                            self.header()?;
                        }
                    }
                }
                State::Data { left, collect } => {
                    let take = (*left).min(buf.len() as u64) as usize;
                    if *collect {
                        self.pax.extend_from_slice(&buf[..take]);
                    }
                    *left -= take as u64;
                    buf = &buf[take..];
                    if *left == 0 {
                        if *collect {
                            self.pax_done();
                        }
                        self.state = State::Header;
                    }
                }
            }
        }
        Ok(())
    }
}

impl<R: Read> Read for TarGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.feed(&buf[..n])?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_normal_and_pax_and_refuses_huge_longname() {
        let mut b = tar::Builder::new(Vec::new());
        let long = "d/".repeat(200) + "file";
        let mut h = tar::Header::new_gnu();
        h.set_size(3);
        h.set_mode(0o644);
        b.append_data(&mut h, &long, &b"abc"[..]).unwrap();
        b.append_pax_extensions([("SCHILY.xattr.user.x", &b"1"[..])])
            .unwrap();
        let mut h = tar::Header::new_ustar();
        h.set_size(1000);
        b.append_data(&mut h, "f2", &[0u8; 1000][..]).unwrap();
        let t = b.into_inner().unwrap();
        let mut g = TarGuard::new(&t[..]);
        io::copy(&mut g, &mut io::sink()).unwrap();
        // A GNU long-name header announcing 2 MiB.
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::GNULongName);
        h.set_size(2 << 20);
        h.set_cksum();
        let mut t = h.as_bytes().to_vec();
        t.extend(vec![b'a'; 4096]);
        let e = io::copy(&mut TarGuard::new(&t[..]), &mut io::sink()).unwrap_err();
        assert!(e.to_string().contains("exceeds"), "{e}");
    }
}
