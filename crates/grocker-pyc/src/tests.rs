use super::*;

/// A 3.13 header (unchecked hash) before `body`.
fn pyc(magic: u16, body: &[u8]) -> Vec<u8> {
    let mut out = magic.to_le_bytes().to_vec();
    out.extend_from_slice(b"\r\n\x01\x00\x00\x00");
    out.extend_from_slice(&[0xaa; 8]);
    out.extend_from_slice(body);
    out
}

fn canonical_body(magic: u16, body: &[u8]) -> Result<Vec<u8>, PycError> {
    canonicalize(&pyc(magic, body)).map(|out| out[HEADER_LEN..].to_vec())
}

const PY313: u16 = 3571;
const PY314: u16 = 3627;
const PY39: u16 = 3425;

/// A 3.11+ code object (type byte `kind`: `c`, or flagged) with `consts` as its constants and
/// `names` as its filename, name and qualname.
fn code_311(kind: u8, consts: &[u8], names: &[u8]) -> Vec<u8> {
    let mut c = vec![kind];
    for _ in 0..5 {
        c.extend_from_slice(&0i32.to_le_bytes());
    }
    c.extend_from_slice(b"s\x02\x00\x00\x00\x97\x00"); // co_code
    c.extend_from_slice(consts);
    c.extend_from_slice(b")\x00)\x00"); // names, localsplusnames
    c.extend_from_slice(b"s\x00\x00\x00\x00"); // localspluskinds
    c.extend_from_slice(names); // filename, name, qualname
    c.extend_from_slice(&1i32.to_le_bytes()); // firstlineno
    c.extend_from_slice(b"s\x00\x00\x00\x00s\x00\x00\x00\x00"); // linetable, exceptiontable
    c
}

#[test]
fn unreferenced_flags_are_dropped_and_references_renumbered() {
    // (1000 flagged, "xy" flagged and referenced, 7, 7 flagged, ref "xy", ref 7)
    let body = b")\x06\xe9\xe8\x03\x00\x00\xfa\x02xyi\x07\x00\x00\x00\xe9\x07\x00\x00\x00\
                 r\x01\x00\x00\x00r\x02\x00\x00\x00";
    let out = canonical_body(PY313, body).unwrap();
    assert_eq!(
        out,
        b")\x06i\xe8\x03\x00\x00\xfa\x02xyi\x07\x00\x00\x00\xe9\x07\x00\x00\x00\
          r\x00\x00\x00\x00r\x01\x00\x00\x00"
    );
    assert_eq!(canonical_body(PY313, &out).unwrap(), out, "idempotent");
}

#[test]
fn the_same_graph_flagged_differently_gives_the_same_bytes() {
    // What two interpreters wrote for one code object: one flagged the code object, its
    // constants and their string (indices 0 to 2) besides the name "fn" (3) that the name and
    // qualname refer to; the other flagged only "fn" (0).
    let first = code_311(
        0xe3,
        b"\xa9\x01\xfa\x03abc",
        b"\xda\x02fnr\x03\x00\x00\x00r\x03\x00\x00\x00",
    );
    let second = code_311(
        b'c',
        b")\x01z\x03abc",
        b"\xda\x02fnr\x00\x00\x00\x00r\x00\x00\x00\x00",
    );
    assert_ne!(first, second);
    let a = canonical_body(PY313, &first).unwrap();
    assert_eq!(a, canonical_body(PY313, &second).unwrap());
    assert_eq!(a, second);
}

#[test]
fn flags_the_reader_ignores_are_dropped() {
    // `None` and `True` reserve no index: the int is reference 0; a flagged reference is one.
    let out = canonical_body(
        PY313,
        b")\x04\xce\xd4\xe9\x01\x00\x00\x00\xf2\x00\x00\x00\x00",
    )
    .unwrap();
    assert_eq!(out, b")\x04NT\xe9\x01\x00\x00\x00r\x00\x00\x00\x00");
    let err = canonical_body(PY313, b")\x03\xce\xd4r\x00\x00\x00\x00").unwrap_err();
    assert!(
        matches!(err, PycError::BadReference { count: 0, .. }),
        "{err}"
    );
}

#[test]
fn dicts_end_at_a_null_key_and_nulls_elsewhere_are_refused() {
    let dict = b"{\xda\x02kyi\x01\x00\x00\x00r\x00\x00\x00\x00\xe9\x02\x00\x00\x000";
    let out = canonical_body(PY313, dict).unwrap();
    assert_eq!(
        out,
        b"{\xda\x02kyi\x01\x00\x00\x00r\x00\x00\x00\x00i\x02\x00\x00\x000"
    );
    let err = canonical_body(PY313, b")\x010").unwrap_err();
    assert_eq!(err, PycError::Null { offset: 18 });
    let err = canonical_body(PY313, b"{Z\x01k0").unwrap_err();
    assert_eq!(err, PycError::Null { offset: 20 });
}

#[test]
fn singleton_strings_are_written_as_interned() {
    // Whether "{" is interned depends on what the process interned before (3.9 compiling
    // pyparsing with and without workers); longer strings keep what the compiler decided.
    let body = b")\x06z\x01{\xfa\x00u\x02\x00\x00\x00\xc3\xa9a\x01\x00\x00\x00}z\x02ab\
                 u\x02\x00\x00\x00\xc4\x80";
    let out = canonical_body(PY313, body).unwrap();
    assert_eq!(
        out,
        b")\x06Z\x01{Z\x00t\x02\x00\x00\x00\xc3\xa9A\x01\x00\x00\x00}z\x02ab\
          u\x02\x00\x00\x00\xc4\x80"
    );
}

#[test]
fn slices_exist_from_3_14() {
    let slice = b":\xe9\x01\x00\x00\x00Nr\x00\x00\x00\x00";
    assert_eq!(
        canonical_body(PY314, slice).unwrap(),
        b":\xe9\x01\x00\x00\x00Nr\x00\x00\x00\x00"
    );
    assert_eq!(
        canonical_body(PY313, slice).unwrap_err(),
        PycError::UnknownType {
            offset: 16,
            code: b':'
        }
    );
}

#[test]
fn code_objects_of_3_9_have_their_own_layout() {
    let mut c = vec![b'c'];
    for _ in 0..6 {
        c.extend_from_slice(&0i32.to_le_bytes());
    }
    c.extend_from_slice(b"\xf3\x02\x00\x00\x00d\x00"); // co_code, flagged
    c.extend_from_slice(b")\x01N)\x00)\x00)\x00)\x00"); // consts, names, varnames, free, cell
    c.extend_from_slice(b"\xfa\x01fr\x01\x00\x00\x00"); // filename, name (a reference)
    c.extend_from_slice(&1i32.to_le_bytes());
    c.extend_from_slice(b"r\x00\x00\x00\x00"); // lnotab: the same bytes as co_code
    let out = canonical_body(PY39, &c).unwrap();
    assert_eq!(out.len(), c.len());
    assert_eq!(out[25], 0xf3, "co_code is referred to");
    assert_eq!(&out[out.len() - 4..], &0u32.to_le_bytes());
    // The 3.11 layout reads these bytes differently and runs out of them.
    assert!(canonical_body(PY313, &c).is_err());
}

#[test]
fn hostile_input_is_an_error() {
    let cases: &[(&[u8], &str)] = &[
        (b"", "truncated"),
        (b")\x02N", "truncated"),
        (b"s\xff\xff\xff\x7fab", "truncated"),
        (b"s\xff\xff\xff\xffab", "out of range"),
        (b"l\x00\x00\x00\x80", "out of range"),
        (b"r\x00\x00\x00\x00", "invalid marshal reference"),
        (b"r\xff\xff\xff\xff", "index -1"),
        (b"\xa9\x01r\x00\x00\x00\x00", "cycle"),
        (b"?", "unknown marshal type code 0x3f"),
        (b"NN", "1 bytes after the end"),
        (b"0", "NULL"),
    ];
    for (body, wanted) in cases {
        let err = canonical_body(PY313, body).unwrap_err().to_string();
        assert!(err.contains(wanted), "{body:?}: {err}");
    }
    let deep: Vec<u8> = std::iter::repeat_n(*b")\x01", 5000).flatten().collect();
    let err = canonical_body(PY313, &deep).unwrap_err();
    assert!(
        matches!(err, PycError::TooDeep { limit: 2000, .. }),
        "{err}"
    );
    let mut ok = std::iter::repeat_n(*b")\x01", 1999)
        .flatten()
        .collect::<Vec<u8>>();
    ok.push(b'N');
    canonical_body(PY313, &ok).expect("CPython's own depth limit is readable");
}

#[test]
fn headers_are_checked() {
    assert_eq!(
        canonicalize(b"\xf3\x0d\x0d\x0a").unwrap_err(),
        PycError::TooShort { len: 4 }
    );
    let err = canonicalize(&pyc(3550, b"N")).unwrap_err();
    assert!(err.to_string().contains("3550"), "{err}");
    let mut bad = pyc(PY313, b"N");
    bad[4] = 4;
    assert_eq!(
        canonicalize(&bad).unwrap_err(),
        PycError::BadFlags { flags: 4 }
    );
    let mut text_mode = pyc(PY313, b"N");
    text_mode[2] = b'\n';
    assert!(matches!(
        canonicalize(&text_mode).unwrap_err(),
        PycError::UnsupportedVersion { magic: 3571, .. }
    ));
    assert_eq!(python_version(&pyc(PY39, b"N")).unwrap().version, (3, 9));
}

#[test]
fn every_truncation_is_an_error() {
    let full = pyc(
        PY313,
        &code_311(
            b'c',
            b"\xa9\x02\xfa\x03abcr\x01\x00\x00\x00",
            b"\xda\x01fr\x02\x00\x00\x00r\x02\x00\x00\x00",
        ),
    );
    canonicalize(&full).unwrap();
    for len in 0..full.len() {
        assert!(canonicalize(&full[..len]).is_err(), "{len} bytes accepted");
    }
}
