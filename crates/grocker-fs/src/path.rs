//! Normalized paths inside an image, and the checks that keep hostile archives inside the root.

use std::fmt;

use crate::FsError;

/// A path relative to the image root: no leading `/`, no `.` or `..` components, no empty
/// components, no trailing `/`. The root itself is not a `RelPath`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RelPath(pub(crate) String);

impl RelPath {
    /// A path written by grocker itself (e.g. `etc/passwd`); same rules as archive names, except
    /// that a leading `/` is not accepted either.
    pub fn new(path: &str) -> Result<Self, FsError> {
        if path.starts_with('/') {
            return Err(hostile(path, "absolute path"));
        }
        Self::normalize(path, path)
    }

    /// A member name from an archive (`./usr/bin/python3`, `usr/lib/`). Rejects absolute names,
    /// `..` components, NUL bytes and names that are empty once `./` is stripped.
    pub fn from_archive_name(name: &str) -> Result<Self, FsError> {
        if name.starts_with('/') {
            return Err(hostile(name, "absolute path"));
        }
        Self::normalize(name, name)
    }

    fn normalize(raw: &str, original: &str) -> Result<Self, FsError> {
        if raw.contains('\0') {
            return Err(hostile(original, "NUL byte in name"));
        }
        let mut parts: Vec<&str> = Vec::new();
        for part in raw.split('/') {
            match part {
                "" | "." => continue,
                ".." => return Err(hostile(original, "`..` component")),
                p => parts.push(p),
            }
        }
        if parts.is_empty() {
            return Err(hostile(original, "empty name"));
        }
        Ok(Self(parts.join("/")))
    }

    /// The path as `a/b/c`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The parent directory, `None` for a top-level entry.
    pub fn parent(&self) -> Option<RelPath> {
        self.0.rfind('/').map(|i| RelPath(self.0[..i].to_string()))
    }

    /// The last component.
    pub fn file_name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or(&self.0)
    }

    /// `self/child`, where `child` follows the rules of [`RelPath::new`].
    pub fn join(&self, child: &str) -> Result<RelPath, FsError> {
        let child = RelPath::new(child)?;
        Ok(RelPath(format!("{}/{}", self.0, child.0)))
    }

    /// Whether `self` is `prefix` or below it.
    pub fn starts_with(&self, prefix: &str) -> bool {
        self.0 == prefix
            || (self.0.starts_with(prefix) && self.0.as_bytes().get(prefix.len()) == Some(&b'/'))
    }

    /// The ancestors from the top down, excluding `self`: `a`, `a/b` for `a/b/c`.
    pub fn ancestors(&self) -> impl Iterator<Item = RelPath> + '_ {
        self.0
            .match_indices('/')
            .map(|(i, _)| RelPath(self.0[..i].to_string()))
    }
}

impl fmt::Display for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "/{}", self.0)
    }
}

impl fmt::Debug for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RelPath({:?})", self.0)
    }
}

fn hostile(name: &str, reason: &'static str) -> FsError {
    FsError::Hostile {
        name: name.to_string(),
        reason,
    }
}

/// Rejects a symlink whose relative target climbs above the image root when resolved from the
/// link's directory. Absolute targets stay inside the container's root when the runtime follows
/// them (Debian ships many, e.g. `/lib64/ld-linux-x86-64.so.2`), so they are allowed.
pub fn check_symlink(path: &RelPath, target: &str) -> Result<(), FsError> {
    if target.is_empty() || target.contains('\0') {
        return Err(hostile(path.as_str(), "empty or NUL symlink target"));
    }
    if target.starts_with('/') {
        return Ok(());
    }
    let mut depth = path.ancestors().count() as isize;
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                depth -= 1;
                if depth < 0 {
                    return Err(hostile(path.as_str(), "symlink points outside the root"));
                }
            }
            _ => depth += 1,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_archive_names() {
        let p = RelPath::from_archive_name("./usr//bin/./python3").unwrap();
        assert_eq!(p.as_str(), "usr/bin/python3");
        assert_eq!(p.parent().unwrap().as_str(), "usr/bin");
        assert_eq!(p.file_name(), "python3");
        let ancestors: Vec<_> = p.ancestors().map(|a| a.as_str().to_string()).collect();
        assert_eq!(ancestors, ["usr", "usr/bin"]);
        assert_eq!(p.to_string(), "/usr/bin/python3");
    }

    #[test]
    fn rejects_hostile_names() {
        for bad in ["/etc/passwd", "../x", "./usr/../../etc", "./", "", "a\0b"] {
            assert!(
                matches!(
                    RelPath::from_archive_name(bad),
                    Err(FsError::Hostile { .. })
                ),
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn symlinks_must_stay_inside() {
        let link = RelPath::new("usr/lib/x86_64-linux-gnu/libfoo.so").unwrap();
        assert!(check_symlink(&link, "libfoo.so.1").is_ok());
        assert!(check_symlink(&link, "../../../etc/alternatives/x").is_ok());
        assert!(check_symlink(&link, "../../../../etc/x").is_err());
        assert!(check_symlink(&link, "/etc/passwd").is_ok());
        let top = RelPath::new("x").unwrap();
        assert!(check_symlink(&top, "../y").is_err());
    }

    #[test]
    fn starts_with_is_component_wise() {
        let p = RelPath::new("usr/share/doc/x").unwrap();
        assert!(p.starts_with("usr/share/doc"));
        assert!(!p.starts_with("usr/share/do"));
    }
}
