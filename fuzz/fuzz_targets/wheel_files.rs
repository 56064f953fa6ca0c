//! A wheel, structured: the input is its files as sections (`=== NAME` lines, see
//! `grocker_fuzz::sections`), zipped here with RECORD hashes filled in, so that mutations of
//! WHEEL, METADATA, RECORD, entry_points.txt and file names reach the installer's checks
//! instead of stopping at a CRC or a hash.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let files = grocker_fuzz::sections(data);
    for (name, bytes) in &files {
        if name.ends_with(".dist-info/METADATA") {
            // The parser the resolver uses on index metadata, on its own.
            let _ = grocker_wheel::CoreMetadata::parse(bytes);
        }
    }
    let wheel = grocker_fuzz::wheel_from_files(&files);
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    let file_name = grocker_fuzz::wheel_file_name(names.join("\n").as_bytes());
    grocker_fuzz::install_and_check(&wheel, &file_name);
});
