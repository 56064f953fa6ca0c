//! Real `.deb` files, as `dpkg-deb --build` makes them.

use std::collections::BTreeSet;

use crate::tarball::{Compression, MTIME, Member, RawKind, TarWriter, xz};

/// Builds a real `.deb`: an `ar` archive with `debian-binary` (`2.0\n`), `control.tar.xz`
/// (`./control` and any maintainer scripts) and `data.tar.xz` (deb(5)).
///
/// Data entries keep the order they were added in; each regular entry is preceded by its
/// parent directories the first time one is needed (`./`, `./usr/`, `./usr/bin/`), as in
/// the archives dpkg-deb writes.
#[derive(Clone, Debug)]
pub struct DebBuilder {
    fields: Vec<(String, String)>,
    entries: Vec<Entry>,
    scripts: Vec<(String, String)>,
    compression: Compression,
}

#[derive(Clone, Debug)]
enum Entry {
    File {
        path: String,
        data: Vec<u8>,
        mode: u32,
    },
    Dir {
        path: String,
        mode: u32,
    },
    Symlink {
        path: String,
        target: String,
    },
    Hardlink {
        path: String,
        target: String,
    },
    Raw {
        name: Vec<u8>,
        kind: RawKind,
        data: Vec<u8>,
    },
}

impl DebBuilder {
    /// A package with no files, `Architecture: arch` (`amd64`, `arm64` or `all`).
    pub fn new(name: &str, version: &str, arch: &str) -> Self {
        let fields = [
            ("Package", name),
            ("Version", version),
            ("Architecture", arch),
            ("Maintainer", "Grocker Tests <tests@grocker.invalid>"),
            ("Section", "misc"),
            ("Priority", "optional"),
        ];
        DebBuilder {
            fields: fields
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            entries: Vec::new(),
            scripts: Vec::new(),
            compression: Compression::Xz,
        }
    }

    /// Sets the raw `Depends` field, e.g. `libfoo (>= 1.0), bar | baz`.
    pub fn depends(self, s: &str) -> Self {
        self.field("Depends", s)
    }

    /// Sets the raw `Pre-Depends` field.
    pub fn pre_depends(self, s: &str) -> Self {
        self.field("Pre-Depends", s)
    }

    /// Sets the raw `Provides` field.
    pub fn provides(self, s: &str) -> Self {
        self.field("Provides", s)
    }

    /// Sets any control field, replacing one of the same name (case-insensitively). Multi-line
    /// values must carry their own continuation lines (`"line1\n line2"`). `Installed-Size`
    /// and `Description` get defaults unless set here.
    pub fn field(mut self, name: &str, value: &str) -> Self {
        match self
            .fields
            .iter_mut()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
        {
            Some(slot) => slot.1 = value.to_string(),
            None => self.fields.push((name.to_string(), value.to_string())),
        }
        self
    }

    /// Adds a regular file; `path` like `usr/bin/x` becomes the member `./usr/bin/x`.
    pub fn file(mut self, path: &str, contents: &[u8], mode: u32) -> Self {
        self.entries.push(Entry::File {
            path: clean(path),
            data: contents.to_vec(),
            mode,
        });
        self
    }

    /// Adds a directory explicitly (parents of files are added automatically with mode 0755).
    pub fn dir(mut self, path: &str, mode: u32) -> Self {
        self.entries.push(Entry::Dir {
            path: clean(path),
            mode,
        });
        self
    }

    /// Adds a symbolic link at `path` pointing to `target` (written verbatim).
    pub fn symlink(mut self, path: &str, target: &str) -> Self {
        self.entries.push(Entry::Symlink {
            path: clean(path),
            target: target.to_string(),
        });
        self
    }

    /// Adds a hard link at `path` to the earlier member `target` (`usr/bin/x` form).
    pub fn hardlink(mut self, path: &str, target: &str) -> Self {
        self.entries.push(Entry::Hardlink {
            path: clean(path),
            target: format!("./{}", clean(target)),
        });
        self
    }

    /// Adds a data member written exactly as given, for hostile archives: `../../etc/x`,
    /// `/etc/passwd`, a symlink whose target (`contents`) leaves the root, device nodes,
    /// duplicates. No parent directories are added.
    pub fn raw_data_entry(mut self, tar_name: &str, kind: RawKind, contents: &[u8]) -> Self {
        self.entries.push(Entry::Raw {
            name: tar_name.as_bytes().to_vec(),
            kind,
            data: contents.to_vec(),
        });
        self
    }

    /// Adds a `postinst` maintainer script (which grocker must never run).
    pub fn postinst(self, script: &str) -> Self {
        self.script("postinst", script)
    }

    /// Adds any maintainer script (`preinst`, `postinst`, `prerm`, `postrm`, `config`, ...).
    pub fn script(mut self, name: &str, script: &str) -> Self {
        self.scripts.retain(|(n, _)| n != name);
        self.scripts.push((name.to_string(), script.to_string()));
        self
    }

    /// How `data.tar` is compressed (default xz).
    pub fn data_compression(mut self, c: Compression) -> Self {
        self.compression = c;
        self
    }

    /// The `Package` field.
    pub fn name(&self) -> &str {
        self.get("Package").expect("Package field")
    }

    /// The `Version` field.
    pub fn version(&self) -> &str {
        self.get("Version").expect("Version field")
    }

    /// The `Architecture` field.
    pub fn arch(&self) -> &str {
        self.get("Architecture").expect("Architecture field")
    }

    /// A control field's value, if set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The file name Debian gives this package: `<name>_<version without epoch>_<arch>.deb`.
    pub fn file_name(&self) -> String {
        let version = self.version();
        let version = version.split_once(':').map_or(version, |(_, v)| v);
        format!("{}_{}_{}.deb", self.name(), version, self.arch())
    }

    /// Where the archive keeps it: `pool/main/<l or libl>/<source>/<file name>`.
    pub fn pool_path(&self) -> String {
        let source = self
            .get("Source")
            .map(|s| s.split_whitespace().next().unwrap_or(s))
            .unwrap_or_else(|| self.name());
        let prefix = if source.starts_with("lib") && source.len() > 3 {
            &source[..4]
        } else {
            &source[..1]
        };
        format!("pool/main/{prefix}/{source}/{}", self.file_name())
    }

    /// The `control` file text: one paragraph ending with a newline.
    pub fn control_paragraph(&self) -> String {
        let mut fields = self.fields.clone();
        if self.get("Installed-Size").is_none() {
            // Debian policy §5.6.20: an estimate in KiB of the unpacked size.
            let bytes: usize = self
                .entries
                .iter()
                .map(|e| match e {
                    Entry::File { data, .. } | Entry::Raw { data, .. } => data.len(),
                    _ => 0,
                })
                .sum();
            fields.push(("Installed-Size".into(), bytes.div_ceil(1024).to_string()));
        }
        if self.get("Description").is_none() {
            let summary = format!("test package {}\n Built by grocker-testkit.", self.name());
            fields.push(("Description".into(), summary));
        }
        fields.iter().map(|(k, v)| format!("{k}: {v}\n")).collect()
    }

    /// The uncompressed `data.tar`.
    pub fn data_tar(&self) -> Vec<u8> {
        let mut tar = TarWriter::new();
        let mut dirs = BTreeSet::new();
        for entry in &self.entries {
            let (path, kind, mode, link, data): (&str, _, _, &[u8], &[u8]) = match entry {
                Entry::Raw { name, kind, data } => {
                    let link: &[u8] = match kind {
                        RawKind::Symlink | RawKind::Hardlink => data,
                        _ => &[],
                    };
                    let mode = if *kind == RawKind::Dir { 0o755 } else { 0o644 };
                    tar.append(&Member {
                        name,
                        kind: *kind,
                        mode,
                        link,
                        data,
                    });
                    continue;
                }
                Entry::File { path, data, mode } => (path, RawKind::File, *mode, &[], data),
                Entry::Dir { path, mode } => (path, RawKind::Dir, *mode, &[], &[]),
                Entry::Symlink { path, target } => {
                    (path, RawKind::Symlink, 0o777, target.as_bytes(), &[])
                }
                Entry::Hardlink { path, target } => {
                    (path, RawKind::Hardlink, 0o644, target.as_bytes(), &[])
                }
            };
            add_parents(&mut tar, &mut dirs, path);
            let name = if kind == RawKind::Dir {
                dirs.insert(path.to_string());
                format!("./{path}/")
            } else {
                format!("./{path}")
            };
            tar.append(&Member {
                name: name.as_bytes(),
                kind,
                mode,
                link,
                data,
            });
        }
        if dirs.is_empty() && self.entries.is_empty() {
            add_parents(&mut tar, &mut dirs, "");
        }
        tar.finish()
    }

    /// The uncompressed `control.tar`: `./`, `./control`, then the maintainer scripts (0755).
    pub fn control_tar(&self) -> Vec<u8> {
        let mut tar = TarWriter::new();
        let dir = Member {
            name: b"./",
            kind: RawKind::Dir,
            mode: 0o755,
            link: &[],
            data: &[],
        };
        tar.append(&dir);
        let control = self.control_paragraph();
        tar.append(&Member {
            name: b"./control",
            kind: RawKind::File,
            mode: 0o644,
            link: &[],
            data: control.as_bytes(),
        });
        for (name, script) in &self.scripts {
            tar.append(&Member {
                name: format!("./{name}").as_bytes(),
                kind: RawKind::File,
                mode: 0o755,
                link: &[],
                data: script.as_bytes(),
            });
        }
        tar.finish()
    }

    /// The `.deb` bytes.
    pub fn build(&self) -> Vec<u8> {
        let control = xz(&self.control_tar());
        let data = self.compression.compress(&self.data_tar());
        let mut ar = ar::Builder::new(Vec::new());
        let members: [(&str, &[u8]); 3] = [
            ("debian-binary", b"2.0\n"),
            ("control.tar.xz", &control),
            (&self.compression.member_name("data"), &data),
        ];
        for (name, bytes) in members {
            let mut header = ar::Header::new(name.as_bytes().to_vec(), bytes.len() as u64);
            header.set_mtime(MTIME);
            header.set_uid(0);
            header.set_gid(0);
            header.set_mode(0o100644);
            ar.append(&header, bytes).expect("ar into memory");
        }
        ar.into_inner().expect("finish ar")
    }
}

/// `/usr/bin/x/` and `./usr/bin/x` both become `usr/bin/x`.
fn clean(path: &str) -> String {
    let path = path.strip_prefix("./").unwrap_or(path);
    path.trim_matches('/').to_string()
}

/// Emits `./` and every missing ancestor directory of `path`, shallowest first.
fn add_parents(tar: &mut TarWriter, dirs: &mut BTreeSet<String>, path: &str) {
    let mut ancestors = vec![String::new()];
    let mut acc = String::new();
    let parts: Vec<&str> = path.split('/').collect();
    for part in &parts[..parts.len().saturating_sub(1)] {
        if !acc.is_empty() {
            acc.push('/');
        }
        acc.push_str(part);
        ancestors.push(acc.clone());
    }
    for dir in ancestors {
        if dirs.insert(dir.clone()) {
            let name = if dir.is_empty() {
                "./".to_string()
            } else {
                format!("./{dir}/")
            };
            tar.append(&Member {
                name: name.as_bytes(),
                kind: RawKind::Dir,
                mode: 0o755,
                link: &[],
                data: &[],
            });
        }
    }
}
