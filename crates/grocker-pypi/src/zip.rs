//! Just enough of a ZIP reader to pull `*.dist-info/METADATA` out of a wheel from a few byte
//! ranges: the end of central directory (+ ZIP64), the central directory, one local entry.
//!
//! Section numbers refer to PKWARE's APPNOTE.TXT 6.3.10. Every input is hostile until proven
//! otherwise (DESIGN §5): every read is bounds-checked, every size is checked against the file
//! and against a sanity limit, and anything odd is an error naming what was wrong, never a panic.

use std::fmt;
use std::io::Read;
use std::ops::Range;

/// 4.3.16: the fixed part of the end of central directory record.
const EOCD_LEN: usize = 22;
const EOCD_SIG: u32 = 0x0605_4b50;
/// 4.3.15: the ZIP64 end of central directory locator, right before the EOCD.
const ZIP64_LOCATOR_LEN: usize = 20;
const ZIP64_LOCATOR_SIG: u32 = 0x0706_4b50;
/// 4.3.14: the fixed part of the ZIP64 end of central directory record.
pub(crate) const ZIP64_EOCD_LEN: usize = 56;
const ZIP64_EOCD_SIG: u32 = 0x0606_4b50;
/// 4.3.12: the fixed part of a central directory file header.
const CDFH_LEN: usize = 46;
const CDFH_SIG: u32 = 0x0201_4b50;
/// 4.3.7: the fixed part of a local file header.
pub(crate) const LFH_LEN: usize = 30;
const LFH_SIG: u32 = 0x0403_4b50;
/// 4.5.3: the ZIP64 extended information extra field.
const ZIP64_EXTRA_ID: u16 = 0x0001;

/// A central directory this large is not a wheel anyone can install (the largest wheels on PyPI
/// have a few tens of thousands of files, a few MB of directory).
pub(crate) const MAX_DIRECTORY: u64 = 64 << 20;
/// Upper bound on entries, for the same reason.
const MAX_ENTRIES: u64 = 1 << 20;
/// METADATA is a few KB, a few hundred KB with a long description. Anything bigger is a bomb.
pub(crate) const MAX_METADATA: u64 = 16 << 20;

/// Why an archive could not be read. Turned into [`crate::PypiError::Wheel`] with the file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ZipError(pub(crate) String);

impl fmt::Display for ZipError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn err<T>(reason: impl Into<String>) -> Result<T, ZipError> {
    Err(ZipError(reason.into()))
}

/// Where the central directory is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Directory {
    /// Offset of its first byte in the file.
    pub offset: u64,
    /// Its length in bytes.
    pub size: u64,
    /// How many entries it holds.
    pub entries: u64,
}

impl Directory {
    pub(crate) fn range(&self) -> Range<u64> {
        self.offset..self.offset + self.size
    }
}

/// What the tail of the file says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Located {
    /// The directory itself.
    Directory(Directory),
    /// A ZIP64 archive whose ZIP64 end of central directory record lies before the bytes we have:
    /// read `ZIP64_EOCD_LEN` bytes at `offset` and call [`zip64_record`].
    Zip64Record { offset: u64 },
}

/// One central directory file header (4.3.12), with ZIP64 values already applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub name: String,
    pub flags: u16,
    pub method: u16,
    pub crc32: u32,
    pub compressed_size: u64,
    pub uncompressed_size: u64,
    pub local_header_offset: u64,
}

/// Little-endian reads that fail instead of panicking.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn at(bytes: &'a [u8], pos: usize) -> Self {
        Reader { bytes, pos }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], ZipError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        let Some(end) = end else {
            return err(format!(
                "a record at byte {} runs past the end of the data",
                self.pos
            ));
        };
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn u16(&mut self) -> Result<u16, ZipError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, ZipError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, ZipError> {
        let b = self.take(8)?;
        let mut a = [0; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
}

/// Finds the central directory from the last bytes of the file: `tail` holds the file's bytes
/// from `tail_start` to its end, `file_len` in total.
pub(crate) fn locate(tail: &[u8], tail_start: u64, file_len: u64) -> Result<Located, ZipError> {
    if tail_start.checked_add(tail.len() as u64) != Some(file_len) {
        return err("internal error: the tail does not end at the end of the file");
    }
    // 4.3.16: the EOCD is the last record, followed only by its comment (at most 65,535 bytes).
    // Scan backwards for its signature and accept the first candidate whose comment length
    // reaches exactly the end of the file, so a signature inside the comment cannot fool us.
    let eocd_pos = (0..=tail.len().saturating_sub(EOCD_LEN))
        .rev()
        .take(usize::from(u16::MAX) + 1)
        .find(|&pos| {
            let mut r = Reader::at(tail, pos);
            let sig_ok = r.u32() == Ok(EOCD_SIG);
            let comment = Reader::at(tail, pos + 20).u16();
            sig_ok && comment.is_ok_and(|c| pos + EOCD_LEN + usize::from(c) == tail.len())
        });
    let Some(eocd_pos) = eocd_pos else {
        return err(
            "no end of central directory record at the end of the file (not a zip archive, or \
             truncated)",
        );
    };
    let eocd_offset = tail_start + eocd_pos as u64;
    let mut r = Reader::at(tail, eocd_pos + 4);
    let disk = r.u16()?;
    let cd_disk = r.u16()?;
    let entries_here = r.u16()?;
    let entries = r.u16()?;
    let size = r.u32()?;
    let offset = r.u32()?;
    // 4.4.1.4: a field that does not fit is all ones, and the real value is in the ZIP64 record.
    let zip64 = entries == u16::MAX || size == u32::MAX || offset == u32::MAX;
    if zip64 || eocd_pos >= ZIP64_LOCATOR_LEN {
        // Some writers emit ZIP64 records even when nothing overflows; honour the locator if
        // it is there (4.3.15).
        let locator = eocd_pos.checked_sub(ZIP64_LOCATOR_LEN);
        if let Some(pos) = locator.filter(|&p| Reader::at(tail, p).u32() == Ok(ZIP64_LOCATOR_SIG)) {
            let mut r = Reader::at(tail, pos + 4);
            let _disk_with_record = r.u32()?;
            let record = r.u64()?;
            let total_disks = r.u32()?;
            if total_disks > 1 {
                return err("multi-disk (spanned) zip archives are not supported");
            }
            let limit = eocd_offset.saturating_sub(ZIP64_LOCATOR_LEN as u64);
            if record
                .checked_add(ZIP64_EOCD_LEN as u64)
                .is_none_or(|end| end > limit)
            {
                return err("the ZIP64 end of central directory record lies outside the file");
            }
            return match record.checked_sub(tail_start) {
                Some(rel) => {
                    let rel =
                        usize::try_from(rel).map_err(|_| ZipError("offset overflow".into()))?;
                    let bytes = tail.get(rel..).unwrap_or_default();
                    zip64_record(bytes, record).map(Located::Directory)
                }
                None => Ok(Located::Zip64Record { offset: record }),
            };
        } else if zip64 {
            return err(
                "the end of central directory record points to ZIP64 values but there is no \
                 ZIP64 locator",
            );
        }
    }
    if disk != 0 || cd_disk != 0 || entries_here != entries {
        return err("multi-disk (spanned) zip archives are not supported");
    }
    checked_directory(
        Directory {
            offset: offset.into(),
            size: size.into(),
            entries: entries.into(),
        },
        eocd_offset,
    )
    .map(Located::Directory)
}

/// Parses a ZIP64 end of central directory record (4.3.14) read at `offset`.
pub(crate) fn zip64_record(bytes: &[u8], offset: u64) -> Result<Directory, ZipError> {
    let mut r = Reader::at(bytes, 0);
    if r.u32()? != ZIP64_EOCD_SIG {
        return err(format!(
            "no ZIP64 end of central directory record at byte {offset}"
        ));
    }
    let _record_size = r.u64()?;
    let _made_by = r.u16()?;
    let _needed = r.u16()?;
    let disk = r.u32()?;
    let cd_disk = r.u32()?;
    let entries_here = r.u64()?;
    let entries = r.u64()?;
    let size = r.u64()?;
    let cd_offset = r.u64()?;
    if disk != 0 || cd_disk != 0 || entries_here != entries {
        return err("multi-disk (spanned) zip archives are not supported");
    }
    // The directory ends where the ZIP64 record starts.
    checked_directory(
        Directory {
            offset: cd_offset,
            size,
            entries,
        },
        offset,
    )
}

/// The directory must lie before `end` (the record that describes it) and be of a sane size.
fn checked_directory(dir: Directory, end: u64) -> Result<Directory, ZipError> {
    if dir.size > MAX_DIRECTORY || dir.entries > MAX_ENTRIES {
        return err(format!(
            "the central directory claims {} entries in {} bytes, more than any wheel has",
            dir.entries, dir.size
        ));
    }
    if dir.offset.checked_add(dir.size).is_none_or(|e| e > end) {
        return err(format!(
            "the central directory (offset {}, {} bytes) lies outside the file",
            dir.offset, dir.size
        ));
    }
    // Each entry takes at least 46 bytes (4.3.12).
    if dir.entries.saturating_mul(CDFH_LEN as u64) > dir.size {
        return err(format!(
            "the central directory claims {} entries but has only {} bytes",
            dir.entries, dir.size
        ));
    }
    Ok(dir)
}

/// Parses every file header of the central directory `cd` (exactly `dir.size` bytes).
pub(crate) fn entries(cd: &[u8], dir: &Directory) -> Result<Vec<Entry>, ZipError> {
    if cd.len() as u64 != dir.size {
        return err("internal error: central directory length mismatch");
    }
    let mut out = Vec::new();
    let mut r = Reader::at(cd, 0);
    for i in 0..dir.entries {
        if r.u32()? != CDFH_SIG {
            return err(format!("central directory entry {i} has a bad signature"));
        }
        let _made_by = r.u16()?;
        let _needed = r.u16()?;
        let flags = r.u16()?;
        let method = r.u16()?;
        let _time = r.u16()?;
        let _date = r.u16()?;
        let crc32 = r.u32()?;
        let compressed = r.u32()?;
        let uncompressed = r.u32()?;
        let name_len = r.u16()?;
        let extra_len = r.u16()?;
        let comment_len = r.u16()?;
        let _disk = r.u16()?;
        let _internal = r.u16()?;
        let _external = r.u32()?;
        let offset = r.u32()?;
        let name = r.take(name_len.into())?;
        let extra = r.take(extra_len.into())?;
        r.take(comment_len.into())?;
        // 4.4.4 bit 11: UTF-8 names; otherwise CP437, which agrees with ASCII, and wheel names
        // that matter to us are ASCII. A lossy conversion cannot match `METADATA` by accident.
        let name = String::from_utf8_lossy(name).into_owned();
        let mut entry = Entry {
            name,
            flags,
            method,
            crc32,
            compressed_size: compressed.into(),
            uncompressed_size: uncompressed.into(),
            local_header_offset: offset.into(),
        };
        apply_zip64_extra(&mut entry, extra, [uncompressed, compressed, offset])?;
        out.push(entry);
    }
    Ok(out)
}

/// 4.5.3: the ZIP64 extra field holds, in this order, only the values whose 32-bit field in the
/// header is all ones: uncompressed size, compressed size, local header offset.
fn apply_zip64_extra(entry: &mut Entry, extra: &[u8], fields: [u32; 3]) -> Result<(), ZipError> {
    if !fields.contains(&u32::MAX) {
        return Ok(());
    }
    let mut r = Reader::at(extra, 0);
    while r.pos + 4 <= extra.len() {
        let id = r.u16()?;
        let len = r.u16()?;
        let data = r.take(len.into())?;
        if id != ZIP64_EXTRA_ID {
            continue;
        }
        let mut d = Reader::at(data, 0);
        if fields[0] == u32::MAX {
            entry.uncompressed_size = d.u64()?;
        }
        if fields[1] == u32::MAX {
            entry.compressed_size = d.u64()?;
        }
        if fields[2] == u32::MAX {
            entry.local_header_offset = d.u64()?;
        }
        return Ok(());
    }
    err(format!(
        "`{}` needs ZIP64 values but has no ZIP64 extra field",
        entry.name
    ))
}

/// The one `<name>-<version>.dist-info/METADATA` of a wheel (PEP 427: the archive holds exactly
/// one `.dist-info` directory, at the top level).
pub(crate) fn find_metadata(entries: &[Entry]) -> Result<&Entry, ZipError> {
    let mut dist_info: Vec<&str> = entries
        .iter()
        .filter_map(|e| e.name.split_once('/').map(|(top, _)| top))
        .filter(|top| top.ends_with(".dist-info"))
        .collect();
    dist_info.sort_unstable();
    dist_info.dedup();
    let dir = match dist_info.as_slice() {
        [one] => *one,
        [] => return err("the wheel has no `.dist-info` directory"),
        many => {
            return err(format!(
                "the wheel has {} `.dist-info` directories ({}), a wheel has exactly one",
                many.len(),
                many.join(", ")
            ));
        }
    };
    let wanted = format!("{dir}/METADATA");
    let mut found = entries.iter().filter(|e| e.name == wanted);
    match (found.next(), found.next()) {
        (Some(entry), None) => Ok(entry),
        (None, _) => err(format!("the wheel has no `{wanted}`")),
        (Some(_), Some(_)) => err(format!("the wheel has two entries named `{wanted}`")),
    }
}

/// Bytes worth fetching for `entry` in one request: its local header, a generous allowance for
/// the header's name and extra field (which may differ from the central directory's), and its
/// compressed data — never past the central directory, which follows the last entry.
pub(crate) fn entry_guess(entry: &Entry, dir: &Directory) -> Result<Range<u64>, ZipError> {
    check_entry(entry, dir)?;
    let start = entry.local_header_offset;
    let want =
        (LFH_LEN as u64 + entry.name.len() as u64 + 256).saturating_add(entry.compressed_size);
    Ok(start..start.saturating_add(want).min(dir.offset))
}

fn check_entry(entry: &Entry, dir: &Directory) -> Result<(), ZipError> {
    if entry.flags & 1 != 0 {
        return err(format!("`{}` is encrypted", entry.name));
    }
    if entry.uncompressed_size > MAX_METADATA {
        return err(format!(
            "`{}` claims {} bytes, more than {MAX_METADATA} (zip bomb?)",
            entry.name, entry.uncompressed_size
        ));
    }
    let data_end = entry
        .local_header_offset
        .checked_add(LFH_LEN as u64)
        .and_then(|e| e.checked_add(entry.compressed_size));
    if data_end.is_none_or(|e| e > dir.offset) {
        return err(format!(
            "`{}` (local header at byte {}, {} bytes) overlaps the central directory or lies \
             outside the file",
            entry.name, entry.local_header_offset, entry.compressed_size
        ));
    }
    Ok(())
}

/// Reads the local file header (4.3.7) at the start of `local` and returns where the entry's
/// compressed data is in the file.
pub(crate) fn data_range(
    local: &[u8],
    entry: &Entry,
    dir: &Directory,
) -> Result<Range<u64>, ZipError> {
    check_entry(entry, dir)?;
    let mut r = Reader::at(local, 0);
    if r.u32()? != LFH_SIG {
        return err(format!(
            "the local header of `{}` at byte {} has a bad signature",
            entry.name, entry.local_header_offset
        ));
    }
    let _needed = r.u16()?;
    let _flags = r.u16()?;
    let method = r.u16()?;
    r.take(4 + 4 + 4 + 4)?; // time, date, crc-32, sizes: the central directory has the truth (4.4.4 bit 3)
    let name_len = r.u16()?;
    let extra_len = r.u16()?;
    let name = r.take(name_len.into())?;
    if name != entry.name.as_bytes() || method != entry.method {
        return err(format!(
            "the local header at byte {} does not match the central directory entry `{}`",
            entry.local_header_offset, entry.name
        ));
    }
    let header = (LFH_LEN + usize::from(name_len) + usize::from(extra_len)) as u64;
    let start = entry.local_header_offset.saturating_add(header);
    match start.checked_add(entry.compressed_size) {
        Some(end) if end <= dir.offset => Ok(start..end),
        _ => err(format!(
            "the data of `{}` overlaps the central directory",
            entry.name
        )),
    }
}

/// Decompresses an entry (4.4.5: 0 = stored, 8 = deflated) and checks its size and CRC-32.
pub(crate) fn inflate(data: &[u8], entry: &Entry) -> Result<Vec<u8>, ZipError> {
    if data.len() as u64 != entry.compressed_size {
        return err("internal error: compressed data length mismatch");
    }
    let out = match entry.method {
        0 => data.to_vec(),
        8 => {
            let mut out = Vec::new();
            flate2::read::DeflateDecoder::new(data)
                .take(MAX_METADATA + 1)
                .read_to_end(&mut out)
                .map_err(|e| ZipError(format!("`{}` does not inflate: {e}", entry.name)))?;
            out
        }
        m => {
            return err(format!(
                "`{}` uses compression method {m}; wheels use stored (0) or deflate (8)",
                entry.name
            ));
        }
    };
    if out.len() as u64 != entry.uncompressed_size {
        return err(format!(
            "`{}` inflates to {} bytes but the central directory says {}",
            entry.name,
            out.len(),
            entry.uncompressed_size
        ));
    }
    let mut crc = flate2::Crc::new();
    crc.update(&out);
    if crc.sum() != entry.crc32 {
        return err(format!(
            "`{}` fails its CRC-32 check (expected {:08x}, got {:08x})",
            entry.name,
            entry.crc32,
            crc.sum()
        ));
    }
    Ok(out)
}

#[cfg(test)]
#[path = "zip_tests.rs"]
mod tests;
