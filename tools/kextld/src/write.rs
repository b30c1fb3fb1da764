//! The output file: mach header, load commands, `__LINKEDIT`, UUID.
//!
//! - Header (HeaderAndLoadCommands.hpp): `MH_KEXT_BUNDLE` (`fileType`), cputype x86_64 with
//!   the inputs' subtype, flags `MH_DYLDLINK | MH_TWOLEVEL | MH_NOUNDEFS` for a two-level
//!   namespace image, plus `MH_WEAK_DEFINES`/`MH_BINDS_TO_WEAK` when weak symbols are exported
//!   or bound (`HeaderAndLoadCommandsAtom<A>::flags`).
//! - Load commands in `copyRawContent` order: `LC_SEGMENT_64` per segment, `LC_SYMTAB`,
//!   `LC_DYSYMTAB`, `LC_UUID`, `LC_SOURCE_VERSION`. No dyld info (`fMakeCompressedDyldInfo =
//!   false` for x86_64 kexts), no chained fixups ("Disable chained fixups for kext(s)" unless
//!   arm64e), no LC_BUILD_VERSION (kexts get one only when forced), no function starts or data
//!   in code (opt-in for kexts), no indirect symbol table ("x86_64 kext bundles should not have an
//!   indirect symbol table unless using stubs", LinkEditClassic.hpp).
//! - Segments: protections as `Options::initialSegProtection`/`maxSegProtection` (max = init
//!   on x86_64): `__TEXT` r-x, `__DATA` rw-, `__LINKEDIT` r--; `__LINKEDIT`'s filesize is not
//!   page-rounded (`copySegmentLoadCommands`: "round up all segments to page aligned, except
//!   __LINKEDIT").
//! - `__LINKEDIT` (OutputFile.cpp `OutputFile::addLinkEdit`, classic relocations): local
//!   relocations, symbol table, external relocations, (empty) indirect symbol table, strings.
//! - UUID (`OutputFile::computeContentUUID`): SHA-256 over the output file's leaf name
//!   ("/name") and the file with LC_UUID zeroed; when there is a debug map, the stabs, their
//!   strings, the `__LINKEDIT` segment command and `LC_SYMTAB` are left out (so the debug map
//!   does not change the UUID), each remaining region hashed separately and the digests hashed
//!   together; then the RFC 4122 version bits.

use object::macho;
use sha2::{Digest, Sha256};

use crate::layout::{Layout, Segment, PAGE_SIZE};
use crate::reloc::OutReloc;
use crate::symtab::SymbolTable;

struct Writer {
    bytes: Vec<u8>,
}

impl Writer {
    fn u32(&mut self, v: u32) {
        self.bytes.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.bytes.extend_from_slice(&v.to_le_bytes());
    }
    fn name16(&mut self, s: &str) {
        let mut b = [0u8; 16];
        let n = s.len().min(16);
        b[..n].copy_from_slice(&s.as_bytes()[..n]);
        self.bytes.extend_from_slice(&b);
    }
}

fn relocation_word(symbolnum: u32, pcrel: bool, length: u8, external: bool, rtype: u8) -> u32 {
    (symbolnum & 0x00ff_ffff)
        | u32::from(pcrel) << 24
        | u32::from(length & 3) << 25
        | u32::from(external) << 27
        | u32::from(rtype) << 28
}

pub struct Header {
    pub cpusubtype: u32,
    pub weak_defines: bool,
    pub binds_to_weak: bool,
}

/// What the caller reads back (for the summary line and for tests).
pub struct Written {
    pub bytes: Vec<u8>,
    pub uuid: [u8; 16],
    pub local_relocs: usize,
    pub external_relocs: usize,
}

/// Assembles the whole file. `image` holds `__TEXT` and `__DATA` (header space still empty).
pub fn write(
    mut image: Vec<u8>,
    layout: &Layout,
    symtab: &SymbolTable,
    relocs: &[OutReloc],
    header: &Header,
    output_path: &str,
) -> Written {
    // __LINKEDIT content.
    let mut local = Vec::new();
    let mut pointers = Vec::new();
    let mut calls = Vec::new();
    for r in relocs {
        match r {
            OutReloc::Local { address, section } => {
                local.push((*address as u32, relocation_word(u32::from(*section), false, 3, false, macho::X86_64_RELOC_UNSIGNED)));
            }
            OutReloc::ExternalPointer { address, symbol } => {
                pointers.push((symtab.index.get(symbol).copied().unwrap_or(0), *address as u32));
            }
            OutReloc::ExternalCall { address, symbol } => {
                calls.push((symtab.index.get(symbol).copied().unwrap_or(0), *address as u32));
            }
        }
    }
    // ExternalRelocationsAtom<A>::copyRawContent: pointers, then call sites, each "sort first
    // by symbol number ... then sort all uses of the same symbol by address".
    pointers.sort_unstable();
    calls.sort_unstable();
    let mut external = Vec::new();
    for (sym, address) in &pointers {
        external.push((*address, relocation_word(*sym, false, 3, true, macho::X86_64_RELOC_UNSIGNED)));
    }
    for (sym, address) in &calls {
        external.push((*address, relocation_word(*sym, true, 2, true, macho::X86_64_RELOC_BRANCH)));
    }

    let le_start = layout.linkedit_fileoff;
    let mut le = Writer { bytes: Vec::new() };
    let locreloff = le_start + le.bytes.len() as u64;
    for (a, w) in &local {
        le.u32(*a);
        le.u32(*w);
    }
    let symoff = le_start + le.bytes.len() as u64;
    for n in &symtab.nlists {
        le.u32(n.strx);
        le.bytes.push(n.n_type);
        le.bytes.push(n.n_sect);
        le.bytes.extend_from_slice(&n.n_desc.to_le_bytes());
        le.u64(n.n_value);
    }
    let extreloff = le_start + le.bytes.len() as u64;
    for (a, w) in &external {
        le.u32(*a);
        le.u32(*w);
    }
    let stroff = le_start + le.bytes.len() as u64;
    le.bytes.extend_from_slice(&symtab.strings);
    let linkedit_size = le.bytes.len() as u64;

    // Load commands.
    let linkedit = Segment {
        name: "__LINKEDIT",
        vmaddr: layout.linkedit_addr,
        vmsize: linkedit_size.div_ceil(PAGE_SIZE) * PAGE_SIZE,
        fileoff: le_start,
        filesize: linkedit_size,
        prot: macho::VM_PROT_READ,
        sections: Vec::new(),
    };
    let mut segments = vec![&layout.text];
    if let Some(d) = &layout.data {
        segments.push(d);
    }
    segments.push(&linkedit);
    let ncmds = segments.len() as u32 + 4;
    let mut lc = Writer { bytes: Vec::new() };
    let mut linkedit_cmd = (0u64, 0u64);
    for seg in &segments {
        let start = 32 + lc.bytes.len() as u64;
        lc.u32(macho::LC_SEGMENT_64);
        lc.u32(72 + 80 * seg.sections.len() as u32);
        lc.name16(seg.name);
        lc.u64(seg.vmaddr);
        lc.u64(seg.vmsize);
        lc.u64(seg.fileoff);
        lc.u64(seg.filesize);
        lc.u32(seg.prot); // maxprot
        lc.u32(seg.prot); // initprot
        lc.u32(seg.sections.len() as u32);
        lc.u32(0);
        for &i in &seg.sections {
            let s = &layout.sections[i];
            lc.name16(&s.sectname);
            lc.name16(&s.segname);
            lc.u64(s.addr);
            lc.u64(s.size);
            lc.u32(s.fileoff as u32);
            lc.u32(s.align);
            lc.u32(0); // reloff
            lc.u32(0); // nreloc
            lc.u32(s.flags());
            lc.u32(0); // reserved1 (indirect symbol index)
            lc.u32(0); // reserved2
            lc.u32(0); // reserved3
        }
        if seg.name == "__LINKEDIT" {
            linkedit_cmd = (start, 32 + lc.bytes.len() as u64);
        }
    }
    let nsyms = symtab.nlists.len() as u32;
    let symtab_cmd = 32 + lc.bytes.len() as u64;
    lc.u32(macho::LC_SYMTAB);
    lc.u32(24);
    lc.u32(if nsyms == 0 { 0 } else { symoff as u32 });
    lc.u32(nsyms);
    lc.u32(stroff as u32);
    lc.u32(symtab.strings.len() as u32);
    lc.u32(macho::LC_DYSYMTAB);
    lc.u32(80);
    lc.u32(0); // ilocalsym
    lc.u32(symtab.nlocal);
    lc.u32(symtab.nlocal); // iextdefsym
    lc.u32(symtab.nextdef);
    lc.u32(symtab.nlocal + symtab.nextdef); // iundefsym
    lc.u32(symtab.nundef);
    for _ in 0..6 {
        lc.u32(0); // tocoff, ntoc, modtaboff, nmodtab, extrefsymoff, nextrefsyms
    }
    lc.u32(0); // indirectsymoff
    lc.u32(0); // nindirectsyms
    lc.u32(if external.is_empty() { 0 } else { extreloff as u32 });
    lc.u32(external.len() as u32);
    lc.u32(if local.is_empty() { 0 } else { locreloff as u32 });
    lc.u32(local.len() as u32);
    let uuid_at = 32 + lc.bytes.len() + 8;
    lc.u32(macho::LC_UUID);
    lc.u32(24);
    lc.bytes.extend_from_slice(&[0u8; 16]);
    lc.u32(macho::LC_SOURCE_VERSION);
    lc.u32(16);
    lc.u64(0); // ld64: `_options.sourceVersion()`, 0 unless -source_version
    debug_assert_eq!(lc.bytes.len() as u64, layout.sizeofcmds);

    let mut h = Writer { bytes: Vec::new() };
    h.u32(macho::MH_MAGIC_64);
    h.u32(macho::CPU_TYPE_X86_64);
    h.u32(header.cpusubtype);
    h.u32(macho::MH_KEXT_BUNDLE);
    h.u32(ncmds);
    h.u32(lc.bytes.len() as u32);
    let mut flags = macho::MH_DYLDLINK | macho::MH_TWOLEVEL | macho::MH_NOUNDEFS;
    if header.weak_defines {
        flags |= macho::MH_WEAK_DEFINES;
    }
    if header.binds_to_weak {
        flags |= macho::MH_BINDS_TO_WEAK;
    }
    h.u32(flags);
    h.u32(0); // reserved
    h.bytes.extend_from_slice(&lc.bytes);
    image[..h.bytes.len()].copy_from_slice(&h.bytes);
    image.extend_from_slice(&le.bytes);

    // UUID.
    let mut exclude: Vec<(u64, u64)> = Vec::new();
    if let Some(((first, end), (s_first, s_end))) = symtab.stabs {
        exclude.push((symoff + 16 * u64::from(first), symoff + 16 * u64::from(end)));
        // "don't MD5 the zero padding at the end of the string pool, after the stabs strings"
        let pool_end = stroff + symtab.strings.len() as u64;
        let strings_end = if symtab.strings.len() as u64 - u64::from(s_end) < 8 { pool_end } else { stroff + u64::from(s_end) };
        exclude.push((stroff + u64::from(s_first), strings_end));
        exclude.push(linkedit_cmd);
        exclude.push((symtab_cmd, symtab_cmd + 24));
    }
    exclude.sort_unstable();
    let mut hasher = Sha256::new();
    if let Some(slash) = output_path.rfind('/') {
        hasher.update(&output_path.as_bytes()[slash..]);
    }
    if exclude.is_empty() {
        hasher.update(&image);
    } else {
        let mut start = 0u64;
        let mut regions = Vec::new();
        for (a, b) in &exclude {
            regions.push((start, *a));
            start = *b;
        }
        if start < image.len() as u64 {
            regions.push((start, image.len() as u64));
        }
        for (a, b) in regions {
            hasher.update(Sha256::digest(&image[a as usize..b as usize]));
        }
    }
    let digest = hasher.finalize();
    let mut uuid = [0u8; 16];
    uuid.copy_from_slice(&digest[..16]);
    // "LC_UUID uuids should conform to RFC 4122 UUID version 4 & UUID version 5 formats"
    uuid[6] = (uuid[6] & 0x0f) | (3 << 4);
    uuid[8] = (uuid[8] & 0x3f) | 0x80;
    image[uuid_at..uuid_at + 16].copy_from_slice(&uuid);
    Written { bytes: image, uuid, local_relocs: local.len(), external_relocs: external.len() }
}
