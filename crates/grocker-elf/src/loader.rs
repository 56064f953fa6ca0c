//! The dynamic loader's search, simulated over the tree.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::rc::Rc;

use grocker_fs::{Content, Kind, RelPath, Tree};

use crate::object::{self, Object};
use crate::{ElfError, paths};

/// The CPU an image is for: which ELF files count and where Debian puts libraries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Machine {
    /// `amd64`, `linux/amd64`.
    X86_64,
    /// `arm64`, `linux/arm64`.
    Aarch64,
}

impl Machine {
    /// The machine of a Debian architecture name (`amd64`, `arm64`).
    pub fn from_debian_arch(arch: &str) -> Option<Machine> {
        match arch {
            "amd64" => Some(Machine::X86_64),
            "arm64" => Some(Machine::Aarch64),
            _ => None,
        }
    }

    pub(crate) fn e_machine(self) -> u16 {
        match self {
            Machine::X86_64 => goblin::elf::header::EM_X86_64,
            Machine::Aarch64 => goblin::elf::header::EM_AARCH64,
        }
    }

    /// Where Debian puts a shared library of this machine, relative to the root
    /// (`usr/lib/x86_64-linux-gnu`).
    pub fn lib_dir(self) -> &'static str {
        match self {
            Machine::X86_64 => "usr/lib/x86_64-linux-gnu",
            Machine::Aarch64 => "usr/lib/aarch64-linux-gnu",
        }
    }

    /// glibc's trusted directories on Debian, in search order (`ld.so --help` lists them).
    fn default_dirs(self) -> &'static [&'static str] {
        match self {
            Machine::X86_64 => &[
                "/lib/x86_64-linux-gnu",
                "/usr/lib/x86_64-linux-gnu",
                "/lib",
                "/usr/lib",
                "/lib64",
            ],
            Machine::Aarch64 => &[
                "/lib/aarch64-linux-gnu",
                "/usr/lib/aarch64-linux-gnu",
                "/lib",
                "/usr/lib",
            ],
        }
    }
}

/// A `DT_NEEDED` library the loader would not find.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Missing {
    /// The object whose `DT_NEEDED` entry fails (an extension module, an executable, or a
    /// library vendored in the wheel), relative to the image root.
    pub object: RelPath,
    /// The entry as written, e.g. `libpq.so.5`.
    pub library: String,
}

/// Libraries no image carries: the GPU driver's user-space half, which must match the host's
/// kernel driver, so the NVIDIA container toolkit mounts it into the container at run time
/// (auditwheel leaves them out of wheels for the same reason). CUDA wheels (torch's
/// `libcaffe2_nvrtc.so`) link them by name.
pub const HOST_PROVIDED: &[&str] = &[
    "libcuda.so.1",
    "libnvidia-ml.so.1",
    "libnvidia-ptxjitcompiler.so.1",
    "libnvidia-nvvm.so.4",
    "libcudadebugger.so.1",
];

/// [`missing_libraries_for`] an x86-64 image.
pub fn missing_libraries(tree: &Tree, under: &str) -> Result<Vec<Missing>, ElfError> {
    missing_libraries_for(tree, under, Machine::X86_64)
}

/// Every `DT_NEEDED` library that an ELF object below `under` (e.g. `opt/venv`) needs and the
/// loader would not find in `tree`, sorted by object then library.
///
/// Each object of `machine` below `under` is loaded as Python's `dlopen` would load it, with its
/// dependencies breadth first (the loader's order, which decides what is already loaded and
/// whose `DT_RPATH` applies). An object that another one loads is judged in that context only —
/// auditwheel's vendored libraries find their siblings through the extension module's
/// `DT_RPATH`, not their own — unless the two load each other.
pub fn missing_libraries_for(
    tree: &Tree,
    under: &str,
    machine: Machine,
) -> Result<Vec<Missing>, ElfError> {
    let prefix = under.trim_matches('/');
    let below = |path: &RelPath| prefix.is_empty() || path.starts_with(prefix);
    let mut loader = Loader::new(tree, machine);
    let mut roots = Vec::new();
    for (path, entry) in tree.iter() {
        // Symlinks and hard links to an object are the object itself, checked once.
        if let Kind::File(data) = &entry.kind
            && below(path)
            && loader.object(path, data)?.is_some()
        {
            roots.push(path.clone());
        }
    }
    let runs = roots
        .iter()
        .map(|root| loader.load(root))
        .collect::<Result<Vec<_>, _>>()?;
    let mut loaded_by: HashMap<&RelPath, Vec<usize>> = HashMap::new();
    for (i, run) in runs.iter().enumerate() {
        for path in &run.reached {
            loaded_by.entry(path).or_default().push(i);
        }
    }
    // What the venv ships under a library's name, and in which top-level package: a library one
    // package ships and another links by name alone (tensorflow's
    // `libtensorflow_framework.so.2`, linked by tensorflow_io_gcs_filesystem with no path to it)
    // is loaded by its own package first, and the loader finds an object already loaded by its
    // name. Within one package the loader's rules stand (a vendored library that cannot find its
    // sibling is missing).
    let mut shipped: HashMap<&str, HashSet<&str>> = HashMap::new();
    for (path, entry) in tree.iter() {
        let named =
            roots.contains(path) || matches!(entry.kind, Kind::Symlink(_) | Kind::Hardlink(_));
        if below(path) && named {
            shipped
                .entry(path.file_name())
                .or_default()
                .insert(top_package(path));
        }
    }
    let elsewhere = |object: &RelPath, library: &str| {
        shipped
            .get(library)
            .is_some_and(|tops| tops.iter().any(|top| *top != top_package(object)))
    };
    let mut missing = BTreeSet::new();
    for (root, run) in roots.iter().zip(&runs) {
        let loaded_elsewhere = loaded_by
            .get(root)
            .is_some_and(|by| by.iter().any(|&j| !run.reached.contains(&roots[j])));
        if loaded_elsewhere {
            continue;
        }
        for (object, library) in &run.missing {
            if below(object)
                && !elsewhere(object, library)
                && !HOST_PROVIDED.contains(&library.as_str())
            {
                missing.insert(Missing {
                    object: object.clone(),
                    library: library.clone(),
                });
            }
        }
    }
    Ok(missing.into_iter().collect())
}

/// The shared libraries directly in [`Machine::lib_dir`] that nothing else in `tree` loads, by
/// path, sorted: what a runtime carries that neither its programs nor its modules link.
///
/// Loading starts from every other object of `machine` in the tree — executables, extension
/// modules, plugins in subdirectories (OpenSSL's providers, glibc's gconv modules) — and from
/// the libraries whose file name `dlopened` accepts: those something loads by name without a
/// `DT_NEEDED` (glibc's NSS modules, `libgcc_s` for unwinding). A library that only another
/// unloaded library links is unloaded too.
pub fn unlinked_libraries(
    tree: &Tree,
    machine: Machine,
    dlopened: impl Fn(&str) -> bool,
) -> Result<Vec<RelPath>, ElfError> {
    let dir = machine.lib_dir();
    let mut loader = Loader::new(tree, machine);
    let (mut candidates, mut roots) = (Vec::new(), Vec::new());
    for (path, entry) in tree.iter() {
        if let Kind::File(data) = &entry.kind
            && loader.object(path, data)?.is_some()
        {
            let in_dir = path.parent().is_some_and(|p| p.as_str() == dir);
            match in_dir && !dlopened(path.file_name()) {
                true => candidates.push(path.clone()),
                false => roots.push(path.clone()),
            }
        }
    }
    let mut reached = HashSet::new();
    for root in &roots {
        reached.extend(loader.load(root)?.reached);
    }
    candidates.retain(|path| !reached.contains(path));
    Ok(candidates)
}

/// The top-level package an installed file belongs to: the directory below `site-packages`
/// (`tensorflow`, `numpy.libs`), else its own directory.
fn top_package(path: &RelPath) -> &str {
    let text = path.as_str();
    match text.split_once("/site-packages/") {
        Some((_, rest)) => rest.split('/').next().unwrap_or(rest),
        None => text.rsplit_once('/').map_or("", |(dir, _)| dir),
    }
}

/// What loading one object brought in, and what it could not find.
#[derive(Default)]
struct Run {
    /// Every other object loaded, by its real path.
    reached: HashSet<RelPath>,
    /// (requesting object, `DT_NEEDED` entry) pairs that were not found.
    missing: Vec<(RelPath, String)>,
}

/// One object in the loader's link map.
struct Loaded {
    /// The directory it was found in, as searched (what `$ORIGIN` expands to).
    origin: String,
    /// Where it really is.
    path: RelPath,
    object: Rc<Object>,
    /// Index of the object whose `DT_NEEDED` brought it in.
    loader: Option<usize>,
}

struct Loader<'t> {
    tree: &'t Tree,
    machine: Machine,
    /// ld.so.conf directories, then the defaults.
    system_dirs: Vec<String>,
    parsed: HashMap<RelPath, Option<Rc<Object>>>,
}

impl<'t> Loader<'t> {
    fn new(tree: &'t Tree, machine: Machine) -> Self {
        let mut system_dirs = ld_so_conf_dirs(tree);
        for dir in machine.default_dirs() {
            if !system_dirs.iter().any(|d| d == dir) {
                system_dirs.push(dir.to_string());
            }
        }
        Loader {
            tree,
            machine,
            system_dirs,
            parsed: HashMap::new(),
        }
    }

    /// The parsed object at (real) `path`, `None` if it is not one of the target machine.
    fn object(&mut self, path: &RelPath, data: &Content) -> Result<Option<Rc<Object>>, ElfError> {
        if let Some(known) = self.parsed.get(path) {
            return Ok(known.clone());
        }
        let object = object::parse(data, self.machine)
            .map_err(|e| match e {
                object::ParseError::Malformed(message) => ElfError::Malformed {
                    path: path.as_str().to_string(),
                    message,
                },
                object::ParseError::Io(source) => ElfError::Read {
                    path: path.as_str().to_string(),
                    source,
                },
            })?
            .map(Rc::new);
        self.parsed.insert(path.clone(), object.clone());
        Ok(object)
    }

    /// Loads `root` and its dependencies breadth first, as `_dl_map_object_deps` does.
    fn load(&mut self, root: &RelPath) -> Result<Run, ElfError> {
        let Some((_, data)) = paths::open(self.tree, root.as_str()) else {
            return Ok(Run::default());
        };
        let Some(object) = self.object(root, data)? else {
            return Ok(Run::default());
        };
        let mut names: HashSet<String> = object.soname.iter().cloned().collect();
        let mut map = vec![Loaded {
            origin: parent_dir(root.as_str()),
            path: root.clone(),
            object,
            loader: None,
        }];
        let mut run = Run::default();
        let mut next = 0;
        while next < map.len() {
            let object = Rc::clone(&map[next].object);
            for needed in &object.needed {
                // Already loaded under this name or soname: the loader reuses it.
                if names.contains(needed) {
                    continue;
                }
                match self.find(needed, &map, next)? {
                    Found::Object(origin, path, object) => {
                        names.insert(needed.clone());
                        if map.iter().any(|loaded| loaded.path == path) {
                            continue;
                        }
                        names.extend(object.soname.iter().cloned());
                        run.reached.insert(path.clone());
                        map.push(Loaded {
                            origin,
                            path,
                            object,
                            loader: Some(next),
                        });
                    }
                    Found::Unknowable => {}
                    Found::Nothing => run.missing.push((map[next].path.clone(), needed.clone())),
                }
            }
            next += 1;
        }
        run.reached.remove(root);
        Ok(run)
    }

    /// Searches for `needed`, requested by `map[requester]` (ld.so(8), "Rpath token expansion"
    /// and the search order in its DESCRIPTION).
    fn find(&mut self, needed: &str, map: &[Loaded], requester: usize) -> Result<Found, ElfError> {
        if needed.contains('/') {
            // A path, not a name: no search. A relative one depends on the working directory.
            if !needed.starts_with('/') {
                return Ok(Found::Unknowable);
            }
            return self.try_path(needed);
        }
        let mut dirs: Vec<String> = Vec::new();
        let requesting = &map[requester];
        if requesting.object.runpath.is_empty() {
            let mut at = Some(requester);
            while let Some(i) = at {
                dirs.extend(expand(&map[i].object.rpath, &map[i].origin));
                at = map[i].loader;
            }
        }
        dirs.extend(expand(&requesting.object.runpath, &requesting.origin));
        dirs.extend(self.system_dirs.iter().cloned());
        for dir in dirs {
            let found = self.try_path(&format!("{}/{needed}", dir.trim_end_matches('/')))?;
            if let Found::Object(..) = found {
                return Ok(found);
            }
        }
        Ok(Found::Nothing)
    }

    /// The object at an absolute path, if it is one for our machine (the loader skips a file of
    /// another class or machine and keeps searching).
    fn try_path(&mut self, path: &str) -> Result<Found, ElfError> {
        let Some((real, data)) = paths::open(self.tree, path) else {
            return Ok(Found::Nothing);
        };
        Ok(match self.object(&real, data)? {
            Some(object) => Found::Object(parent_dir(path), real, object),
            None => Found::Nothing,
        })
    }
}

enum Found {
    /// Found: the directory it was found in, its real path, its facts.
    Object(String, RelPath, Rc<Object>),
    /// Not found anywhere.
    Nothing,
    /// Cannot be judged from the image alone.
    Unknowable,
}

/// `/dir` of `/dir/name` or `dir/name`, absolute.
fn parent_dir(path: &str) -> String {
    let path = path.trim_start_matches('/');
    match path.rsplit_once('/') {
        Some((dir, _)) => format!("/{dir}"),
        None => "/".to_string(),
    }
}

/// Search-path entries with `$ORIGIN` / `${ORIGIN}` replaced by `origin`. Entries with another
/// dynamic string token (`$LIB`, `$PLATFORM`, whose values depend on the glibc build and the
/// CPU) or that are relative (to the working directory) are dropped: nothing in an image can
/// count on them.
fn expand<'a>(entries: &'a [String], origin: &'a str) -> impl Iterator<Item = String> + 'a {
    entries.iter().filter_map(move |entry| {
        let expanded = entry
            .replace("${ORIGIN}", origin)
            .replace("$ORIGIN", origin);
        (expanded.starts_with('/') && !expanded.contains('$')).then_some(expanded)
    })
}

/// The directories `/etc/ld.so.conf` and `/etc/ld.so.conf.d/*.conf` list, in the order
/// `ldconfig` reads them (Debian's ld.so.conf is just `include /etc/ld.so.conf.d/*.conf`, and
/// the glob sorts). Comments, `include` and `hwcap` lines are skipped; a line may hold several
/// directories separated by blanks, `:` or `,`.
fn ld_so_conf_dirs(tree: &Tree) -> Vec<String> {
    let mut files = vec!["etc/ld.so.conf".to_string()];
    files.extend(
        tree.iter()
            .map(|(path, _)| path.as_str())
            .filter(|path| {
                path.strip_prefix("etc/ld.so.conf.d/")
                    .is_some_and(|name| name.ends_with(".conf") && !name.contains('/'))
            })
            .map(str::to_string),
    );
    let mut dirs: Vec<String> = Vec::new();
    for file in &files {
        let Some((_, content)) = paths::open(tree, file) else {
            continue;
        };
        // A configuration file, read whole; one that cannot be read lists nothing.
        let Ok(data) = content.read_all() else {
            continue;
        };
        for line in String::from_utf8_lossy(&data).lines() {
            let line = line.split('#').next().unwrap_or_default().trim();
            if line.starts_with("include ") || line.starts_with("hwcap ") {
                continue;
            }
            for dir in line.split([' ', '\t', ':', ',']) {
                if dir.starts_with('/') && !dirs.iter().any(|d| d == dir) {
                    dirs.push(dir.to_string());
                }
            }
        }
    }
    dirs
}

#[cfg(test)]
mod tests {
    use grocker_fs::Entry;

    use super::*;

    #[test]
    fn origin_expansion() {
        let entries = [
            "$ORIGIN/../pillow.libs".to_string(),
            "${ORIGIN}".to_string(),
            "/usr/$LIB".to_string(),
            "relative/dir".to_string(),
        ];
        let dirs: Vec<String> = expand(&entries, "/opt/venv/x").collect();
        assert_eq!(dirs, ["/opt/venv/x/../pillow.libs", "/opt/venv/x"]);
        assert_eq!(parent_dir("opt/venv/a.so"), "/opt/venv");
        assert_eq!(parent_dir("a.so"), "/");
    }

    #[test]
    fn reads_ld_so_conf() {
        let mut tree = Tree::new();
        for (path, text) in [
            (
                "etc/ld.so.conf",
                "include /etc/ld.so.conf.d/*.conf\n/opt/first\n",
            ),
            (
                "etc/ld.so.conf.d/b.conf",
                "# multiarch\n/usr/local/lib/x86_64-linux-gnu\n",
            ),
            (
                "etc/ld.so.conf.d/a.conf",
                "/opt/a:/opt/b, /opt/first # again\n",
            ),
            ("etc/ld.so.conf.d/c.txt", "/not/read\n"),
        ] {
            let entry = Entry::file(text.as_bytes().to_vec(), 0o644);
            tree.insert(RelPath::new(path).unwrap(), entry).unwrap();
        }
        assert_eq!(
            ld_so_conf_dirs(&tree),
            [
                "/opt/first",
                "/opt/a",
                "/opt/b",
                "/usr/local/lib/x86_64-linux-gnu"
            ]
        );
    }
}

/// ELF files of `tree` built for another machine than `machine`, with the machine they are
/// for (`x86-64`, or `e_machine N`), sorted by path: an image for one platform must hold none
/// (an x86-64 extension module in an arm64 image is the silent fallback multi-platform builds
/// are known for). Every file with the ELF magic counts — objects, executables, `.o` files —
/// not only what the loader would load.
pub fn foreign_objects(tree: &Tree, machine: Machine) -> Result<Vec<(RelPath, String)>, ElfError> {
    let mut out = Vec::new();
    for (path, entry) in tree.iter() {
        let Kind::File(content) = &entry.kind else {
            continue;
        };
        if content.len() < 20 {
            continue;
        }
        let data = content.head(20).map_err(|source| ElfError::Read {
            path: path.as_str().to_string(),
            source,
        })?;
        if !data.starts_with(b"\x7fELF") {
            continue;
        }
        // EI_DATA: 1 little-endian, 2 big-endian; e_machine is at offset 18 either way.
        let raw = [data[18], data[19]];
        let e_machine = match data[5] {
            2 => u16::from_be_bytes(raw),
            _ => u16::from_le_bytes(raw),
        };
        if e_machine != machine.e_machine() {
            out.push((path.clone(), machine_name(e_machine)));
        }
    }
    out.sort();
    Ok(out)
}

/// How `file(1)` would name an ELF machine.
fn machine_name(e_machine: u16) -> String {
    match e_machine {
        goblin::elf::header::EM_X86_64 => "x86-64".to_string(),
        goblin::elf::header::EM_AARCH64 => "aarch64".to_string(),
        goblin::elf::header::EM_386 => "i386".to_string(),
        goblin::elf::header::EM_ARM => "arm".to_string(),
        other => format!("e_machine {other}"),
    }
}

#[cfg(test)]
mod foreign_tests {
    use super::*;
    use grocker_fs::Entry;

    fn elf(machine: u16) -> Vec<u8> {
        let mut bytes = vec![0u8; 64];
        bytes[..4].copy_from_slice(b"\x7fELF");
        bytes[4] = 2;
        bytes[5] = 1;
        bytes[18..20].copy_from_slice(&machine.to_le_bytes());
        bytes
    }

    #[test]
    fn elf_files_of_another_machine_are_named() {
        let mut tree = Tree::new();
        let mut add = |path: &str, data: Vec<u8>| {
            tree.insert(RelPath::new(path).unwrap(), Entry::file(data, 0o644))
                .unwrap();
        };
        add("usr/lib/libok.so", elf(goblin::elf::header::EM_AARCH64));
        add("opt/venv/x.so", elf(goblin::elf::header::EM_X86_64));
        add("opt/venv/y.pyc", b"\x7fELF?".to_vec());
        add("opt/venv/z.py", b"print(1)".to_vec());
        let found = foreign_objects(&tree, Machine::Aarch64).unwrap();
        assert_eq!(
            found,
            vec![(RelPath::new("opt/venv/x.so").unwrap(), "x86-64".to_string())]
        );
        let found = foreign_objects(&tree, Machine::X86_64).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].1, "aarch64");
    }
}
