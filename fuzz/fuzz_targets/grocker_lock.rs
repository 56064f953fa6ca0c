//! `grocker.lock`, which users edit and commit: parsed, then written and read back, which must
//! give the same text (the lock is written deterministically, DESIGN §1).
#![no_main]

use std::path::Path;

use grocker_lock::Lock;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(lock) = Lock::from_toml(text, Path::new("grocker.lock")) else {
        return;
    };
    let written = lock.to_toml().expect("a parsed lock can be written");
    let again = Lock::from_toml(&written, Path::new("grocker.lock"))
        .unwrap_or_else(|e| panic!("the written lock does not read back: {e}\n{written}"));
    let rewritten = again.to_toml().expect("a parsed lock can be written");
    assert_eq!(written, rewritten, "writing the lock is not stable");
});
