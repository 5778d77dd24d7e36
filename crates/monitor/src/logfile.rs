//! Docker's json-file log driver: one JSON object per line,
//! `{"log":"…\n","stream":"stdout","time":"…Z"}`, rotated by size.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;

/// Lines longer than this are split into several entries (as Docker does at 16 KiB).
const MAX_LINE: usize = 16 * 1024;

/// A json-file log with optional rotation.
pub struct JsonLog {
    path: PathBuf,
    file: Option<File>,
    size: u64,
    max_size: u64,
    max_file: u32,
    partial: [Vec<u8>; 2],
}

impl JsonLog {
    /// Opens (appends to) `path`. `max_size` 0 means no rotation.
    pub fn open(path: PathBuf, max_size: u64, max_file: u32) -> JsonLog {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .ok();
        let size = file
            .as_ref()
            .and_then(|f| f.metadata().ok())
            .map_or(0, |m| m.len());
        JsonLog {
            path,
            file,
            size,
            max_size,
            max_file: max_file.max(1),
            partial: [Vec::new(), Vec::new()],
        }
    }

    /// Adds output of `stream` (0 stdout, 1 stderr); complete lines are written.
    pub fn push(&mut self, stream: usize, data: &[u8]) {
        let mut buf = std::mem::take(&mut self.partial[stream]);
        buf.extend_from_slice(data);
        let mut start = 0;
        while let Some(i) = buf[start..].iter().position(|b| *b == b'\n') {
            let end = start + i + 1;
            self.entry(stream, &buf[start..end]);
            start = end;
        }
        while buf.len() - start >= MAX_LINE {
            self.entry(stream, &buf[start..start + MAX_LINE]);
            start += MAX_LINE;
        }
        buf.drain(..start);
        self.partial[stream] = buf;
    }

    /// Writes any incomplete last line of each stream.
    pub fn flush(&mut self) {
        for s in 0..2 {
            let buf = std::mem::take(&mut self.partial[s]);
            if !buf.is_empty() {
                self.entry(s, &buf);
            }
        }
    }

    fn entry(&mut self, stream: usize, line: &[u8]) {
        let mut out = Vec::with_capacity(line.len() + 80);
        out.extend_from_slice(b"{\"log\":\"");
        escape_json(&mut out, line);
        out.extend_from_slice(if stream == 0 {
            b"\",\"stream\":\"stdout\",\"time\":\""
        } else {
            b"\",\"stream\":\"stderr\",\"time\":\""
        });
        out.extend_from_slice(crate::sys::now_rfc3339().as_bytes());
        out.extend_from_slice(b"\"}\n");
        if self.max_size > 0 && self.size > 0 && self.size + out.len() as u64 > self.max_size {
            self.rotate();
        }
        if let Some(f) = self.file.as_mut()
            && f.write_all(&out).is_ok()
        {
            self.size += out.len() as u64;
        }
    }

    fn rotate(&mut self) {
        self.file = None;
        let name = |i: u32| {
            let mut p = self.path.clone().into_os_string();
            p.push(format!(".{i}"));
            PathBuf::from(p)
        };
        if self.max_file <= 1 {
            let _ = std::fs::remove_file(&self.path);
        } else {
            let _ = std::fs::remove_file(name(self.max_file - 1));
            for i in (1..self.max_file - 1).rev() {
                let _ = std::fs::rename(name(i), name(i + 1));
            }
            let _ = std::fs::rename(&self.path, name(1));
        }
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .truncate(false)
            .open(&self.path)
            .ok();
        self.size = 0;
    }
}

/// JSON string escaping; invalid UTF-8 bytes become U+FFFD as Go does.
fn escape_json(out: &mut Vec<u8>, data: &[u8]) {
    for chunk in data.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.extend_from_slice(b"\\\""),
                '\\' => out.extend_from_slice(b"\\\\"),
                '\n' => out.extend_from_slice(b"\\n"),
                '\r' => out.extend_from_slice(b"\\r"),
                '\t' => out.extend_from_slice(b"\\t"),
                c if (c as u32) < 0x20 => {
                    out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes())
                }
                c => {
                    let mut b = [0; 4];
                    out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
                }
            }
        }
        if !chunk.invalid().is_empty() {
            out.extend_from_slice("\u{fffd}".as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_json() {
        let mut o = Vec::new();
        escape_json(&mut o, b"a\"b\\c\n\x01\xff");
        assert_eq!(
            String::from_utf8(o).unwrap(),
            "a\\\"b\\\\c\\n\\u0001\u{fffd}"
        );
    }

    #[test]
    fn rotates_at_max_size_keeping_max_file() {
        let dir = std::env::temp_dir().join(format!("caixa-test-monlog-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("c-json.log");
        let mut l = JsonLog::open(p.clone(), 200, 3);
        for i in 0..40 {
            l.push(0, format!("line {i}\n").as_bytes());
        }
        l.flush();
        assert!(std::fs::metadata(&p).unwrap().len() <= 200);
        assert!(dir.join("c-json.log.1").exists());
        assert!(dir.join("c-json.log.2").exists());
        assert!(!dir.join("c-json.log.3").exists());
        let last = std::fs::read_to_string(&p).unwrap();
        assert!(last.contains("line 39\\n"), "{last}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
