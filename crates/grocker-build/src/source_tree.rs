//! A project's own files, as two stages need them: the source tree of an app that is not a
//! package, shipped read-only in `/app` (DESIGN §2), and the inputs of a project's wheel, whose
//! hash keys the builder's cache. One walk serves both, each with its own rule of what to leave
//! out; for `/app` that is `.dockerignore` (Docker's syntax, as `docker build` reads it) on top
//! of what no image wants (VCS data, virtual environments, bytecode, the tools' caches).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use grocker_fs::{Entry, RelPath, Tree};
use grocker_hash::Sha256;

/// Where an app that is not a package lives in the image, and its working directory.
pub const APP_DIR: &str = "/app";

/// One file (or symlink) of a project, by its path relative to the project.
#[derive(Clone, Debug)]
pub(crate) struct SourceFile {
    /// Relative path, `/`-separated.
    pub rel: String,
    /// Where it is on disk.
    pub path: PathBuf,
}

/// The files of `root` that `keep` admits, sorted by path. `keep(rel, is_dir)` is asked for
/// every entry; a directory it refuses is not entered.
pub(crate) fn walk(root: &Path, keep: &dyn Fn(&str, bool) -> bool) -> Result<Vec<SourceFile>> {
    fn visit(
        root: &Path,
        dir: &Path,
        keep: &dyn Fn(&str, bool) -> bool,
        out: &mut Vec<SourceFile>,
    ) -> Result<()> {
        for entry in fs_err::read_dir(dir)? {
            let entry = entry?;
            let path = entry.path();
            let Ok(rel) = path.strip_prefix(root) else {
                continue;
            };
            let Some(rel) = rel.to_str().map(str::to_string) else {
                bail!(
                    "{}: the file name is not UTF-8, which an image layer cannot carry portably; \
                     rename it or leave it out with .dockerignore",
                    path.display()
                );
            };
            let file_type = entry.file_type()?;
            let is_dir = file_type.is_dir();
            if !keep(&rel, is_dir) {
                continue;
            }
            if is_dir {
                visit(root, &path, keep, out)?;
            } else {
                out.push(SourceFile { rel, path });
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    visit(root, root, keep, &mut out)?;
    out.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok(out)
}

/// What `files` hold: every path, exec bit and content (a symlink's target), in path order.
pub(crate) fn hash(files: &[SourceFile]) -> Result<Sha256> {
    let mut hasher = grocker_hash::Hasher::new();
    for file in files {
        let meta = fs_err::symlink_metadata(&file.path)?;
        let content = if meta.file_type().is_symlink() {
            fs_err::read_link(&file.path)?
                .to_string_lossy()
                .into_owned()
                .into_bytes()
        } else {
            fs_err::read(&file.path)?
        };
        let exec = meta.permissions().mode() & 0o111 != 0;
        hasher.update(format!("{}\0{exec}\0{}\0", file.rel, content.len()).as_bytes());
        hasher.update(&content);
    }
    Ok(hasher.finish())
}

/// The source tree of an app that is not a package: what goes into `/app`.
#[derive(Clone, Debug)]
pub struct SourceTree {
    /// The project directory.
    pub root: PathBuf,
    pub(crate) files: Vec<SourceFile>,
    /// The hash of every shipped file's path, mode and content: the app layer's cache key.
    pub sha256: Sha256,
}

/// Never shipped: VCS data, virtual environments, bytecode, test and lint caches, grocker's
/// own lock (it is written after the build: shipping it would change the next build's layer).
const NEVER_SHIPPED: &[&str] = &[
    ".git",
    ".hg",
    ".svn",
    ".venv",
    "__pycache__",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    ".tox",
    ".nox",
    ".ipynb_checkpoints",
    "grocker.lock",
];

impl SourceTree {
    /// The files of `root` an image should carry: `.dockerignore` applied, the usual clutter out.
    pub fn read(root: &Path) -> Result<Self> {
        let ignore = DockerIgnore::read(root)?;
        let keep = |rel: &str, is_dir: bool| {
            let name = rel.rsplit('/').next().unwrap_or(rel);
            if NEVER_SHIPPED.contains(&name) || (!is_dir && name.ends_with(".pyc")) {
                return false;
            }
            // A directory is entered even when ignored, since a later `!pattern` may take
            // back a file inside it (as Docker does); its files are then judged one by one.
            is_dir || !ignore.excludes(rel)
        };
        let files = walk(root, &keep)?;
        let sha256 = hash(&files)?;
        Ok(Self {
            root: root.to_path_buf(),
            files,
            sha256,
        })
    }

    /// The tree under `/app`: directories 0755, files 0644 (0755 when executable), all owned
    /// by root, so the app user can read and never change its code.
    pub(crate) fn entries(&self) -> Result<Tree> {
        let mut tree = Tree::new();
        let base = APP_DIR.trim_start_matches('/');
        tree.insert(RelPath::new(base)?, Entry::dir(0o755))?;
        for file in &self.files {
            // Parents missing from the tree are written 0755 root:root.
            let path = RelPath::new(&format!("{base}/{}", file.rel))?;
            let meta = fs_err::symlink_metadata(&file.path)?;
            let entry = if meta.file_type().is_symlink() {
                let target = fs_err::read_link(&file.path)?;
                let target = target.to_str().with_context(|| {
                    format!("{}: the link target is not UTF-8", file.path.display())
                })?;
                grocker_fs::check_symlink(&path, target).with_context(|| {
                    format!(
                        "{}: a symbolic link that points outside the image",
                        file.path.display()
                    )
                })?;
                Entry::symlink(target)
            } else if meta.is_file() {
                let mode = if meta.permissions().mode() & 0o111 != 0 {
                    0o755
                } else {
                    0o644
                };
                Entry::file(fs_err::read(&file.path)?, mode)
            } else {
                bail!(
                    "{}: not a regular file, directory or symbolic link (a socket or device?); \
                     leave it out with .dockerignore",
                    file.path.display()
                );
            };
            tree.insert(path, entry)?;
        }
        Ok(tree)
    }
}

/// `.dockerignore`, read as Docker reads it: one pattern a line, `#` comments, `!` takes a path
/// back, the last matching pattern wins, and a pattern that matches a directory matches all
/// below it. Patterns are Go's `filepath.Match` globs (`*`, `?`, `[a-z]`, `\` escapes) plus `**`
/// for any number of directories.
#[derive(Clone, Debug, Default)]
pub(crate) struct DockerIgnore {
    patterns: Vec<Pattern>,
}

#[derive(Clone, Debug)]
struct Pattern {
    negated: bool,
    segments: Vec<String>,
}

impl DockerIgnore {
    /// The `.dockerignore` of `root`, empty when there is none.
    pub(crate) fn read(root: &Path) -> Result<Self> {
        let path = root.join(".dockerignore");
        if !path.is_file() {
            return Ok(Self::default());
        }
        Ok(Self::parse(&fs_err::read_to_string(&path)?))
    }

    pub(crate) fn parse(text: &str) -> Self {
        let mut patterns = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (negated, pattern) = match line.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, line),
            };
            // Docker cleans each pattern (filepath.Clean) and drops a leading `/`.
            let segments: Vec<String> = pattern
                .split('/')
                .filter(|s| !s.is_empty() && *s != ".")
                .map(str::to_string)
                .collect();
            if segments.is_empty() {
                continue;
            }
            patterns.push(Pattern { negated, segments });
        }
        Self { patterns }
    }

    /// Whether the file at `rel` (relative, `/`-separated) is left out.
    pub(crate) fn excludes(&self, rel: &str) -> bool {
        let path: Vec<&str> = rel.split('/').collect();
        let mut excluded = false;
        for pattern in &self.patterns {
            // The pattern matches the path or one of its parent directories.
            let matched = (1..=path.len()).any(|n| match_segments(&pattern.segments, &path[..n]));
            if matched {
                excluded = !pattern.negated;
            }
        }
        excluded
    }
}

fn match_segments(pattern: &[String], path: &[&str]) -> bool {
    match pattern.split_first() {
        None => path.is_empty(),
        Some((first, rest)) if first == "**" => {
            (0..=path.len()).any(|skip| match_segments(rest, &path[skip..]))
        }
        Some((first, rest)) => match path.split_first() {
            Some((segment, path_rest)) => {
                glob(first.as_bytes(), segment.as_bytes()) && match_segments(rest, path_rest)
            }
            None => false,
        },
    }
}

/// One path segment against one glob segment: `*`, `?`, `[...]` (with `^`/`!` negation and
/// ranges), `\` escapes.
fn glob(pattern: &[u8], name: &[u8]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some((b'*', rest)) => (0..=name.len()).any(|skip| glob(rest, &name[skip..])),
        Some((b'?', rest)) => !name.is_empty() && glob(rest, &name[1..]),
        Some((b'[', rest)) => {
            let Some((&c, name_rest)) = name.split_first() else {
                return false;
            };
            match class(rest, c) {
                Some((true, after)) => glob(after, name_rest),
                _ => false,
            }
        }
        Some((b'\\', rest)) if !rest.is_empty() => {
            name.first() == rest.first() && glob(&rest[1..], &name[1..])
        }
        Some((&p, rest)) => name.first() == Some(&p) && glob(rest, &name[1..]),
    }
}

/// A character class after its `[`: whether `c` is in it, and the pattern after its `]`;
/// `None` when the class is not closed (Go: a bad pattern, which matches nothing).
fn class(pattern: &[u8], c: u8) -> Option<(bool, &[u8])> {
    let (negated, mut rest) = match pattern.first() {
        Some(b'^' | b'!') => (true, &pattern[1..]),
        _ => (false, pattern),
    };
    let mut matched = false;
    let mut first = true;
    loop {
        let (&lo, after) = rest.split_first()?;
        if lo == b']' && !first {
            return Some((matched != negated, after));
        }
        first = false;
        let (lo, after) = match lo {
            b'\\' => (*after.first()?, &after[1..]),
            _ => (lo, after),
        };
        let (hi, after) = match after {
            [b'-', hi, tail @ ..] if *hi != b']' => (*hi, tail),
            _ => (lo, after),
        };
        if lo <= c && c <= hi {
            matched = true;
        }
        rest = after;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockerignore_follows_docker() {
        let ignore = DockerIgnore::parse(
            "# comment\n\n*.md\n!README.md\n/build\ndocs/**/*.png\nsecret?.txt\n[ab]x\nnode_modules\n",
        );
        assert!(ignore.excludes("CHANGES.md"));
        assert!(!ignore.excludes("README.md"));
        // `*.md` is anchored at the root, as Docker's patterns are.
        assert!(!ignore.excludes("docs/guide.md"));
        assert!(ignore.excludes("build/lib/x.py"));
        assert!(ignore.excludes("docs/a/b/c.png"));
        assert!(ignore.excludes("docs/c.png"));
        assert!(!ignore.excludes("docs/c.jpg"));
        assert!(ignore.excludes("secret1.txt"));
        assert!(!ignore.excludes("secret12.txt"));
        assert!(ignore.excludes("ax"));
        assert!(!ignore.excludes("cx"));
        assert!(ignore.excludes("node_modules/x/index.js"));
        assert!(!ignore.excludes("app/node_modules.py"));
        let everything_but = DockerIgnore::parse("**\n!app.py\n!src\n");
        assert!(everything_but.excludes("notes.txt"));
        assert!(!everything_but.excludes("app.py"));
        assert!(!everything_but.excludes("src/pkg/mod.py"));
        let any_depth = DockerIgnore::parse("**/*.log\n");
        assert!(any_depth.excludes("a.log"));
        assert!(any_depth.excludes("x/y/a.log"));
    }

    #[test]
    fn globs_and_classes() {
        assert!(glob(b"[a-c]?", b"bz"));
        assert!(!glob(b"[^a-c]z", b"bz"));
        assert!(glob(b"[!a-c]z", b"dz"));
        assert!(glob(b"\\*", b"*"));
        assert!(!glob(b"\\*", b"a"));
        assert!(!glob(b"[abc", b"a"), "an unclosed class matches nothing");
    }

    #[test]
    fn source_tree_leaves_out_clutter_and_ignored_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for (path, body) in [
            ("manage.py", "print('hi')\n"),
            ("mysite/settings.py", "DEBUG = False\n"),
            ("mysite/__pycache__/settings.cpython-311.pyc", "x"),
            (".git/HEAD", "ref: refs/heads/main\n"),
            (".venv/pyvenv.cfg", "home = /usr\n"),
            ("notes/todo.txt", "x"),
            ("grocker.lock", "x"),
            (".dockerignore", "notes\n"),
        ] {
            let path = root.join(path);
            fs_err::create_dir_all(path.parent().unwrap()).unwrap();
            fs_err::write(path, body).unwrap();
        }
        fs_err::set_permissions(
            root.join("manage.py"),
            std::fs::Permissions::from_mode(0o775),
        )
        .unwrap();
        let source = SourceTree::read(root).unwrap();
        let rels: Vec<&str> = source.files.iter().map(|f| f.rel.as_str()).collect();
        assert_eq!(rels, [".dockerignore", "manage.py", "mysite/settings.py"]);
        let tree = source.entries().unwrap();
        let manage = tree.get(&RelPath::new("app/manage.py").unwrap()).unwrap();
        assert_eq!((manage.mode, manage.uid, manage.gid), (0o755, 0, 0));
        let settings = tree
            .get(&RelPath::new("app/mysite/settings.py").unwrap())
            .unwrap();
        assert_eq!(settings.mode, 0o644);

        // The hash follows content and modes, nothing else.
        let again = SourceTree::read(root).unwrap();
        assert_eq!(again.sha256, source.sha256);
        fs_err::write(root.join("mysite/settings.py"), "DEBUG = True\n").unwrap();
        assert_ne!(SourceTree::read(root).unwrap().sha256, source.sha256);
    }
}
