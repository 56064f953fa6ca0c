//! A wheel as downloaded: the zip reader, then the installer (WHEEL, METADATA, RECORD checked
//! against every file, entry_points, the `.data` layout) into a venv's filesystem tree.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    grocker_fuzz::install_and_check(data, &grocker_fuzz::wheel_file_name(data));
});
