//! Reading the inputs: x86_64 `MH_OBJECT` files and archives of them, with the `object` crate.
//! Everything the link needs is copied out into plain structs, so the rest of the linker never
//! touches the raw file again.

use object::macho::{self, MachHeader64, RelocationInfo};
use object::read::archive::ArchiveFile;
use object::read::macho::{LoadCommandVariant, MachHeader, Nlist, Section as _, Segment as _};
use object::{Endian, Endianness, FileKind};

use crate::error::Error;

/// The position of a file on the command line (and of a member in its archive): ld64 orders
/// atoms by this "file ordinal" (passes/order.cpp `Layout::Comparer::operator()`: "sort by .o
/// order"), archive members by their index in the archive
/// (parsers/archive_file.cpp `archiveOrdinalWithMemberIndex`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ordinal {
    pub argument: usize,
    pub member: usize,
}

#[derive(Clone, Debug)]
pub struct Section {
    pub segname: String,
    pub sectname: String,
    pub addr: u64,
    pub size: u64,
    /// Power of two.
    pub align: u32,
    pub flags: u32,
    /// Empty for zero-fill sections.
    pub data: Vec<u8>,
    pub relocs: Vec<RelocationInfo>,
}

impl Section {
    pub fn section_type(&self) -> u32 {
        self.flags & macho::SECTION_TYPE
    }

    pub fn is_zerofill(&self) -> bool {
        matches!(self.section_type(), macho::S_ZEROFILL | macho::S_GB_ZEROFILL)
    }

    pub fn is_debug(&self) -> bool {
        self.flags & macho::S_ATTR_DEBUG != 0
    }

    pub fn contains(&self, addr: u64) -> bool {
        self.addr <= addr && addr < self.addr + self.size
    }
}

#[derive(Clone, Debug)]
pub struct Symbol {
    pub name: String,
    pub n_type: u8,
    /// 1-based section number, 0 for none.
    pub n_sect: u8,
    pub n_desc: u16,
    pub n_value: u64,
}

impl Symbol {
    pub fn is_stab(&self) -> bool {
        self.n_type & macho::N_STAB != 0
    }

    pub fn kind(&self) -> u8 {
        self.n_type & macho::N_TYPE
    }

    pub fn is_external(&self) -> bool {
        self.n_type & macho::N_EXT != 0
    }

    pub fn is_private_extern(&self) -> bool {
        self.n_type & macho::N_PEXT != 0
    }

    pub fn is_defined(&self) -> bool {
        !self.is_stab() && matches!(self.kind(), macho::N_SECT | macho::N_ABS)
    }

    /// An external undefined symbol with a nonzero value is a tentative (common) definition.
    pub fn is_common(&self) -> bool {
        !self.is_stab() && self.kind() == macho::N_UNDF && self.is_external() && self.n_value != 0
    }

    pub fn is_undefined(&self) -> bool {
        !self.is_stab() && self.kind() == macho::N_UNDF && self.n_value == 0
    }

    pub fn is_weak_def(&self) -> bool {
        self.n_desc & macho::N_WEAK_DEF != 0
    }

    /// `.weak_def_can_be_hidden`: N_WEAK_DEF together with N_WEAK_REF on a definition
    /// (ld64 parsers/macho_relocatable_file.cpp `Parser<A>::autoHideFromSymbol`).
    pub fn is_auto_hide(&self) -> bool {
        self.is_defined() && self.is_external() && self.is_weak_def() && self.n_desc & macho::N_WEAK_REF != 0
    }
}

/// One Mach-O object, standalone or an archive member.
#[derive(Clone, Debug)]
pub struct Object {
    /// For messages: `path` or `path(member)`.
    pub name: String,
    /// What the debug map (N_OSO) records: the object's path, or `archive(member)`.
    pub oso_path: String,
    /// Modification time for N_OSO (the file's, or the archive member header's).
    pub mtime: u64,
    pub ordinal: Ordinal,
    pub cpusubtype: u32,
    /// `MH_SUBSECTIONS_VIA_SYMBOLS`: symbols start atoms.
    pub subsections_via_symbols: bool,
    /// Index i is Mach-O section number i + 1.
    pub sections: Vec<Section>,
    /// In nlist order (relocations refer to symbols by this index).
    pub symbols: Vec<Symbol>,
}

impl Object {
    /// The section a 1-based section number names.
    pub fn section(&self, n_sect: u32) -> Option<&Section> {
        (n_sect as usize).checked_sub(1).and_then(|i| self.sections.get(i))
    }

    pub fn find_section(&self, segname: &str, sectname: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.segname == segname && s.sectname == sectname)
    }
}

/// An archive: its members (already parsed) and its table of contents.
#[derive(Debug)]
pub struct Archive {
    pub name: String,
    pub members: Vec<Object>,
    /// Symbol name → member index; the first entry wins, as ld64's
    /// `archive::File<A>::buildHashTable` ("those earliest in the list will be found").
    pub toc: std::collections::HashMap<String, usize>,
}

pub enum Input {
    Object(Object),
    Archive(Archive),
}

fn mtime_of(path: &str) -> u64 {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs())
}

fn absolute(path: &str) -> String {
    match std::path::absolute(path) {
        Ok(p) => p.to_string_lossy().into_owned(),
        Err(_) => path.to_string(),
    }
}

/// Reads one command-line input.
pub fn read_input(path: &str, argument: usize) -> Result<Input, Error> {
    let data = std::fs::read(path).map_err(|e| Error::new(format!("{path}: {e}")))?;
    read_input_bytes(path, &data, argument, mtime_of(path))
}

pub fn read_input_bytes(path: &str, data: &[u8], argument: usize, mtime: u64) -> Result<Input, Error> {
    let kind = FileKind::parse(data).map_err(|e| Error::new(format!("{path}: {e}")))?;
    match kind {
        FileKind::MachO64 => {
            let ordinal = Ordinal { argument, member: 0 };
            Ok(Input::Object(read_object(path, &absolute(path), data, ordinal, mtime)?))
        }
        FileKind::Archive => read_archive(path, data, argument).map(Input::Archive),
        FileKind::MachOFat32 | FileKind::MachOFat64 => Err(Error::new(format!(
            "{path}: universal (fat) file: give kextld the x86_64 slice (lipo -thin x86_64)"
        ))),
        other => Err(Error::new(format!("{path}: not a 64-bit Mach-O object or archive ({other:?})"))),
    }
}

fn read_archive(path: &str, data: &[u8], argument: usize) -> Result<Archive, Error> {
    let err = |e: object::Error| Error::new(format!("{path}: {e}"));
    let archive = ArchiveFile::parse(data).map_err(err)?;
    let abs = absolute(path);
    let mut members = Vec::new();
    let mut offsets = std::collections::HashMap::new();
    for member in archive.members() {
        let member = member.map_err(err)?;
        let member_name = String::from_utf8_lossy(member.name()).into_owned();
        if member_name.starts_with("__.SYMDEF") {
            continue;
        }
        let bytes = member.data(data).map_err(|e| Error::new(format!("{path}({member_name}): {e}")))?;
        let name = format!("{path}({member_name})");
        let ordinal = Ordinal { argument, member: members.len() + 1 };
        let object = read_object(&name, &format!("{abs}({member_name})"), bytes, ordinal, member.date().unwrap_or(0))?;
        offsets.insert(member.file_range().0, members.len());
        members.push(object);
    }
    // ld64 links archive members only through the table of contents
    // (parsers/archive_file.cpp: `throw "archive has no table of contents"`).
    let symbols = archive
        .symbols()
        .map_err(err)?
        .ok_or_else(|| Error::new(format!("{path}: archive has no table of contents (run ranlib on it)")))?;
    let mut toc = std::collections::HashMap::new();
    for symbol in symbols {
        let symbol = symbol.map_err(err)?;
        let name = String::from_utf8_lossy(symbol.name()).into_owned();
        // The TOC names the member by the offset of its header.
        let header_offset = symbol.offset().0;
        let member = archive
            .member(symbol.offset())
            .map_err(err)?;
        let index = offsets.get(&member.file_range().0).copied().ok_or_else(|| {
            Error::new(format!("{path}: table of contents entry {name} points at no member (offset {header_offset})"))
        })?;
        toc.entry(name).or_insert(index);
    }
    Ok(Archive { name: path.to_string(), members, toc })
}

fn read_object(name: &str, oso_path: &str, data: &[u8], ordinal: Ordinal, mtime: u64) -> Result<Object, Error> {
    let err = |e: object::Error| Error::new(format!("{name}: {e}"));
    let header = MachHeader64::<Endianness>::parse(data, 0).map_err(err)?;
    let endian = header.endian().map_err(err)?;
    if !endian.is_little_endian() {
        return Err(Error::new(format!("{name}: big-endian Mach-O")));
    }
    if header.cputype(endian) != macho::CPU_TYPE_X86_64 {
        return Err(Error::new(format!(
            "{name}: cputype {:#x}, not x86_64: kextld links x86_64 kexts only",
            header.cputype(endian)
        )));
    }
    if header.filetype(endian) != macho::MH_OBJECT {
        return Err(Error::new(format!(
            "{name}: filetype {}, not MH_OBJECT: kextld links relocatable objects and archives of them",
            header.filetype(endian)
        )));
    }
    let mut sections = Vec::new();
    let mut symbols = Vec::new();
    let mut commands = header.load_commands(endian, data, 0).map_err(err)?;
    while let Some(command) = commands.next().map_err(err)? {
        match command.variant().map_err(err)? {
            LoadCommandVariant::Segment64(segment, section_data) => {
                for section in segment.sections(endian, section_data).map_err(err)? {
                    let segname = String::from_utf8_lossy(section.segment_name()).into_owned();
                    let sectname = String::from_utf8_lossy(section.name()).into_owned();
                    let flags = section.flags(endian);
                    let zerofill = matches!(flags & macho::SECTION_TYPE, macho::S_ZEROFILL | macho::S_GB_ZEROFILL);
                    let bytes = if zerofill { Vec::new() } else { section.data(endian, data).map_err(|()| Error::new(format!("{name}: section data outside the file")))?.to_vec() };
                    let relocs = section.relocations(endian, data).map_err(err)?.iter().map(|r| r.info(endian)).collect();
                    sections.push(Section {
                        segname,
                        sectname,
                        addr: section.addr(endian),
                        size: section.size(endian),
                        align: section.align(endian),
                        flags,
                        data: bytes,
                        relocs,
                    });
                }
            }
            LoadCommandVariant::Symtab(symtab) => {
                let table = symtab.symbols::<MachHeader64<Endianness>, _>(endian, data).map_err(err)?;
                let strings = table.strings();
                for nlist in table.iter() {
                    let name = nlist.name(endian, strings).map_err(err)?;
                    symbols.push(Symbol {
                        name: String::from_utf8_lossy(name).into_owned(),
                        n_type: nlist.n_type(),
                        n_sect: nlist.n_sect(),
                        n_desc: nlist.n_desc(endian),
                        n_value: nlist.n_value(endian),
                    });
                }
            }
            _ => {}
        }
    }
    Ok(Object {
        name: name.to_string(),
        oso_path: oso_path.to_string(),
        mtime,
        ordinal,
        cpusubtype: header.cpusubtype(endian),
        subsections_via_symbols: header.flags(endian) & macho::MH_SUBSECTIONS_VIA_SYMBOLS != 0,
        sections,
        symbols,
    })
}
