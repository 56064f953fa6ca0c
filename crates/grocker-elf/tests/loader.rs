//! The check on real ELF files: the host's Debian libraries, objects compiled here with `cc`,
//! and a real manylinux wheel from PyPI (downloaded once, verified, cached in Cargo's target
//! directory).

use std::path::Path;
use std::process::Command;

use grocker_elf::{ElfError, Missing, missing_libraries, missing_message};
use grocker_fs::{Entry, RelPath, Tree};

const SITE: &str = "opt/venv/lib/python3.11/site-packages";
const MULTIARCH: &str = "usr/lib/x86_64-linux-gnu";

fn insert(tree: &mut Tree, path: &str, entry: Entry) {
    tree.insert(RelPath::new(path).unwrap(), entry).unwrap();
}

fn host_file(tree: &mut Tree, path: &str, host: impl AsRef<Path>) {
    insert(tree, path, Entry::file(fs_read(host), 0o755));
}

fn fs_read(path: impl AsRef<Path>) -> Vec<u8> {
    fs_err::read(path.as_ref()).unwrap_or_else(|e| panic!("{}: {e}", path.as_ref().display()))
}

/// A merged-/usr Debian root with the C library (from this bookworm host) and nothing else.
fn debian_root() -> Tree {
    let mut tree = Tree::new();
    insert(&mut tree, "lib", Entry::symlink("usr/lib"));
    insert(&mut tree, "lib64", Entry::symlink("usr/lib64"));
    for lib in [
        "libc.so.6",
        "libm.so.6",
        "libpthread.so.0",
        "ld-linux-x86-64.so.2",
    ] {
        host_file(
            &mut tree,
            &format!("{MULTIARCH}/{lib}"),
            Path::new("/").join(MULTIARCH).join(lib),
        );
    }
    insert(
        &mut tree,
        "usr/lib64/ld-linux-x86-64.so.2",
        Entry::symlink("/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"),
    );
    tree
}

fn with_zlib(mut tree: Tree) -> Tree {
    // As bookworm's zlib1g ships it: a soname link to the real file, under /lib.
    host_file(
        &mut tree,
        &format!("{MULTIARCH}/libz.so.1.2.13"),
        "/usr/lib/x86_64-linux-gnu/libz.so.1",
    );
    insert(
        &mut tree,
        &format!("{MULTIARCH}/libz.so.1"),
        Entry::symlink("libz.so.1.2.13"),
    );
    tree
}

fn missing(object: &str, library: &str) -> Missing {
    Missing {
        object: RelPath::new(object).unwrap(),
        library: library.to_string(),
    }
}

/// Compiles `source` with `cc` (C), returning the output's bytes.
fn cc(dir: &Path, source: &str, output: &str, args: &[&str]) -> Vec<u8> {
    let c = dir.join(format!("{output}.c"));
    fs_err::write(&c, source).unwrap();
    let status = Command::new("cc")
        .current_dir(dir)
        .arg("-o")
        .arg(output)
        .arg(&c)
        .args(args)
        .status()
        .expect("cc is installed");
    assert!(status.success(), "cc {output} {args:?}");
    fs_read(dir.join(output))
}

#[test]
fn libssl_needs_libcrypto() {
    let ssl = format!("{SITE}/vendored/libssl.so.3");
    let mut tree = debian_root();
    host_file(&mut tree, &ssl, "/usr/lib/x86_64-linux-gnu/libssl.so.3");
    assert_eq!(
        missing_libraries(&tree, "opt/venv").unwrap(),
        [missing(&ssl, "libcrypto.so.3")]
    );

    // Found through ld.so.conf.d (what ld.so.cache would hold)...
    let mut conf = tree.clone();
    host_file(
        &mut conf,
        "opt/ssl/lib/libcrypto.so.3",
        "/usr/lib/x86_64-linux-gnu/libcrypto.so.3",
    );
    assert_eq!(
        missing_libraries(&conf, "opt/venv").unwrap(),
        [missing(&ssl, "libcrypto.so.3")]
    );
    insert(
        &mut conf,
        "etc/ld.so.conf.d/ssl.conf",
        Entry::file(&b"/opt/ssl/lib\n"[..], 0o644),
    );
    assert_eq!(missing_libraries(&conf, "opt/venv").unwrap(), []);

    // ...and in /lib/x86_64-linux-gnu through merged-/usr's symlink and a relative link.
    host_file(
        &mut tree,
        "usr/lib/ssl/libcrypto.so.3",
        "/usr/lib/x86_64-linux-gnu/libcrypto.so.3",
    );
    insert(
        &mut tree,
        &format!("{MULTIARCH}/libcrypto.so.3"),
        Entry::symlink("../ssl/libcrypto.so.3"),
    );
    assert_eq!(missing_libraries(&tree, "opt/venv").unwrap(), []);
    // Objects outside the prefix are not checked.
    assert_eq!(missing_libraries(&debian_root(), "usr").unwrap(), []);
}

#[test]
fn extension_and_executable_needing_a_system_library() {
    let dir = tempfile::tempdir().unwrap();
    let source = "#include <zlib.h>\nconst char *v(void) { return zlibVersion(); }\n";
    let ext = cc(dir.path(), source, "_z.so", &["-shared", "-fPIC", "-lz"]);
    let main = "#include <zlib.h>\nint main(void) { return zlibVersion()[0] == 0; }\n";
    let exe = cc(dir.path(), main, "ztool", &["-lz"]);
    let object = cc(dir.path(), source, "z.o", &["-c", "-fPIC"]);

    let mut tree = debian_root();
    let module = format!("{SITE}/zmod/_z.cpython-311-x86_64-linux-gnu.so");
    insert(&mut tree, &module, Entry::file(ext, 0o644));
    insert(&mut tree, "opt/venv/bin/ztool", Entry::file(exe, 0o755));
    // Not loadable objects: a relocatable file and a Python file.
    insert(
        &mut tree,
        &format!("{SITE}/zmod/z.o"),
        Entry::file(object, 0o644),
    );
    insert(
        &mut tree,
        &format!("{SITE}/zmod/__init__.py"),
        Entry::file(&b"\x7fELF"[..], 0o644),
    );
    insert(
        &mut tree,
        "opt/venv/bin/python",
        Entry::symlink("/usr/bin/python3.11"),
    );

    let found = missing_libraries(&tree, "/opt/venv/").unwrap();
    assert_eq!(
        found,
        [
            missing("opt/venv/bin/ztool", "libz.so.1"),
            missing(&module, "libz.so.1")
        ]
    );
    assert_eq!(
        missing_message(&found, SITE, |soname| match soname {
            "libz.so.1" => vec!["zlib1g".to_string()],
            _ => Vec::new(),
        }),
        "/opt/venv/bin/ztool needs libz.so.1, which is not in the image: add zlib1g to \
         dependencies.run\n\
         zmod/_z.cpython-311-x86_64-linux-gnu.so needs libz.so.1, which is not in the image: add \
         zlib1g to dependencies.run"
    );
    assert_eq!(missing_libraries(&with_zlib(tree), "opt/venv").unwrap(), []);
}

#[test]
fn other_machines_are_skipped_and_searched_past() {
    let mut zlib = fs_read("/usr/lib/x86_64-linux-gnu/libz.so.1");
    zlib[18..20].copy_from_slice(&183u16.to_le_bytes()); // EM_AARCH64
    let mut tree = debian_root();
    let ssl = format!("{SITE}/vendored/libssl.so.3");
    host_file(&mut tree, &ssl, "/usr/lib/x86_64-linux-gnu/libssl.so.3");
    host_file(
        &mut tree,
        "usr/lib/libcrypto.so.3",
        "/usr/lib/x86_64-linux-gnu/libcrypto.so.3",
    );
    // An arm64 libcrypto first in the search order: the loader skips it and finds /usr/lib's.
    let mut arm = fs_read("/usr/lib/x86_64-linux-gnu/libcrypto.so.3");
    arm[18..20].copy_from_slice(&183u16.to_le_bytes());
    insert(
        &mut tree,
        &format!("{MULTIARCH}/libcrypto.so.3"),
        Entry::file(arm, 0o644),
    );
    // An arm64 object in the venv is not checked.
    insert(
        &mut tree,
        &format!("{SITE}/arm/libz.so.1"),
        Entry::file(zlib, 0o644),
    );
    assert_eq!(missing_libraries(&tree, "opt/venv").unwrap(), []);
}

#[test]
fn malformed_elf_is_an_error_naming_the_file() {
    let mut tree = debian_root();
    let mut broken = fs_read("/usr/lib/x86_64-linux-gnu/libz.so.1");
    broken.truncate(200);
    insert(&mut tree, "opt/venv/broken.so", Entry::file(broken, 0o644));
    let err = missing_libraries(&tree, "opt/venv").unwrap_err();
    assert!(matches!(err, ElfError::Malformed { .. }), "{err}");
    assert!(
        err.to_string()
            .starts_with("/opt/venv/broken.so is a malformed ELF file"),
        "{err}"
    );
}

/// An extension module whose search path names `x.libs`, loading `libouter.so` from it, which
/// needs `libinner.so` from the same directory but has no search path of its own.
fn vendored_chain(dtags: &str) -> Tree {
    let dir = tempfile::tempdir().unwrap();
    let shared = ["-shared", "-fPIC", "-L.", "-Wl,-rpath-link,."];
    let inner = cc(
        dir.path(),
        "int inner(void) { return 1; }\n",
        "libinner.so",
        &shared,
    );
    let outer_src = "int inner(void);\nint outer(void) { return inner(); }\n";
    let outer = cc(
        dir.path(),
        outer_src,
        "libouter.so",
        &[&shared[..], &["-linner"]].concat(),
    );
    let ext_src = "int outer(void);\nint ext(void) { return outer(); }\n";
    let search = ["-louter", "-Wl,-rpath,$ORIGIN/../x.libs", dtags];
    let ext = cc(
        dir.path(),
        ext_src,
        "_ext.so",
        &[&shared[..], &search].concat(),
    );
    let mut tree = debian_root();
    insert(
        &mut tree,
        &format!("{SITE}/x/_ext.so"),
        Entry::file(ext, 0o644),
    );
    insert(
        &mut tree,
        &format!("{SITE}/x.libs/libouter.so"),
        Entry::file(outer, 0o644),
    );
    insert(
        &mut tree,
        &format!("{SITE}/x.libs/libinner.so"),
        Entry::file(inner, 0o644),
    );
    tree
}

#[test]
fn rpath_is_inherited_runpath_is_not() {
    // DT_RPATH (what auditwheel writes) applies to what the module's libraries load too.
    assert_eq!(
        missing_libraries(&vendored_chain("-Wl,--disable-new-dtags"), "opt/venv").unwrap(),
        []
    );
    // DT_RUNPATH only to the module's own DT_NEEDED: ld.so would fail on libinner.so.
    assert_eq!(
        missing_libraries(&vendored_chain("-Wl,--enable-new-dtags"), "opt/venv").unwrap(),
        [missing(
            &format!("{SITE}/x.libs/libouter.so"),
            "libinner.so"
        )]
    );
}

#[tokio::test]
async fn manylinux_wheel_with_vendored_libraries() {
    use grocker_fetch::{Cache, FetchOptions, Fetcher};
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("grocker-elf-cache");
    let fetcher = Fetcher::new(Cache::at(cache).unwrap(), FetchOptions::default()).unwrap();
    let url = "https://files.pythonhosted.org/packages/a9/9b/8a8c4d07d77447b7457164b861d18f5a31ae6418ef5c07f6f878fa09039a/pillow-11.0.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl";
    let sha256 = "6f4dba50cfa56f910241eb7f883c20f1e7b1d8f7d91c750cd0b318bad443f4d5";
    let wheel = fetcher
        .get_verified(&url.parse().unwrap(), &sha256.parse().unwrap(), None)
        .await
        .unwrap();
    let mut zip = zip::ZipArchive::new(fs_err::File::open(wheel).unwrap()).unwrap();
    let mut tree = with_zlib(debian_root());
    let mut objects = 0;
    for i in 0..zip.len() {
        let mut file = zip.by_index(i).unwrap();
        if file.is_dir() {
            continue;
        }
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut file, &mut data).unwrap();
        objects += usize::from(data.starts_with(b"\x7fELF"));
        insert(
            &mut tree,
            &format!("{SITE}/{}", file.name().unwrap()),
            Entry::file(data, 0o644),
        );
    }
    assert_eq!(
        objects,
        7 + 16,
        "7 extension modules, 16 vendored libraries"
    );
    let started = std::time::Instant::now();
    assert_eq!(missing_libraries(&tree, "opt/venv").unwrap(), []);
    eprintln!("pillow checked in {:?}", started.elapsed());

    // One vendored library gone: libfreetype, which _imagingft loads, needs it.
    let png = "libpng16-5c63271e.so.16.44.0";
    let mut without_png = tree.clone();
    without_png
        .remove(&RelPath::new(&format!("{SITE}/pillow.libs/{png}")).unwrap())
        .unwrap();
    assert_eq!(
        missing_libraries(&without_png, "opt/venv").unwrap(),
        [missing(
            &format!("{SITE}/pillow.libs/libfreetype-30ef4e2a.so.6.20.1"),
            png
        )]
    );

    // The system zlib gone: everything that needs it, listed once each.
    let mut without_z = tree;
    without_z
        .remove(&RelPath::new(&format!("{MULTIARCH}/libz.so.1.2.13")).unwrap())
        .unwrap();
    let libs = |name: &str| format!("{SITE}/pillow.libs/{name}");
    assert_eq!(
        missing_libraries(&without_z, "opt/venv").unwrap(),
        [
            missing(
                &format!("{SITE}/PIL/_imaging.cpython-311-x86_64-linux-gnu.so"),
                "libz.so.1"
            ),
            missing(&libs("libfreetype-30ef4e2a.so.6.20.1"), "libz.so.1"),
            missing(&libs("libpng16-5c63271e.so.16.44.0"), "libz.so.1"),
            missing(&libs("libtiff-f683b479.so.6.0.2"), "libz.so.1"),
        ]
    );
}

/// A library one package ships and another links by name alone (tensorflow's framework library,
/// linked by tensorflow_io_gcs_filesystem) is loaded by its own package first: not missing; nor
/// is the GPU driver's `libcuda.so.1`, which the host provides. One nothing provides still is.
#[test]
fn a_library_another_package_ships_is_found_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let shared = ["-shared", "-fPIC", "-L."];
    let framework = cc(
        dir.path(),
        "int fw(void) { return 1; }\n",
        "libframework.so.2",
        &[&shared[..], &["-Wl,-soname,libframework.so.2"]].concat(),
    );
    // Built to link against, never put in the image; the GPU driver's comes from the host.
    for lib in ["libnowhere.so.1", "libcuda.so.1"] {
        let soname = format!("-Wl,-soname,{lib}");
        cc(
            dir.path(),
            "int nowhere(void) { return 2; }\n",
            lib,
            &[&shared[..], &[soname.as_str()]].concat(),
        );
    }
    let plugin = cc(
        dir.path(),
        "int fw(void);\nint nowhere(void);\nint plugin(void) { return fw() + nowhere(); }\n",
        "libplugin.so",
        &[
            &shared[..],
            &[
                "-l:libframework.so.2",
                "-l:libnowhere.so.1",
                "-l:libcuda.so.1",
            ],
        ]
        .concat(),
    );
    let mut tree = debian_root();
    insert(
        &mut tree,
        &format!("{SITE}/fw/libframework.so.2"),
        Entry::file(framework, 0o644),
    );
    insert(
        &mut tree,
        &format!("{SITE}/fw_plugin/libplugin.so"),
        Entry::file(plugin, 0o644),
    );
    assert_eq!(
        missing_libraries(&tree, "opt/venv").unwrap(),
        [missing(
            &format!("{SITE}/fw_plugin/libplugin.so"),
            "libnowhere.so.1"
        )]
    );
}

/// Debian's interpreter (linking libm, zlib and libexpat), with libm's sibling libmvec and
/// libexpat's sibling libexpatw beside it: only what it does not load, and nothing dlopens, is
/// unlinked — libz, which only the interpreter's own dependency would bring, is loaded.
#[test]
fn unlinked_libraries_are_those_nothing_loads() {
    let mut tree = with_zlib(debian_root());
    host_file(&mut tree, "usr/bin/python3.11", "/usr/bin/python3.11");
    for lib in [
        "libmvec.so.1",
        "libexpat.so.1.8.10",
        "libexpatw.so.1.8.10",
        "libgcc_s.so.1",
    ] {
        host_file(
            &mut tree,
            &format!("{MULTIARCH}/{lib}"),
            Path::new("/").join(MULTIARCH).join(lib),
        );
    }
    for (link, target) in [
        ("libexpat.so.1", "libexpat.so.1.8.10"),
        ("libexpatw.so.1", "libexpatw.so.1.8.10"),
    ] {
        insert(
            &mut tree,
            &format!("{MULTIARCH}/{link}"),
            Entry::symlink(target),
        );
    }
    let unlinked = grocker_elf::unlinked_libraries(&tree, grocker_elf::Machine::X86_64, |name| {
        name.starts_with("libgcc_s.so")
    })
    .unwrap();
    let names: Vec<&str> = unlinked.iter().map(|p| p.file_name()).collect();
    assert_eq!(
        names,
        ["libexpatw.so.1.8.10", "libmvec.so.1", "libpthread.so.0"]
    );
}
