/// Why a `.pyc` file cannot be made canonical. Offsets count from the start of the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PycError {
    /// Shorter than the 16-byte header PEP 552 defines.
    #[error("not a .pyc file: {len} bytes, shorter than the 16-byte header")]
    TooShort {
        /// The file's length.
        len: usize,
    },
    /// The magic number is not one a CPython release this crate reads writes. Files of
    /// another Python (an alpha, a newer release) are refused rather than read by guesswork.
    #[error(
        "the .pyc magic number {magic} (bytes {bytes:02x?}) is not that of a CPython release \
         from 3.9 to 3.14"
    )]
    UnsupportedVersion {
        /// The little-endian number before `\r\n`.
        magic: u16,
        /// The first four bytes as found.
        bytes: [u8; 4],
    },
    /// Header flags other than PEP 552's two bits (hash-based, check-source); importlib
    /// refuses such a file too.
    #[error("the .pyc header flags are {flags:#x}: PEP 552 defines only bits 0 and 1")]
    BadFlags {
        /// The header's flags word.
        flags: u32,
    },
    /// The data ends inside an object.
    #[error("marshal data truncated at offset {offset}: {wanted} more bytes expected")]
    Truncated {
        /// Where the missing bytes should start.
        offset: usize,
        /// How many were expected there.
        wanted: usize,
    },
    /// A type code this Python's marshal does not read.
    #[error("unknown marshal type code {code:#04x} at offset {offset}")]
    UnknownType {
        /// Where the type byte is.
        offset: usize,
        /// The byte, with `FLAG_REF` cleared.
        code: u8,
    },
    /// A size outside `0..=0x7fffffff`, as CPython's reader refuses.
    #[error("marshal size {size} out of range at offset {offset}")]
    BadSize {
        /// Where the size field is.
        offset: usize,
        /// The size read.
        size: i64,
    },
    /// A back-reference to an object not (yet) flagged for reference.
    #[error(
        "invalid marshal reference at offset {offset}: index {index}, but only {count} objects \
         are flagged before it"
    )]
    BadReference {
        /// Where the `TYPE_REF` byte is.
        offset: usize,
        /// The index it names.
        index: i64,
        /// How many flagged objects precede it.
        count: usize,
    },
    /// A back-reference to an object that contains it: a cycle, which no code object has and
    /// CPython refuses for tuples of code.
    #[error("marshal reference at offset {offset} to object {index}, which contains it (a cycle)")]
    Cycle {
        /// Where the `TYPE_REF` byte is.
        offset: usize,
        /// The index it names.
        index: usize,
    },
    /// Nested deeper than CPython writes or reads (2000 levels).
    #[error("marshal data nested deeper than {limit} levels at offset {offset}")]
    TooDeep {
        /// Where the object that went too deep starts.
        offset: usize,
        /// CPython's limit.
        limit: usize,
    },
    /// A `TYPE_NULL` anywhere but where it ends a dict.
    #[error("marshal NULL object at offset {offset} outside the end of a dict")]
    Null {
        /// Where it is.
        offset: usize,
    },
    /// Bytes after the top-level object: CPython writes none.
    #[error("{len} bytes after the end of the marshal data at offset {offset}")]
    Trailing {
        /// Where the first extra byte is.
        offset: usize,
        /// How many there are.
        len: usize,
    },
}
