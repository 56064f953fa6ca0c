//! A walk over marshal data (CPython's `Python/marshal.c`, versions 4 and 5) that finds where
//! each object starts, which carry `FLAG_REF` and what each `TYPE_REF` names; values are
//! skipped over, not decoded. The walk keeps its own stack, so hostile nesting costs heap,
//! bounded by CPython's own depth limit, never the thread's stack.

use crate::PycError;
use crate::header::{Field, PythonVersion};

/// CPython's `MAX_MARSHAL_STACK_DEPTH` off Windows: the deepest object its writer emits (the
/// top-level object is at depth 1).
const MAX_DEPTH: usize = 2000;

/// `FLAG_REF`: "with a type, add obj to index".
pub(crate) const FLAG_REF: u8 = 0x80;

/// Where the references of marshal data are.
#[derive(Debug, Default)]
pub(crate) struct Refs {
    /// The offset of the type byte of each object the reader adds to its reference list, in
    /// the order it adds them, which is the index a `TYPE_REF` names.
    pub flagged: Vec<usize>,
    /// Each `TYPE_REF`: the offset of its 32-bit index, and the index.
    pub refs: Vec<(usize, usize)>,
    /// Type bytes that carry `FLAG_REF` where CPython's reader ignores it (`None`, `True`, …, a
    /// `TYPE_REF` itself): no index is reserved for them.
    pub ignored: Vec<usize>,
    /// Type bytes of strings written as not interned that are one of CPython's singletons (the
    /// empty string, the 256 one-character Latin-1 strings): whether one is interned is a
    /// matter of what the process did before, not of the code.
    pub singletons: Vec<usize>,
}

/// An object whose contents are still to be read.
enum Frame {
    /// Tuples, lists, sets, frozensets, and a slice's start, stop and step.
    Items { left: usize, index: Option<usize> },
    /// Key-value pairs up to a `TYPE_NULL` key.
    Dict {
        value_next: bool,
        index: Option<usize>,
    },
    /// A code object's fields.
    Code {
        fields: &'static [Field],
        next: usize,
        index: Option<usize>,
    },
}

impl Frame {
    fn index(&self) -> Option<usize> {
        match self {
            Frame::Items { index, .. } | Frame::Dict { index, .. } | Frame::Code { index, .. } => {
                *index
            }
        }
    }
}

/// What the reader does next inside the innermost open object.
enum Next {
    Close,
    Long,
    Object,
    DictKey,
}

/// What reading an object's start gave.
enum Started {
    /// The whole object was read.
    Done,
    /// `TYPE_NULL`.
    Null,
    /// Its contents follow.
    Open(Frame),
}

struct Walk<'a> {
    data: &'a [u8],
    pos: usize,
    version: PythonVersion,
    out: Refs,
    /// Per flagged object: whether it has been read to its end (a reference to one that has
    /// not is a cycle).
    complete: Vec<bool>,
}

/// Walks the one object that starts at `start` and must end at the end of `data`.
pub(crate) fn scan(data: &[u8], start: usize, version: PythonVersion) -> Result<Refs, PycError> {
    let mut walk = Walk {
        data,
        pos: start,
        version,
        out: Refs::default(),
        complete: Vec::new(),
    };
    let mut stack: Vec<Frame> = Vec::new();
    match walk.start(1)? {
        Started::Done => {}
        Started::Null => return Err(PycError::Null { offset: start }),
        Started::Open(frame) => stack.push(frame),
    }
    while let Some(top) = stack.last_mut() {
        let next = match top {
            Frame::Items { left: 0, .. } => Next::Close,
            Frame::Items { left, .. } => {
                *left -= 1;
                Next::Object
            }
            Frame::Dict { value_next, .. } => {
                let value = *value_next;
                *value_next = !value;
                if value { Next::Object } else { Next::DictKey }
            }
            Frame::Code { fields, next, .. } => match fields.get(*next) {
                None => Next::Close,
                Some(field) => {
                    *next += 1;
                    match field {
                        Field::Long => Next::Long,
                        Field::Object => Next::Object,
                    }
                }
            },
        };
        match next {
            Next::Close => walk.close(&mut stack),
            Next::Long => {
                walk.take(4)?;
            }
            Next::Object | Next::DictKey => {
                let offset = walk.pos;
                match walk.start(stack.len() + 1)? {
                    Started::Done => {}
                    Started::Null if matches!(next, Next::DictKey) => walk.close(&mut stack),
                    Started::Null => return Err(PycError::Null { offset }),
                    Started::Open(frame) => stack.push(frame),
                }
            }
        }
    }
    if walk.pos != data.len() {
        return Err(PycError::Trailing {
            offset: walk.pos,
            len: data.len() - walk.pos,
        });
    }
    Ok(walk.out)
}

impl Walk<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], PycError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|end| *end <= self.data.len())
            .ok_or(PycError::Truncated {
                offset: self.pos,
                wanted: n,
            })?;
        let bytes = &self.data[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    fn byte(&mut self) -> Result<u8, PycError> {
        Ok(self.take(1)?[0])
    }

    fn long(&mut self) -> Result<i32, PycError> {
        let b = self.take(4)?;
        Ok(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A 32-bit size, which CPython's reader wants in `0..=0x7fffffff`.
    fn size(&mut self) -> Result<usize, PycError> {
        let offset = self.pos;
        let size = self.long()?;
        usize::try_from(size).map_err(|_| PycError::BadSize {
            offset,
            size: size.into(),
        })
    }

    /// The text form of a float (`TYPE_FLOAT`, `TYPE_COMPLEX`): a length byte, then the text.
    fn short_string(&mut self) -> Result<(), PycError> {
        let n = self.byte()?;
        self.take(n.into())?;
        Ok(())
    }

    fn close(&mut self, stack: &mut Vec<Frame>) {
        if let Some(index) = stack.pop().and_then(|frame| frame.index()) {
            self.complete[index] = true;
        }
    }

    /// Reads the start of the object at `self.pos`, `depth` levels down, and all of it if it
    /// contains no other object.
    fn start(&mut self, depth: usize) -> Result<Started, PycError> {
        let offset = self.pos;
        if depth > MAX_DEPTH {
            return Err(PycError::TooDeep {
                offset,
                limit: MAX_DEPTH,
            });
        }
        let code = self.byte()?;
        let flagged = code & FLAG_REF != 0;
        let kind = code & !FLAG_REF;
        // The objects the reader returns without `R_REF`: the flag, if any, reserves nothing.
        if matches!(kind, b'0' | b'N' | b'F' | b'T' | b'S' | b'.' | b'r') {
            if flagged {
                self.out.ignored.push(offset);
            }
            return match kind {
                b'0' => Ok(Started::Null),
                b'r' => self.reference(offset).map(|()| Started::Done),
                _ => Ok(Started::Done),
            };
        }
        if !self.known(kind) {
            return Err(PycError::UnknownType { offset, code: kind });
        }
        // Every other object takes the next index when flagged, before its contents (tuples,
        // lists, dicts and sets are created first, frozensets, code objects and slices reserve
        // theirs): the indices follow the order objects start in.
        let index = flagged.then(|| {
            self.out.flagged.push(offset);
            self.complete.push(false);
            self.out.flagged.len() - 1
        });
        let open = match kind {
            b'(' | b'[' | b'<' | b'>' => Frame::Items {
                left: self.size()?,
                index,
            },
            b')' => Frame::Items {
                left: self.byte()?.into(),
                index,
            },
            b':' => Frame::Items { left: 3, index },
            b'{' => Frame::Dict {
                value_next: false,
                index,
            },
            b'c' => Frame::Code {
                fields: self.version.code.fields(),
                next: 0,
                index,
            },
            _ => {
                self.scalar(kind)?;
                if matches!(kind, b'z' | b'a' | b'u') && is_singleton(&self.data[offset..self.pos])
                {
                    self.out.singletons.push(offset);
                }
                if let Some(index) = index {
                    self.complete[index] = true;
                }
                return Ok(Started::Done);
            }
        };
        Ok(Started::Open(open))
    }

    /// The type codes this version's reader accepts, besides the singletons and `TYPE_REF`.
    fn known(&self, kind: u8) -> bool {
        match kind {
            b'i' | b'I' | b'g' | b'y' | b'f' | b'x' | b'l' => true,
            b's' | b't' | b'u' | b'a' | b'A' | b'z' | b'Z' => true,
            b'(' | b')' | b'[' | b'{' | b'<' | b'>' | b'c' => true,
            b':' => self.version.slices,
            _ => false,
        }
    }

    /// Skips a number, bytes or string object after its type byte.
    fn scalar(&mut self, kind: u8) -> Result<(), PycError> {
        match kind {
            b'i' => self.take(4).map(drop),
            // `TYPE_INT64`: no longer written, still read.
            b'I' | b'g' => self.take(8).map(drop),
            b'y' => self.take(16).map(drop),
            b'f' => self.short_string(),
            b'x' => {
                self.short_string()?;
                self.short_string()
            }
            b'l' => {
                // The digit count, negative for a negative number, then 15-bit digits.
                let offset = self.pos;
                let n = self.long()?;
                if n == i32::MIN {
                    return Err(PycError::BadSize {
                        offset,
                        size: n.into(),
                    });
                }
                self.take(2 * n.unsigned_abs() as usize).map(drop)
            }
            b'z' | b'Z' => {
                let n = self.byte()?;
                self.take(n.into()).map(drop)
            }
            _ => {
                let n = self.size()?;
                self.take(n).map(drop)
            }
        }
    }

    /// A `TYPE_REF` whose type byte is at `offset`: the index of an object read before.
    fn reference(&mut self, offset: usize) -> Result<(), PycError> {
        let at = self.pos;
        let raw = self.long()?;
        let count = self.out.flagged.len();
        let index =
            usize::try_from(raw)
                .ok()
                .filter(|i| *i < count)
                .ok_or(PycError::BadReference {
                    offset,
                    index: raw.into(),
                    count,
                })?;
        if !self.complete[index] {
            return Err(PycError::Cycle { offset, index });
        }
        self.out.refs.push((at, index));
        Ok(())
    }
}

/// Whether `object` (a whole string object: type byte, size, characters) is one of the strings
/// CPython keeps one object of: the empty string and each character from U+0000 to U+00FF.
fn is_singleton(object: &[u8]) -> bool {
    let text = match object.first().map(|b| b & !FLAG_REF) {
        Some(b'Z' | b'z') => &object[2..],
        Some(_) if object.len() >= 5 => &object[5..],
        _ => return false,
    };
    match text {
        [] | [0..=0x7f] => true,
        // UTF-8 (`TYPE_UNICODE`) of U+0080 to U+00FF.
        [0xc2 | 0xc3, 0x80..=0xbf] => true,
        _ => false,
    }
}

/// The type code of the same string, interned: `Z` for `z`, `A` for `a`, `t` for `u`.
pub(crate) fn interned(code: u8) -> u8 {
    match code & !FLAG_REF {
        b'z' => b'Z',
        b'a' => b'A',
        b'u' => b't',
        other => other,
    }
}
