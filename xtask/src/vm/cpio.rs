//! A writer for the kernel's initramfs format: an uncompressed cpio archive in the "newc"
//! (SVR4, no CRC) layout, which every Linux kernel unpacks without needing a decompressor.
//!
//! Each entry is a 110-byte ASCII header (magic `070701` and thirteen 8-digit hex fields),
//! the NUL-terminated name padded to 4 bytes, then the data padded to 4 bytes; the archive
//! ends with an entry named `TRAILER!!!`. Parent directories are emitted before their
//! contents, as the kernel's unpacker does not create them.

use std::collections::BTreeSet;
use std::io::{self, Write};

const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;
const S_IFCHR: u32 = 0o020000;

pub struct Cpio<W: Write> {
    out: W,
    next_ino: u32,
    dirs: BTreeSet<String>,
    written: u64,
}

impl<W: Write> Cpio<W> {
    pub fn new(out: W) -> Self {
        Cpio { out, next_ino: 1, dirs: BTreeSet::new(), written: 0 }
    }

    /// A directory (and its missing parents), mode 0755.
    pub fn dir(&mut self, path: &str) -> io::Result<()> {
        let path = path.trim_matches('/');
        if path.is_empty() || self.dirs.contains(path) {
            return Ok(());
        }
        if let Some((parent, _)) = path.rsplit_once('/') {
            self.dir(parent)?;
        }
        self.dirs.insert(path.to_string());
        self.entry(path, S_IFDIR | 0o755, 0, &[])
    }

    pub fn file(&mut self, path: &str, mode: u32, data: &[u8]) -> io::Result<()> {
        let path = self.parent_of(path)?;
        self.entry(&path, S_IFREG | (mode & 0o7777), 0, data)
    }

    pub fn symlink(&mut self, path: &str, target: &str) -> io::Result<()> {
        let path = self.parent_of(path)?;
        self.entry(&path, S_IFLNK | 0o777, 0, target.as_bytes())
    }

    pub fn char_device(&mut self, path: &str, mode: u32, major: u32, minor: u32) -> io::Result<()> {
        let path = self.parent_of(path)?;
        self.entry(&path, S_IFCHR | (mode & 0o7777), (major << 8) | minor, &[])
    }

    /// Writes the trailer and returns the writer and the archive's size in bytes.
    pub fn finish(mut self) -> io::Result<(W, u64)> {
        self.entry("TRAILER!!!", 0, 0, &[])?;
        self.out.flush()?;
        Ok((self.out, self.written))
    }

    fn parent_of(&mut self, path: &str) -> io::Result<String> {
        let path = path.trim_start_matches('/');
        if let Some((parent, _)) = path.rsplit_once('/') {
            self.dir(parent)?;
        }
        Ok(path.to_string())
    }

    /// `rdev` packs major << 8 | minor.
    fn entry(&mut self, name: &str, mode: u32, rdev: u32, data: &[u8]) -> io::Result<()> {
        let ino = self.next_ino;
        self.next_ino += 1;
        let nlink = if mode & 0o170000 == S_IFDIR { 2 } else { 1 };
        let fields = [
            ino,
            mode,
            0, // uid
            0, // gid
            nlink,
            0, // mtime: fixed, so the archive is reproducible
            u32::try_from(data.len()).map_err(|_| io::Error::other(format!("{name}: file too large for cpio")))?,
            0,
            0,
            rdev >> 8,
            rdev & 0xff,
            name.len() as u32 + 1,
            0, // check
        ];
        let mut header = String::with_capacity(110);
        header.push_str("070701");
        for f in fields {
            header.push_str(&format!("{f:08x}"));
        }
        self.put(header.as_bytes())?;
        self.put(name.as_bytes())?;
        self.put(&[0])?;
        self.pad()?;
        self.put(data)?;
        self.pad()
    }

    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    fn pad(&mut self) -> io::Result<()> {
        let n = (4 - (self.written % 4) as usize) % 4;
        self.put(&[0; 3][..n])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newc_layout() {
        let mut c = Cpio::new(Vec::new());
        c.file("/a/b", 0o755, b"hi!").unwrap();
        let (bytes, size) = c.finish().unwrap();
        assert_eq!(size as usize, bytes.len());
        assert_eq!(bytes.len() % 4, 0);
        let text = String::from_utf8_lossy(&bytes);
        // Directory "a" first, then the file, then the trailer.
        assert!(text.starts_with("070701"));
        let a = text.find("a\0").unwrap();
        let b = text.find("a/b\0").unwrap();
        let t = text.find("TRAILER!!!\0").unwrap();
        assert!(a < b && b < t);
        // The file's header: mode 0100755, size 3, name size 4.
        let h = &text[b - 110..b];
        assert_eq!(&h[14..22], "000081ed");
        assert_eq!(&h[54..62], "00000003");
        assert_eq!(&h[94..102], "00000004");
        let data = (b + 4 + 3) & !3;
        assert_eq!(&bytes[data..data + 3], b"hi!");
    }
}
