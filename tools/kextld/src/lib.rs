//! kextld: links x86_64 Mach-O objects and archives into an `MH_KEXT_BUNDLE`, the file Apple's
//! ld64 writes for `-kext`, so the kext binary can be built on Linux.
//!
//! Every rule is ld64's, cited in the module that implements it (apple-oss-distributions/ld64,
//! ld64-956.6): `resolve` (which objects are linked), `layout` (sections, addresses),
//! `reloc` (what each relocation becomes), `symtab` (symbol table, strings, debug map),
//! `write` (header, load commands, `__LINKEDIT`, UUID). What the kernel's linker then needs
//! from the file (xnu `libkern/kxld`, the 10.15 loader) is checked by the project's kxld
//! checker, not here.

pub mod dwarf;
pub mod error;
pub mod input;
pub mod layout;
pub mod reloc;
pub mod resolve;
pub mod symtab;
pub mod write;

pub use error::Error;
use input::Input;
use layout::{Disposition, Kind, Source};

pub struct Options {
    /// The output path (its leaf name goes into the UUID, as ld64's does).
    pub output_path: String,
    /// Names that must be defined (`-u`), searched for in archives like undefined names.
    pub required: Vec<String>,
    /// Write the debug map (N_SO/N_OSO/N_FUN... stabs) that dsymutil reads; ld64 does unless
    /// `-S`.
    pub debug_map: bool,
    /// N_OSO modification times 0 (ld64 does this when `ZERO_AR_DATE` is set).
    pub zero_mod_time: bool,
}

pub struct Linked {
    pub bytes: Vec<u8>,
    pub uuid: [u8; 16],
    /// The loaded objects, in load order.
    pub objects: Vec<input::Object>,
    /// Output address of the start of each kept input section: `placement[obj][sect]`.
    pub placement: Vec<Vec<Option<u64>>>,
    pub imports: usize,
    pub local_relocs: usize,
    pub external_relocs: usize,
    pub got_slots: usize,
}

/// Links `inputs` (in command-line order).
pub fn link(inputs: Vec<Input>, options: &Options) -> Result<Linked, Error> {
    let resolved = resolve::resolve(inputs, &options.required)?;
    let objects = &resolved.objects;

    let mut keep = Vec::new();
    for object in objects {
        let mut row = Vec::new();
        for sect in 0..object.sections.len() {
            row.push(matches!(layout::disposition(object, sect)?, Disposition::Keep { .. }));
        }
        keep.push(row);
    }
    let keeps = |obj: usize, sect: usize| keep.get(obj).and_then(|r| r.get(sect)).copied().unwrap_or(false);
    let scan = reloc::scan(&resolved, &keeps)?;
    let got = reloc::got_slots(&resolved, &scan.fixups);
    // LC_SYMTAB 24 + LC_DYSYMTAB 80 + LC_UUID 24 + LC_SOURCE_VERSION 16.
    let mut layout = layout::build(&resolved, got.len(), 24 + 80 + 24 + 16)?;

    // The image (__TEXT and __DATA as they are in the file).
    let mut image = vec![0u8; layout.linkedit_fileoff as usize];
    for out in &layout.sections {
        if out.kind == Kind::ZeroFill {
            continue;
        }
        let mut end_of_last: Option<u64> = None;
        for piece in &out.pieces {
            let at = out.fileoff + piece.offset;
            // OutputFile.cpp `writeAtoms`: padding between atoms of a code section is NOPs
            // (`copyNoOps`: 0x90 on x86_64).
            if let (Some(end), Kind::Code) = (end_of_last, out.kind) {
                image[end as usize..at as usize].fill(0x90);
            }
            if let Source::Input { obj, sect } = piece.source {
                let data = &objects[obj].sections[sect].data;
                image[at as usize..at as usize + data.len()].copy_from_slice(data);
            }
            end_of_last = Some(at + piece.size);
        }
    }
    let relocs = reloc::apply(&resolved, &mut layout, &got, &scan.fixups, &mut image)?;

    let tu_paths: Vec<Option<String>> =
        if options.debug_map { objects.iter().map(dwarf::translation_unit_path).collect() } else { Vec::new() };
    let debug_map = symtab::DebugMap { tu_paths: &tu_paths, zero_mod_time: options.zero_mod_time };
    let symtab = symtab::build(&resolved, &layout, &scan.weak_imports, options.debug_map.then_some(&debug_map));

    // MH_WEAK_DEFINES / MH_BINDS_TO_WEAK (`HeaderAndLoadCommandsAtom<A>::flags`): an exported
    // weak definition sets both (`hasWeakExternalSymbols`, set in
    // `InternalState::setSectionSizesAndAlignments`).
    let weak = resolved.globals.values().any(|&def| {
        let s = resolved.symbol(def);
        s.is_weak_def() && !s.is_private_extern() && !s.is_auto_hide() && !s.name.starts_with('l')
    });
    // ld64 writes the inputs' subtype (`HeaderAndLoadCommandsAtom<x86_64>::cpuSubType`).
    let cpusubtype = objects.first().map_or(object::macho::CPU_SUBTYPE_X86_64_ALL, |o| o.cpusubtype & 0x00ff_ffff);
    let header = write::Header { cpusubtype, weak_defines: weak, binds_to_weak: weak };
    let written = write::write(image, &layout, &symtab, &relocs, &header, &options.output_path);
    Ok(Linked {
        bytes: written.bytes,
        uuid: written.uuid,
        placement: objects
            .iter()
            .enumerate()
            .map(|(obj, o)| (0..o.sections.len()).map(|sect| layout.address(objects, obj, sect, o.sections[sect].addr)).collect())
            .collect(),
        objects: resolved.objects.clone(),
        imports: resolved.imports.len(),
        local_relocs: written.local_relocs,
        external_relocs: written.external_relocs,
        got_slots: got.len(),
    })
}
