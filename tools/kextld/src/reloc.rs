//! Relocations: what each input relocation becomes in an x86_64 `MH_KEXT_BUNDLE`.
//!
//! The input side follows ld64's parser (parsers/macho_relocatable_file.cpp
//! `Section<x86_64>::addRelocFixup`); the output side follows `OutputFile::addClassicRelocs`
//! and `OutputFile::applyFixUps` (OutputFile.cpp) for `kKextBundle`:
//!
//! | input | target | output |
//! |---|---|---|
//! | `UNSIGNED` length 3 | in the kext | pointer written, local `X86_64_RELOC_UNSIGNED` (r_extern 0, r_symbolnum = output section ordinal, r_length 3) |
//! | `UNSIGNED` length 3 | undefined (kernel) | addend written, external `X86_64_RELOC_UNSIGNED` (r_length 3) |
//! | `UNSIGNED` length 3 | exported weak definition | addend written, external `X86_64_RELOC_UNSIGNED` to the kext's own symbol |
//! | `BRANCH` | undefined | 0 written, external `X86_64_RELOC_BRANCH` (r_pcrel 1, r_length 2) |
//! | `BRANCH`, `SIGNED*` | in the kext | displacement written, no relocation |
//! | `GOT_LOAD` | in the kext (not exported weak) | `movq` turned into `leaq`, displacement written |
//! | `GOT_LOAD`, `GOT` | undefined / exported weak | slot in `__DATA,__got`, displacement to it; the slot gets an external `UNSIGNED` |
//! | `SUBTRACTOR`+`UNSIGNED` | both in the kext | difference written, no relocation |
//!
//! Relocation addresses count from the kext's base address 0, the start of `__TEXT`
//! (LinkEditClassic.hpp `LocalRelocationsAtom<x86_64>::relocBaseAddress`: "for kext bundles
//! the reloc base address starts at __TEXT segment"; `addClassicRelocs` subtracts that base
//! from local and external relocations alike).

use std::collections::HashMap;

use object::macho::{self, RelocationInfo};

use crate::error::Error;
use crate::input::Object;
use crate::layout::{Layout, Source};
use crate::resolve::{Def, Resolved};

/// A relocation target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// An address inside input section `sect` of object `obj` (a local symbol, a section
    /// reference, or a definition found by name).
    Local { obj: usize, sect: usize, addr: u64 },
    /// An exported weak definition, referenced by name: pointers to it stay external
    /// relocations ("reference to global weak def needs weak binding in dynamic images",
    /// `addClassicRelocs`), and GOT loads of it are not turned into `lea` (got.cpp `gotFixup`).
    ExportedWeak { def: Def, obj: usize, sect: usize, addr: u64 },
    /// Undefined: the kernel (or another kext) supplies it at load time.
    Import(String),
    Absolute(u64),
}

#[derive(Clone, Debug)]
pub enum Fix {
    /// `X86_64_RELOC_UNSIGNED`, 8 bytes: target + addend.
    Pointer { target: Target, addend: i64 },
    /// 32-bit pc-relative to a defined target: target + addend - (P + 4 + bias).
    PcRel { target: Target, addend: i64, bias: i64 },
    /// `call`/`jmp` to an undefined symbol.
    CallImport { name: String },
    /// `X86_64_RELOC_GOT_LOAD` (addend 0); `name` is the symbol's (GOT slots sort by it).
    GotLoad { target: Target, name: String },
    /// `X86_64_RELOC_GOT`: slot + addend - (P + 4).
    GotData { target: Target, addend: i64, name: String },
    /// `SUBTRACTOR`+`UNSIGNED`: plus + addend - minus, `length` bytes.
    Difference { plus: Target, addend: i64, minus: Target, length: u8 },
}

#[derive(Clone, Debug)]
pub struct Fixup {
    pub obj: usize,
    pub sect: usize,
    /// `r_address`: offset in the input section.
    pub offset: u64,
    pub fix: Fix,
}

/// A relocation of the output, before symbol indices are known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OutReloc {
    Local { address: u64, section: u8 },
    ExternalPointer { address: u64, symbol: String },
    ExternalCall { address: u64, symbol: String },
}

fn type_name(t: u8) -> &'static str {
    match t {
        macho::X86_64_RELOC_UNSIGNED => "X86_64_RELOC_UNSIGNED",
        macho::X86_64_RELOC_SIGNED => "X86_64_RELOC_SIGNED",
        macho::X86_64_RELOC_BRANCH => "X86_64_RELOC_BRANCH",
        macho::X86_64_RELOC_GOT_LOAD => "X86_64_RELOC_GOT_LOAD",
        macho::X86_64_RELOC_GOT => "X86_64_RELOC_GOT",
        macho::X86_64_RELOC_SUBTRACTOR => "X86_64_RELOC_SUBTRACTOR",
        macho::X86_64_RELOC_SIGNED_1 => "X86_64_RELOC_SIGNED_1",
        macho::X86_64_RELOC_SIGNED_2 => "X86_64_RELOC_SIGNED_2",
        macho::X86_64_RELOC_SIGNED_4 => "X86_64_RELOC_SIGNED_4",
        macho::X86_64_RELOC_TLV => "X86_64_RELOC_TLV",
        _ => "unknown relocation type",
    }
}

/// Context for messages: "<object>: __TEXT,__text+0x1c: X86_64_RELOC_SIGNED to _foo: ...".
struct Here<'a> {
    object: &'a Object,
    sect: usize,
    reloc: RelocationInfo,
}

impl Here<'_> {
    fn symbol(&self, index: u32) -> String {
        if !self.reloc.r_extern {
            return format!("section {}", index);
        }
        self.object.symbols.get(index as usize).map_or_else(|| format!("symbol #{index}"), |s| s.name.clone())
    }

    fn error(&self, why: &str) -> Error {
        let s = &self.object.sections[self.sect];
        Error::new(format!(
            "{}: {},{}+{:#x}: {} to {}: {}",
            self.object.name,
            s.segname,
            s.sectname,
            self.reloc.r_address,
            type_name(self.reloc.r_type),
            self.symbol(self.reloc.r_symbolnum),
            why
        ))
    }
}

fn read_content(data: &[u8], offset: usize, length: u8) -> Option<i64> {
    let b = |n: usize| data.get(offset..offset + n);
    Some(match length {
        0 => i64::from(*b(1)?.first()? as i8),
        1 => i64::from(i16::from_le_bytes(b(2)?.try_into().ok()?)),
        2 => i64::from(i32::from_le_bytes(b(4)?.try_into().ok()?)),
        _ => i64::from_le_bytes(b(8)?.try_into().ok()?),
    })
}

/// Is this definition exported and weak (N_WEAK_DEF, external, not private extern, not
/// `.weak_def_can_be_hidden`, not an 'l' label)? Those keep ld64's weak semantics.
fn exported_weak(resolved: &Resolved, def: Def) -> bool {
    let s = resolved.symbol(def);
    s.is_weak_def() && !s.is_private_extern() && !s.is_auto_hide() && !s.name.starts_with('l')
}

/// The target of an external relocation (symbol index `index` of object `obj`), as ld64's
/// parser binds it: local symbols (and 'L' labels) directly, everything else by name.
fn extern_target(resolved: &Resolved, obj: usize, index: u32, here: &Here) -> Result<Target, Error> {
    let object = &resolved.objects[obj];
    let sym = object
        .symbols
        .get(index as usize)
        .ok_or_else(|| here.error("symbol index out of range (malformed object)"))?;
    if sym.is_stab() {
        return Err(here.error("relocation names a debugging (stab) symbol (malformed object)"));
    }
    if sym.kind() == macho::N_SECT && (!sym.is_external() || sym.name.starts_with('L')) {
        let sect = usize::from(sym.n_sect).checked_sub(1).ok_or_else(|| here.error("symbol has no section"))?;
        return Ok(Target::Local { obj, sect, addr: sym.n_value });
    }
    if sym.kind() == macho::N_ABS && !sym.is_external() {
        return Ok(Target::Absolute(sym.n_value));
    }
    match resolved.globals.get(&sym.name) {
        Some(&def) => {
            let d = resolved.symbol(def);
            if d.kind() == macho::N_ABS {
                return Ok(Target::Absolute(d.n_value));
            }
            let sect = usize::from(d.n_sect).checked_sub(1).ok_or_else(|| here.error("definition has no section"))?;
            if exported_weak(resolved, def) {
                Ok(Target::ExportedWeak { def, obj: def.obj, sect, addr: d.n_value })
            } else {
                Ok(Target::Local { obj: def.obj, sect, addr: d.n_value })
            }
        }
        None => Ok(Target::Import(sym.name.clone())),
    }
}

/// The section-based target of a non-external relocation: section `r_symbolnum` of `obj`.
fn section_target(object: &Object, obj: usize, reloc: RelocationInfo, addr: u64, here: &Here) -> Result<Target, Error> {
    let sect = (reloc.r_symbolnum as usize)
        .checked_sub(1)
        .filter(|&s| s < object.sections.len())
        .ok_or_else(|| here.error("section number out of range (malformed object)"))?;
    Ok(Target::Local { obj, sect, addr })
}

/// Reads every relocation of the kept input sections into fixups, refusing what a kext cannot
/// have. Also returns, per import, whether every reference to it is a weak reference.
pub fn scan(resolved: &Resolved, layout_keeps: &dyn Fn(usize, usize) -> bool) -> Result<Scan, Error> {
    let mut fixups = Vec::new();
    let mut weak_refs: HashMap<String, bool> = HashMap::new();
    for (obj, object) in resolved.objects.iter().enumerate() {
        for (sect, section) in object.sections.iter().enumerate() {
            if !layout_keeps(obj, sect) {
                continue;
            }
            let mut section_fixups = Vec::new();
            let mut i = 0;
            while i < section.relocs.len() {
                let reloc = section.relocs[i];
                let here = Here { object, sect, reloc };
                i += 1;
                let offset = u64::from(reloc.r_address);
                let length_bytes = 1usize << reloc.r_length;
                if offset.checked_add(length_bytes as u64).is_none_or(|end| end > section.size) {
                    return Err(here.error("relocation address outside its section (malformed object)"));
                }
                let content = read_content(&section.data, offset as usize, reloc.r_length)
                    .ok_or_else(|| here.error("relocation in a zero-fill section (malformed object)"))?;
                let p_obj = section.addr + offset;
                let weak_ref = reloc.r_extern
                    && object.symbols.get(reloc.r_symbolnum as usize).is_some_and(|s| s.is_undefined() && s.n_desc & macho::N_WEAK_REF != 0);
                let fix = match reloc.r_type {
                    macho::X86_64_RELOC_UNSIGNED => {
                        // "pcrel and X86_64_RELOC_UNSIGNED not supported", "length < 2 and
                        // X86_64_RELOC_UNSIGNED not supported" (ld64's parser)
                        if reloc.r_pcrel {
                            return Err(here.error("pc-relative UNSIGNED relocation (ld64: \"pcrel and X86_64_RELOC_UNSIGNED not supported\")"));
                        }
                        let (target, addend) = if reloc.r_extern {
                            (extern_target(resolved, obj, reloc.r_symbolnum, &here)?, content)
                        } else if reloc.r_symbolnum == u32::from(macho::R_ABS) {
                            (Target::Absolute(0), content)
                        } else {
                            (section_target(object, obj, reloc, content as u64, &here)?, 0)
                        };
                        if reloc.r_length != 3 {
                            if let Target::Absolute(value) = target {
                                absolute32(&here, reloc, value, addend)?
                            } else {
                                return Err(here.error(
                                    "32-bit (or smaller) absolute address: a kext's pointers are 64-bit; the \
                                     kernel's linker (kxld x86_64_process_reloc) relocates UNSIGNED only with \
                                     r_length 3, and ld64 would record an 8-byte relocation over this field",
                                ));
                            }
                        } else {
                            Fix::Pointer { target, addend }
                        }
                    }
                    macho::X86_64_RELOC_SIGNED
                    | macho::X86_64_RELOC_SIGNED_1
                    | macho::X86_64_RELOC_SIGNED_2
                    | macho::X86_64_RELOC_SIGNED_4 => {
                        if !reloc.r_pcrel || reloc.r_length != 2 {
                            return Err(here.error("SIGNED relocation must be pc-relative with r_length 2 (malformed object)"));
                        }
                        let bias: i64 = match reloc.r_type {
                            macho::X86_64_RELOC_SIGNED => 0,
                            macho::X86_64_RELOC_SIGNED_1 => 1,
                            macho::X86_64_RELOC_SIGNED_2 => 2,
                            _ => 4,
                        };
                        if reloc.r_extern {
                            let target = extern_target(resolved, obj, reloc.r_symbolnum, &here)?;
                            if let Target::Import(_) = target {
                                return Err(here.error(
                                    "RIP-relative reference to an undefined (kernel) symbol: ld64 -kext writes no \
                                     relocation for it (addClassicRelocs makes external relocations only for \
                                     pointers and call sites), so its output would point at address 0 and the \
                                     kernel's linker would never fix it; load the address from the GOT instead \
                                     (movq sym@GOTPCREL(%rip), what clang and rustc emit for a symbol that is not \
                                     known to be local)",
                                ));
                            }
                            // ld64: target.addend = content (+N for SIGNED_N), stored as
                            // target + addend - (P + 4 + N).
                            Fix::PcRel { target, addend: content + bias, bias }
                        } else {
                            let t_obj = (p_obj as i64).wrapping_add(content).wrapping_add(4 + bias) as u64;
                            Fix::PcRel { target: section_target(object, obj, reloc, t_obj, &here)?, addend: 0, bias }
                        }
                    }
                    macho::X86_64_RELOC_BRANCH => {
                        if !reloc.r_pcrel {
                            return Err(here.error("BRANCH relocation must be pc-relative (malformed object)"));
                        }
                        if reloc.r_length != 2 {
                            return Err(here.error("only 32-bit branches (r_length 2) are supported"));
                        }
                        if reloc.r_extern {
                            let target = extern_target(resolved, obj, reloc.r_symbolnum, &here)?;
                            match target {
                                Target::Import(name) => {
                                    if content != 0 {
                                        return Err(here.error(
                                            "call to an undefined symbol plus an addend: ld64 -kext emits an external \
                                             BRANCH relocation only for a plain call (kindStoreTargetAddressX86BranchPCRel32)",
                                        ));
                                    }
                                    Fix::CallImport { name }
                                }
                                target => Fix::PcRel { target, addend: content, bias: 0 },
                            }
                        } else {
                            let t_obj = (p_obj as i64).wrapping_add(content).wrapping_add(4) as u64;
                            Fix::PcRel { target: section_target(object, obj, reloc, t_obj, &here)?, addend: 0, bias: 0 }
                        }
                    }
                    macho::X86_64_RELOC_GOT_LOAD | macho::X86_64_RELOC_GOT => {
                        // "not extern and X86_64_RELOC_GOT_LOAD not supported" and friends.
                        if !reloc.r_extern || !reloc.r_pcrel || reloc.r_length != 2 {
                            return Err(here.error("GOT relocation must be external, pc-relative, r_length 2 (malformed object)"));
                        }
                        let target = extern_target(resolved, obj, reloc.r_symbolnum, &here)?;
                        let name = here.symbol(reloc.r_symbolnum);
                        if reloc.r_type == macho::X86_64_RELOC_GOT {
                            Fix::GotData { target, addend: content, name }
                        } else {
                            if content != 0 {
                                return Err(here.error(
                                    "GOT load with an addend: ld64's got pass only routes plain GOT loads \
                                     (kindStoreTargetAddressX86PCRel32GOTLoad) through the GOT",
                                ));
                            }
                            if !needs_got_slot(&target) {
                                // got.cpp turns the load into an address computation
                                // (kindStoreTargetAddressX86PCRel32GOTLoadNowLEA), which needs a movq:
                                // "GOT load reloc does not point to a movq instruction".
                                let opcode = (offset as usize).checked_sub(2).and_then(|o| section.data.get(o));
                                if opcode != Some(&0x8b) {
                                    return Err(here.error(
                                        "GOT load of a symbol defined in the kext is not a movq: ld64 turns it \
                                         into a leaq and refuses anything else (\"GOT load reloc does not point to \
                                         a movq instruction\")",
                                    ));
                                }
                            }
                            Fix::GotLoad { target, name }
                        }
                    }
                    macho::X86_64_RELOC_SUBTRACTOR => {
                        // ld64's parser: must be extern, not pc-rel, r_length 2 or 3, followed by an
                        // UNSIGNED of the same length.
                        let next = section.relocs.get(i).copied();
                        i += 1;
                        if reloc.r_pcrel || reloc.r_length < 2 || !reloc.r_extern {
                            return Err(here.error("SUBTRACTOR must be external, not pc-relative, r_length 2 or 3 (malformed object)"));
                        }
                        let Some(next) = next.filter(|n| n.r_type == macho::X86_64_RELOC_UNSIGNED && !n.r_pcrel && n.r_length == reloc.r_length) else {
                            return Err(here.error("SUBTRACTOR must be followed by an UNSIGNED of the same length (malformed object)"));
                        };
                        let minus = extern_target(resolved, obj, reloc.r_symbolnum, &here)?;
                        let next_here = Here { object, sect, reloc: next };
                        let (plus, addend) = if next.r_extern {
                            (extern_target(resolved, obj, next.r_symbolnum, &next_here)?, content)
                        } else if next.r_symbolnum == u32::from(macho::R_ABS) {
                            (Target::Absolute(0), content)
                        } else {
                            (section_target(object, obj, next, content as u64, &next_here)?, 0)
                        };
                        for t in [&minus, &plus] {
                            if let Target::Import(name) = t {
                                return Err(here.error(&format!(
                                    "difference involving the undefined symbol {name}: a difference of addresses \
                                     needs both in the kext (ld64 asserts the same in addClassicRelocs)"
                                )));
                            }
                        }
                        Fix::Difference { plus, addend, minus, length: reloc.r_length }
                    }
                    macho::X86_64_RELOC_TLV => {
                        return Err(here.error("thread-local variable access: kexts have no TLV support"));
                    }
                    other => {
                        return Err(here.error(&format!("relocation type {other} is not an x86_64 relocation kextld knows")));
                    }
                };
                // Every target inside the kext must be in a section the image keeps.
                let in_dropped = |t: &Target| match t {
                    Target::Local { obj, sect, .. } | Target::ExportedWeak { obj, sect, .. } => !layout_keeps(*obj, *sect),
                    _ => false,
                };
                let dropped = match &fix {
                    Fix::Pointer { target, .. } | Fix::PcRel { target, .. } | Fix::GotLoad { target, .. } | Fix::GotData { target, .. } => in_dropped(target),
                    Fix::Difference { plus, minus, .. } => in_dropped(plus) || in_dropped(minus),
                    Fix::CallImport { .. } => false,
                };
                if dropped {
                    return Err(here.error(
                        "reference into a section that is not part of the image (debug information or __LD); \
                         only __TEXT and __DATA sections are linked",
                    ));
                }
                let target_import = match &fix {
                    Fix::Pointer { target: Target::Import(n), .. }
                    | Fix::GotLoad { target: Target::Import(n), .. }
                    | Fix::GotData { target: Target::Import(n), .. } => Some(n.clone()),
                    Fix::CallImport { name } => Some(name.clone()),
                    _ => None,
                };
                if let Some(name) = target_import {
                    // ld64 passes/dylibs.cpp: the first use sets weak-importness; a mismatch makes
                    // it non-weak (kWeakReferenceMismatchNonWeak, the default).
                    let entry = weak_refs.entry(name).or_insert(weak_ref);
                    *entry = *entry && weak_ref;
                }
                section_fixups.push(Fixup { obj, sect, offset, fix });
            }
            order_by_atom(object, sect, &mut section_fixups);
            fixups.extend(section_fixups);
        }
    }
    Ok(Scan { fixups, weak_imports: weak_refs.into_iter().filter(|(_, w)| *w).map(|(n, _)| n).collect() })
}

/// A 4-byte absolute value (`.long` of an absolute symbol): written, no relocation needed.
fn absolute32(here: &Here, reloc: RelocationInfo, value: u64, addend: i64) -> Result<Fix, Error> {
    if reloc.r_length == 2 {
        return Ok(Fix::Difference { plus: Target::Absolute(value), addend, minus: Target::Absolute(0), length: 2 });
    }
    Err(here.error("UNSIGNED relocation with r_length < 2 (ld64: \"length < 2 and X86_64_RELOC_UNSIGNED not supported\")"))
}

pub struct Scan {
    /// In ld64's processing order: input sections in load order, atoms by address, each atom's
    /// fixups in relocation-table order.
    pub fixups: Vec<Fixup>,
    pub weak_imports: std::collections::BTreeSet<String>,
}

/// ld64 keeps an atom's fixups in the order of the object's relocation table
/// (`Section<A>::makeFixups`) and walks atoms by address. Atoms start at each symbol that is
/// not an 'L' label; pointer-list sections have one atom per pointer (FixedSizeSection).
fn order_by_atom(object: &Object, sect: usize, fixups: &mut [Fixup]) {
    let section = &object.sections[sect];
    let per_pointer = matches!(
        section.section_type(),
        macho::S_MOD_INIT_FUNC_POINTERS | macho::S_MOD_TERM_FUNC_POINTERS | macho::S_LITERAL_POINTERS
    );
    let mut starts: Vec<u64> = object
        .symbols
        .iter()
        .filter(|s| s.kind() == macho::N_SECT && !s.is_stab() && usize::from(s.n_sect) == sect + 1 && !s.name.starts_with('L'))
        .map(|s| s.n_value - section.addr)
        .collect();
    starts.push(0);
    starts.sort_unstable();
    starts.dedup();
    fixups.sort_by_key(|f| {
        if per_pointer {
            f.offset & !7
        } else {
            let i = starts.partition_point(|&s| s <= f.offset);
            starts[i.saturating_sub(1)]
        }
    });
}

/// GOT_LOAD/GOT targets that keep a GOT slot (got.cpp `gotFixup`: not optimizable if the target
/// is in another image, absolute, or an exported weak definition).
pub fn needs_got_slot(target: &Target) -> bool {
    matches!(target, Target::Import(_) | Target::ExportedWeak { .. } | Target::Absolute(_))
}

/// A GOT slot: the target and the name it sorts by.
#[derive(Clone, Debug)]
pub struct GotSlot {
    pub name: String,
    pub target: Target,
}

/// The GOT: one slot per target that keeps one, sorted by name, then by file ordinal for
/// same-named locals (got.cpp `AtomByNameSorter`).
pub fn got_slots(resolved: &Resolved, fixups: &[Fixup]) -> Vec<GotSlot> {
    let mut slots: Vec<GotSlot> = Vec::new();
    for f in fixups {
        let (target, name) = match &f.fix {
            Fix::GotLoad { target, name } if needs_got_slot(target) => (target, name),
            // X86_64_RELOC_GOT is never turned into an address computation (`gotFixup`:
            // "kindStoreX86PCRel32GOT: *optimizable = false").
            Fix::GotData { target, name, .. } => (target, name),
            _ => continue,
        };
        if !slots.iter().any(|s| &s.target == target) {
            slots.push(GotSlot { name: name.clone(), target: target.clone() });
        }
    }
    let ordinal = |t: &Target| match t {
        Target::Local { obj, .. } | Target::ExportedWeak { obj, .. } => Some(resolved.objects[*obj].ordinal),
        _ => None,
    };
    slots.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| ordinal(&a.target).cmp(&ordinal(&b.target))));
    slots
}

fn target_address(resolved: &Resolved, layout: &Layout, target: &Target) -> u64 {
    match target {
        Target::Local { obj, sect, addr } | Target::ExportedWeak { obj, sect, addr, .. } => {
            layout.address(&resolved.objects, *obj, *sect, *addr).unwrap_or(0)
        }
        Target::Absolute(v) => *v,
        Target::Import(_) => 0,
    }
}

fn target_section(layout: &Layout, target: &Target) -> u8 {
    match target {
        Target::Local { obj, sect, .. } | Target::ExportedWeak { obj, sect, .. } => {
            layout.section_of(*obj, *sect).map_or(0, |s| s.ordinal)
        }
        _ => 0,
    }
}

fn put(buf: &mut [u8], at: u64, bytes: &[u8]) {
    let at = at as usize;
    if let Some(dst) = buf.get_mut(at..at + bytes.len()) {
        dst.copy_from_slice(bytes);
    }
}

/// Applies the fixups to the image and returns the output relocations, in ld64's order
/// (output sections in order, atoms in order).
pub fn apply(
    resolved: &Resolved,
    layout: &mut Layout,
    got: &[GotSlot],
    fixups: &[Fixup],
    buf: &mut [u8],
) -> Result<Vec<OutReloc>, Error> {
    let mut by_section: HashMap<(usize, usize), Vec<&Fixup>> = HashMap::new();
    for f in fixups {
        by_section.entry((f.obj, f.sect)).or_default().push(f);
    }
    let mut relocs = Vec::new();
    for s in 0..layout.sections.len() {
        let pieces = layout.sections[s].pieces.clone();
        for piece in pieces {
            match piece.source {
                Source::Got(slot) => {
                    let at = layout.sections[s].addr + piece.offset;
                    let file = layout.sections[s].fileoff + piece.offset;
                    match &got[slot].target {
                        // The slot's content is the addend only (0); the kernel's linker adds the
                        // symbol (`contentAddendOnly` for external relocations).
                        Target::Import(name) => {
                            relocs.push(OutReloc::ExternalPointer { address: at, symbol: name.clone() });
                            layout.sections[s].has_external_relocs = true;
                        }
                        Target::ExportedWeak { def, .. } => {
                            relocs.push(OutReloc::ExternalPointer { address: at, symbol: resolved.symbol(*def).name.clone() });
                            layout.sections[s].has_external_relocs = true;
                        }
                        Target::Absolute(v) => put(buf, file, &v.to_le_bytes()),
                        t @ Target::Local { .. } => {
                            let value = target_address(resolved, layout, t);
                            put(buf, file, &value.to_le_bytes());
                            relocs.push(OutReloc::Local { address: at, section: target_section(layout, t) });
                            layout.sections[s].has_local_relocs = true;
                        }
                    }
                }
                Source::Input { obj, sect } => {
                    let Some(list) = by_section.get(&(obj, sect)) else { continue };
                    for f in list {
                        let out = &layout.sections[s];
                        let p = out.addr + piece.offset + f.offset;
                        let file = out.fileoff + piece.offset + f.offset;
                        let object = &resolved.objects[obj];
                        let section = &object.sections[sect];
                        let here = || format!("{}: {},{}+{:#x}", object.name, section.segname, section.sectname, f.offset);
                        let rel32 = |value: i64, what: &str| -> Result<[u8; 4], Error> {
                            // OutputFile.cpp `rangeCheckRIP32`/`rangeCheckBranch32`: +/-2 GiB.
                            if !(-0x7fff_ffff..=0x7fff_ffff).contains(&value) {
                                return Err(Error::new(format!("{}: 32-bit {what} out of range ({value})", here())));
                            }
                            Ok((value as i32).to_le_bytes())
                        };
                        match &f.fix {
                            Fix::Pointer { target, addend } => match target {
                                Target::Import(name) => {
                                    put(buf, file, &addend.to_le_bytes());
                                    relocs.push(OutReloc::ExternalPointer { address: p, symbol: name.clone() });
                                    layout.sections[s].has_external_relocs = true;
                                }
                                Target::ExportedWeak { def, .. } => {
                                    put(buf, file, &addend.to_le_bytes());
                                    relocs.push(OutReloc::ExternalPointer { address: p, symbol: resolved.symbol(*def).name.clone() });
                                    layout.sections[s].has_external_relocs = true;
                                }
                                Target::Absolute(v) => put(buf, file, &(*v as i64).wrapping_add(*addend).to_le_bytes()),
                                t @ Target::Local { .. } => {
                                    let value = (target_address(resolved, layout, t) as i64).wrapping_add(*addend);
                                    put(buf, file, &value.to_le_bytes());
                                    relocs.push(OutReloc::Local { address: p, section: target_section(layout, t) });
                                    layout.sections[s].has_local_relocs = true;
                                }
                            },
                            Fix::PcRel { target, addend, bias } => {
                                let t = target_address(resolved, layout, target) as i64;
                                let disp = t.wrapping_add(*addend).wrapping_sub(p as i64 + 4 + bias);
                                put(buf, file, &rel32(disp, "RIP-relative reference")?);
                            }
                            Fix::CallImport { name } => {
                                put(buf, file, &0i32.to_le_bytes());
                                relocs.push(OutReloc::ExternalCall { address: p, symbol: name.clone() });
                            }
                            Fix::GotLoad { target, .. } => {
                                let t = if needs_got_slot(target) {
                                    let slot = got_index(got, target);
                                    layout.got_slot_address(slot) as i64
                                } else {
                                    // movq -> leaq (kindStoreTargetAddressX86PCRel32GOTLoadNowLEA).
                                    put(buf, file - 2, &[0x8d]);
                                    target_address(resolved, layout, target) as i64
                                };
                                put(buf, file, &rel32(t - (p as i64 + 4), "GOT load")?);
                            }
                            Fix::GotData { target, addend, .. } => {
                                let slot = got_index(got, target);
                                let t = layout.got_slot_address(slot) as i64;
                                put(buf, file, &rel32(t + addend - (p as i64 + 4), "GOT reference")?);
                            }
                            Fix::Difference { plus, addend, minus, length } => {
                                let v = (target_address(resolved, layout, plus) as i64)
                                    .wrapping_add(*addend)
                                    .wrapping_sub(target_address(resolved, layout, minus) as i64);
                                if *length == 3 {
                                    put(buf, file, &v.to_le_bytes());
                                } else {
                                    if !(-0x8000_0000..=0xffff_ffff).contains(&v) {
                                        return Err(Error::new(format!("{}: 32-bit difference out of range ({v})", here())));
                                    }
                                    put(buf, file, &(v as u32).to_le_bytes());
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    Ok(relocs)
}

fn got_index(got: &[GotSlot], target: &Target) -> usize {
    got.iter().position(|s| &s.target == target).unwrap_or(0)
}
