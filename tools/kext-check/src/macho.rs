//! Reads the Mach-O files the checks look at: an archive (`.a`), an object, a linked bundle, or a
//! universal file (one architecture is picked). Everything the checks need is copied out here.

use object::macho;
use object::read::archive::ArchiveFile;
use object::read::macho::{FatArch, LoadCommandVariant, MachHeader, MachOFatFile32, MachOFile64};
use object::{Endianness, FileKind, Object, ObjectSection, ObjectSymbol, SectionFlags};

use crate::arch::Arch;

pub struct Symbol {
    pub name: String,
    pub defined: bool,
    pub external: bool,
    /// Index into `Member::sections` (defined symbols only).
    pub section: Option<usize>,
    pub address: u64,
}

pub struct Section {
    pub segment: String,
    pub name: String,
    pub address: u64,
    pub size: u64,
    /// Empty for zero-fill sections.
    pub data: Vec<u8>,
    pub has_instructions: bool,
}

/// One Mach-O image: an archive member, or the whole file.
pub struct Member {
    pub name: String,
    pub file_type: u32,
    pub cpu_type: u32,
    pub cpu_subtype: u32,
    /// `minos` of LC_BUILD_VERSION (or LC_VERSION_MIN_MACOSX), if present.
    pub min_os: Option<u32>,
    pub symbols: Vec<Symbol>,
    pub sections: Vec<Section>,
    /// Data ranges inside code (jump tables), as (address, length).
    pub data_in_code: Vec<(u64, u64)>,
}

impl Member {
    pub fn defined_names(&self) -> impl Iterator<Item = &str> {
        self.symbols.iter().filter(|s| s.defined && s.external).map(|s| s.name.as_str())
    }

    pub fn undefined_names(&self) -> impl Iterator<Item = &str> {
        self.symbols.iter().filter(|s| !s.defined).map(|s| s.name.as_str())
    }

    /// The defined symbol covering `address` in `section` (the nearest one at or below it).
    pub fn symbol_at(&self, section: usize, address: u64) -> Option<&Symbol> {
        self.symbols
            .iter()
            .filter(|s| s.defined && s.section == Some(section) && s.address <= address)
            .max_by_key(|s| s.address)
    }
}

/// Gives a linked image the data-in-code ranges (jump tables) of the objects it was linked from:
/// ld64 writes no `LC_DATA_IN_CODE` into a kext unless forced (ld64 `Options.cpp`, the
/// `kKextBundle` case of the function-starts/data-in-code defaults), and neither does kextld, so
/// a jump table in the image would otherwise be decoded as instructions. Each input range is
/// found again by the symbol it lies in and its offset from it; it is taken only where the
/// image holds the same bytes there. A range found nowhere is left as code: the scan is stricter
/// for it, never laxer.
pub fn add_data_in_code_from(image: &mut Member, inputs: &[Member]) {
    for input in inputs {
        for &(start, len) in &input.data_in_code {
            let Some((index, section)) = input
                .sections
                .iter()
                .enumerate()
                .find(|(_, s)| s.address <= start && start + len <= s.address + s.data.len() as u64)
            else {
                continue;
            };
            let Some(symbol) = input.symbol_at(index, start) else { continue };
            let from = (start - section.address) as usize;
            let bytes = &section.data[from..from + len as usize];
            let delta = start - symbol.address;
            let found: Vec<(u64, u64)> = image
                .symbols
                .iter()
                .filter(|s| s.defined && s.name == symbol.name)
                .filter_map(|s| {
                    let target = image.sections.get(s.section?)?;
                    let at = s.address.checked_add(delta)?;
                    let off = usize::try_from(at.checked_sub(target.address)?).ok()?;
                    (target.data.get(off..off.checked_add(len as usize)?)? == bytes).then_some((at, len))
                })
                .collect();
            image.data_in_code.extend(found);
        }
    }
}

/// Reads `path` into its Mach-O images. `arch` picks the slice of a universal file.
pub fn read_file(path: &str, arch: Arch) -> Result<Vec<Member>, String> {
    let data = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    let label = std::path::Path::new(path).file_name().and_then(|n| n.to_str()).unwrap_or(path);
    read_bytes(label, &data, arch)
}

pub fn read_bytes(name: &str, data: &[u8], arch: Arch) -> Result<Vec<Member>, String> {
    let kind = FileKind::parse(data).map_err(|e| format!("{name}: {e}"))?;
    match kind {
        FileKind::Archive => read_archive(name, data),
        FileKind::MachO64 => Ok(vec![read_macho(name, data)?]),
        FileKind::MachOFat32 => {
            let fat = MachOFatFile32::parse(data).map_err(|e| format!("{name}: {e}"))?;
            let slice = fat
                .arches()
                .iter()
                .find(|a| a.cputype() == arch.cpu_type() && a.cpusubtype() == arch.cpu_subtype())
                .ok_or_else(|| format!("{name}: universal file has no {arch} slice"))?;
            let bytes = slice.data(data).map_err(|e| format!("{name}: {e}"))?;
            read_bytes(name, bytes, arch)
        }
        other => Err(format!("{name}: not a 64-bit Mach-O file or archive ({other:?})")),
    }
}

fn read_archive(name: &str, data: &[u8]) -> Result<Vec<Member>, String> {
    let archive = ArchiveFile::parse(data).map_err(|e| format!("{name}: {e}"))?;
    let mut members = Vec::new();
    for member in archive.members() {
        let member = member.map_err(|e| format!("{name}: {e}"))?;
        let member_name = String::from_utf8_lossy(member.name()).into_owned();
        if member_name.starts_with("__.SYMDEF") {
            continue;
        }
        let bytes = member.data(data).map_err(|e| format!("{name}({member_name}): {e}"))?;
        members.push(read_macho(&format!("{name}({member_name})"), bytes)?);
    }
    Ok(members)
}

fn read_macho(name: &str, data: &[u8]) -> Result<Member, String> {
    let err = |e: object::Error| format!("{name}: {e}");
    let header = macho::MachHeader64::<Endianness>::parse(data, 0).map_err(err)?;
    let endian = header.endian().map_err(err)?;
    let mut min_os = None;
    let mut data_in_code = Vec::new();
    let mut commands = header.load_commands(endian, data, 0).map_err(err)?;
    while let Some(command) = commands.next().map_err(err)? {
        match command.variant().map_err(err)? {
            LoadCommandVariant::BuildVersion(v) => min_os = Some(v.minos.get(endian)),
            LoadCommandVariant::VersionMin(v) if command.cmd() == macho::LC_VERSION_MIN_MACOSX => {
                min_os = Some(v.version.get(endian))
            }
            LoadCommandVariant::LinkeditData(l) if command.cmd() == macho::LC_DATA_IN_CODE => {
                data_in_code = read_data_in_code(data, endian, l).map_err(|e| format!("{name}: {e}"))?;
            }
            _ => {}
        }
    }

    let file = MachOFile64::<Endianness>::parse(data).map_err(err)?;
    let mut sections = Vec::new();
    let mut section_slot = std::collections::HashMap::new();
    for section in file.sections() {
        let flags = match section.flags() {
            SectionFlags::MachO { flags } => flags,
            _ => 0,
        };
        let zero_fill = matches!(flags & macho::SECTION_TYPE, macho::S_ZEROFILL | macho::S_GB_ZEROFILL);
        section_slot.insert(section.index(), sections.len());
        sections.push(Section {
            segment: section.segment_name().map_err(err)?.unwrap_or("").to_string(),
            name: section.name().map_err(err)?.to_string(),
            address: section.address(),
            size: section.size(),
            data: if zero_fill { Vec::new() } else { section.data().map_err(err)?.to_vec() },
            has_instructions: flags & (macho::S_ATTR_PURE_INSTRUCTIONS | macho::S_ATTR_SOME_INSTRUCTIONS)
                != 0,
        });
    }
    let mut symbols = Vec::new();
    for symbol in file.symbols() {
        let sym_name = symbol.name().map_err(err)?;
        if sym_name.is_empty() {
            continue;
        }
        symbols.push(Symbol {
            name: sym_name.to_string(),
            defined: !symbol.is_undefined(),
            external: symbol.is_global(),
            section: symbol.section_index().and_then(|i| section_slot.get(&i).copied()),
            address: symbol.address(),
        });
    }
    Ok(Member {
        name: name.to_string(),
        file_type: header.filetype(endian),
        cpu_type: header.cputype(endian),
        cpu_subtype: header.cpusubtype(endian),
        min_os,
        symbols,
        sections,
        data_in_code,
    })
}

fn read_data_in_code(
    data: &[u8],
    endian: Endianness,
    command: &macho::LinkeditDataCommand<Endianness>,
) -> Result<Vec<(u64, u64)>, String> {
    let offset = command.dataoff.get(endian) as usize;
    let size = command.datasize.get(endian) as usize;
    let table = data
        .get(offset..offset.saturating_add(size))
        .ok_or("LC_DATA_IN_CODE points outside the file")?;
    // struct data_in_code_entry { uint32_t offset; uint16_t length; uint16_t kind; }
    Ok(table
        .chunks_exact(8)
        .map(|e| {
            let read_u32 = |b: [u8; 4]| match endian {
                Endianness::Little => u32::from_le_bytes(b),
                Endianness::Big => u32::from_be_bytes(b),
            };
            let start = read_u32([e[0], e[1], e[2], e[3]]);
            let len = match endian {
                Endianness::Little => u16::from_le_bytes([e[4], e[5]]),
                Endianness::Big => u16::from_be_bytes([e[4], e[5]]),
            };
            (u64::from(start), u64::from(len))
        })
        .collect())
}
