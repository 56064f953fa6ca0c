//! What the loader reads from an ELF file: its soname, `DT_NEEDED` entries and search paths.

use goblin::container::{Container, Ctx, Endian};
use goblin::elf::program_header::ProgramHeader;
use goblin::elf::{Dynamic, Elf, dynamic, header};
use goblin::strtab::Strtab;

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

/// The dynamic facts of a loadable object (`ET_DYN` or `ET_EXEC`) for `machine`; `None` for any
/// other file (not ELF, another machine or class, relocatable `.o`, core dump).
///
/// Only the header, the program headers, `PT_DYNAMIC` and its string table are read — not the
/// symbol tables or relocations, which are most of a large library.
pub(crate) fn parse(bytes: &[u8], machine: Machine) -> Result<Option<Object>, String> {
    if !is_target_elf(bytes, machine) {
        return Ok(None);
    }
    let header = Elf::parse_header(bytes).map_err(|e| e.to_string())?;
    if header.e_type != header::ET_DYN && header.e_type != header::ET_EXEC {
        return Ok(None);
    }
    let ctx = Ctx::new(Container::Big, Endian::Little);
    let phdrs = ProgramHeader::parse(bytes, header.e_phoff as usize, header.e_phnum as usize, ctx)
        .map_err(|e| format!("program headers: {e}"))?;
    // A static executable has no dynamic section, hence nothing to resolve.
    let Some(dynamic) =
        Dynamic::parse(bytes, &phdrs, ctx).map_err(|e| format!("dynamic section: {e}"))?
    else {
        return Ok(Some(Object::default()));
    };
    // `DynamicInfo` has already mapped DT_STRTAB's address to a file offset.
    let strtab = Strtab::parse(bytes, dynamic.info.strtab, dynamic.info.strsz, 0)
        .map_err(|e| format!("dynamic string table: {e}"))?;
    let string = |value: u64, tag: &str| {
        usize::try_from(value)
            .ok()
            .and_then(|offset| strtab.get_at(offset))
            .map(str::to_string)
            .ok_or_else(|| format!("{tag} points outside the dynamic string table"))
    };
    let mut object = Object::default();
    for entry in &dynamic.dyns {
        match entry.d_tag {
            dynamic::DT_NEEDED => object.needed.push(string(entry.d_val, "DT_NEEDED")?),
            dynamic::DT_SONAME => object.soname = Some(string(entry.d_val, "DT_SONAME")?),
            dynamic::DT_RPATH => object
                .rpath
                .extend(split_path(&string(entry.d_val, "DT_RPATH")?)),
            dynamic::DT_RUNPATH => object
                .runpath
                .extend(split_path(&string(entry.d_val, "DT_RUNPATH")?)),
            _ => {}
        }
    }
    if !object.runpath.is_empty() {
        object.rpath.clear();
    }
    Ok(Some(object))
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
        assert_eq!(parse(b"import os\n", Machine::X86_64), Ok(None));
        assert_eq!(parse(b"\x7fELF", Machine::X86_64), Ok(None));
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

    #[test]
    fn splits_search_paths() {
        let parts: Vec<String> = split_path("$ORIGIN/../x.libs::/opt/lib").collect();
        assert_eq!(parts, ["$ORIGIN/../x.libs", "/opt/lib"]);
    }
}
