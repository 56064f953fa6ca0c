//! The canonical form against CPython itself: the host's interpreter (Debian's
//! `/usr/bin/python3`, plus any listed in `GROCKER_PYC_PYTHONS`, colon-separated) compiles its
//! own standard library twice — with worker processes and in one — and for every `.pyc`:
//! `marshal.loads` of the canonical file gives the same objects, shared the same way, as the
//! file CPython wrote; and the two compilations canonicalize to the same bytes unless they hold
//! different objects. That happens: what a process compiled before decides which strings are
//! interned, so which equal strings are one object (3.13's `weakref` and `argparse`, one worker
//! against one process), which is why grocker compiles in fresh processes with fixed shares.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use std::io::Write as _;

const HOST_PYTHON: &str = "/usr/bin/python3";

/// Compares the objects of each `.pyc` under argv[1] with the same file under argv[2], one
/// relative path a line on stdin; with argv[3] `differ`, succeeds only if every pair differs: same types, equal values (floats by their repr, so that
/// NaN and -0.0 count), every code object field, and the same sharing — an object reached twice
/// in one is the same object twice in the other, and only then. Strings of one character and
/// the empty string are compared by value only: they are the singletons whose interned state
/// the canonical form fixes, and which object an interned one is depends on the process.
const COMPARE: &str = r#"
import marshal, sys, types, warnings
warnings.simplefilter("ignore")
keep = []

def same(a, b, seen, back):
    keep.append(a); keep.append(b)
    if type(a) is not type(b):
        return False
    if isinstance(a, str) and len(a) <= 1:
        return a == b
    if id(a) in seen or id(b) in back:
        return seen.get(id(a)) == id(b) and back.get(id(b)) == id(a)
    seen[id(a)] = id(b); back[id(b)] = id(a)
    if isinstance(a, types.CodeType):
        names = sorted(n for n in dir(a) if n.startswith("co_") and not callable(getattr(a, n)))
        return all(same(getattr(a, n), getattr(b, n), seen, back) for n in names)
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(same(x, y, seen, back) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k], seen, back) for k in a)
    if isinstance(a, (float, complex)):
        return repr(a) == repr(b)
    return a == b

bad = 0
count = 0
for rel in sys.stdin.read().split("\n"):
    if not rel:
        continue
    count += 1
    with open(sys.argv[1] + "/" + rel, "rb") as f:
        original = marshal.loads(f.read()[16:])
    with open(sys.argv[2] + "/" + rel, "rb") as f:
        canonical = marshal.loads(f.read()[16:])
    if not same(original, canonical, {}, {}):
        print("differs:", rel)
        bad += 1
print(f"{count} files loaded, {bad} differ")
if sys.argv[3:] == ["differ"]:
    sys.exit(0 if bad == count else 1)
sys.exit(1 if bad or not count else 0)
"#;

fn pythons() -> Vec<PathBuf> {
    let mut all = vec![PathBuf::from(HOST_PYTHON)];
    if let Ok(more) = std::env::var("GROCKER_PYC_PYTHONS") {
        all.extend(more.split(':').filter(|p| !p.is_empty()).map(PathBuf::from));
    }
    all
}

fn output(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

fn pycs(root: &Path, dir: &Path, out: &mut Vec<String>) {
    for entry in fs_err::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            pycs(root, &path, out);
        } else if path.extension().is_some_and(|e| e == "pyc") {
            let rel = path.strip_prefix(root).unwrap();
            out.push(rel.to_str().expect("UTF-8 path").to_string());
        }
    }
}

/// Compiles `stdlib` with `jobs` worker processes (0: one per core) into `prefix`.
fn compile(python: &Path, stdlib: &str, jobs: &str, prefix: &Path) {
    // Some of a standard library does not compile on purpose (lib2to3's test data, `bad*`
    // modules): compileall then exits 1 with the rest compiled, which is what is compared.
    // Not `-E`, which would ignore these two variables: the environment is cleared instead.
    // `-B`: the modules the interpreter imports itself (multiprocessing's, for the workers)
    // would otherwise land in the prefix too, as timestamp-based files.
    let _ = Command::new(python)
        .args(["-s", "-B", "-m", "compileall", "-q", "-j", jobs])
        .args(["--invalidation-mode", "unchecked-hash", stdlib])
        .env_clear()
        .env("PYTHONPYCACHEPREFIX", prefix)
        .env("PYTHONHASHSEED", "0")
        .stdout(Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("{}: {e}", python.display()));
}

fn check(python: &Path) {
    assert!(
        python.is_file(),
        "{} is not there: this test needs a CPython to compare with",
        python.display()
    );
    let work = tempfile::tempdir().unwrap();
    let stdlib = output(Command::new(python).args([
        "-c",
        "import sysconfig; print(sysconfig.get_paths()['stdlib'])",
    ]));
    let stdlib = stdlib.trim();
    let (workers, one) = (work.path().join("workers"), work.path().join("one"));
    compile(python, stdlib, "0", &workers);
    compile(python, stdlib, "1", &one);
    let mut rels = Vec::new();
    pycs(&workers, &workers, &mut rels);
    rels.sort();
    assert!(rels.len() > 300, "only {} .pyc files compiled", rels.len());
    let canonical_dir = work.path().join("canonical");
    let (mut raw_differ, mut flags_cleared) = (0, 0usize);
    let mut different_objects = Vec::new();
    for rel in &rels {
        let a = fs_err::read(workers.join(rel)).unwrap();
        let b = fs_err::read(one.join(rel)).unwrap();
        let ca = grocker_pyc::canonicalize(&a).unwrap_or_else(|e| panic!("{rel}: {e}"));
        let cb = grocker_pyc::canonicalize(&b).unwrap_or_else(|e| panic!("{rel}: {e}"));
        raw_differ += usize::from(a != b);
        flags_cleared += a.iter().zip(&ca).filter(|(x, y)| x != y).count();
        assert_eq!(ca.len(), a.len());
        if ca != cb {
            different_objects.push(rel.clone());
        }
        assert_eq!(grocker_pyc::canonicalize(&ca).unwrap(), ca, "{rel}");
        let path = canonical_dir.join(rel);
        fs_err::create_dir_all(path.parent().unwrap()).unwrap();
        fs_err::write(&path, &ca).unwrap();
    }
    let report = compare(python, &workers, &canonical_dir, &rels, false);
    // Canonical forms that differ must come from objects that differ.
    if !different_objects.is_empty() {
        compare(python, &workers, &one, &different_objects, true);
    }
    eprintln!(
        "{}: {} .pyc files, {raw_differ} differ between the two compilations, {} after \
         canonicalization (their objects differ too); {flags_cleared} bytes changed; {}",
        python.display(),
        rels.len(),
        different_objects.len(),
        report.trim()
    );
}

/// Runs [`COMPARE`] on `rels` under `a` and `b`; with `differ`, every pair must differ.
fn compare(python: &Path, a: &Path, b: &Path, rels: &[String], differ: bool) -> String {
    let mut child = Command::new(python)
        .args(["-E", "-c", COMPARE])
        .arg(a)
        .arg(b)
        .args(differ.then_some("differ"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(rels.join("\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{}: {report}", python.display());
    report
}

#[test]
fn the_standard_library_canonicalizes_to_the_same_objects() {
    for python in pythons() {
        check(&python);
    }
}
