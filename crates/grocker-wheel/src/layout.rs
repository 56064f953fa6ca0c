//! Where each file of a wheel goes in the venv (PEP 427 "Spread").

use grocker_fs::{Entry, RelPath};

use crate::archive::{Member, hostile};
use crate::install::Wheel;
use crate::{Venv, WheelError, WheelFilename};

/// A wheel file at its place in the image.
pub(crate) struct Placed {
    pub(crate) path: RelPath,
    pub(crate) entry: Entry,
}

/// Where each file of the wheel goes in the venv.
pub(crate) struct Layout {
    venv_root: RelPath,
    site_packages: RelPath,
    /// `../../../`: from site-packages back to the venv root, for RECORD.
    up_to_root: String,
    bin: RelPath,
    headers: RelPath,
    data_dir: String,
    python: String,
}

impl Layout {
    pub(crate) fn new(
        venv: &Venv,
        root: &RelPath,
        filename: &WheelFilename,
        w: &Wheel<'_>,
    ) -> Result<Self, WheelError> {
        let join = |base: &RelPath, rel: &str| {
            base.join(rel).map_err(|e| WheelError::Venv {
                reason: e.to_string(),
            })
        };
        let site_rel = venv.site_packages_rel();
        let stem = w.dist_info.trim_end_matches(".dist-info");
        Ok(Self {
            venv_root: root.clone(),
            site_packages: join(root, &site_rel)?,
            up_to_root: "../".repeat(site_rel.split('/').count()),
            bin: join(root, "bin")?,
            headers: join(root, &format!("{}/{}", venv.headers_rel(), filename.name))?,
            data_dir: format!("{stem}.data"),
            python: venv.python_bin(),
        })
    }

    /// PEP 427: "If this is a Root-Is-Purelib: true wheel, unpack archive into purelib
    /// (site-packages). Else unpack archive into platlib (site-packages)." — one directory in a
    /// venv. Then "Move each subtree of distribution-1.0.data/ onto its destination path. Each
    /// subdirectory of distribution-1.0.data/ is a key into a dict of destination directories,
    /// such as distribution-1.0.data/(purelib|platlib|headers|scripts|data)." `None` for files
    /// the installer regenerates or drops.
    pub(crate) fn place(
        &self,
        w: &Wheel<'_>,
        member: Member,
    ) -> Result<Option<Placed>, WheelError> {
        let path = member.path.as_str();
        if let Some(file) = path.strip_prefix(&format!("{}/", w.dist_info)) {
            // RECORD is rewritten, INSTALLER is ours, and RECORD's signatures would no longer
            // match the rewritten RECORD.
            if ["RECORD", "INSTALLER", "RECORD.jws", "RECORD.p7s"].contains(&file) {
                return Ok(None);
            }
        }
        let Some(rest) = path.strip_prefix(&format!("{}/", self.data_dir)) else {
            let target = self.join(w, &self.site_packages, path, &member)?;
            return Ok(Some(Self::as_is(target, member)));
        };
        let (scheme, file) = rest.split_once('/').ok_or_else(|| {
            hostile(
                w.file,
                &member.name,
                "a file where a .data scheme directory belongs",
            )
        })?;
        let placed = match scheme {
            "purelib" | "platlib" => {
                Self::as_is(self.join(w, &self.site_packages, file, &member)?, member)
            }
            // "In wheel, scripts are packaged in {distribution}-{version}.data/scripts/. If
            // the first line of a file in scripts/ starts with exactly b'#!python', rewrite to
            // point to the correct interpreter. Unix installers may need to add the +x bit to
            // these files if the archive was created on Windows." grocker always does, as uv
            // does (pip keeps the zip's mode).
            "scripts" => {
                let path = self.join(w, &self.bin, file, &member)?;
                let io_err = |source| WheelError::Io {
                    wheel: w.file.to_string(),
                    entry: member.name.clone(),
                    source,
                };
                // Only a `#!python` script is read whole, to rewrite its first line.
                let head = member.content.head(8).map_err(io_err)?;
                let fixed = match head.starts_with(b"#!python") {
                    true => self.fix_shebang(&w.small(&member)?),
                    false => None,
                };
                match fixed {
                    Some(fixed) => Placed {
                        path,
                        entry: Entry::file(fixed, 0o755),
                    },
                    None => Placed {
                        path,
                        entry: Entry::file_content(member.content, 0o755),
                    },
                }
            }
            "headers" => Self::as_is(self.join(w, &self.headers, file, &member)?, member),
            "data" => Self::as_is(self.join(w, &self.venv_root, file, &member)?, member),
            other => {
                let reason = format!("unknown .data directory `{other}`");
                return Err(hostile(w.file, &member.name, &reason));
            }
        };
        Ok(Some(placed))
    }

    /// The archive's bytes, 0755 if the zip marks the file executable, else 0644.
    fn as_is(path: RelPath, member: Member) -> Placed {
        let mode = if member.executable { 0o755 } else { 0o644 };
        Placed {
            path,
            entry: Entry::file_content(member.content, mode),
        }
    }

    fn join(
        &self,
        w: &Wheel<'_>,
        base: &RelPath,
        rel: &str,
        member: &Member,
    ) -> Result<RelPath, WheelError> {
        base.join(rel)
            .map_err(|e| hostile(w.file, &member.name, &e.to_string()))
    }

    /// pip replaces the whole first line (`#!python`, `#!pythonw`, `#!python3 -u`); `None`
    /// when there is nothing to rewrite.
    fn fix_shebang(&self, data: &[u8]) -> Option<Vec<u8>> {
        if !data.starts_with(b"#!python") {
            return None;
        }
        let rest = data
            .iter()
            .position(|&b| b == b'\n')
            .map_or(&[][..], |nl| &data[nl + 1..]);
        let mut out = format!("#!{}\n", self.python).into_bytes();
        out.extend_from_slice(rest);
        Some(out)
    }

    pub(crate) fn bin_path(&self, w: &Wheel<'_>, script: &str) -> Result<RelPath, WheelError> {
        self.bin
            .join(script)
            .map_err(|e| w.invalid("entry_points.txt", e.to_string()))
    }

    pub(crate) fn dist_info_path(&self, w: &Wheel<'_>, file: &str) -> Result<RelPath, WheelError> {
        self.site_packages
            .join(&format!("{}/{file}", w.dist_info))
            .map_err(|e| w.invalid(&w.dist_info, e.to_string()))
    }

    /// RECORD paths are relative to site-packages: `six.py`, `../../../bin/http`.
    pub(crate) fn record_name(&self, path: &RelPath) -> String {
        record_name(path, &self.site_packages, &self.venv_root, &self.up_to_root)
    }
}

pub(crate) fn record_name(
    path: &RelPath,
    site_packages: &RelPath,
    venv_root: &RelPath,
    up_to_root: &str,
) -> String {
    let strip = |base: &RelPath| {
        path.as_str()
            .strip_prefix(base.as_str())
            .and_then(|r| r.strip_prefix('/'))
            .map(str::to_string)
    };
    strip(site_packages)
        .or_else(|| strip(venv_root).map(|r| format!("{up_to_root}{r}")))
        .unwrap_or_else(|| path.to_string())
}
