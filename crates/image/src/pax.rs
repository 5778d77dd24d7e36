//! POSIX pax extended headers: reading the records a layer entry carries
//! (`uid`, `gid`, `mtime`, `SCHILY.xattr.*`; `path`, `linkpath` and `size`
//! are applied by the tar crate itself) and writing entries whose values do
//! not fit a ustar header (ids above 2^21-1, sizes of 8 GiB and more, long
//! names, times outside 0..8^11).

use std::io::{self, Read, Write};

use rustix::fs::Timespec;

/// Largest value of a ustar uid/gid field (7 octal digits).
pub const USTAR_MAX_ID: u64 = 0o7_777_777;
/// Largest value of a ustar size/mtime field (11 octal digits).
pub const USTAR_MAX_NUM: u64 = 0o77_777_777_777;

/// Metadata from an entry's pax records.
#[derive(Debug, Default)]
pub struct PaxMeta {
    /// `SCHILY.xattr.NAME` records: (NAME, value).
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
    /// `uid` record.
    pub uid: Option<u32>,
    /// `gid` record.
    pub gid: Option<u32>,
    /// `mtime` record (seconds with an optional fraction, may be negative).
    pub mtime: Option<Timespec>,
}

fn id(key: &str, v: &[u8]) -> Result<u32, String> {
    std::str::from_utf8(v)
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(|| format!("pax {key} {:?} is not a number", String::from_utf8_lossy(v)))
        .and_then(|n| u32::try_from(n).map_err(|_| format!("pax {key} {n} is out of range")))
}

/// Parses a pax time: `[-]SECONDS[.FRACTION]`.
pub fn parse_time(v: &[u8]) -> Option<Timespec> {
    let s = std::str::from_utf8(v).ok()?;
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    if secs.is_empty() || !secs.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs: i64 = secs.parse().ok()?;
    let mut nsec: i64 = 0;
    for (i, d) in frac.bytes().take(9).enumerate() {
        nsec += i64::from(d - b'0') * 10i64.pow(8 - i as u32);
    }
    Some(if !neg {
        Timespec {
            tv_sec: secs,
            tv_nsec: nsec as _,
        }
    } else if nsec == 0 {
        Timespec {
            tv_sec: -secs,
            tv_nsec: 0,
        }
    } else {
        Timespec {
            tv_sec: -secs - 1,
            tv_nsec: (1_000_000_000 - nsec) as _,
        }
    })
}

/// Reads the pax records of `e`; overlay-internal xattrs are dropped.
pub fn read<R: Read>(e: &mut tar::Entry<'_, R>) -> Result<PaxMeta, String> {
    let mut m = PaxMeta::default();
    let Some(exts) = e
        .pax_extensions()
        .map_err(|er| format!("bad pax header: {er}"))?
    else {
        return Ok(m);
    };
    for ext in exts {
        let ext = ext.map_err(|er| format!("bad pax record: {er}"))?;
        let (k, v) = (ext.key_bytes(), ext.value_bytes());
        match k {
            b"uid" => m.uid = Some(id("uid", v)?),
            b"gid" => m.gid = Some(id("gid", v)?),
            b"mtime" => {
                m.mtime = Some(parse_time(v).ok_or_else(|| {
                    format!("pax mtime {:?} is not a time", String::from_utf8_lossy(v))
                })?)
            }
            _ => {
                if let Some(name) = k.strip_prefix(b"SCHILY.xattr.") {
                    if name.starts_with(b"trusted.overlay.") || name.starts_with(b"user.overlay.") {
                        continue;
                    }
                    m.xattrs.push((name.to_vec(), v.to_vec()));
                }
            }
        }
    }
    Ok(m)
}

/// An entry to write: what a ustar header holds, at any size.
pub struct Entry<'a> {
    /// Path inside the archive.
    pub path: &'a str,
    /// Symlink or hardlink target.
    pub link: Option<&'a str>,
    /// Entry type.
    pub kind: tar::EntryType,
    /// Permission bits.
    pub mode: u32,
    /// Owner.
    pub uid: u64,
    /// Group.
    pub gid: u64,
    /// Modification time (seconds).
    pub mtime: i64,
    /// Data size.
    pub size: u64,
}

impl Entry<'_> {
    /// The pax records needed for the values a ustar header cannot hold.
    pub fn pax_records(&self) -> Vec<(&'static str, Vec<u8>)> {
        let mut r = Vec::new();
        if self.path.len() > 100 || !self.path.is_ascii() {
            r.push(("path", self.path.as_bytes().to_vec()));
        }
        if let Some(l) = self.link
            && (l.len() > 100 || !l.is_ascii())
        {
            r.push(("linkpath", l.as_bytes().to_vec()));
        }
        if self.uid > USTAR_MAX_ID {
            r.push(("uid", self.uid.to_string().into_bytes()));
        }
        if self.gid > USTAR_MAX_ID {
            r.push(("gid", self.gid.to_string().into_bytes()));
        }
        if self.size > USTAR_MAX_NUM {
            r.push(("size", self.size.to_string().into_bytes()));
        }
        if self.mtime < 0 || self.mtime as u64 > USTAR_MAX_NUM {
            r.push(("mtime", self.mtime.to_string().into_bytes()));
        }
        r
    }

    /// Writes a pax header when needed, then a ustar header and `data`
    /// (exactly `size` bytes).
    pub fn write<W: Write>(&self, b: &mut tar::Builder<W>, data: impl Read) -> io::Result<()> {
        let pax = self.pax_records();
        if !pax.is_empty() {
            b.append_pax_extensions(pax.iter().map(|(k, v)| (*k, v.as_slice())))?;
        }
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(self.kind);
        h.set_mode(self.mode);
        h.set_uid(self.uid.min(USTAR_MAX_ID));
        h.set_gid(self.gid.min(USTAR_MAX_ID));
        h.set_mtime(self.mtime.clamp(0, USTAR_MAX_NUM as i64) as u64);
        h.set_size(self.size.min(USTAR_MAX_NUM));
        // Names a ustar header cannot hold are in the pax record; the header
        // gets a truncated stand-in, as GNU tar and Go's archive/tar write.
        let short = |s: &str| -> String {
            if s.len() <= 100 && s.is_ascii() {
                return s.to_string();
            }
            s.chars()
                .filter(char::is_ascii)
                .scan(0, |n, c| {
                    *n += 1;
                    (*n <= 100).then_some(c)
                })
                .collect()
        };
        h.as_old_mut().name.fill(0);
        let p = short(self.path);
        h.as_old_mut().name[..p.len()].copy_from_slice(p.as_bytes());
        if let Some(l) = self.link {
            let l = short(l);
            h.as_old_mut().linkname[..l.len()].copy_from_slice(l.as_bytes());
        }
        h.set_cksum();
        // The ustar size field holds at most 8 GiB - 1: write the data
        // ourselves so a pax size above it is honoured.
        b.append(&h, io::empty())?;
        let w = b.get_mut();
        let n = io::copy(&mut data.take(self.size), w)?;
        if n != self.size {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("{}: {} of {} bytes", self.path, n, self.size),
            ));
        }
        let pad = (512 - (self.size % 512) as usize) % 512;
        w.write_all(&[0u8; 512][..pad])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_with_fractions_and_signs() {
        let t = parse_time(b"1600000000.5").unwrap();
        assert_eq!((t.tv_sec, t.tv_nsec), (1_600_000_000, 500_000_000));
        let t = parse_time(b"-1.25").unwrap();
        assert_eq!((t.tv_sec, t.tv_nsec), (-2, 750_000_000));
        assert_eq!(parse_time(b"12").unwrap().tv_sec, 12);
        assert!(parse_time(b"x").is_none());
        assert!(parse_time(b"1.2.3").is_none());
        assert!(parse_time(b"").is_none());
    }

    #[test]
    fn big_values_round_trip_through_pax() {
        let long = format!("dir/{}", "n".repeat(150));
        let link = format!("/{}", "t".repeat(120));
        let mut b = tar::Builder::new(Vec::new());
        Entry {
            path: &long,
            link: None,
            kind: tar::EntryType::Regular,
            mode: 0o640,
            uid: 3_000_000,
            gid: 4_000_000,
            mtime: 1 << 34,
            size: 3,
        }
        .write(&mut b, &b"abc"[..])
        .unwrap();
        Entry {
            path: "l",
            link: Some(&link),
            kind: tar::EntryType::Symlink,
            mode: 0o777,
            uid: 1,
            gid: 1,
            mtime: -5,
            size: 0,
        }
        .write(&mut b, io::empty())
        .unwrap();
        let data = b.into_inner().unwrap();
        let mut a = tar::Archive::new(&data[..]);
        let mut it = a.entries().unwrap();
        let mut e = it.next().unwrap().unwrap();
        assert_eq!(&*e.path_bytes(), long.as_bytes());
        assert_eq!(e.size(), 3);
        let m = read(&mut e).unwrap();
        assert_eq!((m.uid, m.gid), (Some(3_000_000), Some(4_000_000)));
        assert_eq!(m.mtime.unwrap().tv_sec, 1 << 34);
        let mut s = String::new();
        e.read_to_string(&mut s).unwrap();
        assert_eq!(s, "abc");
        let mut e = it.next().unwrap().unwrap();
        assert_eq!(&*e.link_name_bytes().unwrap(), link.as_bytes());
        assert_eq!(read(&mut e).unwrap().mtime.unwrap().tv_sec, -5);
        assert!(it.next().is_none());
        // A size the ustar field cannot hold gets a pax record.
        let big = Entry {
            path: "blob",
            link: None,
            kind: tar::EntryType::Regular,
            mode: 0o644,
            uid: 0,
            gid: 0,
            mtime: 0,
            size: 9 << 30,
        };
        assert_eq!(
            big.pax_records(),
            vec![("size", (9u64 << 30).to_string().into_bytes())]
        );
    }

    #[test]
    fn bad_pax_ids_are_refused() {
        let mut b = tar::Builder::new(Vec::new());
        b.append_pax_extensions([("uid", &b"5000000000"[..])])
            .unwrap();
        let mut h = tar::Header::new_ustar();
        h.set_size(0);
        h.set_cksum();
        b.append_data(&mut h, "f", io::empty()).unwrap();
        let data = b.into_inner().unwrap();
        let mut a = tar::Archive::new(&data[..]);
        let mut e = a.entries().unwrap().next().unwrap().unwrap();
        assert_eq!(
            read(&mut e).unwrap_err(),
            "pax uid 5000000000 is out of range"
        );
    }
}
