//! The 16-byte header of PEP 552: magic number, flags, then a timestamp and size or a hash.

use crate::PycError;

/// The header's length.
pub const HEADER_LEN: usize = 16;

/// How a code object is laid out in marshal data, which changed in 3.11 (bpo-43693: `nlocals`
/// gone, `co_localsplusnames`/`co_localspluskinds` for varnames, freevars and cellvars,
/// `co_qualname` and `co_exceptiontable` added).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CodeLayout {
    /// 3.9 and 3.10: six 32-bit fields (argcount, posonlyargcount, kwonlyargcount, nlocals,
    /// stacksize, flags), eight objects (code, consts, names, varnames, freevars, cellvars,
    /// filename, name), firstlineno, then `co_lnotab` (3.9) or `co_linetable` (3.10).
    Py39,
    /// 3.11 and later: five 32-bit fields (no nlocals), eight objects (code, consts, names,
    /// localsplusnames, localspluskinds, filename, name, qualname), firstlineno, linetable,
    /// exceptiontable.
    Py311,
}

/// One field of a code object, in marshal order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Field {
    /// A 32-bit little-endian integer.
    Long,
    /// A marshalled object.
    Object,
}

use Field::{Long as L, Object as O};

const CODE_39: &[Field] = &[L, L, L, L, L, L, O, O, O, O, O, O, O, O, L, O];
const CODE_311: &[Field] = &[L, L, L, L, L, O, O, O, O, O, O, O, O, L, O, O];

impl CodeLayout {
    pub(crate) fn fields(self) -> &'static [Field] {
        match self {
            CodeLayout::Py39 => CODE_39,
            CodeLayout::Py311 => CODE_311,
        }
    }
}

/// What the magic number says of the interpreter that wrote a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PythonVersion {
    /// `(3, 13)`.
    pub version: (u8, u8),
    pub(crate) code: CodeLayout,
    /// Marshal version 5 (3.14) added slice objects (`TYPE_SLICE`).
    pub(crate) slices: bool,
}

/// The magic number each release writes (`Include/internal/pycore_magic_number.h`; the last
/// one of each minor version's alphas and betas). Only these are read: a pre-release's
/// marshal format may differ in ways this crate does not know (3.11's alphas moved fields of
/// the code object one by one), and a wrong guess would corrupt the file.
const RELEASES: &[(u16, (u8, u8))] = &[
    (3425, (3, 9)),
    (3439, (3, 10)),
    (3495, (3, 11)),
    (3531, (3, 12)),
    (3571, (3, 13)),
    (3627, (3, 14)),
];

/// The version of the CPython that wrote `pyc`, from its header; also checks the flags.
pub fn python_version(pyc: &[u8]) -> Result<PythonVersion, PycError> {
    let Some(header) = pyc.get(..HEADER_LEN) else {
        return Err(PycError::TooShort { len: pyc.len() });
    };
    let bytes = [header[0], header[1], header[2], header[3]];
    let magic = u16::from_le_bytes([bytes[0], bytes[1]]);
    let version = RELEASES
        .iter()
        .find(|(m, _)| *m == magic && bytes[2..] == *b"\r\n")
        .map(|(_, v)| *v)
        .ok_or(PycError::UnsupportedVersion { magic, bytes })?;
    let flags = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    if flags & !0b11 != 0 {
        return Err(PycError::BadFlags { flags });
    }
    Ok(PythonVersion {
        version,
        code: match version {
            (3, 9) | (3, 10) => CodeLayout::Py39,
            _ => CodeLayout::Py311,
        },
        slices: version >= (3, 14),
    })
}
