//! `.pyc` files made canonical (`grocker_pyc`): the 16-byte header and the marshal data, whose
//! references, sizes and nesting come from the file. Whatever the bytes, an error or a file of
//! the same length that is its own canonical form.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(canonical) = grocker_pyc::canonicalize(data) {
        assert_eq!(canonical.len(), data.len(), "the length changed");
        assert_eq!(&canonical[..16], &data[..16], "the header changed");
        assert_eq!(
            grocker_pyc::canonicalize(&canonical).as_ref(),
            Ok(&canonical),
            "not idempotent"
        );
    }
});
