//! `--compile-bytecode`: the image's `.py` files compiled to `.pyc` by the image's own
//! interpreter — Debian's `python3.X`, from the runtime's `.deb`s — run on this machine through
//! the runtime's own dynamic loader. No engine, as for the rest of the image. For another
//! platform's image, the same Debian version of `python3.X` for this machine's architecture
//! compiles them: `.pyc` files are the same bytes on every platform for one CPython.
//!
//! Without bytecode, every start of a container compiles what it imports, since the venv and
//! `/usr` are read-only to the app's user: `http --version` takes 1.1 s instead of 0.35 s. With
//! it, images grow (httpie's: 63 → 91 MB).
//!
//! The `.pyc` files are PEP 552 "unchecked hash" ones: their bytes depend on the source and the
//! interpreter only, never on file dates (which a layer sets to `SOURCE_DATE_EPOCH` anyway), and
//! the interpreter runs with `PYTHONHASHSEED=0`. That still leaves what the compiling process
//! did before a file: it decides which strings are interned (so which equal strings are one
//! object) and which objects marshal flags for back-reference. So each process is a fresh one
//! that compiles a fixed share of the sorted files, in order (never compileall's workers, who
//! take whatever file comes next), and every `.pyc` goes into the layer in `grocker_pyc`'s
//! canonical form: the same lock gives the same image.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use grocker_fetch::Cache;
use grocker_fs::{Entry, Kind, RelPath, Spool, Tree};
use grocker_hash::Sha256;
use grocker_pyc::PycError;

/// What the cache keys of layers with bytecode say of it: a new value when the bytes of the
/// `.pyc` files change for the same inputs, so that older layers are not reused.
pub const KEY: &str =
    "bytecode: unchecked-hash pyc by the runtime's interpreter, fixed shares, canonical v2";

/// What each interpreter process runs: compile the files listed in argv[3] (NUL-separated,
/// relative to argv[1]), in that order, naming them as under argv[2].
const COMPILE: &str = "import compileall, os, py_compile, sys\n\
    src, named, listing = sys.argv[1:4]\n\
    mode = py_compile.PycInvalidationMode.UNCHECKED_HASH\n\
    for rel in open(listing, encoding='utf-8', newline='').read().split('\\0'):\n\
    \x20   if rel:\n\
    \x20       ddir = os.path.join(named, os.path.dirname(rel))\n\
    \x20       compileall.compile_file(os.path.join(src, rel), ddir=ddir, quiet=2,\n\
    \x20                               invalidation_mode=mode)\n";

/// Files per interpreter process. What a process compiled before shows in the next file's
/// bytes (which strings are interned, so which are one object), so each process is fresh and
/// gets a fixed share of the sorted files — never "whichever worker is free", as compileall's
/// workers do, nor a share that depends on this machine's cores.
const FILES_PER_PROCESS: usize = 400;

/// The runtime's interpreter, written out under the cache.
#[derive(Clone, Debug)]
pub struct Interpreter {
    root: PathBuf,
    python: (u8, u8),
    /// Where it is installed below `root`: `usr` (Debian's), `opt/python/3.X` (built by grocker).
    prefix: String,
}

impl Interpreter {
    /// The interpreter of the runtime filesystem `runtime` (named `id`: the same packages give
    /// the same interpreter), written under the cache the first time.
    pub fn materialize(
        cache: &Cache,
        id: &Sha256,
        runtime: &Tree,
        python: (u8, u8),
        prefix: &str,
    ) -> Result<Interpreter> {
        let root = Self::dir(cache, id);
        if !root.is_dir() {
            let parent = root.parent().unwrap_or(Path::new("."));
            fs_err::create_dir_all(parent)?;
            let staging = tempfile::Builder::new()
                .prefix(".interpreter-")
                .tempdir_in(parent)?;
            let written = staging.path().join("root");
            runtime
                .write_dir(&written)
                .with_context(|| format!("writing the runtime to {}", written.display()))?;
            if let Err(e) = fs_err::rename(&written, &root)
                && !root.is_dir()
            {
                return Err(e.into());
            }
        }
        Ok(Interpreter {
            root,
            python,
            prefix: prefix.to_string(),
        })
    }

    /// The runtime filesystem it was written into.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the materialized interpreter for `id` would be, if it exists already.
    pub fn existing(
        cache: &Cache,
        id: &Sha256,
        python: (u8, u8),
        prefix: &str,
    ) -> Option<Interpreter> {
        let root = Self::dir(cache, id);
        root.is_dir().then(|| Interpreter {
            root,
            python,
            prefix: prefix.to_string(),
        })
    }

    fn dir(cache: &Cache, id: &Sha256) -> PathBuf {
        cache
            .root()
            .join("interpreters")
            .join(&id.to_string()[..32])
    }

    /// Adds a `__pycache__/*.cpython-3X.pyc` next to every `.py` file of `tree` under `dir` (a
    /// directory of the image, `usr/lib/python3.11`), as root-owned entries whose content goes
    /// to `spool` (torch's bytecode alone is hundreds of megabytes). Files that do not compile
    /// (Python 2 leftovers, templates) get none, as with pip.
    pub fn compile(&self, tree: &mut Tree, dir: &str, spool: &Spool) -> Result<()> {
        let work = tempfile::Builder::new()
            .prefix("grocker-bytecode-")
            .tempdir()?;
        let src = work.path().join("src");
        let prefix = format!("{dir}/");
        let mut sources = Tree::new();
        for (path, entry) in tree.iter() {
            if let Some(rel) = path.as_str().strip_prefix(&prefix)
                && rel.ends_with(".py")
                && matches!(entry.kind, Kind::File(_))
            {
                // `write_dir` writes files as the calling user whatever the entry says.
                sources.insert(RelPath::new(rel)?, entry.clone())?;
            }
        }
        if sources.is_empty() {
            return Ok(());
        }
        sources.write_dir(&src)?;
        let files: Vec<&str> = sources.iter().map(|(path, _)| path.as_str()).collect();
        let chunks: Vec<&[&str]> = files.chunks(FILES_PER_PROCESS).collect();
        let parallel = std::thread::available_parallelism().map_or(1, |n| n.get());
        let next = std::sync::atomic::AtomicUsize::new(0);
        let named = format!("/{dir}");
        let results: Vec<Result<()>> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..parallel.min(chunks.len()))
                .map(|_| {
                    scope.spawn(|| -> Result<()> {
                        loop {
                            let at = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let Some(chunk) = chunks.get(at) else {
                                return Ok(());
                            };
                            let listing = work.path().join(format!("files-{at}"));
                            fs_err::write(&listing, chunk.join("\0"))?;
                            self.run(&src, &named, &listing)?;
                        }
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| {
                    w.join()
                        .unwrap_or_else(|_| Err(anyhow::anyhow!("a bytecode worker panicked")))
                })
                .collect()
        });
        for result in results {
            result?;
        }
        let mut pycs = Vec::new();
        collect_pycs(&src, &src, &mut pycs)?;
        pycs.sort();
        for rel in pycs {
            let file = src.join(&rel);
            let path = RelPath::new(&format!("{dir}/{rel}"))?;
            let pyc = canonical(path.as_str(), fs_err::read(&file)?)?;
            let content = spool
                .add(pyc.as_slice())
                .with_context(|| format!("spooling {}", file.display()))?;
            if let Some(parent) = path.parent() {
                tree.insert(parent, Entry::dir(0o755))?;
            }
            tree.insert(path, Entry::file_content(content, 0o644))?;
        }
        Ok(())
    }

    /// Compiles the files `listing` names, in one fresh interpreter.
    fn run(&self, src: &Path, named: &str, listing: &Path) -> Result<()> {
        let (major, minor) = self.python;
        // This machine's own loader: the interpreter is the runtime's for this machine's
        // architecture (another platform's `.pyc` files are the same bytes).
        let (triplet, loader) = match std::env::consts::ARCH {
            "aarch64" => ("aarch64-linux-gnu", "ld-linux-aarch64.so.1"),
            _ => ("x86_64-linux-gnu", "ld-linux-x86-64.so.2"),
        };
        let libs = self.root.join("usr/lib").join(triplet);
        let loader = libs.join(loader);
        let home = self.root.join(&self.prefix);
        let python = home.join(format!("bin/python{major}.{minor}"));
        if !cfg!(target_os = "linux") || !loader.is_file() {
            bail!(
                "--compile-bytecode runs Debian's Python of this machine's architecture here, \
                 which needs a Linux host of an architecture grocker builds for (x86-64, arm64)"
            );
        }
        let out = Command::new(&loader)
            .arg("--library-path")
            .arg(&libs)
            .arg(&python)
            // No user site-packages; the standard library from the runtime, not the host; no
            // `.pyc` of what the interpreter imports written into the cache's copy of it.
            .args(["-s", "-B", "-c", COMPILE])
            .arg(src)
            .arg(named)
            .arg(listing)
            .env_clear()
            .env("PYTHONHOME", &home)
            .env("PYTHONHASHSEED", "0")
            .env("LANG", "C.UTF-8")
            .output()
            .with_context(|| format!("running {}", python.display()))?;
        if !out.status.success() {
            bail!(
                "the image's Python ({}) failed to compile bytecode: {}",
                python.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(())
    }
}

/// `pyc`, the file at `path`, in canonical form (`grocker_pyc`). A file of a Python that
/// crate does not know (a pre-release) stays as it is, with a warning: its bytes may then
/// differ between builds. Any other error is one, naming the file: CPython wrote it, so a
/// file grocker cannot read is grocker's to fix — and so is a timestamp-based one, whose
/// header records when the source was written.
pub fn canonical(path: &str, pyc: Vec<u8>) -> Result<Vec<u8>> {
    // PEP 552: bit 0 of the flags word makes it hash-based; bit 1 (check the source) is off in
    // "unchecked hash" files.
    if let Some(flags) = pyc.get(4..8)
        && flags != [1, 0, 0, 0]
    {
        bail!(
            "/{path} is not an \"unchecked hash\" .pyc file (PEP 552 flags {flags:02x?}): \
             grocker compiles only those, whose bytes do not depend on file dates"
        );
    }
    match grocker_pyc::canonicalize(&pyc) {
        Ok(canonical) => Ok(canonical),
        Err(e @ PycError::UnsupportedVersion { .. }) => {
            tracing::warn!("/{path} left as compiled, which may differ between builds: {e}");
            Ok(pyc)
        }
        Err(e) => Err(e).with_context(|| format!("making /{path} canonical")),
    }
}

/// Every `.pyc` file of `tree` in canonical form (see [`canonical`]); how many there are.
pub fn canonicalize_tree(tree: &mut Tree) -> Result<usize> {
    let pycs: Vec<RelPath> = tree
        .iter()
        .filter(|(path, entry)| {
            path.as_str().ends_with(".pyc") && matches!(entry.kind, Kind::File(_))
        })
        .map(|(path, _)| path.clone())
        .collect();
    for path in &pycs {
        let Some(entry) = tree.get(path) else {
            continue;
        };
        let Kind::File(content) = &entry.kind else {
            continue;
        };
        let pyc = content
            .read_all()
            .with_context(|| format!("reading /{path}"))?;
        let canonical = canonical(path.as_str(), pyc.to_vec())?;
        let entry = Entry {
            kind: Kind::File(grocker_fs::Content::inline(canonical)),
            ..entry.clone()
        };
        tree.replace(path.clone(), entry)?;
    }
    Ok(pycs.len())
}

fn collect_pycs(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<()> {
    for entry in fs_err::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            collect_pycs(root, &path, out)?;
        } else if path.extension().is_some_and(|e| e == "pyc") {
            let rel = path.strip_prefix(root).unwrap_or(&path);
            out.push(rel.to_string_lossy().into_owned());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 3.13 `.pyc` with header flags `flags` of `("ab", "ab")`, both items flagged.
    fn pyc(magic: u16, flags: u8) -> Vec<u8> {
        let mut out = magic.to_le_bytes().to_vec();
        out.extend_from_slice(&[b'\r', b'\n', flags, 0, 0, 0]);
        out.extend_from_slice(&[0; 8]);
        out.extend_from_slice(b"\xa9\x02\xda\x02abr\x01\x00\x00\x00");
        out
    }

    #[test]
    fn layers_get_canonical_pyc_files() {
        let canonical = canonical("x.pyc", pyc(3571, 1)).unwrap();
        assert_eq!(&canonical[16..], b")\x02\xda\x02abr\x00\x00\x00\x00");
        let mut tree = Tree::new();
        tree.insert(
            RelPath::new("a/x.pyc").unwrap(),
            Entry::file(pyc(3571, 1), 0o644),
        )
        .unwrap();
        assert_eq!(canonicalize_tree(&mut tree).unwrap(), 1);
        let Kind::File(content) = &tree.get(&RelPath::new("a/x.pyc").unwrap()).unwrap().kind else {
            panic!("not a file");
        };
        assert_eq!(content.read_all().unwrap().to_vec(), canonical);
    }

    #[test]
    fn timestamp_pyc_files_and_broken_ones_are_errors() {
        let err = canonical("lib/x.pyc", pyc(3571, 0))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("/lib/x.pyc is not an \"unchecked hash\""),
            "{err}"
        );
        let mut broken = pyc(3571, 1);
        broken.truncate(20);
        let err = format!("{:#}", canonical("lib/x.pyc", broken).unwrap_err());
        assert!(
            err.contains("making /lib/x.pyc canonical: marshal data truncated"),
            "{err}"
        );
    }

    #[test]
    fn a_python_grocker_pyc_does_not_know_is_kept_as_compiled() {
        // 3.15's first alpha.
        let pyc = pyc(3650, 1);
        assert_eq!(canonical("x.pyc", pyc.clone()).unwrap(), pyc);
    }
}
