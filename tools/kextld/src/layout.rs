//! Output sections: which input sections go where, in which order, at which address.
//!
//! Sections are laid out as whole input sections. ld64 lays out atoms (one per symbol), sorted
//! by file ordinal and then object address (passes/order.cpp `Layout::Comparer`); with nothing
//! dead-stripped or coalesced, consecutive atoms of one input section keep their relative
//! offsets, so placing the whole input section gives the same addresses. (kextld refuses what
//! would need coalescing: duplicate weak definitions, common symbols.)

use object::macho;

use crate::error::Error;
use crate::input::Object;
use crate::resolve::Resolved;

pub const PAGE_SIZE: u64 = 4096;
/// ld64 `fMinimumHeaderPad(32)` (Options.cpp).
const MINIMUM_HEADER_PAD: u64 = 32;
/// `INT_MAX` in ld64's section order numbers.
const INT_MAX: u64 = 0x7fff_ffff;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// typeCode: `S_ATTR_PURE_INSTRUCTIONS` (or `__textcoal_nt`/`__StaticInit`).
    Code,
    /// `S_CSTRING_LITERALS`.
    CString,
    /// `S_4BYTE_LITERALS` and friends outside `__TEXT` (in `__TEXT` they merge into `__const`).
    Literal(u32),
    ZeroFill,
    InitPointers,
    TermPointers,
    LiteralPointers,
    /// The GOT ld64's got pass makes (`__DATA,__got`, typeNonLazyPointer).
    Got,
    Regular,
}

impl Kind {
    /// The section flags ld64 writes (HeaderAndLoadCommands.hpp
    /// `HeaderAndLoadCommandsAtom<A>::sectionFlags`); the relocation attributes are added by
    /// the caller.
    pub fn flags(self) -> u32 {
        match self {
            Kind::Code => macho::S_REGULAR | macho::S_ATTR_SOME_INSTRUCTIONS | macho::S_ATTR_PURE_INSTRUCTIONS,
            Kind::CString => macho::S_CSTRING_LITERALS,
            Kind::Literal(t) => t,
            Kind::ZeroFill => macho::S_ZEROFILL,
            Kind::InitPointers => macho::S_MOD_INIT_FUNC_POINTERS,
            Kind::TermPointers => macho::S_MOD_TERM_FUNC_POINTERS,
            Kind::LiteralPointers => macho::S_LITERAL_POINTERS | macho::S_ATTR_NO_DEAD_STRIP,
            // "typeNonLazyPointer: if ( _options.outputKind() == Options::kKextBundle ) ...
            // return S_REGULAR;"
            Kind::Got => macho::S_REGULAR,
            Kind::Regular => macho::S_REGULAR,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Input { obj: usize, sect: usize },
    /// GOT slot i.
    Got(usize),
}

#[derive(Clone, Debug)]
pub struct Piece {
    pub source: Source,
    /// Offset of the piece in its output section.
    pub offset: u64,
    pub size: u64,
}

#[derive(Clone, Debug)]
pub struct OutSection {
    pub segname: String,
    pub sectname: String,
    pub kind: Kind,
    /// Power of two.
    pub align: u32,
    pub pieces: Vec<Piece>,
    pub size: u64,
    pub addr: u64,
    /// 0 for zero-fill sections.
    pub fileoff: u64,
    /// 1-based section number in the output.
    pub ordinal: u8,
    pub has_local_relocs: bool,
    pub has_external_relocs: bool,
    seg_order: u64,
    sect_order: u64,
}

impl OutSection {
    pub fn flags(&self) -> u32 {
        let mut flags = self.kind.flags();
        // Only code sections get the relocation attributes, and S_ATTR_EXT_RELOC only for
        // pointer relocations (`addClassicRelocs` sets `hasExternalRelocs` for pointers, not
        // for external call sites).
        if self.kind == Kind::Code {
            if self.has_local_relocs {
                flags |= macho::S_ATTR_LOC_RELOC;
            }
            if self.has_external_relocs {
                flags |= macho::S_ATTR_EXT_RELOC;
            }
        }
        flags
    }
}

#[derive(Clone, Debug)]
pub struct Segment {
    pub name: &'static str,
    pub vmaddr: u64,
    pub vmsize: u64,
    pub fileoff: u64,
    pub filesize: u64,
    pub prot: u32,
    /// Indices into `Layout::sections`.
    pub sections: Vec<usize>,
}

pub struct Layout {
    pub sections: Vec<OutSection>,
    /// Where each kept input section went: `placement[obj][sect] = Some((section, piece))`.
    pub placement: Vec<Vec<Option<(usize, usize)>>>,
    pub got_section: Option<usize>,
    /// Size of the mach header, load commands and padding (the hidden `__mach_header` section).
    pub header_size: u64,
    pub sizeofcmds: u64,
    pub text: Segment,
    pub data: Option<Segment>,
    /// Start of `__LINKEDIT` (address and file offset).
    pub linkedit_addr: u64,
    pub linkedit_fileoff: u64,
}

impl Layout {
    /// Output address of an address inside input section `sect` of object `obj`.
    pub fn address(&self, objects: &[Object], obj: usize, sect: usize, addr: u64) -> Option<u64> {
        let (s, p) = self.placement.get(obj)?.get(sect).copied().flatten()?;
        let input = objects.get(obj)?.sections.get(sect)?;
        let out = &self.sections[s];
        Some(out.addr.wrapping_add(out.pieces[p].offset).wrapping_add(addr.wrapping_sub(input.addr)))
    }

    pub fn section_of(&self, obj: usize, sect: usize) -> Option<&OutSection> {
        let (s, _) = self.placement.get(obj)?.get(sect).copied().flatten()?;
        self.sections.get(s)
    }

    pub fn got_slot_address(&self, slot: usize) -> u64 {
        let s = self.got_section.map(|i| &self.sections[i]);
        s.map_or(0, |s| s.addr + 8 * slot as u64)
    }
}

/// What happens to an input section.
pub enum Disposition {
    Keep { segname: String, sectname: String, kind: Kind },
    /// Not part of the image (debug info stays in the objects, for the debug map; ld64 consumes
    /// `__LD,__compact_unwind` and, with `fAddCompactUnwindEncoding = false` for kexts,
    /// writes no `__unwind_info`).
    Drop,
}

/// ld64's classification (parsers/macho_relocatable_file.cpp `Section<A>::sectionType`) and
/// output-section merging (ld.cpp `InternalState::FinalSection::outputSection`), with kextld's
/// refusals.
pub fn disposition(object: &Object, sect: usize) -> Result<Disposition, Error> {
    let s = &object.sections[sect];
    let here = || format!("{}: section {},{}", object.name, s.segname, s.sectname);
    if s.is_debug() || s.segname == "__DWARF" || s.segname == "__LD" {
        return Ok(Disposition::Drop);
    }
    if s.size == 0 && s.relocs.is_empty() {
        // No atoms: ld64 makes no output section for it.
        return Ok(Disposition::Drop);
    }
    let (mut segname, mut sectname) = (s.segname.clone(), s.sectname.clone());
    if segname != "__TEXT" && segname != "__DATA" {
        return Err(Error::new(format!(
            "{}: only __TEXT and __DATA input segments are supported (the kext keeps ld64's three \
             segments __TEXT, __DATA, __LINKEDIT)",
            here()
        )));
    }
    let kind = match s.section_type() {
        macho::S_ZEROFILL => Kind::ZeroFill,
        macho::S_CSTRING_LITERALS => Kind::CString,
        t @ (macho::S_4BYTE_LITERALS | macho::S_8BYTE_LITERALS | macho::S_16BYTE_LITERALS) => {
            if segname == "__TEXT" {
                sectname = "__const".into();
                Kind::Regular
            } else {
                Kind::Literal(t)
            }
        }
        macho::S_LITERAL_POINTERS => Kind::LiteralPointers,
        macho::S_MOD_INIT_FUNC_POINTERS => Kind::InitPointers,
        macho::S_MOD_TERM_FUNC_POINTERS => Kind::TermPointers,
        macho::S_REGULAR | macho::S_COALESCED => {
            if segname == "__TEXT" && sectname == "__eh_frame" {
                return Err(Error::new(format!(
                    "{}: kextld does not relocate DWARF unwind tables (ld64 keeps __eh_frame in \
                     kexts); build without them (clang -fno-asynchronous-unwind-tables, Rust \
                     panic=abort without force-unwind-tables)",
                    here()
                )));
            }
            if s.flags & macho::S_ATTR_PURE_INSTRUCTIONS != 0
                || (segname == "__TEXT" && (sectname == "__textcoal_nt" || sectname == "__StaticInit"))
            {
                if segname == "__TEXT" && (sectname == "__textcoal_nt" || sectname == "__StaticInit") {
                    sectname = "__text".into();
                }
                Kind::Code
            } else if segname == "__TEXT" && sectname == "__constructor" {
                Kind::InitPointers
            } else {
                if sectname == "__const_coal" {
                    sectname = "__const".into();
                } else if segname == "__DATA" && sectname == "__datacoal_nt" {
                    sectname = "__data".into();
                }
                Kind::Regular
            }
        }
        macho::S_THREAD_LOCAL_REGULAR
        | macho::S_THREAD_LOCAL_ZEROFILL
        | macho::S_THREAD_LOCAL_VARIABLES
        | macho::S_THREAD_LOCAL_VARIABLE_POINTERS
        | macho::S_THREAD_LOCAL_INIT_FUNCTION_POINTERS => {
            return Err(Error::new(format!(
                "{}: thread-local variables are not supported in kexts (the kernel has no TLV runtime)",
                here()
            )))
        }
        other => {
            return Err(Error::new(format!(
                "{}: section type {other:#x} is not supported in a kext object (stubs, lazy or \
                 non-lazy symbol pointers, interposing and DTrace sections are produced by linkers, \
                 not by the compilers kexts are built with)",
                here()
            )))
        }
    };
    if segname == "__TEXT" && kind == Kind::ZeroFill {
        segname = "__DATA".into(); // never happens with real compilers; keep zero-fill writable
    }
    Ok(Disposition::Keep { segname, sectname, kind })
}

/// ld.cpp `InternalState::FinalSection::segmentOrder` for a kext: `__TEXT` 1, `__DATA` 7
/// (`__LINKEDIT` comes last).
fn segment_order(segname: &str) -> u64 {
    if segname == "__TEXT" {
        1
    } else {
        7
    }
}

/// ld.cpp `InternalState::FinalSection::sectionOrder`, the cases a kext can reach. `seen` is
/// the number of distinct input sections seen before this output section was created.
fn section_order(segname: &str, sectname: &str, kind: Kind, seen: u64) -> u64 {
    if segname == "__TEXT" {
        match kind {
            // "make __text always be first "code" section"
            Kind::Code => {
                if sectname == "__text" {
                    10
                } else {
                    11
                }
            }
            _ if sectname == "__objc_methlist" => 16,
            _ => seen + 20,
        }
    } else {
        match kind {
            Kind::Got => 10,
            Kind::InitPointers => 12,
            Kind::TermPointers => 13,
            Kind::ZeroFill => {
                if sectname == "__huge" {
                    INT_MAX - 1
                } else {
                    INT_MAX - 256 + seen
                }
            }
            _ if sectname == "__const" => 14,
            _ if sectname == "__cfstring" => 15,
            _ => seen + 40,
        }
    }
}

/// Builds the output sections (GOT included) and assigns addresses and file offsets.
/// `got_slots` is the number of GOT slots; `header_extra_cmds` the size of the load commands
/// after the segments.
pub fn build(resolved: &Resolved, got_slots: usize, other_cmds_size: u64) -> Result<Layout, Error> {
    let objects = &resolved.objects;
    let mut sections: Vec<OutSection> = Vec::new();
    let mut seen_inputs: Vec<(String, String)> = Vec::new();
    let mut placement: Vec<Vec<Option<(usize, usize)>>> =
        objects.iter().map(|o| vec![None; o.sections.len()]).collect();
    // Output sections are created in load order (ld64 adds atoms file by file as it loads
    // them), which fixes the "seen" order.
    let mut contributions: Vec<(usize, usize, usize)> = Vec::new(); // (section, obj, sect)
    for (obj, object) in objects.iter().enumerate() {
        for sect in 0..object.sections.len() {
            let Disposition::Keep { segname, sectname, kind } = disposition(object, sect)? else {
                continue;
            };
            let input = &object.sections[sect];
            let input_key = (input.segname.clone(), input.sectname.clone());
            if !seen_inputs.contains(&input_key) {
                seen_inputs.push(input_key);
            }
            let index = match sections.iter().position(|s| s.segname == segname && s.sectname == sectname) {
                Some(i) => i,
                None => {
                    let seen = (seen_inputs.len() - 1) as u64;
                    sections.push(OutSection {
                        seg_order: segment_order(&segname),
                        sect_order: section_order(&segname, &sectname, kind, seen),
                        segname,
                        sectname,
                        kind,
                        align: 0,
                        pieces: Vec::new(),
                        size: 0,
                        addr: 0,
                        fileoff: 0,
                        ordinal: 0,
                        has_local_relocs: false,
                        has_external_relocs: false,
                    });
                    sections.len() - 1
                }
            };
            contributions.push((index, obj, sect));
        }
    }
    let mut got_section = None;
    if got_slots > 0 {
        sections.push(OutSection {
            seg_order: segment_order("__DATA"),
            sect_order: section_order("__DATA", "__got", Kind::Got, 0),
            segname: "__DATA".into(),
            sectname: "__got".into(),
            kind: Kind::Got,
            align: 3,
            pieces: (0..got_slots)
                .map(|i| Piece { source: Source::Got(i), offset: 8 * i as u64, size: 8 })
                .collect(),
            size: 8 * got_slots as u64,
            addr: 0,
            fileoff: 0,
            ordinal: 0,
            has_local_relocs: false,
            has_external_relocs: false,
        });
        got_section = Some(sections.len() - 1);
    }
    // Pieces: by file ordinal, then by address in the object.
    contributions.sort_by_key(|&(s, obj, sect)| (s, objects[obj].ordinal, objects[obj].sections[sect].addr));
    for (s, obj, sect) in contributions {
        let input = &objects[obj].sections[sect];
        let out = &mut sections[s];
        let align = 1u64 << input.align;
        let offset = out.size.div_ceil(align) * align;
        out.align = out.align.max(input.align);
        out.pieces.push(Piece { source: Source::Input { obj, sect }, offset, size: input.size });
        out.size = offset + input.size;
        placement[obj][sect] = Some((s, out.pieces.len() - 1));
    }
    // Sort sections (stable: equal keys keep creation order), then fix the placement indices.
    let mut order: Vec<usize> = (0..sections.len()).collect();
    order.sort_by_key(|&i| (sections[i].seg_order, sections[i].sect_order));
    let mut new_index = vec![0; sections.len()];
    for (new, &old) in order.iter().enumerate() {
        new_index[old] = new;
    }
    let mut sorted: Vec<OutSection> = order.iter().map(|&i| sections[i].clone()).collect();
    for row in placement.iter_mut() {
        for p in row.iter_mut().flatten() {
            p.0 = new_index[p.0];
        }
    }
    let got_section = got_section.map(|i| new_index[i]);
    for (i, s) in sorted.iter_mut().enumerate() {
        s.ordinal = u8::try_from(i + 1).map_err(|_| Error::new("more than 255 output sections"))?;
    }

    // Load commands: one LC_SEGMENT_64 per segment (with its sections), then the rest.
    let text_sections: Vec<usize> = (0..sorted.len()).filter(|&i| sorted[i].segname == "__TEXT").collect();
    let data_sections: Vec<usize> = (0..sorted.len()).filter(|&i| sorted[i].segname == "__DATA").collect();
    let segment_cmd = |nsects: usize| 72 + 80 * nsects as u64;
    let mut sizeofcmds = segment_cmd(text_sections.len()) + segment_cmd(0) + other_cmds_size;
    if !data_sections.is_empty() {
        sizeofcmds += segment_cmd(data_sections.len());
    }
    let mach_header = 32 + sizeofcmds;

    // OutputFile.cpp `OutputFile::setLoadCommandsPadding`: "work backwards from end of segment
    // and lay out sections so that extra room goes to padding atom", then at least
    // `minimumHeaderPad` bytes.
    let mut addr: u64 = 0;
    for &i in text_sections.iter().rev() {
        addr = addr.wrapping_sub(sorted[i].size);
        addr &= 0u64.wrapping_sub(1 << sorted[i].align);
    }
    addr = addr.wrapping_sub(mach_header);
    let mut padding = addr % PAGE_SIZE;
    if padding < MINIMUM_HEADER_PAD {
        let extra_pages = (MINIMUM_HEADER_PAD - padding).div_ceil(PAGE_SIZE);
        padding += extra_pages * PAGE_SIZE;
    }
    let header_size = mach_header + padding;

    // ld.cpp `InternalState::assignFileOffsets`: addresses from 0 (the kext's base address),
    // each segment page aligned, each section aligned; file offsets follow the addresses,
    // zero-fill sections take no file space.
    let page_align = |x: u64| x.div_ceil(PAGE_SIZE) * PAGE_SIZE;
    let mut address = header_size;
    let mut fileoff = header_size;
    for &i in &text_sections {
        let s = &mut sorted[i];
        let a = 1u64 << s.align;
        let aligned = address.div_ceil(a) * a;
        fileoff += aligned - address;
        s.addr = aligned;
        s.fileoff = fileoff;
        address = aligned + s.size;
        fileoff += s.size;
    }
    let text_end = address;
    let text = Segment {
        name: "__TEXT",
        vmaddr: 0,
        vmsize: page_align(text_end),
        fileoff: 0,
        filesize: page_align(text_end),
        prot: macho::VM_PROT_READ | macho::VM_PROT_EXECUTE,
        sections: text_sections,
    };
    let mut data = None;
    address = page_align(address);
    fileoff = page_align(fileoff);
    if !data_sections.is_empty() {
        let start = address;
        let start_fileoff = fileoff;
        let mut file_end = start;
        for &i in &data_sections {
            let s = &mut sorted[i];
            let a = 1u64 << s.align;
            let aligned = address.div_ceil(a) * a;
            s.addr = aligned;
            if s.kind == Kind::ZeroFill {
                s.fileoff = 0;
            } else {
                fileoff += aligned - address;
                s.fileoff = fileoff;
                fileoff += s.size;
                file_end = aligned + s.size;
            }
            address = aligned + s.size;
        }
        data = Some(Segment {
            name: "__DATA",
            vmaddr: start,
            vmsize: page_align(address - start),
            fileoff: start_fileoff,
            filesize: page_align(file_end - start),
            prot: macho::VM_PROT_READ | macho::VM_PROT_WRITE,
            sections: data_sections,
        });
        address = page_align(address);
        fileoff = page_align(fileoff);
    }
    Ok(Layout {
        sections: sorted,
        placement,
        got_section,
        header_size,
        sizeofcmds,
        text,
        data,
        linkedit_addr: address,
        linkedit_fileoff: fileoff,
    })
}
