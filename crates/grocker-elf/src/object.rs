//! What the loader reads from an ELF file: its soname, `DT_NEEDED` entries and search paths.

use std::io::Read;

use goblin::elf::{dynamic, header, program_header};
use grocker_fs::Content;

use crate::Machine;

/// The dynamic-linking facts of one loadable ELF object.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Object {
    /// `DT_SONAME`.
    pub soname: Option<String>,
    /// `DT_NEEDED`, in order.
    pub needed: Vec<String>,
    /// `DT_RPATH` entries (already empty when the object also has `DT_RUNPATH`, which glibc then
    /// ignores: "If both RUNPATH and RPATH are given, the latter is ignored").
    pub rpath: Vec<String>,
    /// `DT_RUNPATH` entries.
    pub runpath: Vec<String>,
}

/// Whether `bytes` start like a 64-bit little-endian ELF file for `machine` (`e_ident` and
/// `e_machine`), without parsing anything: most files of a venv are not ELF at all.
pub(crate) fn is_target_elf(bytes: &[u8], machine: Machine) -> bool {
    const ELFCLASS64: u8 = 2;
    const ELFDATA2LSB: u8 = 1;
    bytes.len() >= 64
        && bytes.starts_with(b"\x7fELF")
        && bytes[4] == ELFCLASS64
        && bytes[5] == ELFDATA2LSB
        && u16::from_le_bytes([bytes[18], bytes[19]]) == machine.e_machine()
}

/// Why an object's facts could not be read.
#[derive(Debug)]
pub(crate) enum ParseError {
    /// The bytes are not what an ELF file must be.
    Malformed(String),
    /// The content could not be read back.
    Io(std::io::Error),
}

impl From<String> for ParseError {
    fn from(message: String) -> Self {
        ParseError::Malformed(message)
    }
}

/// The dynamic facts of a loadable object (`ET_DYN` or `ET_EXEC`) for `machine`; `None` for any
/// other file (not ELF, another machine or class, relocatable `.o`, core dump).
///
/// Only the header, the program headers, `PT_DYNAMIC` and its string table are read — not the
/// symbol tables or relocations, which are most of a large library — and only those byte
/// ranges are kept in memory, whatever the file's size (a content on disk is read as a
/// stream, see [`Ranges`]).
pub(crate) fn parse(content: &Content, machine: Machine) -> Result<Option<Object>, ParseError> {
    let mut file = Ranges::new(content);
    let header = file.read(0, 64)?;
    if !is_target_elf(&header, machine) {
        return Ok(None);
    }
    let u16_at = |b: &[u8], at: usize| u16::from_le_bytes([b[at], b[at + 1]]);
    let u32_at =
        |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap_or([0; 4]));
    let u64_at =
        |b: &[u8], at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap_or([0; 8]));
    let e_type = u16_at(&header, 16);
    if e_type != header::ET_DYN && e_type != header::ET_EXEC {
        return Ok(None);
    }
    let (phoff, phentsize, phnum) = (
        u64_at(&header, 32),
        u16_at(&header, 54) as u64,
        u16_at(&header, 56) as u64,
    );
    if phnum > 0 && phentsize < 56 {
        return Err(format!("program headers: entries of {phentsize} bytes").into());
    }
    let table = file.read(phoff, phentsize * phnum)?;
    // (p_type, p_offset, p_vaddr, p_filesz, p_memsz)
    let phdrs: Vec<(u32, u64, u64, u64, u64)> = table
        .chunks_exact(phentsize.max(1) as usize)
        .map(|p| {
            (
                u32_at(p, 0),
                u64_at(p, 8),
                u64_at(p, 16),
                u64_at(p, 32),
                u64_at(p, 40),
            )
        })
        .collect();
    // A static executable has no dynamic section, hence nothing to resolve.
    let Some(&(_, dyn_offset, _, dyn_size, _)) =
        phdrs.iter().find(|p| p.0 == program_header::PT_DYNAMIC)
    else {
        return Ok(Some(Object::default()));
    };
    let dynamic = file
        .read(dyn_offset, dyn_size)
        .map_err(|e| e.context("dynamic section"))?;
    let dyns: Vec<(u64, u64)> = dynamic
        .chunks_exact(16)
        .map(|d| (u64_at(d, 0), u64_at(d, 8)))
        .take_while(|(tag, _)| *tag != dynamic::DT_NULL)
        .collect();
    let value = |tag: u64| dyns.iter().find(|(t, _)| *t == tag).map(|(_, v)| *v);
    let (Some(strtab), Some(strsz)) = (value(dynamic::DT_STRTAB), value(dynamic::DT_STRSZ)) else {
        return Ok(Some(Object::default()));
    };
    // DT_STRTAB is an address: the PT_LOAD segment holding it says where it is in the file.
    let strtab_offset = phdrs
        .iter()
        .filter(|p| p.0 == program_header::PT_LOAD)
        .find(|p| strtab >= p.2 && strtab - p.2 < p.4)
        .map(|p| strtab - p.2 + p.1)
        .ok_or_else(|| format!("dynamic string table: address {strtab:#x} is in no segment"))?;
    let strings = file
        .read(strtab_offset, strsz)
        .map_err(|e| e.context("dynamic string table"))?;
    let string = |value: u64, tag: &str| {
        usize::try_from(value)
            .ok()
            .filter(|&at| at < strings.len())
            .map(|at| {
                let rest = &strings[at..];
                let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
                String::from_utf8_lossy(&rest[..end]).into_owned()
            })
            .ok_or_else(|| format!("{tag} points outside the dynamic string table"))
    };
    let mut object = Object::default();
    for &(tag, val) in &dyns {
        match tag {
            dynamic::DT_NEEDED => object.needed.push(string(val, "DT_NEEDED")?),
            dynamic::DT_SONAME => object.soname = Some(string(val, "DT_SONAME")?),
            dynamic::DT_RPATH => object.rpath.extend(split_path(&string(val, "DT_RPATH")?)),
            dynamic::DT_RUNPATH => object
                .runpath
                .extend(split_path(&string(val, "DT_RUNPATH")?)),
            _ => {}
        }
    }
    if !object.runpath.is_empty() {
        object.rpath.clear();
    }
    Ok(Some(object))
}

impl ParseError {
    fn context(self, what: &str) -> ParseError {
        match self {
            ParseError::Malformed(m) => ParseError::Malformed(format!("{what}: {m}")),
            io => io,
        }
    }
}

/// Byte ranges of a content read in any order. A content on disk is a stream (a deflated
/// member of a wheel cannot seek), so it is read forward, skipping what is not asked for, and
/// opened again only when a range lies before the current position — at most twice for the
/// ranges an ELF file needs.
struct Ranges<'c> {
    content: &'c Content,
    reader: Option<Box<dyn Read + Send + 'c>>,
    at: u64,
}

impl<'c> Ranges<'c> {
    fn new(content: &'c Content) -> Self {
        Ranges {
            content,
            reader: None,
            at: 0,
        }
    }

    /// `len` bytes from `offset`; a range past the end is malformed (or, at the header, a
    /// short file: fewer bytes).
    fn read(&mut self, offset: u64, len: u64) -> Result<Vec<u8>, ParseError> {
        let end = offset.checked_add(len).filter(|&e| e <= self.content.len());
        if offset == 0 && len == 64 {
            // The header probe: a file shorter than a header is simply not ELF.
            let len = len.min(self.content.len());
            return self.read_exact(0, len);
        }
        if end.is_none() {
            return Err(ParseError::Malformed(format!(
                "bytes {offset}..+{len} are past the end of the file ({} bytes)",
                self.content.len()
            )));
        }
        if let Some(data) = self.content.as_inline() {
            return Ok(data[offset as usize..(offset + len) as usize].to_vec());
        }
        self.read_exact(offset, len)
    }

    fn read_exact(&mut self, offset: u64, len: u64) -> Result<Vec<u8>, ParseError> {
        if let Some(data) = self.content.as_inline() {
            return Ok(data[offset as usize..(offset + len) as usize].to_vec());
        }
        if self.reader.is_none() || offset < self.at {
            self.reader = Some(self.content.open().map_err(ParseError::Io)?);
            self.at = 0;
        }
        let reader = self
            .reader
            .as_mut()
            .ok_or_else(|| "no reader".to_string())?;
        let skip = offset - self.at;
        let skipped =
            std::io::copy(&mut reader.take(skip), &mut std::io::sink()).map_err(ParseError::Io)?;
        let mut out = Vec::with_capacity(len as usize);
        reader
            .take(len)
            .read_to_end(&mut out)
            .map_err(ParseError::Io)?;
        self.at += skipped + out.len() as u64;
        if skipped != skip || out.len() as u64 != len {
            return Err(ParseError::Malformed("the file ends early".to_string()));
        }
        Ok(out)
    }
}

/// A colon-separated search path. Empty entries mean the current directory to the loader,
/// which nothing in an image can rely on, so they are dropped.
fn split_path(list: &str) -> impl Iterator<Item = String> + '_ {
    list.split(':')
        .filter(|entry| !entry.is_empty())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_what_is_not_a_target_object() {
        let parsed = |bytes: &'static [u8]| parse(&Content::inline(bytes), Machine::X86_64);
        assert!(matches!(parsed(b"import os\n"), Ok(None)));
        assert!(matches!(parsed(b"\x7fELF"), Ok(None)));
        let mut header = vec![0u8; 64];
        header[..4].copy_from_slice(b"\x7fELF");
        header[4] = 2;
        header[5] = 1;
        header[18] = 62; // EM_X86_64
        assert!(is_target_elf(&header, Machine::X86_64));
        assert!(!is_target_elf(&header, Machine::Aarch64));
        header[4] = 1; // ELFCLASS32
        assert!(!is_target_elf(&header, Machine::X86_64));
    }

    /// A real library, in memory and read back as a stream from the spool (where the dynamic
    /// section lies after the string table, so the stream is opened twice): the same facts.
    #[test]
    fn a_streamed_library_gives_the_same_facts() {
        let Ok(bytes) = fs_err::read("/usr/lib/x86_64-linux-gnu/libz.so.1") else {
            return; // not an x86-64 Debian host
        };
        let inline = parse(&Content::inline(bytes.clone()), Machine::X86_64).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let spool = grocker_fs::Spool::new_in(dir.path()).unwrap();
        let spooled = spool.add(&bytes[..]).unwrap();
        let streamed = parse(&spooled, Machine::X86_64).unwrap();
        assert_eq!(inline, streamed);
        let object = inline.unwrap();
        assert_eq!(object.soname.as_deref(), Some("libz.so.1"));
        assert_eq!(object.needed, ["libc.so.6"]);
    }

    #[test]
    fn splits_search_paths() {
        let parts: Vec<String> = split_path("$ORIGIN/../x.libs::/opt/lib").collect();
        assert_eq!(parts, ["$ORIGIN/../x.libs", "/opt/lib"]);
    }
}
