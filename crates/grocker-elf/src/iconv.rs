//! Whether an ELF file may need glibc's gconv modules: the charset converters `iconv_open(3)`
//! loads from `/usr/lib/<triplet>/gconv/` at run time, which no `DT_NEEDED` names. Python never
//! uses them (its codecs are its own); C libraries that convert charsets do (libxml2, glib,
//! libidn2…), and so do extension modules built on them.

use std::io::Read;

use grocker_fs::Content;

/// The symbol every iconv user goes through.
const ICONV_OPEN: &[u8] = b"iconv_open\0";

/// Whether `bytes` are an ELF file that names `iconv_open` in its string tables — as an import,
/// or for `dlsym`. A string search over the whole file: cheaper than parsing the symbol tables,
/// and it errs only towards "yes" (a file that merely mentions the name), which costs an image
/// the modules, never a working `iconv_open`. `libiconv_open` is GNU libiconv's, which wheels
/// such as lxml's bundle with its own tables; a name that merely ends the same way
/// (`rpl_iconv_open`, gnulib's wrapper around glibc's) counts, since linkers may share the tail.
///
/// The content is streamed through in blocks, so a file of any size costs one block of memory.
pub fn calls_iconv(content: &Content) -> std::io::Result<bool> {
    if let Some(bytes) = content.as_inline() {
        return Ok(found(bytes, true));
    }
    if !content.head(4)?.starts_with(b"\x7fELF") {
        return Ok(false);
    }
    // Each window starts with the tail of the one before, long enough to hold a whole match
    // and the three bytes before it; a match starting in that tail was judged already.
    const CARRY: usize = ICONV_OPEN.len() + 2;
    let mut reader = content.open()?;
    let mut window = vec![0u8; CARRY + (1 << 20)];
    let (mut kept, mut first) = (0, true);
    loop {
        let n = reader.read(&mut window[kept..])?;
        if n == 0 {
            return Ok(false);
        }
        let filled = kept + n;
        if found(&window[..filled], first) {
            return Ok(true);
        }
        let tail = filled.saturating_sub(CARRY);
        window.copy_within(tail..filled, 0);
        kept = filled - tail;
        first = false;
    }
}

/// Whether `bytes` hold the name, not as `libiconv_open`. `at_start`: `bytes` start the file
/// (else a match in the first three bytes was judged with the window before).
fn found(bytes: &[u8], at_start: bool) -> bool {
    (!at_start || bytes.starts_with(b"\x7fELF"))
        && memchr::memmem::find_iter(bytes, ICONV_OPEN).any(|at| match at < 3 {
            true => at_start,
            false => &bytes[at - 3..at] != b"lib",
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn calls_iconv(bytes: &[u8]) -> bool {
        let inline = super::calls_iconv(&Content::inline(bytes.to_vec())).unwrap();
        // The same verdict streamed from a spool, with the name across two windows or not.
        let dir = tempfile::tempdir().unwrap();
        let spool = grocker_fs::Spool::new_in(dir.path()).unwrap();
        for pad in [0, (1 << 20) - 20, (1 << 20) - 6] {
            let mut padded = bytes.to_vec();
            if bytes.starts_with(b"\x7fELF") {
                padded.splice(8..8, std::iter::repeat_n(b'x', pad));
            }
            let spooled = spool.add(&padded[..]).unwrap();
            assert_eq!(super::calls_iconv(&spooled).unwrap(), inline, "pad {pad}");
        }
        inline
    }

    #[test]
    fn finds_the_symbol_in_elf_files_only() {
        let mut elf = b"\x7fELF\x02\x01\x01".to_vec();
        elf.extend_from_slice(&[0; 64]);
        assert!(!calls_iconv(&elf));
        elf.extend_from_slice(b"\0iconv\0iconv_open\0iconv_close\0");
        assert!(calls_iconv(&elf));
        assert!(!calls_iconv(b"import codecs  # iconv_open\0"));
        // A longer name that starts the same is another symbol; GNU libiconv's is not glibc's.
        let mut other = b"\x7fELF\x02\x01\x01\0".to_vec();
        other.extend_from_slice(b"my_iconv_opener\0libiconv_open\0");
        assert!(!calls_iconv(&other));
        // gnulib's wrapper, whose name may hold glibc's as its tail.
        other.extend_from_slice(b"rpl_iconv_open\0");
        assert!(calls_iconv(&other));
    }

    #[test]
    fn agrees_with_the_host_libraries() {
        // glibc itself defines iconv_open; the Python interpreter does not use it.
        for (path, expected) in [
            ("/usr/lib/x86_64-linux-gnu/libc.so.6", true),
            ("/usr/lib/x86_64-linux-gnu/libz.so.1", false),
        ] {
            if let Ok(bytes) = fs_err::read(path) {
                assert_eq!(calls_iconv(&bytes), expected, "{path}");
            }
        }
    }
}
