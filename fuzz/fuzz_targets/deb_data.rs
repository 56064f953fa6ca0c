//! A `.deb`'s data.tar, structured: the input is the tar stream itself, its header checksums are
//! corrected (the fuzzer cannot compute them) and it is wrapped in a valid `.deb`, so mutations
//! reach the checks behind the tar reader: names, links, modes, duplicates, merged-/usr.
#![no_main]

use grocker_debian::{DebOptions, read_deb};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut tar = data.to_vec();
    grocker_fuzz::fix_tar_checksums(&mut tar);
    let deb = grocker_fuzz::deb_with_data_tar(&tar);
    for drop_docs in [true, false] {
        let options = DebOptions {
            drop_docs,
            spool: None,
        };
        if let Ok(contents) = read_deb(&deb[..], "fuzz.deb", &options) {
            grocker_fuzz::assert_entries_contained(contents.files.iter().map(|(p, e)| (p, e)));
        }
    }
});
