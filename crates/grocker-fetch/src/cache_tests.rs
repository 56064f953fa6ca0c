use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::*;

fn cache() -> (tempfile::TempDir, Cache) {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::at(dir.path().join("cache")).unwrap();
    (dir, cache)
}

fn tmp_entries(cache: &Cache) -> usize {
    fs_err::read_dir(cache.root().join("tmp")).unwrap().count()
}

#[test]
fn creates_layout() {
    let (_dir, cache) = cache();
    for sub in ["blobs/sha256", "keyed", "tmp", "locks"] {
        assert!(cache.root().join(sub).is_dir(), "{sub}");
    }
}

#[test]
fn put_then_get_round_trips() {
    let (_dir, cache) = cache();
    let (sha, path) = cache.put_bytes(b"hello").unwrap();
    assert_eq!(sha, Sha256::digest(b"hello"));
    assert_eq!(
        path,
        cache.root().join("blobs/sha256").join(sha.to_string())
    );
    assert_eq!(cache.get(&sha), Some(path.clone()));
    assert_eq!(fs_err::read(&path).unwrap(), b"hello");
    // Storing the same blob again (a second writer) is harmless.
    assert_eq!(cache.put_bytes(b"hello").unwrap().1, path);
    assert_eq!(tmp_entries(&cache), 0);
    assert_eq!(cache.get(&Sha256::digest(b"other")), None);
}

#[test]
fn corrupted_blob_is_detected_and_removed() {
    let (_dir, cache) = cache();
    let (sha, path) = cache.put_bytes(b"the real content").unwrap();
    fs_err::write(&path, b"the real con").unwrap(); // torn, e.g. by a non-atomic writer
    assert_eq!(cache.get(&sha), None);
    assert!(!path.exists(), "a bad entry must be deleted");
    // Garbage at a blob's name that never was its content is refused too.
    let sha = Sha256::digest(b"never stored");
    fs_err::write(cache.blob_path(&sha), b"something else").unwrap();
    assert_eq!(cache.get(&sha), None);
}

#[test]
fn temp_files_left_by_a_killed_process_are_never_served() {
    let (_dir, cache) = cache();
    let data = b"complete content";
    let sha = Sha256::digest(data);
    // A process killed mid-download leaves a partial file in tmp/ (forget = no cleanup on drop,
    // as with kill -9) ...
    let mut tmp = cache.temp_file().unwrap();
    tmp.write_all(&data[..5]).unwrap();
    let (_, leftover) = tmp.keep().unwrap();
    // ... which no lookup ever returns.
    assert_eq!(cache.get(&sha), None);
    assert!(leftover.exists());
    // A fresh leftover survives opening the cache (another build may be writing it) ...
    let cache = Cache::at(cache.root()).unwrap();
    assert!(leftover.exists());
    // ... a day-old one is swept.
    let old = SystemTime::now() - STALE_TMP - Duration::from_secs(60);
    fs_err::File::options()
        .write(true)
        .open(&leftover)
        .unwrap()
        .file()
        .set_modified(old)
        .unwrap();
    let cache = Cache::at(cache.root()).unwrap();
    assert!(!leftover.exists());
    // And the real download still lands normally.
    assert_eq!(cache.put_bytes(data).unwrap().0, sha);
    assert!(cache.get(&sha).is_some());
}

#[test]
fn dropped_temp_file_leaves_nothing() {
    let (_dir, cache) = cache();
    let mut tmp = cache.temp_file().unwrap();
    tmp.write_all(b"partial").unwrap();
    drop(tmp);
    assert_eq!(tmp_entries(&cache), 0);
}

#[test]
fn keyed_entries_round_trip_with_mtime() {
    let (_dir, cache) = cache();
    assert!(cache.get_keyed("debian/InRelease", "abc").is_none());
    let before = SystemTime::now() - Duration::from_secs(5);
    cache.put_keyed("debian/InRelease", "abc", b"v1").unwrap();
    cache.put_keyed("debian/InRelease", "abc", b"v2").unwrap();
    let (data, mtime) = cache.get_keyed("debian/InRelease", "abc").unwrap();
    assert_eq!(data, b"v2");
    assert!(mtime >= before);
    assert!(cache.root().join("keyed/debian/InRelease/abc").is_file());
    assert_eq!(tmp_entries(&cache), 0);
}

#[test]
fn keyed_names_cannot_escape_the_cache() {
    let (_dir, cache) = cache();
    for (ns, key) in [
        ("..", "x"),
        ("a/../..", "x"),
        ("a", "../x"),
        ("a", "b/c"),
        ("", "x"),
        ("a//b", "x"),
        ("/abs", "x"),
        ("a", ""),
    ] {
        assert!(
            matches!(
                cache.put_keyed(ns, key, b""),
                Err(FetchError::InvalidKey { .. })
            ),
            "{ns:?} {key:?}"
        );
        assert!(cache.get_keyed(ns, key).is_none());
    }
    assert!(cache.lock("../x").is_err());
}

#[test]
fn lock_is_exclusive_and_released_on_drop() {
    let (_dir, cache) = cache();
    let held = cache.lock("debian-index").unwrap();
    let acquired = Arc::new(AtomicBool::new(false));
    let waiter = std::thread::spawn({
        let cache = cache.clone();
        let acquired = acquired.clone();
        move || {
            let _lock = cache.lock("debian-index").unwrap();
            acquired.store(true, Ordering::SeqCst);
        }
    });
    std::thread::sleep(Duration::from_millis(200));
    assert!(!acquired.load(Ordering::SeqCst), "second lock must wait");
    // Another name is independent.
    drop(cache.lock("other").unwrap());
    drop(held);
    waiter.join().unwrap();
    assert!(acquired.load(Ordering::SeqCst));
}

#[test]
fn purge_frees_everything_but_locks() {
    let (_dir, cache) = cache();
    cache.put_bytes(&[1u8; 1000]).unwrap();
    cache.put_keyed("ns", "k", &[2u8; 24]).unwrap();
    let _lock = cache.lock("build").unwrap();
    assert_eq!(cache.purge().unwrap(), 1024);
    assert_eq!(cache.get(&Sha256::digest(&[1u8; 1000])), None);
    assert!(cache.get_keyed("ns", "k").is_none());
    assert!(cache.root().join("locks/build.lock").exists());
    assert!(cache.root().join("blobs/sha256").is_dir());
    assert_eq!(cache.purge().unwrap(), 0);
}
