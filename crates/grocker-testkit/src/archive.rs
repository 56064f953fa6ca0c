//! A fake Debian archive with the shape of a real `bookworm/3.11` runtime, in miniature:
//! signed with a throw-away key and served on 127.0.0.1, for tests of whole builds.

use std::path::PathBuf;

use crate::{DebBuilder, FileServer, RepoBuilder, RepoLayout, TestKey};

/// A fake Debian archive shaped like bookworm: `debian` (bookworm, bookworm-updates) and
/// `debian-security` (bookworm-security), each a signed repository, served over HTTP.
pub struct FakeArchive {
    /// The key both repositories are signed with.
    pub key: TestKey,
    /// Where both repositories live on disk.
    pub root: tempfile::TempDir,
    /// `debian`: bookworm and bookworm-updates.
    pub debian: RepoLayout,
    /// `debian-security`: bookworm-security.
    pub security: RepoLayout,
    /// Serves `root` on 127.0.0.1.
    pub server: FileServer,
    /// The key's public keyring, binary, to trust with `--debian-keyring`.
    pub keyring: PathBuf,
}

const CERT: &[u8] = b"-----BEGIN CERTIFICATE-----\nMIIBtest\n-----END CERTIFICATE-----\n";

/// The packages of a `bookworm/3.11` runtime, in miniature. `extra` goes into `bookworm`.
pub fn runtime_packages() -> Vec<DebBuilder> {
    vec![
        DebBuilder::new("libc6", "2.36-9+deb12u1", "amd64")
            .file("lib/x86_64-linux-gnu/libc.so.6", b"\x7fELF libc", 0o755)
            .symlink(
                "lib64/ld-linux-x86-64.so.2",
                "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
            )
            .file(
                "lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
                b"\x7fELF ld",
                0o755,
            )
            .file("usr/share/doc/libc6/copyright", b"glibc copyright", 0o644)
            .file("usr/share/doc/libc6/changelog.Debian.gz", b"noise", 0o644)
            .postinst("#!/bin/sh\nexit 1\n"),
        // Of libc-bin an image keeps only the C.UTF-8 locale.
        DebBuilder::new("libc-bin", "2.36-9+deb12u1", "amd64")
            .depends("libc6 (>> 2.36)")
            .file("usr/bin/locale", b"\x7fELF locale", 0o755)
            .file("usr/lib/locale/C.utf8/LC_CTYPE", b"ctype", 0o644),
        DebBuilder::new("python3.11-minimal", "3.11.2-6", "amd64")
            .depends("libc6 (>= 2.34)")
            .file("usr/bin/python3.11", b"\x7fELF python", 0o755),
        DebBuilder::new("libpython3.11-stdlib", "3.11.2-6", "amd64")
            .depends("libc6 (>= 2.36), media-types | mime-support")
            .file("usr/lib/python3.11/os.py", b"# os\n", 0o644),
        DebBuilder::new("media-types", "10.0.0", "all").file("etc/mime.types", b"", 0o644),
        DebBuilder::new("python3.11", "3.11.2-6", "amd64")
            .depends("python3.11-minimal (= 3.11.2-6), libpython3.11-stdlib (= 3.11.2-6)"),
        DebBuilder::new("python3-minimal", "3.11.2-1+b1", "amd64")
            .pre_depends("python3.11-minimal (>= 3.11.2-1~)")
            .depends("dpkg (>= 1.13.20)")
            .symlink("usr/bin/python3", "python3.11"),
        DebBuilder::new("ca-certificates", "20230311", "all")
            .depends("openssl (>= 1.1.1), debconf (>= 0.5) | debconf-2.0")
            .file(
                "usr/share/ca-certificates/mozilla/Test_Root.crt",
                CERT,
                0o644,
            ),
        DebBuilder::new("openssl", "3.0.11-1", "amd64").file("usr/bin/openssl", b"x", 0o755),
        DebBuilder::new("debconf", "1.5.82", "all")
            .pre_depends("perl-base (>= 5.20.1-3~)")
            .file("usr/bin/debconf", b"x", 0o755),
        DebBuilder::new("perl-base", "5.36.0-7", "amd64").file("usr/bin/perl", b"x", 0o755),
        DebBuilder::new("dpkg", "1.21.22", "amd64").file("usr/bin/dpkg", b"x", 0o755),
        DebBuilder::new("bash", "5.2.15-2", "amd64").file("bin/bash", b"x", 0o755),
        DebBuilder::new("base-files", "12.4+deb12u1", "amd64")
            .pre_depends("awk")
            .file(
                "usr/lib/os-release",
                b"PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\n",
                0o644,
            )
            .symlink("etc/os-release", "../usr/lib/os-release"),
        DebBuilder::new("mawk", "1.3.4", "amd64")
            .provides("awk")
            .file("usr/bin/mawk", b"x", 0o755),
        DebBuilder::new("libstdc++6", "12.2.0-14", "amd64")
            .depends("libc6 (>= 2.34)")
            .file(
                "usr/lib/x86_64-linux-gnu/libstdc++.so.6",
                b"\x7fELF c++",
                0o644,
            ),
        DebBuilder::new("netbase", "6.4", "all").file("etc/services", b"http 80/tcp\n", 0o644),
        DebBuilder::new("tzdata", "2024a-0+deb12u1", "all")
            .depends("debconf (>= 0.5) | debconf-2.0")
            .file("usr/share/zoneinfo/UTC", b"TZif", 0o644),
        DebBuilder::new("libpq5", "15.5-0+deb12u1", "amd64")
            .depends("libc6 (>= 2.34)")
            .file("usr/lib/x86_64-linux-gnu/libpq.so.5", b"\x7fELF pq", 0o644),
    ]
}

impl Default for FakeArchive {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeArchive {
    /// The runtime packages; `libc6` has an older version in `bookworm` and the newest in
    /// `bookworm-security`, as after a security update.
    pub fn new() -> Self {
        Self::with(runtime_packages(), |b| b)
    }

    /// `packages` in `bookworm`; `customize` may change the debian repository builder.
    pub fn with(
        packages: Vec<DebBuilder>,
        customize: impl FnOnce(RepoBuilder) -> RepoBuilder,
    ) -> Self {
        let key = TestKey::generate("grocker test archive <archive@test.invalid>");
        let root = tempfile::tempdir().expect("tempdir");

        let old_libc = DebBuilder::new("libc6", "2.36-9", "amd64").file(
            "lib/x86_64-linux-gnu/libc.so.6",
            b"\x7fELF old libc",
            0o755,
        );
        let mut debian = RepoBuilder::new(&key)
            .suite("bookworm", "bookworm")
            .suite("bookworm-updates", "bookworm-updates");
        let mut security = RepoBuilder::new(&key).suite("bookworm-security", "bookworm-security");
        for p in &packages {
            if p.name() == "libc6" {
                security = security.add("bookworm-security", p);
            } else {
                debian = debian.add("bookworm", p);
            }
        }
        debian = debian.add("bookworm", &old_libc);
        let debian = customize(debian)
            .write(&root.path().join("debian"))
            .expect("write debian repo");
        let security = security
            .write(&root.path().join("debian-security"))
            .expect("write security repo");
        let keyring = root.path().join("test-archive.gpg");
        fs_err::write(&keyring, key.public_keyring_binary()).expect("keyring");
        let server = FileServer::serve(root.path());
        Self {
            key,
            root,
            debian,
            security,
            server,
            keyring,
        }
    }

    /// Arguments pointing grocker at this archive.
    pub fn args(&self) -> Vec<String> {
        vec![
            "--debian-mirror".into(),
            format!("{}/debian", self.server.url()),
            "--debian-security-mirror".into(),
            format!("{}/debian-security", self.server.url()),
            "--debian-keyring".into(),
            self.keyring.display().to_string(),
        ]
    }
}
