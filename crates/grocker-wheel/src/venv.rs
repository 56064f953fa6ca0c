//! The virtual environment grocker writes itself, without `python -m venv`.

use grocker_fs::{Entry, Kind, RelPath};

use crate::{Target, Version, WheelError};

/// A venv at a fixed absolute path, owned by root so the application's user cannot modify its
/// own code (DESIGN §2).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Venv {
    /// Absolute path in the image, `/opt/venv`.
    pub root: String,
    /// `(3, 11)`.
    pub python: (u8, u8),
    /// The system interpreter the venv runs on, `/usr/bin/python3.11`.
    pub interpreter: String,
    /// Its exact version, written to `pyvenv.cfg`.
    pub python_full: Version,
}

impl Venv {
    /// The venv at `root` for Debian's `/usr/bin/python3.X` of `target`.
    pub fn for_target(root: &str, target: &Target) -> Venv {
        let (major, minor) = target.python;
        Venv {
            root: root.trim_end_matches('/').to_string(),
            python: target.python,
            interpreter: format!("/usr/bin/python{major}.{minor}"),
            python_full: target.python_full.clone(),
        }
    }

    /// `/opt/venv/lib/python3.11/site-packages` (purelib and platlib are one directory in a venv).
    pub fn site_packages(&self) -> String {
        format!("{}/{}", self.root, self.site_packages_rel())
    }

    /// `/opt/venv/bin`.
    pub fn bin(&self) -> String {
        format!("{}/bin", self.root)
    }

    /// The interpreter scripts run with: `/opt/venv/bin/python`.
    pub fn python_bin(&self) -> String {
        format!("{}/bin/python", self.root)
    }

    /// `lib/python3.11/site-packages`, relative to the venv root.
    pub(crate) fn site_packages_rel(&self) -> String {
        let (major, minor) = self.python;
        format!("lib/python{major}.{minor}/site-packages")
    }

    /// `include/site/python3.11`, relative to the venv root: where pip puts a venv's headers.
    pub(crate) fn headers_rel(&self) -> String {
        let (major, minor) = self.python;
        format!("include/site/python{major}.{minor}")
    }

    /// The venv root as a path in the image, after checking that it is absolute and normalized.
    pub(crate) fn root_path(&self) -> Result<RelPath, WheelError> {
        let invalid = |reason: &str| WheelError::Venv {
            reason: format!("root `{}` {reason}", self.root),
        };
        let relative = self
            .root
            .strip_prefix('/')
            .ok_or_else(|| invalid("is not an absolute path"))?;
        let path = RelPath::new(relative).map_err(|e| invalid(&e.to_string()))?;
        if path.as_str() != relative {
            return Err(invalid("is not normalized"));
        }
        Ok(path)
    }

    /// Whether `path` is one of grocker's own venv files — `pyvenv.cfg`, `bin/python`,
    /// `bin/python3`, `bin/python3.X`, the `lib64` link — or below one, or outside the venv:
    /// no wheel may write there (DESIGN §5). A console script or `.data` file over
    /// `bin/python` would break every launcher of the image.
    pub fn is_own(&self, path: &RelPath) -> bool {
        let Ok(root) = self.root_path() else {
            return true;
        };
        if !path.starts_with(root.as_str()) {
            return true;
        }
        self.skeleton()
            .iter()
            .any(|(own, entry)| entry.kind != Kind::Dir && path.starts_with(own.as_str()))
    }

    /// The files `python -m venv --without-pip` would write, as root-owned entries: `pyvenv.cfg`,
    /// `bin/python` → the system interpreter, `bin/python3` and `bin/python3.X` → `python`,
    /// `lib/python3.X/site-packages/`, `include/`, and `lib64` → `lib` (what venv does on
    /// 64-bit POSIX). Empty if `root` is not an absolute normalized path, which
    /// [`crate::install_wheel`] reports as an error.
    pub fn skeleton(&self) -> Vec<(RelPath, Entry)> {
        let Ok(root) = self.root_path() else {
            return Vec::new();
        };
        let (major, minor) = self.python;
        let home = self
            .interpreter
            .rsplit_once('/')
            .map_or(
                "/usr/bin",
                |(dir, _)| if dir.is_empty() { "/" } else { dir },
            );
        // What `venv.EnvBuilder.create_configuration` writes first; `include-system-site-packages
        // = false` keeps Debian's dist-packages out of the application's import path.
        let cfg = format!(
            "home = {home}\ninclude-system-site-packages = false\nversion = {}\n",
            self.python_full
        );
        let items: Vec<(String, Entry)> = vec![
            (String::new(), Entry::dir(0o755)),
            ("pyvenv.cfg".into(), Entry::file(cfg.into_bytes(), 0o644)),
            ("bin".into(), Entry::dir(0o755)),
            (
                "bin/python".into(),
                Entry::symlink(self.interpreter.clone()),
            ),
            (format!("bin/python{major}"), Entry::symlink("python")),
            (
                format!("bin/python{major}.{minor}"),
                Entry::symlink("python"),
            ),
            ("include".into(), Entry::dir(0o755)),
            ("lib".into(), Entry::dir(0o755)),
            (format!("lib/python{major}.{minor}"), Entry::dir(0o755)),
            (self.site_packages_rel(), Entry::dir(0o755)),
            ("lib64".into(), Entry::symlink("lib")),
        ];
        items
            .into_iter()
            .filter_map(|(path, entry)| {
                let path = if path.is_empty() {
                    root.clone()
                } else {
                    root.join(&path).ok()?
                };
                Some((path, entry))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use grocker_fs::{Kind, Tree};

    use super::*;
    use crate::Arch;

    fn venv() -> Venv {
        let target = Target {
            python: (3, 11),
            python_full: "3.11.2".parse().unwrap(),
            glibc: (2, 36),
            arch: Arch::X86_64,
        };
        Venv::for_target("/opt/venv", &target)
    }

    #[test]
    fn skeleton_is_a_root_owned_venv() {
        let v = venv();
        assert_eq!(v.site_packages(), "/opt/venv/lib/python3.11/site-packages");
        assert_eq!(v.interpreter, "/usr/bin/python3.11");
        let mut tree = Tree::new();
        for (path, entry) in v.skeleton() {
            assert_eq!((entry.uid, entry.gid), (0, 0));
            assert!(entry.mode == 0o755 || entry.mode == 0o644 || entry.mode == 0o777);
            tree.insert(path, entry).unwrap();
        }
        let get = |p: &str| tree.get(&RelPath::new(p).unwrap()).unwrap().kind.clone();
        let Kind::File(cfg) = get("opt/venv/pyvenv.cfg") else {
            panic!("no pyvenv.cfg")
        };
        assert_eq!(
            &cfg.read_all().unwrap()[..],
            b"home = /usr/bin\ninclude-system-site-packages = false\nversion = 3.11.2\n"
        );
        assert_eq!(
            get("opt/venv/bin/python"),
            Kind::Symlink("/usr/bin/python3.11".into())
        );
        assert_eq!(get("opt/venv/bin/python3"), Kind::Symlink("python".into()));
        assert_eq!(
            get("opt/venv/bin/python3.11"),
            Kind::Symlink("python".into())
        );
        assert_eq!(get("opt/venv/lib64"), Kind::Symlink("lib".into()));
        assert_eq!(get("opt/venv/lib/python3.11/site-packages"), Kind::Dir);
    }

    #[test]
    fn own_files_are_the_skeletons_non_directories() {
        let v = venv();
        let own = |p: &str| v.is_own(&RelPath::new(p).unwrap());
        for path in [
            "opt/venv/pyvenv.cfg",
            "opt/venv/bin/python",
            "opt/venv/bin/python3",
            "opt/venv/bin/python3.11",
            "opt/venv/lib64",
            "opt/venv/lib64/x",
            "opt/venv/bin/python/x",
            "etc/passwd",
            "opt/venvx/a",
        ] {
            assert!(own(path), "{path}");
        }
        for path in [
            "opt/venv",
            "opt/venv/bin",
            "opt/venv/bin/python3.1",
            "opt/venv/bin/pythonx",
            "opt/venv/lib/python3.11/site-packages/pyvenv.cfg",
        ] {
            assert!(!own(path), "{path}");
        }
    }

    #[test]
    fn root_must_be_absolute_and_normalized() {
        for bad in ["opt/venv", "/opt/../venv", "/opt//venv", "/"] {
            let v = Venv {
                root: bad.into(),
                ..venv()
            };
            assert!(v.root_path().is_err(), "{bad}");
            assert!(v.skeleton().is_empty());
        }
    }
}
