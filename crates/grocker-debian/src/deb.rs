//! `.deb` → filesystem entries, without running (or even keeping) a maintainer script.
//!
//! A `.deb` (deb(5)) is an `ar` archive: `debian-binary` (`2.0\n`), `control.tar[.gz|.xz|.zst]`
//! (metadata and maintainer scripts), `data.tar[.gz|.xz|.zst]` (the files). Both tars are
//! decompressed as a stream; nothing touches the disk.

use std::collections::HashMap;
use std::io::{BufReader, Read};
use std::path::Path;

use grocker_fs::{Content, Entry, FsError, Kind, RelPath, Spool, check_symlink};

use crate::DebianError;

/// Top-level directories that merged-/usr (the only layout since Debian bookworm) turns into
/// symlinks into `usr/`. [`read_deb`] moves entries under them to `usr/…`; the caller adds the
/// `bin -> usr/bin` (etc.) symlinks.
pub const MERGED_USR_DIRS: &[&str] = &["bin", "sbin", "lib", "lib32", "lib64", "libx32"];

/// What to keep from a package's files.
#[derive(Debug, Clone)]
pub struct DebOptions {
    /// Drop documentation, manuals, translations and lintian overrides: an image is run, not
    /// read by people, and these are a large share of many packages. Each package's
    /// `usr/share/doc/<package>/copyright` stays, for license compliance (and SBOM tools read
    /// it). Dropped: `usr/share/doc/*` (but copyright files), `usr/share/man`,
    /// `usr/share/info`, `usr/share/lintian`, `usr/share/locale`.
    pub drop_docs: bool,
    /// Where files of [`SPOOL_FROM`] bytes or more go instead of memory: a `.deb`'s data comes
    /// out of a compressed stream that cannot be read again cheaply, and a runtime or a
    /// builder holds hundreds of megabytes of it (DESIGN §1.5: memory stays bounded). `None`:
    /// everything in memory.
    pub spool: Option<Spool>,
}

/// Files this large are spooled when [`DebOptions::spool`] is set; smaller ones (most of a
/// package's files, by count) stay in memory, where they cost less than a read back.
pub const SPOOL_FROM: u64 = 16 << 10;

impl Default for DebOptions {
    fn default() -> Self {
        Self {
            drop_docs: true,
            spool: None,
        }
    }
}

/// What a `.deb` holds, once made safe.
#[derive(Debug, Clone)]
pub struct DebContents {
    /// `DEBIAN/control`: the package's control paragraph.
    pub control: String,
    /// `DEBIAN/conffiles`: absolute paths of configuration files.
    pub conffiles: Vec<String>,
    /// `DEBIAN/md5sums` (`<md5>  <path>` lines), when the package has one: scanners such as
    /// syft read it from `var/lib/dpkg/status.d/<package>.md5sums` to attribute files.
    pub md5sums: Option<String>,
    /// The data files in archive order: paths under merged-/usr, owned by 0:0, no
    /// setuid/setgid bits, other mode bits as packaged.
    pub files: Vec<(RelPath, Entry)>,
}

/// Reads a `.deb` file from disk (see [`read_deb`]).
pub fn read_deb_file(path: &Path, options: &DebOptions) -> Result<DebContents, DebianError> {
    let file = fs_err::File::open(path).map_err(|source| DebianError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    read_deb(BufReader::new(file), &path.display().to_string(), options)
}

/// Reads a `.deb` from `reader`; `name` (file name or `package_version`) is used in errors.
///
/// Hostile archives are refused with an error naming the package and the entry: absolute
/// names, `..`, symlinks whose relative target climbs above the root, hard links to anything
/// but a file earlier in the same archive, device and FIFO nodes, duplicate non-directory
/// entries, non-UTF-8 names.
pub fn read_deb<R: Read>(
    reader: R,
    name: &str,
    options: &DebOptions,
) -> Result<DebContents, DebianError> {
    let malformed = |message: String| DebianError::MalformedDeb {
        deb: name.to_string(),
        message,
    };
    let mut archive = ar::Archive::new(reader);
    let mut seen_binary = false;
    let mut control: Option<Control> = None;
    let mut files = None;
    while let Some(member) = archive.next_entry() {
        let mut member = member.map_err(|e| malformed(format!("bad ar archive: {e}")))?;
        let id = String::from_utf8_lossy(member.header().identifier()).into_owned();
        let id = id.trim_end_matches('/').trim();
        match id {
            "debian-binary" => {
                let mut version = String::new();
                member
                    .read_to_string(&mut version)
                    .map_err(|e| malformed(format!("reading debian-binary: {e}")))?;
                if !version.starts_with("2.") {
                    return Err(malformed(format!(
                        "unsupported format `{}`",
                        version.trim()
                    )));
                }
                seen_binary = true;
            }
            _ if !seen_binary => {
                return Err(malformed(format!("`{id}` before debian-binary")));
            }
            _ if id.starts_with("control.tar") => {
                let tar = decompress(id, "control.tar", &mut member)
                    .map_err(|m| malformed(m.to_string()))?;
                control = Some(read_control(tar, name)?);
            }
            _ if id.starts_with("data.tar") => {
                if control.is_none() {
                    return Err(malformed("data.tar before control.tar".to_string()));
                }
                let tar = decompress(id, "data.tar", &mut member)
                    .map_err(|m| malformed(m.to_string()))?;
                files = Some(read_data(tar, name, options)?);
            }
            // deb(5): members starting with `_` are reserved for local additions, ignored.
            _ if id.starts_with('_') => {}
            _ => return Err(malformed(format!("unexpected member `{id}`"))),
        }
    }
    let control = control.ok_or_else(|| malformed("no control.tar".to_string()))?;
    let files = files.ok_or_else(|| malformed("no data.tar".to_string()))?;
    Ok(DebContents {
        control: control.control,
        conffiles: control.conffiles,
        md5sums: control.md5sums,
        files,
    })
}

fn decompress<'r>(
    id: &str,
    stem: &str,
    member: &'r mut dyn Read,
) -> Result<Box<dyn Read + 'r>, String> {
    Ok(match &id[stem.len()..] {
        "" => Box::new(member),
        ".gz" => Box::new(flate2::read::MultiGzDecoder::new(member)),
        ".xz" => Box::new(lzma_rust2::XzReader::new(member, true)),
        ".zst" => Box::new(
            zstd::stream::read::Decoder::new(member)
                .map_err(|e| format!("starting zstd for {id}: {e}"))?,
        ),
        other => return Err(format!("unsupported compression `{other}` of {stem}")),
    })
}

struct Control {
    control: String,
    conffiles: Vec<String>,
    md5sums: Option<String>,
}

fn read_control(tar: impl Read, deb: &str) -> Result<Control, DebianError> {
    let io = |e: std::io::Error| DebianError::MalformedDeb {
        deb: deb.to_string(),
        message: format!("reading control.tar: {e}"),
    };
    let mut control = None;
    let mut conffiles = Vec::new();
    let mut md5sums = None;
    let mut archive = tar::Archive::new(tar);
    for entry in archive.entries().map_err(io)? {
        let mut entry = entry.map_err(io)?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        // Maintainer scripts (preinst, postinst, …) are skipped without being read into memory.
        let wanted = matches!(
            path.trim_start_matches("./"),
            "control" | "conffiles" | "md5sums"
        );
        if !wanted {
            continue;
        }
        let mut text = String::new();
        entry.read_to_string(&mut text).map_err(io)?;
        match path.trim_start_matches("./") {
            "control" => control = Some(text),
            "conffiles" => {
                // dpkg ≥ 1.20.1 allows a flag before the path (`remove-on-upgrade /etc/x`).
                conffiles = text
                    .lines()
                    .filter_map(|l| l.split_whitespace().last())
                    .map(String::from)
                    .collect();
            }
            _ => md5sums = Some(text),
        }
    }
    Ok(Control {
        control: control.ok_or_else(|| DebianError::MalformedDeb {
            deb: deb.to_string(),
            message: "control.tar has no control file".to_string(),
        })?,
        conffiles,
        md5sums,
    })
}

/// What we know about a path already met in data.tar.
enum Seen {
    Dir,
    File(Content, bool /* dropped by a filter */),
    Other,
}

fn read_data(
    tar: impl Read,
    deb: &str,
    options: &DebOptions,
) -> Result<Vec<(RelPath, Entry)>, DebianError> {
    let io = |e: std::io::Error| DebianError::MalformedDeb {
        deb: deb.to_string(),
        message: format!("reading data.tar: {e}"),
    };
    let mut out = Vec::new();
    let mut seen: HashMap<RelPath, Seen> = HashMap::new();
    let mut archive = tar::Archive::new(tar);
    for entry in archive.entries().map_err(io)? {
        let mut entry = entry.map_err(io)?;
        let raw = entry.path_bytes().into_owned();
        let name = String::from_utf8_lossy(&raw).into_owned();
        let hostile = |reason: String| DebianError::HostileDeb {
            deb: deb.to_string(),
            entry: name.clone(),
            reason,
        };
        let fs_err = |e: FsError| match e {
            FsError::Hostile { reason, .. } => hostile(reason.to_string()),
            other => hostile(other.to_string()),
        };
        if std::str::from_utf8(&raw).is_err() {
            return Err(hostile("name is not UTF-8".to_string()));
        }
        let kind = entry.header().entry_type();
        if kind.is_dir() && name.trim_start_matches("./").trim_matches('/').is_empty() {
            continue; // the root directory itself
        }
        let raw = RelPath::from_archive_name(&name).map_err(fs_err)?;
        // Since trixie, base-files itself ships the merged-/usr links (`bin -> usr/bin`):
        // exactly the layout grocker writes, so they are left to the caller.
        if kind.is_symlink() && MERGED_USR_DIRS.contains(&raw.as_str()) {
            let target = link_name(&entry).unwrap_or_default();
            if target.trim_start_matches('/') == format!("usr/{}", raw.as_str()) {
                continue;
            }
        }
        let path = merged_usr(raw);
        let mode = entry.header().mode().map_err(io)? & 0o7777 & !0o6000;
        let dropped = options.drop_docs && is_doc(&path);
        let entry = if kind.is_file() {
            let data = match &options.spool {
                Some(spool) if entry.size() >= SPOOL_FROM && !dropped => {
                    spool.add(&mut entry).map_err(io)?
                }
                _ => {
                    let mut data = Vec::with_capacity(entry.size().min(1 << 24) as usize);
                    entry.read_to_end(&mut data).map_err(io)?;
                    Content::inline(data)
                }
            };
            check_new(&seen, &path, false).map_err(hostile)?;
            seen.insert(path.clone(), Seen::File(data.clone(), dropped));
            Entry::file_content(data, mode)
        } else if kind.is_dir() {
            if let Some(Seen::Dir) = seen.get(&path) {
                continue; // e.g. `lib/` and `usr/lib/` after the merged-/usr move
            }
            check_new(&seen, &path, true).map_err(hostile)?;
            seen.insert(path.clone(), Seen::Dir);
            Entry::dir(mode)
        } else if kind.is_symlink() {
            let target =
                link_name(&entry).ok_or_else(|| hostile("symlink without a target".into()))?;
            check_symlink(&path, &target).map_err(fs_err)?;
            check_new(&seen, &path, false).map_err(hostile)?;
            seen.insert(path.clone(), Seen::Other);
            Entry::symlink(target)
        } else if kind.is_hard_link() {
            let target =
                link_name(&entry).ok_or_else(|| hostile("hard link without a target".into()))?;
            let target = merged_usr(RelPath::from_archive_name(&target).map_err(fs_err)?);
            let Some(Seen::File(data, target_dropped)) = seen.get(&target) else {
                return Err(hostile(format!(
                    "hard link to {target}, which is not a file earlier in the archive"
                )));
            };
            let (data, target_dropped) = (data.clone(), *target_dropped);
            check_new(&seen, &path, false).map_err(hostile)?;
            seen.insert(path.clone(), Seen::File(data.clone(), dropped));
            if target_dropped {
                // The first name was filtered out: this one carries the content instead.
                Entry::file_content(data, mode)
            } else {
                Entry {
                    kind: Kind::Hardlink(target),
                    mode,
                    uid: 0,
                    gid: 0,
                }
            }
        } else if kind.is_character_special() || kind.is_block_special() || kind.is_fifo() {
            return Err(hostile("device or FIFO node".to_string()));
        } else if kind.is_pax_global_extensions() {
            continue;
        } else {
            return Err(hostile(format!("unsupported tar entry type {:?}", kind)));
        };
        if !dropped {
            out.push((path, entry.owned_by(0, 0)));
        }
    }
    Ok(out)
}

fn link_name<R: Read>(entry: &tar::Entry<'_, R>) -> Option<String> {
    let raw = entry.link_name_bytes()?;
    String::from_utf8(raw.into_owned()).ok()
}

/// Refuses a second entry for a path unless both are directories.
fn check_new(seen: &HashMap<RelPath, Seen>, path: &RelPath, is_dir: bool) -> Result<(), String> {
    match seen.get(path) {
        None => Ok(()),
        Some(Seen::Dir) if is_dir => Ok(()),
        Some(Seen::Dir) => Err(format!("{path} is both a directory and a non-directory")),
        Some(_) => Err(format!("duplicate entry for {path}")),
    }
}

/// `bin/ls` → `usr/bin/ls`, `lib64/ld-linux-x86-64.so.2` → `usr/lib64/…`.
fn merged_usr(path: RelPath) -> RelPath {
    let top = path.as_str().split('/').next().unwrap_or("");
    if MERGED_USR_DIRS.contains(&top) {
        RelPath::new(&format!("usr/{}", path.as_str())).unwrap_or(path)
    } else {
        path
    }
}

/// Whether [`DebOptions::drop_docs`] drops `path`.
fn is_doc(path: &RelPath) -> bool {
    const DROPPED: &[&str] = &[
        "usr/share/man",
        "usr/share/info",
        "usr/share/lintian",
        "usr/share/locale",
    ];
    if DROPPED.iter().any(|d| path.starts_with(d)) {
        return true;
    }
    // usr/share/doc and usr/share/doc/<package> (directory, or symlink to another package's
    // directory) stay; below that only `copyright`.
    match path.as_str().strip_prefix("usr/share/doc/") {
        Some(rest) => match rest.split_once('/') {
            None => false,
            Some((_package, file)) => file != "copyright",
        },
        None => false,
    }
}

#[cfg(test)]
#[path = "deb_tests.rs"]
mod tests;
