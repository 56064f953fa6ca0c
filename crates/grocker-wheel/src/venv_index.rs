//! What one layer of the venv holds, in brief: each path, what it is (a file's mode and hash,
//! a link's target, a directory) and which distribution put it there. Enough to judge a layer
//! against the layers below it without their bytes, by the rules [`crate::install_wheel`]
//! applies inside one tree (see `conflict`): identical files are fine, a file with other
//! content is replaced by the upper layer's with a warning, grocker's own venv files and
//! directory/file clashes are errors.
//!
//! The layer cache keeps one index beside each venv layer, so a build whose layers come from
//! the cache reaches the same verdict as one that installs every wheel (DESIGN §5: the outcome
//! of a build never depends on what is cached). Its text form ([`fmt::Display`] and
//! [`FromStr`], which round-trip) is what the cache stores.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use grocker_fs::{Entry, Kind, RelPath, Tree};
use grocker_hash::Sha256;

use crate::conflict::Replaced;
use crate::{InstalledWheel, Venv, WheelError};

/// The paths of one venv layer (or of several, once [`VenvIndex::overlay`]ed), with what each
/// is and who installed it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VenvIndex {
    /// Who installed things; claims refer to them by position.
    owners: Vec<Owner>,
    /// Every path, by its text (sorted, so the text form is deterministic).
    claims: BTreeMap<String, Claim>,
    /// Files replaced inside the layer, to warn again when it comes from the cache.
    replaced: Vec<Replaced>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Owner {
    /// The wheel's file name, or [`GROCKER`] for the venv itself.
    wheel: String,
    /// `name version`, or `grocker's venv`.
    dist: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Claim {
    owner: usize,
    what: What,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum What {
    Dir,
    File {
        mode: u32,
        sha256: Sha256,
    },
    /// A symlink or hard link, by the hash of its target.
    Link {
        sha256: Sha256,
    },
}

impl What {
    fn of(entry: &Entry) -> What {
        match &entry.kind {
            Kind::Dir => What::Dir,
            Kind::File(content) => What::File {
                mode: entry.mode,
                sha256: content.sha256(),
            },
            Kind::Symlink(target) => What::Link {
                sha256: Sha256::digest(format!("symlink {target}").as_bytes()),
            },
            Kind::Hardlink(target) => What::Link {
                sha256: Sha256::digest(format!("hardlink {target}").as_bytes()),
            },
        }
    }
}

/// A venv index's text that does not parse (a damaged cache record).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("venv index, line {line}: {reason}")]
pub struct VenvIndexError {
    /// The 1-based line.
    pub line: usize,
    /// What is wrong with it.
    pub reason: String,
}

const HEADER: &str = "grocker venv index 1";

/// The owner of the venv's own files ([`Venv::skeleton`]), in place of a wheel's file name.
const GROCKER: &str = "grocker";

impl VenvIndex {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the venv's own files ([`Venv::skeleton`]), as grocker's.
    pub fn add_skeleton(&mut self, venv: &Venv) {
        let owner = self.owner(GROCKER, "grocker's venv");
        for (path, entry) in venv.skeleton() {
            let what = What::of(&entry);
            self.claims
                .insert(path.as_str().to_string(), Claim { owner, what });
        }
    }

    /// Records what [`crate::install_wheel`] wrote into `tree` for the wheel `wheel_file`, and
    /// what it replaced.
    pub fn add_wheel(&mut self, tree: &Tree, wheel_file: &str, installed: &InstalledWheel) {
        let dist = format!("{} {}", installed.name, installed.version);
        let owner = self.owner(wheel_file, &dist);
        for (path, _) in &installed.written {
            if let Some(entry) = tree.get(path) {
                let what = What::of(entry);
                self.claims
                    .insert(path.as_str().to_string(), Claim { owner, what });
            }
        }
        self.replaced.extend(installed.replaced.iter().cloned());
    }

    /// Files replaced inside the layer(s) this index describes.
    pub fn replaced(&self) -> &[Replaced] {
        &self.replaced
    }

    /// Number of paths.
    pub fn len(&self) -> usize {
        self.claims.len()
    }

    /// Whether the index has no path.
    pub fn is_empty(&self) -> bool {
        self.claims.is_empty()
    }

    fn owner(&mut self, wheel: &str, dist: &str) -> usize {
        match self.owners.iter().position(|o| o.wheel == wheel) {
            Some(i) => i,
            None => {
                self.owners.push(Owner {
                    wheel: wheel.to_string(),
                    dist: dist.to_string(),
                });
                self.owners.len() - 1
            }
        }
    }

    /// Puts `upper` (the next layer up) above the layers `self` describes, as the image will
    /// show them, after checking it as [`crate::install_wheel`] checks a wheel against a tree.
    /// Returns the files `upper` replaces with different content; `self` then describes both.
    pub fn overlay(&mut self, upper: VenvIndex, venv: &Venv) -> Result<Vec<Replaced>, WheelError> {
        let mut replaced = Vec::new();
        for (path, claim) in &upper.claims {
            let by = &upper.owners[claim.owner];
            let rel = RelPath::new(path).map_err(|source| WheelError::Fs {
                wheel: by.wheel.clone(),
                source,
            })?;
            if by.wheel != GROCKER && venv.is_own(&rel) {
                return Err(WheelError::OwnFile {
                    wheel: by.wheel.clone(),
                    path: rel.to_string(),
                });
            }
            if let Some(lower) = self.claims.get(path) {
                match (&lower.what, &claim.what) {
                    (What::Dir, What::Dir) => {}
                    (a, b) if a == b => {}
                    (What::Dir, _) | (_, What::Dir) => return Err(self.clash(by, path, lower)),
                    _ => replaced.push(Replaced {
                        path: rel.to_string(),
                        previous: self.owners[lower.owner].dist.clone(),
                        by: by.dist.clone(),
                    }),
                }
            }
            for ancestor in rel.ancestors() {
                if let Some(lower) = self.claims.get(ancestor.as_str())
                    && lower.what != What::Dir
                {
                    return Err(self.clash(by, ancestor.as_str(), lower));
                }
            }
            if claim.what != What::Dir {
                let below = format!("{path}/");
                if let Some((inner, lower)) = self.claims.range(below.clone()..).next()
                    && inner.starts_with(&below)
                {
                    return Err(self.clash(by, inner, lower));
                }
            }
        }
        self.merge(upper);
        Ok(replaced)
    }

    fn clash(&self, by: &Owner, path: &str, lower: &Claim) -> WheelError {
        WheelError::Conflict {
            wheel: by.wheel.clone(),
            path: format!("/{path}"),
            owner: self.owners[lower.owner].dist.clone(),
        }
    }

    /// `upper`'s claims over ours, once checked: what differs is upper's, what is the same
    /// stays with the distribution that installed it first.
    fn merge(&mut self, upper: VenvIndex) {
        let VenvIndex {
            owners,
            claims,
            replaced,
        } = upper;
        let remap: Vec<usize> = owners
            .iter()
            .map(|o| self.owner(&o.wheel, &o.dist))
            .collect();
        for (path, claim) in claims {
            if self.claims.get(&path).is_some_and(|c| c.what == claim.what) {
                continue;
            }
            let owner = remap[claim.owner];
            self.claims.insert(
                path,
                Claim {
                    owner,
                    what: claim.what,
                },
            );
        }
        self.replaced.extend(replaced);
    }
}

/// Paths and names are the last field or tab-separated: tabs, newlines and `%` are escaped.
fn escape(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\t', "%09")
        .replace('\n', "%0A")
        .replace('\r', "%0D")
}

fn unescape(text: &str) -> String {
    text.replace("%0D", "\r")
        .replace("%0A", "\n")
        .replace("%09", "\t")
        .replace("%25", "%")
}

impl fmt::Display for VenvIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{HEADER}")?;
        for o in &self.owners {
            writeln!(f, "owner\t{}\t{}", escape(&o.wheel), escape(&o.dist))?;
        }
        for (path, c) in &self.claims {
            let path = escape(path);
            match &c.what {
                What::Dir => writeln!(f, "dir\t{}\t-\t-\t{path}", c.owner)?,
                What::File { mode, sha256 } => {
                    writeln!(f, "file\t{}\t{mode:o}\t{sha256}\t{path}", c.owner)?
                }
                What::Link { sha256 } => writeln!(f, "link\t{}\t-\t{sha256}\t{path}", c.owner)?,
            }
        }
        for r in &self.replaced {
            let [path, previous, by] = [&r.path, &r.previous, &r.by].map(|t| escape(t));
            writeln!(f, "replaced\t{path}\t{previous}\t{by}")?;
        }
        Ok(())
    }
}

impl FromStr for VenvIndex {
    type Err = VenvIndexError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l));
        match lines.next() {
            Some((_, HEADER)) => {}
            _ => {
                return Err(VenvIndexError {
                    line: 1,
                    reason: format!("does not start with `{HEADER}`"),
                });
            }
        }
        let mut index = VenvIndex::default();
        for (line, text) in lines {
            let bad = |reason: &str| VenvIndexError {
                line,
                reason: reason.to_string(),
            };
            let fields: Vec<&str> = text.split('\t').collect();
            match fields.as_slice() {
                ["owner", wheel, dist] => index.owners.push(Owner {
                    wheel: unescape(wheel),
                    dist: unescape(dist),
                }),
                ["replaced", path, previous, by] => index.replaced.push(Replaced {
                    path: unescape(path),
                    previous: unescape(previous),
                    by: unescape(by),
                }),
                [kind, owner, mode, sha256, path] => {
                    let owner: usize = owner.parse().map_err(|_| bad("owner is not a number"))?;
                    if owner >= index.owners.len() {
                        return Err(bad("owner not listed before"));
                    }
                    let sha256 = || Sha256::from_str(sha256).map_err(|e| bad(&e.to_string()));
                    let what = match *kind {
                        "dir" => What::Dir,
                        "file" => What::File {
                            mode: u32::from_str_radix(mode, 8)
                                .map_err(|_| bad("mode is not octal"))?,
                            sha256: sha256()?,
                        },
                        "link" => What::Link { sha256: sha256()? },
                        _ => return Err(bad("unknown kind")),
                    };
                    index.claims.insert(unescape(path), Claim { owner, what });
                }
                _ => return Err(bad("unknown line")),
            }
        }
        Ok(index)
    }
}

#[cfg(test)]
#[path = "venv_index_tests.rs"]
mod tests;
