//! A wheel's METADATA read through the index client's own ZIP reader (end of central
//! directory, ZIP64, central directory, one local entry, inflate with CRC), as range requests
//! read it — from tails of several lengths, since what is fetched first changes the path — and
//! the core-metadata parser on what comes out.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for tail in [64, 1024, 16 * 1024, u64::MAX] {
        if let Ok(metadata) = grocker_pypi::fuzz::wheel_metadata(data, tail) {
            // 16 MiB is the reader's own bomb limit for METADATA.
            assert!(
                metadata.len() <= 16 << 20,
                "METADATA of {} bytes",
                metadata.len()
            );
            let _ = grocker_wheel::CoreMetadata::parse(&metadata);
        }
    }
});
