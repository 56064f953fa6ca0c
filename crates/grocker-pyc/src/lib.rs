//! Canonical `.pyc` files: the same source and interpreter give the same bytes, whatever state
//! the interpreter that compiled them was in.
//!
//! Grocker writes bytecode into two kinds of layer: the standard library of a CPython it builds
//! from source (`grocker-builder`'s `build_cpython`), and an image's packages with
//! `--compile-bytecode` (`grocker-build`'s `bytecode`). Both are PEP 552 "unchecked hash"
//! files compiled with `PYTHONHASHSEED=0`, and still two builds differ: CPython's marshal sets
//! `FLAG_REF` on every object whose reference count is above one when it is written ("it may be
//! shared"), and a count depends on what else the interpreter holds — which modules it compiled
//! before, in which worker process. A flag also takes an index, so it shifts the index of every
//! later back-reference (`TYPE_REF`). Fedora's answer is `marshalparser --fix`; this is ours.
//!
//! [`canonicalize`] reads the 16-byte header and the marshal data (every type code CPython 3.9
//! to 3.14 reads, the code object of each version), keeps `FLAG_REF` only on the objects a
//! `TYPE_REF` names, and renumbers the references. One more bit depends on the process: whether
//! a string is written as interned. For a string the compiler made, that is its own decision;
//! but the empty string and the one-character Latin-1 strings are singletons, interned or not
//! by whatever ran before (3.9's `{` in pyparsing, with and without worker processes): those
//! are written as interned, always. The result is the same object for `marshal.loads` (the tests
//! load both with the host's Python and compare them), the same length, and a function of the
//! object graph alone. Anything else — another version's magic number, a truncated file, a
//! reference to nothing, nesting deeper than CPython's own limit — is a [`PycError`], never a
//! guess and never a panic.
//!
//! ```
//! // `marshal.dumps(("ab", "ab"))` where the string happened to be flagged: `FLAG_REF` on
//! // the tuple (no reference names it) and on "ab" (the second item refers to it).
//! let mut pyc = vec![0xf3, 0x0d, 0x0d, 0x0a, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
//! pyc.extend_from_slice(b"\xa9\x02\xda\x02abr\x01\x00\x00\x00");
//! let canonical = grocker_pyc::canonicalize(&pyc)?;
//! // The tuple loses its flag, the string keeps it and becomes reference 0.
//! assert_eq!(&canonical[16..], b")\x02\xda\x02abr\x00\x00\x00\x00");
//! assert_eq!(grocker_pyc::canonicalize(&canonical)?, canonical);
//! # Ok::<(), grocker_pyc::PycError>(())
//! ```
#![deny(missing_docs)]

pub use error::PycError;
pub use header::{HEADER_LEN, PythonVersion, python_version};

mod error;
mod header;
mod marshal;

/// `pyc` with `FLAG_REF` only on the objects a back-reference names, the references renumbered
/// in the order those objects start, and the singleton strings interned; everything else is
/// copied.
pub fn canonicalize(pyc: &[u8]) -> Result<Vec<u8>, PycError> {
    let version = python_version(pyc)?;
    let refs = marshal::scan(pyc, HEADER_LEN, version)?;
    let mut referenced = vec![false; refs.flagged.len()];
    for &(_, index) in &refs.refs {
        referenced[index] = true;
    }
    let mut out = pyc.to_vec();
    let mut renumbered = vec![0u32; refs.flagged.len()];
    // A new index is never above the old one, which the reader took as a 32-bit size.
    let mut next = 0u32;
    for (index, &offset) in refs.flagged.iter().enumerate() {
        if referenced[index] {
            renumbered[index] = next;
            next += 1;
        } else {
            out[offset] &= !marshal::FLAG_REF;
        }
    }
    for &offset in &refs.ignored {
        out[offset] &= !marshal::FLAG_REF;
    }
    for &offset in &refs.singletons {
        out[offset] = (out[offset] & marshal::FLAG_REF) | marshal::interned(out[offset]);
    }
    for &(at, index) in &refs.refs {
        out[at..at + 4].copy_from_slice(&renumbered[index].to_le_bytes());
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
