//! The symbol table, string table and debug map, laid out as LinkEditClassic.hpp
//! `SymbolTableAtom<A>::encode` does:
//!
//! - locals first (ld64 keeps every local symbol by default, `kLocalSymbolsAll`), then the
//!   debug-map stabs, then the exported symbols sorted by name, then the imports sorted by name
//!   (OutputFile.cpp `OutputFile::partitionSymbolTable` sorts `_exportedAtoms` and
//!   `_importedAtoms` with `AtomByNameSorter`; `assignSymbolIndexes` numbers locals, globals,
//!   imports in that order);
//! - 'L' and 'l' labels are not in a final image (parser `inclusionFromSymbol`); private
//!   externs and `.weak_def_can_be_hidden` symbols become locals with N_PEXT
//!   (`SymbolTableAtom<A>::addLocal`: "if ( atom->scope() == ld::Atom::scopeLinkageUnit ) type
//!   |= N_PEXT");
//! - imports are N_UNDF|N_EXT with n_desc library ordinal DYNAMIC_LOOKUP_ORDINAL (0xfe00): the
//!   kext links two-level with `-undefined dynamic_lookup` semantics
//!   (`SymbolTableAtom<A>::classicOrdinalForProxy`), N_WEAK_REF when every reference is weak;
//! - strings: the pool starts with " \0" (offset 1 is ""), globals and imports are added
//!   as they come, locals and N_SO/N_SOL strings are uniqued, stab strings come last (so the UUID
//!   can skip them), and the pool is padded to 8 bytes (`StringPoolAtom`).
//!
//! So `_kmod_info`, the vtables (`__ZTV*`), `*10superClassE` and `*10gMetaClassE`, which the
//! kernel's linker needs to patch vtables, are always in the table: nothing is stripped.

use std::collections::{BTreeSet, HashMap};

use object::macho;

use crate::input::Object;
use crate::layout::{Layout, Source};
use crate::resolve::Resolved;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Nlist {
    pub strx: u32,
    pub n_type: u8,
    pub n_sect: u8,
    pub n_desc: u16,
    pub n_value: u64,
}

pub struct SymbolTable {
    pub nlists: Vec<Nlist>,
    pub strings: Vec<u8>,
    pub nlocal: u32,
    pub nextdef: u32,
    pub nundef: u32,
    /// Index of each exported or imported name (for external relocations).
    pub index: HashMap<String, u32>,
    /// Stab nlists `[start, end)` and their strings `[start, end)`: excluded from the UUID.
    pub stabs: Option<((u32, u32), (u32, u32))>,
}

struct StringPool {
    bytes: Vec<u8>,
    unique: HashMap<String, u32>,
}

impl StringPool {
    fn new() -> StringPool {
        // "burn first byte of string pool (so zero is never a valid string offset)"; "make
        // offset 1 always point to an empty string".
        StringPool { bytes: vec![b' ', 0], unique: HashMap::new() }
    }

    fn add(&mut self, s: &str) -> u32 {
        let at = self.bytes.len() as u32;
        self.bytes.extend_from_slice(s.as_bytes());
        self.bytes.push(0);
        at
    }

    fn add_unique(&mut self, s: &str) -> u32 {
        if let Some(&at) = self.unique.get(s) {
            return at;
        }
        let at = self.add(s);
        self.unique.insert(s.to_string(), at);
        at
    }

    fn current(&self) -> u32 {
        self.bytes.len() as u32
    }
}

/// One symbol that the output keeps, in output order.
struct Kept<'a> {
    obj: usize,
    sym: &'a crate::input::Symbol,
    section_ordinal: u8,
    address: u64,
    /// ld64's atom size: to the next atom start (0 for aliases).
    size: u64,
    in_code: bool,
    in_cstring: bool,
}

fn is_kept_label(name: &str) -> bool {
    !name.starts_with('L') && !name.starts_with('l')
}

/// ld64's alias rule for symbols at one address (parser `symbolIndexSorter`): 'ltmp' labels,
/// then locals, then globals; among equals names sort descending, and the last one is the real
/// atom. Returns a rank where the real atom has the highest.
fn alias_rank(sym: &crate::input::Symbol) -> (u8, std::cmp::Reverse<&str>) {
    let class = if sym.name.starts_with("ltmp") {
        0
    } else if sym.is_external() {
        2
    } else {
        1
    };
    (class, std::cmp::Reverse(sym.name.as_str()))
}

/// The symbols of input section `sect` of `object` that ld64 puts in the symbol table, with
/// their atom sizes, sorted by (address, name) as passes/order.cpp does.
fn section_symbols<'a>(object: &'a Object, obj: usize, sect: usize, layout: &Layout, objects: &[Object]) -> Vec<Kept<'a>> {
    let section = &object.sections[sect];
    let in_sect: Vec<&crate::input::Symbol> = object
        .symbols
        .iter()
        .filter(|s| !s.is_stab() && s.kind() == macho::N_SECT && usize::from(s.n_sect) == sect + 1)
        .collect();
    // Atom starts: every symbol but 'L' labels; the section end closes the last atom.
    let mut starts: Vec<u64> = in_sect.iter().filter(|s| !s.name.starts_with('L')).map(|s| s.n_value).collect();
    starts.push(section.addr + section.size);
    starts.sort_unstable();
    starts.dedup();
    let ordinal = layout.section_of(obj, sect).map_or(0, |s| s.ordinal);
    let mut kept: Vec<Kept> = Vec::new();
    for sym in &in_sect {
        if !is_kept_label(&sym.name) {
            continue;
        }
        let real = in_sect
            .iter()
            .filter(|o| o.n_value == sym.n_value && !o.name.starts_with('L'))
            .max_by(|a, b| alias_rank(a).cmp(&alias_rank(b)))
            .is_some_and(|r| std::ptr::eq(*r, *sym));
        let next = starts.iter().copied().find(|&a| a > sym.n_value).unwrap_or(sym.n_value);
        kept.push(Kept {
            obj,
            sym,
            section_ordinal: ordinal,
            address: layout.address(objects, obj, sect, sym.n_value).unwrap_or(0),
            size: if real { next - sym.n_value } else { 0 },
            in_code: section.flags & macho::S_ATTR_PURE_INSTRUCTIONS != 0,
            in_cstring: section.section_type() == macho::S_CSTRING_LITERALS,
        });
    }
    kept.sort_by(|a, b| a.address.cmp(&b.address).then_with(|| a.sym.name.cmp(&b.sym.name)));
    kept
}

/// Local: not external, or a private extern, or hidden by `.weak_def_can_be_hidden`.
fn is_local(sym: &crate::input::Symbol) -> bool {
    !sym.is_external() || sym.is_private_extern() || sym.is_auto_hide()
}

pub struct DebugMap<'a> {
    /// Translation unit path of each object with DWARF (None: no debug notes for it).
    pub tu_paths: &'a [Option<String>],
    pub zero_mod_time: bool,
}

/// A stab before strings are assigned.
struct Stab {
    n_type: u8,
    n_sect: u8,
    n_desc: u16,
    n_value: u64,
    string: StabString,
}

enum StabString {
    Empty,
    Unique(String),
    Plain(String),
}

pub fn build(
    resolved: &Resolved,
    layout: &Layout,
    weak_imports: &BTreeSet<String>,
    debug_map: Option<&DebugMap>,
) -> SymbolTable {
    let objects = &resolved.objects;
    // Every kept symbol, in output order: sections in order, pieces in order.
    let mut kept: Vec<Kept> = Vec::new();
    for out in &layout.sections {
        for piece in &out.pieces {
            if let Source::Input { obj, sect } = piece.source {
                kept.extend(section_symbols(&objects[obj], obj, sect, layout, objects));
            }
        }
    }
    // A definition that is not the one resolution chose is not exported (duplicates are refused
    // during resolution, so none is dropped today).
    let is_winner = |k: &Kept| {
        !k.sym.is_external()
            || resolved.globals.get(&k.sym.name).is_some_and(|d| d.obj == k.obj)
    };
    let locals: Vec<&Kept> = kept.iter().filter(|k| is_local(k.sym) && is_winner(k)).collect();
    let mut globals: Vec<&Kept> = kept.iter().filter(|k| !is_local(k.sym) && is_winner(k)).collect();
    globals.sort_by(|a, b| a.sym.name.as_bytes().cmp(b.sym.name.as_bytes()));
    // Absolute definitions have no section: ld64 keeps them too.
    let mut abs_locals = Vec::new();
    let mut abs_globals = Vec::new();
    for (obj, object) in objects.iter().enumerate() {
        for sym in &object.symbols {
            if sym.is_stab() || sym.kind() != macho::N_ABS || !is_kept_label(&sym.name) {
                continue;
            }
            if is_local(sym) {
                abs_locals.push(sym);
            } else if resolved.globals.get(&sym.name).is_some_and(|d| d.obj == obj) {
                abs_globals.push(sym);
            }
        }
    }

    let desc_of = |sym: &crate::input::Symbol| {
        let mut desc = 0u16;
        if sym.n_desc & macho::REFERENCED_DYNAMICALLY != 0 {
            desc |= macho::REFERENCED_DYNAMICALLY;
        }
        if sym.is_weak_def() {
            desc |= macho::N_WEAK_DEF;
        }
        desc
    };

    let mut pool = StringPool::new();
    // Globals then imports first (plain `add`), then locals (`addUnique`), then stabs.
    let mut global_nlists = Vec::new();
    let mut index = HashMap::new();
    let mut all_globals: Vec<(String, Nlist)> = Vec::new();
    for k in &globals {
        all_globals.push((
            k.sym.name.clone(),
            Nlist { strx: 0, n_type: macho::N_SECT | macho::N_EXT, n_sect: k.section_ordinal, n_desc: desc_of(k.sym), n_value: k.address },
        ));
    }
    for sym in &abs_globals {
        all_globals.push((
            sym.name.clone(),
            Nlist { strx: 0, n_type: macho::N_ABS | macho::N_EXT, n_sect: 0, n_desc: desc_of(sym), n_value: sym.n_value },
        ));
    }
    all_globals.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    for (name, mut n) in all_globals {
        n.strx = pool.add(&name);
        global_nlists.push((name, n));
    }
    let mut import_nlists = Vec::new();
    for name in &resolved.imports {
        let mut desc = u16::from(macho::DYNAMIC_LOOKUP_ORDINAL) << 8;
        if weak_imports.contains(name) {
            desc |= macho::N_WEAK_REF;
        }
        let strx = pool.add(name);
        import_nlists.push((name.clone(), Nlist { strx, n_type: macho::N_UNDF | macho::N_EXT, n_sect: 0, n_desc: desc, n_value: 0 }));
    }
    let mut local_nlists = Vec::new();
    for k in &locals {
        let mut n_type = macho::N_SECT;
        if k.sym.is_external() {
            n_type |= macho::N_PEXT;
        }
        let strx = pool.add_unique(&k.sym.name);
        local_nlists.push(Nlist { strx, n_type, n_sect: k.section_ordinal, n_desc: desc_of(k.sym), n_value: k.address });
    }
    for sym in &abs_locals {
        let mut n_type = macho::N_ABS;
        if sym.is_external() {
            n_type |= macho::N_PEXT;
        }
        let strx = pool.add_unique(&sym.name);
        local_nlists.push(Nlist { strx, n_type, n_sect: 0, n_desc: desc_of(sym), n_value: sym.n_value });
    }

    // The debug map (OutputFile.cpp `OutputFile::synthesizeDebugNotes`).
    let mut stabs_range = None;
    if let Some(map) = debug_map {
        let stabs = debug_notes(objects, &kept, &locals, &globals, map);
        if !stabs.is_empty() {
            let strings_start = pool.current();
            let index_start = local_nlists.len() as u32;
            for st in stabs {
                let strx = match &st.string {
                    StabString::Empty => 1,
                    StabString::Unique(s) => pool.add_unique(s),
                    StabString::Plain(s) => pool.add(s),
                };
                local_nlists.push(Nlist { strx, n_type: st.n_type, n_sect: st.n_sect, n_desc: st.n_desc, n_value: st.n_value });
            }
            stabs_range = Some(((index_start, local_nlists.len() as u32), (strings_start, pool.current())));
        }
    }

    let nlocal = local_nlists.len() as u32;
    let mut nlists = local_nlists;
    for (name, n) in global_nlists.iter().chain(import_nlists.iter()) {
        index.insert(name.clone(), nlists.len() as u32);
        nlists.push(*n);
    }
    let mut strings = pool.bytes;
    while strings.len() % 8 != 0 {
        strings.push(0);
    }
    SymbolTable {
        nlists,
        strings,
        nlocal,
        nextdef: global_nlists.len() as u32,
        nundef: import_nlists.len() as u32,
        index,
        stabs: stabs_range,
    }
}

fn debug_notes(objects: &[Object], kept: &[Kept], locals: &[&Kept], globals: &[&Kept], map: &DebugMap) -> Vec<Stab> {
    let in_table = |k: &Kept| locals.iter().chain(globals.iter()).any(|x| std::ptr::eq(*x, k));
    // Files in command-line order; each file's atoms in output order.
    let mut files: Vec<usize> = (0..objects.len()).filter(|&o| map.tu_paths.get(o).is_some_and(|p| p.is_some())).collect();
    files.sort_by_key(|&o| objects[o].ordinal);
    let mut stabs = Vec::new();
    let mut cur_tu: Option<String> = None;
    let mut wrote_start = false;
    for obj in files {
        let Some(Some(tu)) = map.tu_paths.get(obj) else { continue };
        let object = &objects[obj];
        for k in kept.iter().filter(|k| k.obj == obj) {
            // "no stabs for string literal atoms", "no stabs for empty atoms", and only
            // atoms that are in the symbol table.
            if k.in_cstring || k.size == 0 || !in_table(k) {
                continue;
            }
            if cur_tu.as_deref() != Some(tu.as_str()) {
                cur_tu = Some(tu.clone());
                let Some(slash) = tu.rfind('/') else { continue };
                // ld64 956 emits an ending N_SO before every new translation unit, the first
                // included ("if ( curTUPath != nullptr )" is tested after the assignment).
                stabs.push(Stab { n_type: macho::N_SO, n_sect: 1, n_desc: 0, n_value: 0, string: StabString::Empty });
                // "lldb wants directory SO's to end in '/'"
                stabs.push(Stab { n_type: macho::N_SO, n_sect: 0, n_desc: 0, n_value: 0, string: StabString::Unique(tu[..=slash].to_string()) });
                stabs.push(Stab { n_type: macho::N_SO, n_sect: 0, n_desc: 0, n_value: 0, string: StabString::Unique(tu[slash + 1..].to_string()) });
                // "linker should put cpusubtype in n_sect field of nlist entry for N_OSO"
                stabs.push(Stab {
                    n_type: macho::N_OSO,
                    n_sect: object.cpusubtype as u8,
                    n_desc: 1,
                    n_value: if map.zero_mod_time { 0 } else { object.mtime },
                    string: StabString::Plain(object.oso_path.clone()),
                });
                wrote_start = true;
            }
            let name = k.sym.name.clone();
            if k.in_code {
                stabs.push(Stab { n_type: macho::N_BNSYM, n_sect: k.section_ordinal, n_desc: 0, n_value: k.address, string: StabString::Empty });
                stabs.push(Stab { n_type: macho::N_FUN, n_sect: 1, n_desc: 0, n_value: k.address, string: StabString::Plain(name) });
                stabs.push(Stab { n_type: macho::N_FUN, n_sect: 0, n_desc: 0, n_value: k.size, string: StabString::Empty });
                stabs.push(Stab { n_type: macho::N_ENSYM, n_sect: k.section_ordinal, n_desc: 0, n_value: k.address, string: StabString::Empty });
            } else if !k.sym.is_external() {
                stabs.push(Stab { n_type: macho::N_STSYM, n_sect: k.section_ordinal, n_desc: 0, n_value: k.address, string: StabString::Plain(name) });
            } else {
                stabs.push(Stab { n_type: macho::N_GSYM, n_sect: 0, n_desc: 0, n_value: 0, string: StabString::Plain(name) });
            }
        }
    }
    if wrote_start {
        stabs.push(Stab { n_type: macho::N_SO, n_sect: 1, n_desc: 0, n_value: 0, string: StabString::Empty });
    }
    stabs
}
