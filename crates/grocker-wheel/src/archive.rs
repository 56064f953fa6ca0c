//! Reading a wheel's zip archive with every entry treated as hostile (DESIGN §5).

use std::collections::HashMap;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;

use grocker_fs::{Content, Encoding, FsError, RelPath};
use grocker_hash::HashingWriter;
use zip::{CompressionMethod, ZipArchive};

use crate::WheelError;

/// A regular file of the archive: its content is read once (hashed, counted) and then left
/// where it is, in the wheel, unless the wheel is not a file on disk.
pub(crate) struct Member {
    /// The name as stored in the archive, for messages.
    pub(crate) name: String,
    /// The normalized path.
    pub(crate) path: RelPath,
    /// Whether any execute bit is set in the zip's Unix mode.
    pub(crate) executable: bool,
    /// Its bytes, with their SHA-256 for RECORD checking and writing.
    pub(crate) content: Content,
}

/// Unix file type bits of `external_attributes >> 16` (`S_IFMT`, `S_IFREG`, `S_IFDIR`).
const S_IFMT: u32 = 0o170_000;
const S_IFREG: u32 = 0o100_000;
const S_IFDIR: u32 = 0o040_000;

/// A member this large that its compressed form is this many times smaller is a zip bomb, not
/// a file: deflate cannot do better than ~1032:1, which only long runs of one byte reach, and
/// what wheels ship (libraries, code, data) stays far below (a CUDA library: ~2:1).
const MAX_RATIO: u64 = 500;
const RATIO_FROM: u64 = 8 << 20;

/// Where the wheel's bytes are.
pub(crate) enum Source<'a> {
    /// A file on disk (a verified download in the cache): members stay there, referred to by
    /// their place in it, and are read again when the layer is written.
    File(&'a Arc<PathBuf>),
    /// Bytes already in memory (tests, fuzzing): members are copied into memory.
    Memory,
}

/// Reads every regular file of the archive, refusing unsafe names, non-regular entries,
/// duplicates and zip bombs: archives whose headers declare more than `limit` bytes, or a
/// member compressed at an absurd ratio, are refused before anything is inflated; a member
/// that inflates to more than its header declared is refused as it inflates. Directory
/// entries are checked and dropped: parents are implied.
pub(crate) fn read_members<R: Read + Seek>(
    reader: R,
    wheel: &str,
    limit: u64,
    source: Source<'_>,
) -> Result<Vec<Member>, WheelError> {
    let zip_err = |entry: Option<String>, source| WheelError::Zip {
        wheel: wheel.to_string(),
        entry,
        source,
    };
    let mut archive = ZipArchive::new(reader).map_err(|e| zip_err(None, e))?;
    if archive.has_duplicate_names() {
        let name = first_duplicate(archive.into_inner()).unwrap_or_else(|| "?".to_string());
        return Err(hostile(
            wheel,
            &name,
            "the archive holds two entries of this name",
        ));
    }
    check_declared_sizes(&mut archive, wheel, limit)?;
    let mut members: Vec<Member> = Vec::with_capacity(archive.len());
    let mut seen: HashMap<RelPath, String> = HashMap::new();
    for index in 0..archive.len() {
        let entry = archive
            .name_for_index(index)
            .and_then(|n| n.ok())
            .map(String::from);
        let mut file = archive
            .by_index(index)
            .map_err(|e| zip_err(entry.clone(), e))?;
        // Like Python's `zipfile`: UTF-8 when the entry says so, else CP437.
        let name = match file.name() {
            Ok(name) => name.into_owned(),
            Err(_) => String::from_utf8_lossy(file.name_raw()).into_owned(),
        };
        let path = check_name(wheel, &name)?;
        let mode = file.external_attributes() >> 16;
        let kind = mode & S_IFMT;
        if name.ends_with('/') {
            if kind != 0 && kind != S_IFDIR {
                return Err(hostile(wheel, &name, "a directory name on a non-directory"));
            }
            continue;
        }
        match kind {
            // 0: made on a system without Unix modes; the entry is a plain file.
            0 | S_IFREG => {}
            0o120_000 => return Err(hostile(wheel, &name, "symbolic link")),
            S_IFDIR => return Err(hostile(wheel, &name, "directory without a trailing `/`")),
            _ => return Err(hostile(wheel, &name, "device, FIFO or socket")),
        }
        if let Some(other) = seen.insert(path.clone(), name.clone()) {
            let reason = format!("the same path as entry `{other}`");
            return Err(hostile(wheel, &name, &reason));
        }
        let declared = file.size();
        let io_err = |source| WheelError::Io {
            wheel: wheel.to_string(),
            entry: name.clone(),
            source,
        };
        let content = match source {
            Source::Memory => {
                let mut data = Vec::with_capacity(declared.min(1 << 24) as usize);
                (&mut file)
                    .take(declared + 1)
                    .read_to_end(&mut data)
                    .map_err(io_err)?;
                check_inflated(wheel, &name, data.len() as u64, declared)?;
                Content::inline(data)
            }
            Source::File(path) => {
                let encoding = match file.compression() {
                    CompressionMethod::Stored => Encoding::Stored,
                    CompressionMethod::Deflated => Encoding::Deflate,
                    other => {
                        let reason = format!("compression method {other:?} is not supported");
                        return Err(hostile(wheel, &name, &reason));
                    }
                };
                let (offset, stored) = (file.data_start(), file.compressed_size());
                // Hashed as it inflates, kept nowhere: what counts is the bytes, not what
                // the header says.
                let mut hasher = HashingWriter::new(io::sink());
                io::copy(&mut (&mut file).take(declared + 1), &mut hasher).map_err(io_err)?;
                let (_, sha256, len) = hasher.finish();
                check_inflated(wheel, &name, len, declared)?;
                let offset = offset.ok_or_else(|| {
                    hostile(
                        wheel,
                        &name,
                        "the archive does not say where its data starts",
                    )
                })?;
                Content::in_file(Arc::clone(path), offset, stored, encoding, len, sha256)
            }
        };
        members.push(Member {
            executable: mode & 0o111 != 0,
            name,
            path,
            content,
        });
    }
    Ok(members)
}

/// Refuses the archive on what its central directory declares, before inflating anything:
/// more than `limit` bytes in all, or one member compressed at an absurd ratio.
fn check_declared_sizes<R: Read + Seek>(
    archive: &mut ZipArchive<R>,
    wheel: &str,
    limit: u64,
) -> Result<(), WheelError> {
    let mut total: u64 = 0;
    for index in 0..archive.len() {
        let Ok(entry) = archive.by_index_data(index) else {
            continue; // reported by the pass that reads it
        };
        let (size, compressed) = (entry.size(), entry.compressed_size());
        let name = || String::from_utf8_lossy(entry.name_raw()).into_owned();
        total = total.saturating_add(size);
        if total > limit {
            return Err(WheelError::TooLarge {
                wheel: wheel.to_string(),
                entry: name(),
                limit,
            });
        }
        if size >= RATIO_FROM && size / compressed.max(1) >= MAX_RATIO {
            return Err(WheelError::ZipBomb {
                wheel: wheel.to_string(),
                entry: name(),
                reason: format!(
                    "declares {size} bytes compressed into {compressed}, a ratio over \
                     {MAX_RATIO}:1 that no real file reaches"
                ),
            });
        }
    }
    Ok(())
}

/// A member inflating past its declared size lies about it: a zip bomb's trick to pass the
/// checks on headers.
fn check_inflated(wheel: &str, name: &str, read: u64, declared: u64) -> Result<(), WheelError> {
    if read > declared {
        let reason = format!("inflates to more than the {declared} bytes its header declares");
        return Err(WheelError::ZipBomb {
            wheel: wheel.to_string(),
            entry: name.to_string(),
            reason,
        });
    }
    Ok(())
}

/// The binary distribution format uses `/` as the separator and relative paths only.
fn check_name(wheel: &str, name: &str) -> Result<RelPath, WheelError> {
    if name.contains('\\') {
        return Err(hostile(wheel, name, "backslash in the name"));
    }
    let bytes = name.as_bytes();
    if bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' {
        return Err(hostile(wheel, name, "absolute path (drive letter)"));
    }
    RelPath::from_archive_name(name).map_err(|e| match e {
        FsError::Hostile { reason, .. } => hostile(wheel, name, reason),
        other => hostile(wheel, name, &other.to_string()),
    })
}

/// Finds a repeated name by walking the local headers (the central directory index that
/// `ZipArchive` builds keeps only one entry per name). Only used to word the error.
fn first_duplicate<R: Read + Seek>(mut reader: R) -> Option<String> {
    reader.seek(SeekFrom::Start(0)).ok()?;
    let mut names = std::collections::HashSet::new();
    while let Ok(Some(file)) = zip::read::read_zipfile_from_stream(&mut reader) {
        let name = String::from_utf8_lossy(file.name_raw()).into_owned();
        if !names.insert(name.clone()) {
            return Some(name);
        }
    }
    None
}

pub(crate) fn hostile(wheel: &str, entry: &str, reason: &str) -> WheelError {
    WheelError::Hostile {
        wheel: wheel.to_string(),
        entry: entry.to_string(),
        reason: reason.to_string(),
    }
}
