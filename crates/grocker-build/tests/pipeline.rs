//! Whole builds through the library, hermetic: a signed Debian archive on 127.0.0.1 (the
//! testkit's miniature runtime), `plan` → `build`, no network and no engine.

use grocker_build::{
    Context, DebianSources, Inputs, LockSettings, Reporter, SourceDateEpoch, Verbosity,
};
use grocker_fetch::Cache;
use grocker_testkit::FakeArchive;

fn inputs(archive: &FakeArchive, lock: &std::path::Path) -> Inputs {
    let url = |path: &str| format!("{}/{path}", archive.server.url()).parse().unwrap();
    Inputs {
        runtime: Default::default(),
        platforms: vec![grocker_wheel::Arch::X86_64],
        packages: vec!["libpq5".to_string()],
        debian: DebianSources {
            mirror: url("debian"),
            security_mirror: url("debian-security"),
            extra_keyrings: vec![archive.keyring.clone()],
            repositories: vec![],
        },
        lock: LockSettings {
            path: lock.to_path_buf(),
            upgrade: false,
            upgrade_os: false,
            locked: false,
        },
        python: None,
        auto_packages: false,
        added_packages: Vec::new(),
        python_source: Default::default(),
    }
}

fn context(cache: &std::path::Path) -> Context {
    let report = Reporter::new(Verbosity::Quiet);
    Context::with_cache(
        Cache::at(cache).unwrap(),
        report,
        false,
        SourceDateEpoch::new(0),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_plan_pins_the_archive_and_its_lock_is_the_plan() {
    let archive = FakeArchive::new();
    let dir = tempfile::tempdir().unwrap();
    let lock = dir.path().join("grocker.lock");
    let ctx = context(&dir.path().join("cache"));

    let plan = grocker_build::plan(inputs(&archive, &lock), &ctx)
        .await
        .unwrap();
    assert!(plan.lock_changed, "a first plan is new");
    let libc = plan.lock.debian.iter().find(|p| p.name == "libc6").unwrap();
    assert_eq!(
        libc.version, "2.36-9+deb12u1",
        "newest wins: bookworm-security's"
    );
    assert_eq!(libc.archive, "debian-security");
    assert!(plan.lock.debian.iter().any(|p| p.name == "libpq5"));
    assert!(
        !plan
            .lock
            .debian
            .iter()
            .any(|p| p.name == "perl-base" || p.name == "dpkg"),
        "script-only packages are not pinned"
    );
    let image = grocker_build::build(&plan, &ctx).await.unwrap();
    plan.write_lock(&ctx).unwrap();

    // With its lock, planning reads nothing from the archive: the lock is the plan.
    archive.server.clear_requests();
    let again = grocker_build::plan(inputs(&archive, &lock), &ctx)
        .await
        .unwrap();
    assert!(!again.lock_changed);
    assert_eq!(again.lock, plan.lock);
    assert_eq!(archive.server.requests(), Vec::<String>::new());

    // The same lock, another empty cache: the same image, byte for byte.
    let other = context(&dir.path().join("other-cache"));
    let rebuilt = grocker_build::build(&again, &other).await.unwrap();
    assert_eq!(rebuilt.digest(), image.digest());
    assert_eq!(image.images()[0].layers().len(), 2, "os and iconv");
}

#[tokio::test(flavor = "multi_thread")]
async fn locked_without_a_lock_resolves_nothing_and_says_what_to_do() {
    let archive = FakeArchive::new();
    let dir = tempfile::tempdir().unwrap();
    let lock = dir.path().join("grocker.lock");
    let mut wanted = inputs(&archive, &lock);
    wanted.lock.locked = true;
    let ctx = context(&dir.path().join("cache"));
    let err = match grocker_build::plan(wanted, &ctx).await {
        Ok(_) => panic!("--locked without a lock must fail"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("--locked") && err.contains("does not exist"),
        "{err}"
    );
    assert_eq!(archive.server.requests(), Vec::<String>::new());
    assert!(!lock.exists());
}

/// A lock is input, not trust: an entry given another package's hash (whose file the verified
/// cache holds) is refused by the file's control data or size, naming both packages.
#[tokio::test(flavor = "multi_thread")]
async fn a_lock_entry_with_another_packages_hash_is_refused() {
    let archive = FakeArchive::new();
    let dir = tempfile::tempdir().unwrap();
    let lock = dir.path().join("grocker.lock");
    let ctx = context(&dir.path().join("cache"));
    let plan = grocker_build::plan(inputs(&archive, &lock), &ctx)
        .await
        .unwrap();
    grocker_build::build(&plan, &ctx).await.unwrap();
    plan.write_lock(&ctx).unwrap();
    let original = plan.lock.clone();
    let donor = original
        .debian
        .iter()
        .find(|p| p.name == "libpq5")
        .unwrap()
        .clone();
    let victim = original
        .debian
        .iter()
        .find(|p| p.name != donor.name && p.size != donor.size)
        .unwrap()
        .clone();

    for same_size in [true, false] {
        let mut tampered = original.clone();
        let entry = tampered
            .debian
            .iter_mut()
            .find(|p| p.name == victim.name)
            .unwrap();
        entry.sha256 = donor.sha256;
        if same_size {
            entry.size = donor.size;
        }
        tampered.write(&lock).unwrap();
        let plan = grocker_build::plan(inputs(&archive, &lock), &ctx)
            .await
            .unwrap();
        let err = match grocker_build::build(&plan, &ctx).await {
            Ok(_) => panic!(
                "a lock naming {}'s file for {} built",
                donor.name, victim.name
            ),
            Err(e) => format!("{e:#}"),
        };
        let file = format!(
            "{}_{}_{}.deb",
            victim.name, victim.version, victim.architecture
        );
        assert!(err.contains(&file), "{err}");
        if same_size {
            assert!(
                err.contains(&format!("says {} {}", donor.name, donor.version)),
                "{err}"
            );
        } else {
            assert!(err.contains(&format!("{} bytes", donor.size)), "{err}");
        }
    }
}

/// Issue #13 item 3: a cached layer damaged in place (three bytes flipped, same size) is found
/// when it comes out of the cache and built again, so the image gets the right bytes.
#[tokio::test(flavor = "multi_thread")]
async fn a_damaged_cached_layer_is_rebuilt_not_published() {
    let archive = FakeArchive::new();
    let dir = tempfile::tempdir().unwrap();
    let lock = dir.path().join("grocker.lock");
    let ctx = context(&dir.path().join("cache"));
    let plan = grocker_build::plan(inputs(&archive, &lock), &ctx)
        .await
        .unwrap();
    let image = grocker_build::build(&plan, &ctx).await.unwrap();
    let os = &image.images()[0].layers()[0];
    // The cache knows a blob changed by its ctime, which older kernels keep at the
    // granularity of a timer tick: a change within the tick of the write would go unseen.
    std::thread::sleep(std::time::Duration::from_millis(20));
    let mut bytes = fs_err::read(&os.blob).unwrap();
    let mid = bytes.len() / 2;
    for b in &mut bytes[mid..mid + 3] {
        *b ^= 0xff;
    }
    fs_err::write(&os.blob, &bytes).unwrap();

    let again = grocker_build::build(&plan, &ctx).await.unwrap();
    assert_eq!(again.digest(), image.digest());
    for layer in again.images()[0].layers() {
        let blob = fs_err::read(&layer.blob).unwrap();
        assert_eq!(
            grocker_oci::Digest::of(&blob),
            layer.digest(),
            "{} does not match its digest",
            layer.blob.display()
        );
    }
}
