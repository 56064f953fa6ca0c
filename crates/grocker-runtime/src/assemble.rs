//! What dpkg and the maintainer scripts would have left on disk, written by grocker itself.

use bytes::Bytes;
use grocker_fs::{Content, Entry, Kind, RelPath, Tree};

use crate::RuntimeError;

/// A package's contents, ready to be laid out: what `grocker-debian` read from its `.deb`.
#[derive(Debug)]
pub struct InstalledPackage {
    /// Package name (`libc6`).
    pub name: String,
    /// Its `data.tar` entries, already in merged-/usr form, plus its
    /// `/var/lib/dpkg/status.d` files.
    pub files: Vec<(RelPath, Entry)>,
}

/// The user the application runs as: numeric and non-root, with a writable home that is also the
/// working directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// Login name written to `/etc/passwd`.
    pub name: String,
    /// Numeric uid (never 0).
    pub uid: u32,
    /// Numeric gid (never 0).
    pub gid: u32,
}

impl Default for User {
    fn default() -> Self {
        Self {
            name: "app".to_string(),
            uid: 10001,
            gid: 10001,
        }
    }
}

impl User {
    /// The home directory, also the image's working directory.
    pub fn home(&self) -> String {
        format!("/home/{}", self.name)
    }
}

/// Bookworm+ use merged /usr: these top-level directories are links into `/usr`. The `.deb`
/// reader already moved their entries below `usr/`.
const MERGED_USR: &[&str] = &["bin", "sbin", "lib", "lib32", "lib64", "libx32"];

/// Packages of which an image needs only part: `(package, what is kept)`. The rest (for
/// `libc-bin`: `ldconfig`, `locale`, `iconv`, `getconf`… — tools, not run-time needs) is left
/// out; the package's `status.d` record and copyright stay, so scanners still see it, and its
/// `md5sums` lists only what is there.
const PARTIAL: &[(&str, &[&str])] = &[
    // glibc ≥ 2.35 knows C.UTF-8 but does not build it in: `setlocale(LC_ALL, "")` under the
    // image's `LANG=C.UTF-8` needs the compiled locale Debian ships in libc-bin (distroless
    // images ship it too).
    ("libc-bin", &["usr/lib/locale/C.utf8"]),
];

/// Lays the packages out in one tree (in name order, so the result does not depend on download
/// order) and adds the files their maintainer scripts would have created.
pub fn assemble(mut packages: Vec<InstalledPackage>, user: &User) -> Result<Tree, RuntimeError> {
    packages.sort_by(|a, b| a.name.cmp(&b.name));
    for package in &mut packages {
        keep_needed_part(package);
    }
    let mut tree = Tree::new();
    for package in &packages {
        for (path, entry) in &package.files {
            // Packages may both ship an identical file (a shared symlink, say); dpkg accepts
            // that, and so do we. Anything else is a real conflict.
            if tree.get(path) == Some(entry) {
                continue;
            }
            tree.insert(path.clone(), entry.clone())
                .map_err(|source| conflict(&package.name, source))?;
        }
    }

    for dir in MERGED_USR {
        let below = format!("usr/{dir}");
        let used = tree.iter().any(|(p, _)| p.starts_with(&below));
        if used {
            put(&mut tree, dir, Entry::symlink(below))?;
        }
    }

    let home = user.home();
    let home = home.trim_start_matches('/');
    put(&mut tree, "etc/passwd", text(&passwd(user), 0o644))?;
    put(&mut tree, "etc/group", text(&group(user), 0o644))?;
    // glibc's built-in defaults would also work, but spelling them out keeps lookups to local
    // files and DNS whatever the libc version.
    put(&mut tree, "etc/nsswitch.conf", text(NSSWITCH, 0o644))?;
    put(&mut tree, "tmp", Entry::dir(0o1777))?;
    put(&mut tree, "var/tmp", Entry::dir(0o1777))?;
    put(&mut tree, "root", Entry::dir(0o700))?;
    // Group 0 and group-writable, as images for OpenShift are: an arbitrary uid (OpenShift's,
    // `docker run --user 12345`) runs with gid 0 and must be able to write its home.
    put(&mut tree, home, Entry::dir(0o775).owned_by(user.uid, 0))?;

    let bundle = ca_bundle(&tree)?;
    put(
        &mut tree,
        "etc/ssl/certs/ca-certificates.crt",
        Entry::file(bundle, 0o644),
    )?;
    // Only update-ca-certificates reads Debian's certificate files, to write the bundle (and
    // the hashed links of a CApath, which nothing here uses: OpenSSL's CAfile is the bundle).
    // They are in the bundle now; distroless images ship it alone too. 0.6 MB.
    leave_out(&mut tree, "ca-certificates", CERTIFICATES);
    // OpenSSL looks in its OPENSSLDIR (/usr/lib/ssl); Debian's `openssl` package links these,
    // but it is only needed by ca-certificates' maintainer script, so it is not installed.
    for (link, target) in [
        ("usr/lib/ssl/cert.pem", "/etc/ssl/certs/ca-certificates.crt"),
        ("usr/lib/ssl/certs", "/etc/ssl/certs"),
    ] {
        let path = rel(link)?;
        if tree.get(&path).is_none() {
            put(&mut tree, link, Entry::symlink(target))?;
        }
    }
    Ok(tree)
}

/// Drops what [`PARTIAL`] leaves out of `package`, if it is one of them.
fn keep_needed_part(package: &mut InstalledPackage) {
    let Some((name, kept)) = PARTIAL.iter().find(|(name, _)| *name == package.name) else {
        return;
    };
    let status = format!("var/lib/dpkg/status.d/{name}");
    let md5sums = format!("{status}.md5sums");
    let copyright = format!("usr/share/doc/{name}/copyright");
    let is_kept = |path: &str| kept.iter().any(|k| at_or_below(path, k));
    package.files.retain_mut(|(path, entry)| {
        let path = path.as_str();
        if path == md5sums {
            // A small text, in memory (a package's md5sums is never spooled unread: it is
            // read whole here, or kept as it is if that fails).
            if let Kind::File(content) = &entry.kind
                && let Ok(data) = content.read_all()
            {
                let lines = md5sums_keeping(&data, |p| p.is_some_and(is_kept));
                entry.kind = Kind::File(Content::inline(lines));
            }
            return true;
        }
        // The parents of what is kept, so that their modes are the package's.
        let parent =
            entry.kind == Kind::Dir && kept.iter().any(|k| k.starts_with(&format!("{path}/")));
        parent || is_kept(path) || path == status || path == copyright
    });
}

/// Where Debian's certificates are, one file each.
const CERTIFICATES: &str = "usr/share/ca-certificates";

/// Takes `dir` and what is below it out of `tree`, and out of `package`'s md5sums, so that the
/// package's record lists what the image has.
fn leave_out(tree: &mut Tree, package: &str, dir: &str) {
    tree.split_off(|path, _| path.starts_with(dir));
    let Ok(md5sums) = rel(&format!("var/lib/dpkg/status.d/{package}.md5sums")) else {
        return;
    };
    if let Some(Entry {
        kind: Kind::File(content),
        ..
    }) = tree.get(&md5sums)
        && let Ok(data) = content.read_all()
    {
        let lines = md5sums_keeping(&data, |p| p.is_none_or(|p| !at_or_below(p, dir)));
        let _ = tree.replace(md5sums, Entry::file(lines, 0o644));
    }
}

/// Whether `path` is `dir` or below it.
fn at_or_below(path: &str, dir: &str) -> bool {
    path.strip_prefix(dir)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// A package's md5sums (`<md5>  <path>` lines, paths relative to the root) with the lines
/// `keep` accepts; it is given each line's path, `None` for a line without one.
fn md5sums_keeping(data: &[u8], keep: impl Fn(Option<&str>) -> bool) -> String {
    String::from_utf8_lossy(data)
        .lines()
        .filter(|line| keep(line.split_once("  ").map(|(_, p)| p)))
        .map(|line| format!("{line}\n"))
        .collect()
}

/// `update-ca-certificates`' bundle: every certificate Debian ships under
/// [`CERTIFICATES`], in path order, each ending with a newline.
fn ca_bundle(tree: &Tree) -> Result<Bytes, RuntimeError> {
    let mut bundle = Vec::new();
    for (path, entry) in tree.iter() {
        if !path.starts_with(CERTIFICATES) || !path.as_str().ends_with(".crt") {
            continue;
        }
        if let Kind::File(content) = &entry.kind {
            let data = content.read_all().map_err(|source| RuntimeError::Read {
                path: path.to_string(),
                source,
            })?;
            bundle.extend_from_slice(&data);
            if !data.ends_with(b"\n") {
                bundle.push(b'\n');
            }
        }
    }
    if bundle.is_empty() {
        return Err(RuntimeError::NoCertificates);
    }
    Ok(Bytes::from(bundle))
}

fn passwd(user: &User) -> String {
    format!(
        "root:x:0:0:root:/root:/usr/sbin/nologin\n\
         nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n\
         {name}:x:{uid}:{gid}:{name}:{home}:/usr/sbin/nologin\n",
        name = user.name,
        uid = user.uid,
        gid = user.gid,
        home = user.home(),
    )
}

fn group(user: &User) -> String {
    format!(
        "root:x:0:\nnogroup:x:65534:\n{name}:x:{gid}:\n",
        name = user.name,
        gid = user.gid
    )
}

const NSSWITCH: &str = "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n\
networks: files\nprotocols: files\nservices: files\nethers: files\nrpc: files\n";

fn text(s: &str, mode: u32) -> Entry {
    Entry::file(Bytes::from(s.to_string()), mode)
}

fn rel(path: &str) -> Result<RelPath, RuntimeError> {
    RelPath::new(path).map_err(|source| conflict("grocker", source))
}

/// Writes a file grocker owns, over anything a package shipped at that path.
fn put(tree: &mut Tree, path: &str, entry: Entry) -> Result<(), RuntimeError> {
    tree.replace(rel(path)?, entry)
        .map_err(|source| conflict("grocker", source))
}

fn conflict(package: &str, source: grocker_fs::FsError) -> RuntimeError {
    RuntimeError::Conflict {
        package: package.to_string(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg(name: &str, files: &[(&str, Entry)]) -> InstalledPackage {
        InstalledPackage {
            name: name.to_string(),
            files: files
                .iter()
                .map(|(p, e)| (RelPath::new(p).unwrap(), e.clone()))
                .collect(),
        }
    }

    fn sample() -> Vec<InstalledPackage> {
        vec![
            pkg(
                "libc6",
                &[(
                    "usr/lib64/ld-linux-x86-64.so.2",
                    Entry::symlink("/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"),
                )],
            ),
            pkg(
                "ca-certificates",
                &[
                    (
                        "usr/share/ca-certificates/mozilla/B.crt",
                        Entry::file(&b"-----B-----"[..], 0o644),
                    ),
                    (
                        "usr/share/ca-certificates/mozilla/A.crt",
                        Entry::file(&b"-----A-----\n"[..], 0o644),
                    ),
                    (
                        "usr/share/doc/ca-certificates/copyright",
                        Entry::file(&b"Format: ...\n"[..], 0o644),
                    ),
                    (
                        "var/lib/dpkg/status.d/ca-certificates.md5sums",
                        Entry::file(
                            &b"0a  usr/share/doc/ca-certificates/copyright\n\
                               0b  usr/share/ca-certificates/mozilla/A.crt\n\
                               0c  usr/share/ca-certificates/mozilla/B.crt\n"[..],
                            0o644,
                        ),
                    ),
                ],
            ),
        ]
    }

    fn file(tree: &Tree, path: &str) -> String {
        match &tree.get(&RelPath::new(path).unwrap()).unwrap().kind {
            Kind::File(d) => String::from_utf8(d.read_all().unwrap().to_vec()).unwrap(),
            other => panic!("{path} is {other:?}"),
        }
    }

    #[test]
    fn writes_what_maintainer_scripts_would() {
        let user = User::default();
        let tree = assemble(sample(), &user).unwrap();
        assert_eq!(
            file(&tree, "etc/ssl/certs/ca-certificates.crt"),
            "-----A-----\n-----B-----\n"
        );
        // The certificates are in the bundle, once: their files, and their md5sums lines, go.
        assert!(
            !tree
                .iter()
                .any(|(p, _)| p.starts_with("usr/share/ca-certificates"))
        );
        assert_eq!(
            file(&tree, "var/lib/dpkg/status.d/ca-certificates.md5sums"),
            "0a  usr/share/doc/ca-certificates/copyright\n"
        );
        assert!(file(&tree, "etc/passwd").contains("app:x:10001:10001:app:/home/app:"));
        assert!(file(&tree, "etc/group").contains("app:x:10001:"));
        let tmp = tree.get(&RelPath::new("tmp").unwrap()).unwrap();
        assert_eq!(tmp.mode, 0o1777);
        // The user's, and group 0's for arbitrary uids (OpenShift).
        let home = tree.get(&RelPath::new("home/app").unwrap()).unwrap();
        assert_eq!((home.uid, home.gid, home.mode), (10001, 0, 0o775));
        assert_eq!(
            tree.get(&RelPath::new("lib64").unwrap()).unwrap().kind,
            Kind::Symlink("usr/lib64".into())
        );
        // Nothing shipped below usr/sbin, so no sbin link.
        assert!(tree.get(&RelPath::new("sbin").unwrap()).is_none());
    }

    #[test]
    fn order_of_packages_does_not_matter() {
        let user = User::default();
        let a = assemble(sample(), &user).unwrap();
        let mut reversed = sample();
        reversed.reverse();
        assert_eq!(a, assemble(reversed, &user).unwrap());
    }

    #[test]
    fn conflicting_files_name_the_package() {
        let mut pkgs = sample();
        pkgs.push(pkg(
            "evil",
            &[(
                "usr/share/ca-certificates/mozilla/A.crt",
                Entry::file(&b"other"[..], 0o644),
            )],
        ));
        let err = assemble(pkgs, &User::default()).unwrap_err().to_string();
        assert!(err.contains("package evil"), "{err}");
    }

    #[test]
    fn only_the_c_utf8_locale_of_libc_bin() {
        let mut pkgs = sample();
        let md5sums = "11  usr/bin/locale\n22  usr/lib/locale/C.utf8/LC_CTYPE\n\
                       33  usr/lib/locale/C.utf8/LC_MESSAGES/SYS_LC_MESSAGES\n";
        pkgs.push(pkg(
            "libc-bin",
            &[
                ("usr", Entry::dir(0o755)),
                ("usr/bin", Entry::dir(0o755)),
                ("usr/bin/locale", Entry::file(&b"\x7fELF"[..], 0o755)),
                ("usr/sbin/ldconfig", Entry::file(&b"\x7fELF"[..], 0o755)),
                ("usr/lib", Entry::dir(0o755)),
                ("usr/lib/locale", Entry::dir(0o755)),
                ("usr/lib/locale/C.utf8", Entry::dir(0o755)),
                (
                    "usr/lib/locale/C.utf8/LC_CTYPE",
                    Entry::file(&b"ctype"[..], 0o644),
                ),
                ("usr/lib/locale/C.utf8/LC_MESSAGES", Entry::dir(0o755)),
                (
                    "usr/lib/locale/C.utf8/LC_MESSAGES/SYS_LC_MESSAGES",
                    Entry::file(&b"msg"[..], 0o644),
                ),
                ("usr/lib/locale/C.utf8x", Entry::file(&b"no"[..], 0o644)),
                (
                    "usr/share/doc/libc-bin/copyright",
                    Entry::file(&b"c"[..], 0o644),
                ),
                (
                    "var/lib/dpkg/status.d/libc-bin",
                    Entry::file(&b"Package: libc-bin\n"[..], 0o644),
                ),
                (
                    "var/lib/dpkg/status.d/libc-bin.md5sums",
                    Entry::file(md5sums.as_bytes(), 0o644),
                ),
            ],
        ));
        let tree = assemble(pkgs, &User::default()).unwrap();
        assert_eq!(file(&tree, "usr/lib/locale/C.utf8/LC_CTYPE"), "ctype");
        assert_eq!(
            file(&tree, "usr/lib/locale/C.utf8/LC_MESSAGES/SYS_LC_MESSAGES"),
            "msg"
        );
        assert_eq!(file(&tree, "usr/share/doc/libc-bin/copyright"), "c");
        assert_eq!(
            file(&tree, "var/lib/dpkg/status.d/libc-bin.md5sums"),
            "22  usr/lib/locale/C.utf8/LC_CTYPE\n\
             33  usr/lib/locale/C.utf8/LC_MESSAGES/SYS_LC_MESSAGES\n"
        );
        for gone in [
            "usr/bin/locale",
            "usr/sbin/ldconfig",
            "usr/bin",
            "usr/lib/locale/C.utf8x",
        ] {
            assert!(tree.get(&RelPath::new(gone).unwrap()).is_none(), "{gone}");
        }
        // Another package's files are not filtered.
        assert!(
            tree.get(&RelPath::new("usr/lib64/ld-linux-x86-64.so.2").unwrap())
                .is_some()
        );
    }

    #[test]
    fn no_certificates_is_an_error() {
        let err = assemble(vec![], &User::default()).unwrap_err();
        assert!(matches!(err, RuntimeError::NoCertificates));
    }
}
