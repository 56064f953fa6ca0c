use std::io::Write;

use super::*;

/// A minimal zip writer for fixtures: stored or deflated entries, optional ZIP64 records.
struct ZipBuilder {
    out: Vec<u8>,
    central: Vec<u8>,
    count: u64,
    zip64: bool,
}

impl ZipBuilder {
    fn new() -> Self {
        ZipBuilder {
            out: Vec::new(),
            central: Vec::new(),
            count: 0,
            zip64: false,
        }
    }

    /// Write ZIP64 records, and put the entry's offset and sizes in ZIP64 extra fields.
    fn zip64(mut self) -> Self {
        self.zip64 = true;
        self
    }

    fn add(mut self, name: &str, data: &[u8], deflate: bool) -> Self {
        let (method, stored) = if deflate {
            let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
            e.write_all(data).unwrap();
            (8u16, e.finish().unwrap())
        } else {
            (0u16, data.to_vec())
        };
        let mut crc = flate2::Crc::new();
        crc.update(data);
        let offset = self.out.len() as u32;
        let header = |sig: u32, out: &mut Vec<u8>, zip64: bool| {
            out.extend_from_slice(&sig.to_le_bytes());
            if sig == CDFH_SIG {
                out.extend_from_slice(&45u16.to_le_bytes()); // made by
            }
            out.extend_from_slice(&45u16.to_le_bytes()); // needed
            out.extend_from_slice(&0u16.to_le_bytes()); // flags
            out.extend_from_slice(&method.to_le_bytes());
            out.extend_from_slice(&[0; 4]); // time, date
            out.extend_from_slice(&crc.sum().to_le_bytes());
            let (c, u) = if zip64 && sig == CDFH_SIG {
                (u32::MAX, u32::MAX)
            } else {
                (stored.len() as u32, data.len() as u32)
            };
            out.extend_from_slice(&c.to_le_bytes());
            out.extend_from_slice(&u.to_le_bytes());
            out.extend_from_slice(&(name.len() as u16).to_le_bytes());
        };
        header(LFH_SIG, &mut self.out, false);
        self.out.extend_from_slice(&0u16.to_le_bytes()); // extra
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(&stored);

        header(CDFH_SIG, &mut self.central, self.zip64);
        let extra_len: u16 = if self.zip64 { 4 + 24 } else { 0 };
        self.central.extend_from_slice(&extra_len.to_le_bytes());
        self.central.extend_from_slice(&[0; 2 + 2 + 2 + 4]); // comment, disk, attrs
        let shown_offset = if self.zip64 { u32::MAX } else { offset };
        self.central.extend_from_slice(&shown_offset.to_le_bytes());
        self.central.extend_from_slice(name.as_bytes());
        if self.zip64 {
            self.central
                .extend_from_slice(&ZIP64_EXTRA_ID.to_le_bytes());
            self.central.extend_from_slice(&24u16.to_le_bytes());
            self.central
                .extend_from_slice(&(data.len() as u64).to_le_bytes());
            self.central
                .extend_from_slice(&(stored.len() as u64).to_le_bytes());
            self.central
                .extend_from_slice(&u64::from(offset).to_le_bytes());
        }
        self.count += 1;
        self
    }

    fn finish(mut self) -> Vec<u8> {
        let cd_offset = self.out.len() as u64;
        let cd_size = self.central.len() as u64;
        self.out.extend_from_slice(&self.central);
        let (n16, size32, off32) = if self.zip64 {
            let record = self.out.len() as u64;
            self.out.extend_from_slice(&ZIP64_EOCD_SIG.to_le_bytes());
            self.out.extend_from_slice(&44u64.to_le_bytes());
            self.out.extend_from_slice(&[45, 0, 45, 0]);
            self.out.extend_from_slice(&[0; 8]); // disks
            self.out.extend_from_slice(&self.count.to_le_bytes());
            self.out.extend_from_slice(&self.count.to_le_bytes());
            self.out.extend_from_slice(&cd_size.to_le_bytes());
            self.out.extend_from_slice(&cd_offset.to_le_bytes());
            self.out.extend_from_slice(&ZIP64_LOCATOR_SIG.to_le_bytes());
            self.out.extend_from_slice(&0u32.to_le_bytes());
            self.out.extend_from_slice(&record.to_le_bytes());
            self.out.extend_from_slice(&1u32.to_le_bytes());
            (u16::MAX, u32::MAX, u32::MAX)
        } else {
            (self.count as u16, cd_size as u32, cd_offset as u32)
        };
        self.out.extend_from_slice(&EOCD_SIG.to_le_bytes());
        self.out.extend_from_slice(&[0; 4]);
        self.out.extend_from_slice(&n16.to_le_bytes());
        self.out.extend_from_slice(&n16.to_le_bytes());
        self.out.extend_from_slice(&size32.to_le_bytes());
        self.out.extend_from_slice(&off32.to_le_bytes());
        self.out.extend_from_slice(&0u16.to_le_bytes());
        self.out
    }
}

/// The whole pipeline over an in-memory file, reading only the last `tail` bytes at first.
fn metadata(zip: &[u8], tail: usize) -> Result<Vec<u8>, ZipError> {
    let len = zip.len() as u64;
    let start = zip.len().saturating_sub(tail);
    let dir = match locate(&zip[start..], start as u64, len)? {
        Located::Directory(d) => d,
        Located::Zip64Record { offset } => {
            let o = offset as usize;
            zip64_record(&zip[o..o + ZIP64_EOCD_LEN], offset)?
        }
    };
    let cd = &zip[dir.offset as usize..(dir.offset + dir.size) as usize];
    let all = entries(cd, &dir)?;
    let entry = find_metadata(&all)?;
    let guess = entry_guess(entry, &dir)?;
    let data = data_range(&zip[guess.start as usize..guess.end as usize], entry, &dir)?;
    inflate(&zip[data.start as usize..data.end as usize], entry)
}

const META: &[u8] = b"Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n\nA description.\n";

fn wheel(deflate: bool) -> Vec<u8> {
    ZipBuilder::new()
        .add("demo/__init__.py", b"print('hi')\n", true)
        .add("demo-1.0.dist-info/METADATA", META, deflate)
        .add("demo-1.0.dist-info/RECORD", b"", false)
        .finish()
}

#[test]
fn reads_stored_and_deflated_metadata() {
    assert_eq!(metadata(&wheel(false), 64 << 10).unwrap(), META);
    assert_eq!(metadata(&wheel(true), 64 << 10).unwrap(), META);
    // A tail that holds only the EOCD still works: the directory is then read separately.
    assert_eq!(metadata(&wheel(true), EOCD_LEN).unwrap(), META);
}

#[test]
fn reads_zip64_archives() {
    let zip = ZipBuilder::new()
        .zip64()
        .add("demo-1.0.dist-info/METADATA", META, true)
        .finish();
    assert_eq!(metadata(&zip, 64 << 10).unwrap(), META);
    // ZIP64 record before the tail we hold: `locate` asks for it.
    let start = zip.len() - EOCD_LEN - ZIP64_LOCATOR_LEN;
    let located = locate(&zip[start..], start as u64, zip.len() as u64).unwrap();
    assert!(
        matches!(located, Located::Zip64Record { .. }),
        "{located:?}"
    );
    assert_eq!(metadata(&zip, EOCD_LEN + ZIP64_LOCATOR_LEN).unwrap(), META);
}

#[test]
fn reads_real_wheels() {
    for (file, name) in [
        ("six-1.16.0-py2.py3-none-any.whl", "Name: six"),
        ("idna-3.10-py3-none-any.whl", "Name: idna"),
    ] {
        let path = format!("{}/tests/data/{file}", env!("CARGO_MANIFEST_DIR"));
        let zip = fs_err::read(path).unwrap();
        let text = String::from_utf8(metadata(&zip, 4096).unwrap()).unwrap();
        assert!(text.contains(name), "{text}");
    }
}

#[test]
fn refuses_truncated_archives() {
    let zip = wheel(true);
    for cut in [0, 10, EOCD_LEN - 1, zip.len() / 2, zip.len() - 1] {
        let e = metadata(&zip[..cut], 1 << 16).unwrap_err();
        assert!(e.0.contains("no end of central directory"), "{e}");
    }
    // Cut in the middle of the directory, with the EOCD kept: the directory no longer fits.
    let mut cut = zip.clone();
    let eocd = cut.split_off(cut.len() - EOCD_LEN);
    cut.truncate(cut.len() - 10);
    cut.extend_from_slice(&eocd);
    let e = metadata(&cut, 1 << 16).unwrap_err();
    assert!(e.0.contains("lies outside the file"), "{e}");
}

#[test]
fn refuses_directory_offsets_out_of_range() {
    let mut zip = wheel(true);
    let at = zip.len() - 6; // EOCD: offset of the central directory
    zip[at..at + 4].copy_from_slice(&0xFFFF_FF00u32.to_le_bytes());
    let e = metadata(&zip, 1 << 16).unwrap_err();
    assert!(e.0.contains("lies outside the file"), "{e}");

    // An entry whose local header offset points into the directory.
    let zip = wheel(true);
    let dir = match locate(&zip, 0, zip.len() as u64).unwrap() {
        Located::Directory(d) => d,
        other => panic!("{other:?}"),
    };
    let mut all = entries(&zip[dir.offset as usize..][..dir.size as usize], &dir).unwrap();
    all[1].local_header_offset = dir.offset - 5;
    let e = entry_guess(&all[1], &dir).unwrap_err();
    assert!(e.0.contains("overlaps the central directory"), "{e}");
}

#[test]
fn refuses_two_dist_info_directories_and_duplicates() {
    let zip = ZipBuilder::new()
        .add("a-1.0.dist-info/METADATA", META, true)
        .add("b-1.0.dist-info/METADATA", META, true)
        .finish();
    let e = metadata(&zip, 1 << 16).unwrap_err();
    assert_eq!(
        e.0,
        "the wheel has 2 `.dist-info` directories (a-1.0.dist-info, b-1.0.dist-info), a wheel \
         has exactly one"
    );
    let zip = ZipBuilder::new()
        .add("a-1.0.dist-info/METADATA", META, true)
        .add("a-1.0.dist-info/METADATA", b"other", true)
        .finish();
    let e = metadata(&zip, 1 << 16).unwrap_err();
    assert!(e.0.contains("two entries named"), "{e}");
    let zip = ZipBuilder::new().add("a/b.py", b"", false).finish();
    assert!(
        metadata(&zip, 1 << 16)
            .unwrap_err()
            .0
            .contains("no `.dist-info`")
    );
}

#[test]
fn refuses_corrupt_data() {
    // Flip a byte of the stored METADATA: the CRC-32 catches it.
    let mut zip = wheel(false);
    let at = zip.windows(META.len()).position(|w| w == META).unwrap();
    zip[at + 3] ^= 0x20;
    let e = metadata(&zip, 1 << 16).unwrap_err();
    assert!(e.0.contains("fails its CRC-32 check"), "{e}");
    // An entry that claims an absurd size is refused before anything is inflated.
    let entry = Entry {
        name: "x.dist-info/METADATA".into(),
        flags: 0,
        method: 8,
        crc32: 0,
        compressed_size: 10,
        uncompressed_size: 1 << 40,
        local_header_offset: 0,
    };
    let dir = Directory {
        offset: 100,
        size: 46,
        entries: 1,
    };
    assert!(
        entry_guess(&entry, &dir)
            .unwrap_err()
            .0
            .contains("zip bomb")
    );
}

#[test]
fn survives_garbage() {
    // Every prefix and every single-byte corruption of a valid archive is an error or a
    // success, never a panic.
    let zip = wheel(true);
    for i in 0..zip.len() {
        let _ = metadata(&zip[..i], 1 << 16);
        for flip in [0x01, 0xFF] {
            let mut bad = zip.clone();
            bad[i] ^= flip;
            let _ = metadata(&bad, 1 << 16);
        }
    }
}
