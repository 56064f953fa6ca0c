//! Reading a wheel's zip archive with every entry treated as hostile (DESIGN §5).

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};

use grocker_fs::{FsError, RelPath};
use grocker_hash::Sha256;
use zip::ZipArchive;

use crate::WheelError;

/// A regular file of the archive, read whole.
pub(crate) struct Member {
    /// The name as stored in the archive, for messages.
    pub(crate) name: String,
    /// The normalized path.
    pub(crate) path: RelPath,
    /// Whether any execute bit is set in the zip's Unix mode.
    pub(crate) executable: bool,
    pub(crate) data: Vec<u8>,
    /// The SHA-256 of `data`, computed once for RECORD checking and writing.
    pub(crate) sha256: Sha256,
}

/// Unix file type bits of `external_attributes >> 16` (`S_IFMT`, `S_IFREG`, `S_IFDIR`).
const S_IFMT: u32 = 0o170_000;
const S_IFREG: u32 = 0o100_000;
const S_IFDIR: u32 = 0o040_000;

/// Reads every regular file of the archive, refusing unsafe names, non-regular entries,
/// duplicates and archives that inflate to more than `limit` bytes (counted as inflated, not as
/// the headers claim). Directory entries are checked and dropped: parents are implied.
pub(crate) fn read_members<R: Read + Seek>(
    reader: R,
    wheel: &str,
    limit: u64,
) -> Result<Vec<Member>, WheelError> {
    let mut archive = ZipArchive::new(reader).map_err(|source| WheelError::Zip {
        wheel: wheel.to_string(),
        entry: None,
        source,
    })?;
    if archive.has_duplicate_names() {
        let name = first_duplicate(archive.into_inner()).unwrap_or_else(|| "?".to_string());
        return Err(hostile(
            wheel,
            &name,
            "the archive holds two entries of this name",
        ));
    }
    let mut members: Vec<Member> = Vec::with_capacity(archive.len());
    let mut seen: HashMap<RelPath, String> = HashMap::new();
    let mut remaining = limit;
    for index in 0..archive.len() {
        let entry = archive
            .name_for_index(index)
            .and_then(|n| n.ok())
            .map(String::from);
        let mut file = archive.by_index(index).map_err(|source| WheelError::Zip {
            wheel: wheel.to_string(),
            entry,
            source,
        })?;
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
        let too_large = || WheelError::TooLarge {
            wheel: wheel.to_string(),
            entry: name.clone(),
            limit,
        };
        // The header's size is only a hint: reject early if it already says too much, but
        // count what actually inflates.
        if file.size() > remaining {
            return Err(too_large());
        }
        let mut data = Vec::with_capacity(file.size().min(remaining).min(1 << 24) as usize);
        (&mut file)
            .take(remaining + 1)
            .read_to_end(&mut data)
            .map_err(|source| WheelError::Io {
                wheel: wheel.to_string(),
                entry: name.clone(),
                source,
            })?;
        let read = data.len() as u64;
        if read > remaining {
            return Err(too_large());
        }
        remaining -= read;
        members.push(Member {
            executable: mode & 0o111 != 0,
            name,
            path,
            sha256: Sha256::digest(&data),
            data,
        });
    }
    Ok(members)
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
