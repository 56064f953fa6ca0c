//! A `.deb` as downloaded: ar, then control.tar and data.tar each plain, gzip, xz or zstd.
//! Whatever is accepted must be a filesystem that stays inside the image root.
#![no_main]

use grocker_debian::{DebOptions, read_deb, status_d_files};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for drop_docs in [true, false] {
        let options = DebOptions {
            drop_docs,
            spool: None,
        };
        let Ok(deb) = read_deb(data, "fuzz.deb", &options) else {
            return;
        };
        grocker_fuzz::assert_entries_contained(deb.files.iter().map(|(p, e)| (p, e)));
        if let Ok(files) = status_d_files(&deb) {
            grocker_fuzz::assert_entries_contained(files.iter().map(|(p, e)| (p, e)));
        }
    }
});
