//! Tar and compression helpers that write names byte for byte.
//!
//! `tar::Header::set_path` normalizes `./usr/bin/x` to `usr/bin/x` and refuses `..` and
//! absolute paths. Real `.deb` members use `./`-prefixed names and the hostile fixtures need
//! exactly the names tar-rs refuses, so names are copied into the header fields directly,
//! with a GNU `././@LongLink` record in front when they do not fit in 100 bytes.

use std::io::Write;

use tar::{EntryType, Header};

/// Fixed modification time of every member (2023-11-14T22:13:20Z), so fixtures are
/// byte-for-byte reproducible apart from signatures.
pub(crate) const MTIME: u64 = 1_700_000_000;

/// The kind of a raw tar entry written with [`DebBuilder::raw_data_entry`](crate::DebBuilder::raw_data_entry).
///
/// For `Symlink` and `Hardlink` the entry's "contents" argument is the link target;
/// for devices and FIFOs it is ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RawKind {
    /// A regular file (mode 0644).
    File,
    /// A directory (mode 0755).
    Dir,
    /// A symbolic link; contents = target.
    Symlink,
    /// A hard link; contents = target member name.
    Hardlink,
    /// A character device 1:3 (like `/dev/null`).
    CharDevice,
    /// A block device 8:0.
    BlockDevice,
    /// A named pipe.
    Fifo,
}

/// How `data.tar` is compressed inside the `.deb`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Compression {
    /// `data.tar.xz` (what Debian uses).
    #[default]
    Xz,
    /// `data.tar.gz`.
    Gzip,
    /// `data.tar`, uncompressed (dpkg accepts it).
    None,
}

impl Compression {
    /// The ar member name for a tarball compressed this way, e.g. `data.tar.xz`.
    pub fn member_name(self, stem: &str) -> String {
        match self {
            Compression::Xz => format!("{stem}.tar.xz"),
            Compression::Gzip => format!("{stem}.tar.gz"),
            Compression::None => format!("{stem}.tar"),
        }
    }

    /// Compresses `data`.
    pub fn compress(self, data: &[u8]) -> Vec<u8> {
        match self {
            Compression::Xz => xz(data),
            Compression::Gzip => {
                let mut enc =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
                enc.write_all(data).expect("gzip into memory");
                enc.finish().expect("gzip into memory")
            }
            Compression::None => data.to_vec(),
        }
    }
}

/// xz-compresses `data` (preset 1: the fixtures are tiny and tests should stay fast).
pub fn xz(data: &[u8]) -> Vec<u8> {
    let options = lzma_rust2::XzOptions::with_preset(1);
    let mut w = lzma_rust2::XzWriter::new(Vec::new(), options).expect("xz encoder");
    w.write_all(data).expect("xz into memory");
    w.finish().expect("xz into memory")
}

/// One member to write into a tarball.
pub(crate) struct Member<'a> {
    pub name: &'a [u8],
    pub kind: RawKind,
    pub mode: u32,
    pub link: &'a [u8],
    pub data: &'a [u8],
}

/// An in-memory tar writer (GNU format, root:root, fixed mtime).
pub(crate) struct TarWriter {
    builder: tar::Builder<Vec<u8>>,
}

impl TarWriter {
    pub fn new() -> Self {
        TarWriter {
            builder: tar::Builder::new(Vec::new()),
        }
    }

    pub fn append(&mut self, m: &Member<'_>) {
        let (entry_type, size) = match m.kind {
            RawKind::File => (EntryType::Regular, m.data.len() as u64),
            RawKind::Dir => (EntryType::Directory, 0),
            RawKind::Symlink => (EntryType::Symlink, 0),
            RawKind::Hardlink => (EntryType::Link, 0),
            RawKind::CharDevice => (EntryType::Char, 0),
            RawKind::BlockDevice => (EntryType::Block, 0),
            RawKind::Fifo => (EntryType::Fifo, 0),
        };
        if m.name.len() > 100 {
            self.long_link(EntryType::GNULongName, m.name);
        }
        if m.link.len() > 100 {
            self.long_link(EntryType::GNULongLink, m.link);
        }
        let mut header = Header::new_gnu();
        header.set_entry_type(entry_type);
        header.set_size(size);
        header.set_mode(m.mode);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(MTIME);
        header.set_username("root").expect("user name fits");
        header.set_groupname("root").expect("group name fits");
        match m.kind {
            RawKind::CharDevice => set_device(&mut header, 1, 3),
            RawKind::BlockDevice => set_device(&mut header, 8, 0),
            _ => {}
        }
        let old = header.as_old_mut();
        copy_truncated(&mut old.name, m.name);
        copy_truncated(&mut old.linkname, m.link);
        header.set_cksum();
        let data: &[u8] = if size == 0 { &[] } else { m.data };
        self.builder.append(&header, data).expect("tar into memory");
    }

    /// A GNU long-name (`L`) or long-link (`K`) record holding `value` NUL-terminated.
    fn long_link(&mut self, kind: EntryType, value: &[u8]) {
        let mut header = Header::new_gnu();
        header.set_entry_type(kind);
        header.set_size(value.len() as u64 + 1);
        header.set_mode(0o644);
        header.set_mtime(0);
        copy_truncated(&mut header.as_old_mut().name, b"././@LongLink");
        header.set_cksum();
        let mut data = value.to_vec();
        data.push(0);
        self.builder
            .append(&header, data.as_slice())
            .expect("tar into memory");
    }

    pub fn finish(self) -> Vec<u8> {
        self.builder.into_inner().expect("finish tar")
    }
}

fn set_device(header: &mut Header, major: u32, minor: u32) {
    header.set_device_major(major).expect("device major");
    header.set_device_minor(minor).expect("device minor");
}

fn copy_truncated(slot: &mut [u8], value: &[u8]) {
    let n = value.len().min(slot.len());
    slot.fill(0);
    slot[..n].copy_from_slice(&value[..n]);
}
