//! Installing one wheel into the venv, as pip would, without running anything.
//!
//! Follows the binary distribution format (PEP 427, PEP 491) step by step, quoted below, and
//! "Recording installed projects" for `INSTALLER` and `RECORD`.

use std::collections::HashMap;
use std::io::{BufReader, Read, Seek};
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use grocker_fs::{Entry, FsError, RelPath, Tree};
use grocker_hash::Sha256;

use crate::archive::{Member, Source, hostile, read_members};
use crate::conflict::Replaced;
use crate::layout::Layout;
use crate::record::{self, RecordLine};
use crate::{
    PackageName, Venv, Version, WheelError, WheelFilename, conflict, entry_points, headers,
};

/// How to install.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstallOptions {
    /// Written to `.dist-info/INSTALLER`: `grocker`.
    pub installer: String,
    /// A wheel that inflates to more bytes than this is refused as a zip bomb.
    pub max_uncompressed: u64,
}

impl Default for InstallOptions {
    fn default() -> Self {
        Self {
            installer: "grocker".to_string(),
            max_uncompressed: 4 << 30,
        }
    }
}

/// What [`install_wheel`] put into the tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstalledWheel {
    /// The distribution.
    pub name: PackageName,
    /// Its version.
    pub version: Version,
    /// Launchers written to `bin/` for `[console_scripts]`, sorted.
    pub console_scripts: Vec<String>,
    /// Launchers written to `bin/` for `[gui_scripts]`, sorted.
    pub gui_scripts: Vec<String>,
    /// Number of files written, `RECORD` and `INSTALLER` included.
    pub files: usize,
    /// The files it wrote, with the hash of their content: all of them, except those already
    /// there with the same content.
    pub written: Vec<(RelPath, Sha256)>,
    /// Files of other distributions it replaced with different content (the later install
    /// wins, as with pip): the caller warns about them, see [`crate::replaced_warnings`].
    pub replaced: Vec<Replaced>,
    /// Their total size in bytes.
    pub size: u64,
}

/// Installs the wheel `wheel`, whose file name is `file_name`, into `venv` inside `tree`, with
/// root-owned files (0755 when the archive marks them executable, else 0644). Nothing is
/// written to `tree` unless the whole wheel is valid. A file already in `tree` with the same
/// content is no conflict; with other content the wheel's replaces it, as pip's later install
/// does, and is reported in [`InstalledWheel::replaced`]. grocker's own venv files
/// ([`Venv::is_own`]) and a directory where a file is (or the reverse) are errors. The result
/// depends only on the wheel's bytes, its name, `venv`, `options` and, for what is replaced,
/// what `tree` held.
///
/// The wheel's files are copied into memory: for wheels already there (tests). A wheel on disk
/// is installed with [`install_wheel_file`], which keeps memory bounded.
pub fn install_wheel(
    wheel: impl Read + Seek,
    file_name: &str,
    venv: &Venv,
    tree: &mut Tree,
    options: &InstallOptions,
) -> Result<InstalledWheel, WheelError> {
    install(wheel, Source::Memory, file_name, venv, tree, options)
}

/// [`install_wheel`] for the wheel at `path`, whose files stay in it: the tree refers to each
/// by its place in the wheel, and the layer writer inflates it again from there (checked
/// against the hash taken here). Nothing is held in memory but the wheel's metadata files,
/// whatever the wheel's size. `path` must not change while the tree is in use: a verified
/// download in the cache.
pub fn install_wheel_file(
    path: &Path,
    file_name: &str,
    venv: &Venv,
    tree: &mut Tree,
    options: &InstallOptions,
) -> Result<InstalledWheel, WheelError> {
    let io_err = |source| WheelError::Io {
        wheel: file_name.to_string(),
        entry: String::new(),
        source,
    };
    let reader = BufReader::new(fs_err::File::open(path).map_err(io_err)?);
    let path = Arc::new(path.to_path_buf());
    install(reader, Source::File(&path), file_name, venv, tree, options)
}

fn install(
    wheel: impl Read + Seek,
    source: Source<'_>,
    file_name: &str,
    venv: &Venv,
    tree: &mut Tree,
    options: &InstallOptions,
) -> Result<InstalledWheel, WheelError> {
    let filename = WheelFilename::from_str(file_name)?;
    let root = venv.root_path()?;
    let members = read_members(wheel, file_name, options.max_uncompressed, source)?;
    let w = Wheel {
        file: file_name,
        dist_info: find_dist_info(&members, &filename, file_name)?,
    };
    check_wheel_file(&w, &members)?;
    check_metadata(&w, &members, &filename)?;
    verify_record(&w, &members)?;

    let scripts = match w.find(&members, "entry_points.txt") {
        Some(m) => entry_points::parse(&String::from_utf8_lossy(&w.small(m)?))
            .map_err(|reason| w.invalid(&m.name, reason))?,
        None => Default::default(),
    };

    let layout = Layout::new(venv, &root, &filename, &w)?;
    let mut staged = Staged::default();
    for member in members {
        let name = member.name.clone();
        if let Some(placed) = layout.place(&w, member)? {
            staged.add(&w, placed.path, placed.entry, &name)?;
        }
    }

    // Launchers for the console_scripts and gui_scripts entry points, as pip and uv write them.
    let python = venv.python_bin();
    for script in scripts.console.iter().chain(&scripts.gui) {
        let text = entry_points::launcher(&python, script);
        let path = layout.bin_path(&w, &script.name)?;
        staged.add(
            &w,
            path,
            Entry::file(text.into_bytes(), 0o755),
            &script.name,
        )?;
    }

    // "Recording installed projects": INSTALLER holds the installer's name, RECORD every file.
    let installer = format!("{}\n", options.installer);
    let path = layout.dist_info_path(&w, "INSTALLER")?;
    staged.add(
        &w,
        path,
        Entry::file(installer.into_bytes(), 0o644),
        "INSTALLER",
    )?;
    let record_path = layout.dist_info_path(&w, "RECORD")?;
    let mut lines: Vec<RecordLine> = staged
        .files
        .iter()
        .map(|(path, hash, size)| RecordLine {
            path: layout.record_name(path),
            hash: record::hash_field(hash),
            size: size.to_string(),
        })
        .collect();
    // RECORD lists itself too, with empty hash and size: it cannot contain its own hash.
    lines.push(RecordLine {
        path: layout.record_name(&record_path),
        hash: String::new(),
        size: String::new(),
    });
    let record_text = record::write(lines);
    staged.add(
        &w,
        record_path,
        Entry::file(record_text.into_bytes(), 0o644),
        "RECORD",
    )?;

    let dist = format!("{} {}", filename.name, filename.version);
    let replaced = conflict::check(tree, &staged.tree, venv, &w, &dist)?;
    let (files, size) = (staged.tree.len(), staged.tree.content_size());
    let written = staged
        .files
        .iter()
        .filter(|(path, _, _)| tree.get(path) != staged.tree.get(path))
        .map(|(path, sha256, _)| (path.clone(), *sha256))
        .collect();
    tree.overlay(staged.tree).map_err(|source| WheelError::Fs {
        wheel: file_name.to_string(),
        source,
    })?;
    let sorted = |scripts: &[entry_points::Script]| {
        let mut names: Vec<String> = scripts.iter().map(|s| s.name.clone()).collect();
        names.sort();
        names
    };
    Ok(InstalledWheel {
        name: filename.name,
        version: filename.version,
        console_scripts: sorted(&scripts.console),
        gui_scripts: sorted(&scripts.gui),
        files,
        written,
        replaced,
        size,
    })
}

/// The wheel being installed, for messages and lookups.
pub(crate) struct Wheel<'a> {
    pub(crate) file: &'a str,
    /// `six-1.16.0.dist-info`, as spelled in the archive.
    pub(crate) dist_info: String,
}

impl Wheel<'_> {
    pub(crate) fn invalid(&self, entry: &str, reason: impl Into<String>) -> WheelError {
        WheelError::Invalid {
            wheel: self.file.to_string(),
            entry: entry.to_string(),
            reason: reason.into(),
        }
    }

    /// A metadata file's bytes, read whole: refused past a size no metadata file has, so a
    /// crafted wheel cannot make the installer hold a huge one.
    pub(crate) fn small(&self, member: &Member) -> Result<bytes::Bytes, WheelError> {
        const MAX: u64 = 64 << 20;
        if member.content.len() > MAX {
            let reason = format!("{} bytes: too large to be read whole", member.content.len());
            return Err(self.invalid(&member.name, reason));
        }
        member.content.read_all().map_err(|source| WheelError::Io {
            wheel: self.file.to_string(),
            entry: member.name.clone(),
            source,
        })
    }

    fn find<'m>(&self, members: &'m [Member], file: &str) -> Option<&'m Member> {
        let path = format!("{}/{file}", self.dist_info);
        members.iter().find(|m| m.path.as_str() == path)
    }
}

/// "`{distribution}-{version}.dist-info/` contains metadata", and a wheel has exactly one, for
/// the distribution its file name names. Files under another distribution's `.dist-info` would
/// overwrite that distribution's record: refused.
fn find_dist_info(
    members: &[Member],
    filename: &WheelFilename,
    wheel: &str,
) -> Result<String, WheelError> {
    let mut ours: Option<String> = None;
    for member in members {
        let top = member.path.as_str().split('/').next().unwrap_or_default();
        let Some(stem) = top.strip_suffix(".dist-info") else {
            continue;
        };
        if ours.as_deref() == Some(top) {
            continue;
        }
        let parsed = stem
            .rsplit_once('-')
            .and_then(|(n, v)| Some((PackageName::from_str(n).ok()?, Version::from_str(v).ok()?)));
        match parsed {
            Some((name, version)) if name == filename.name => {
                if let Some(other) = &ours {
                    let reason = format!("two .dist-info directories: `{other}` and `{top}`");
                    return Err(hostile(wheel, &member.name, &reason));
                }
                if version != filename.version {
                    return Err(WheelError::Invalid {
                        wheel: wheel.to_string(),
                        entry: top.to_string(),
                        reason: format!("version {version} differs from the file name's"),
                    });
                }
                ours = Some(top.to_string());
            }
            _ => {
                let reason = format!("inside `{top}`, which is not {}'s", filename.name);
                return Err(hostile(wheel, &member.name, &reason));
            }
        }
    }
    ours.ok_or_else(|| WheelError::Invalid {
        wheel: wheel.to_string(),
        entry: filename.dist_info_dir(),
        reason: "no .dist-info directory for this distribution".to_string(),
    })
}

/// "Check that installer is compatible with Wheel-Version. Warn if minor version is greater,
/// abort if major version is greater." `Root-Is-Purelib` decides between purelib and platlib,
/// which are one directory in a venv, so it changes nothing here.
fn check_wheel_file(w: &Wheel<'_>, members: &[Member]) -> Result<(), WheelError> {
    let entry = format!("{}/WHEEL", w.dist_info);
    let wheel_file = w
        .find(members, "WHEEL")
        .ok_or_else(|| w.invalid(&entry, "missing"))?;
    let text = String::from_utf8_lossy(&w.small(wheel_file)?).into_owned();
    let headers = headers::parse(&text);
    let version = headers::first(&headers, "Wheel-Version")
        .ok_or_else(|| w.invalid(&entry, "no Wheel-Version"))?;
    let major = version
        .split('.')
        .next()
        .and_then(|m| m.parse::<u32>().ok());
    match major {
        Some(1) => Ok(()),
        _ => Err(w.invalid(
            &entry,
            format!("Wheel-Version {version} is not supported (1.x is)"),
        )),
    }
}

/// The metadata must describe the distribution the file name says (pip checks this too).
fn check_metadata(
    w: &Wheel<'_>,
    members: &[Member],
    filename: &WheelFilename,
) -> Result<(), WheelError> {
    let entry = format!("{}/METADATA", w.dist_info);
    let metadata = w
        .find(members, "METADATA")
        .ok_or_else(|| w.invalid(&entry, "missing"))?;
    let text = String::from_utf8_lossy(&w.small(metadata)?).into_owned();
    let headers = headers::parse(&text);
    let name = headers::first(&headers, "Name").and_then(|n| PackageName::from_str(n).ok());
    if name.as_ref() != Some(&filename.name) {
        let found = headers::first(&headers, "Name").unwrap_or("nothing");
        return Err(w.invalid(&entry, format!("Name is {found}, not {}", filename.name)));
    }
    // pip refuses the same ("inconsistent version"), comparing PEP 440 versions, so `1.0` and
    // `1.0.0` agree. The file name is what the lock pinned and the index served: a METADATA
    // saying otherwise would put another version's name in the image's dist-info and SBOM.
    let version = headers::first(&headers, "Version");
    if version.and_then(|v| Version::from_str(v).ok()).as_ref() != Some(&filename.version) {
        let found = version.unwrap_or("nothing");
        return Err(w.invalid(
            &entry,
            format!(
                "Version is {found}, but the file name says {}: inconsistent version, \
                 the wheel was renamed or built wrongly",
                filename.version
            ),
        ));
    }
    Ok(())
}

/// "During extraction, wheel installers verify all the hashes in RECORD against the file
/// contents." A file RECORD lists with a hash must match it; like pip, files RECORD does not
/// list are accepted (the wheel as a whole was already checked against the index's sha256).
fn verify_record(w: &Wheel<'_>, members: &[Member]) -> Result<(), WheelError> {
    let entry = format!("{}/RECORD", w.dist_info);
    let record_file = w
        .find(members, "RECORD")
        .ok_or_else(|| w.invalid(&entry, "missing"))?;
    let lines = record::parse(&String::from_utf8_lossy(&w.small(record_file)?))
        .map_err(|reason| w.invalid(&entry, reason))?;
    let hashes: HashMap<RelPath, String> = lines
        .into_iter()
        .filter(|l| !l.hash.is_empty())
        .filter_map(|l| Some((RelPath::from_archive_name(&l.path).ok()?, l.hash)))
        .collect();
    for member in members {
        let Some(expected) = hashes.get(&member.path) else {
            continue;
        };
        if let Err(actual) = record::verify(expected, &member.content) {
            if !actual.contains('=') {
                return Err(w.invalid(&entry, format!("`{}`: {actual}", member.name)));
            }
            return Err(WheelError::HashMismatch {
                wheel: w.file.to_string(),
                entry: member.name.clone(),
                expected: expected.clone(),
                actual,
            });
        }
    }
    Ok(())
}

/// What the wheel will write, collected before anything touches the caller's tree.
#[derive(Default)]
struct Staged {
    tree: Tree,
    /// Path, hash and size of every file, for RECORD.
    files: Vec<(RelPath, Sha256, u64)>,
    origin: HashMap<RelPath, String>,
}

impl Staged {
    fn add(
        &mut self,
        w: &Wheel<'_>,
        path: RelPath,
        entry: Entry,
        origin: &str,
    ) -> Result<(), WheelError> {
        let (hash, size) = match &entry.kind {
            grocker_fs::Kind::File(content) => (content.sha256(), content.len()),
            _ => (Sha256::digest(b""), 0),
        };
        if let Err(e) = self.tree.insert(path.clone(), entry) {
            let clash = match &e {
                FsError::Duplicate { path }
                | FsError::NotADirectory { path, .. }
                | FsError::HasEntriesBelow { below: path, .. } => RelPath::new(path)
                    .ok()
                    .and_then(|p| self.origin.get(&p).cloned()),
                FsError::Hostile { .. } => None,
            };
            let reason = match clash {
                Some(other) => format!("installs to the same path as `{other}` ({e})"),
                None => e.to_string(),
            };
            return Err(hostile(w.file, origin, &reason));
        }
        self.origin.insert(path.clone(), origin.to_string());
        self.files.push((path, hash, size));
        Ok(())
    }
}
