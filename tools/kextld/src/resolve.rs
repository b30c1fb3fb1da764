//! Symbol resolution and archive loading, as ld64's Resolver does it for `-kext`.
//!
//! - Objects named on the command line are all loaded, in order.
//! - Archive members are loaded only to define a symbol that is still undefined: the undefined
//!   names are visited in sorted order, each is looked up in the archives' tables of contents in
//!   command-line order, and this repeats until nothing new is loaded (Resolver.cpp
//!   `Resolver::resolveAllUndefines` / `resolveCurrentUndefines`; SymbolTable.cpp
//!   `SymbolTable::undefines` sorts the names "so that undefines are in a stable order").
//! - No dead stripping: ld64 strips only with `-dead_strip`, which neither the project's macOS
//!   link line (build.sh: `-Xlinker -kext -nostdlib ...`) nor ld64's kext defaults turn on
//!   (Options.cpp: `fDeadStrip(false)`; `LD_DEAD_STRIP` is ignored for `kKextBundle` in
//!   `Options::parsePostCommandLineEnvironmentSettings`). Every atom of a loaded object is kept.
//! - What is still undefined at the end becomes an import: x86_64 kexts link with
//!   `fUndefinedTreatment = kUndefinedDynamicLookup` (Options.cpp, "x86_64 uses new
//!   MH_KEXT_BUNDLE type"), so unresolved names are left for the kernel's linker.

use std::collections::{BTreeSet, HashMap};

use crate::error::Error;
use crate::input::{Archive, Input, Object, Symbol};

/// A definition: symbol `sym` of loaded object `obj`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Def {
    pub obj: usize,
    pub sym: usize,
}

pub struct Resolved {
    /// Loaded objects, in load order (command-line objects, then archive members as loaded).
    pub objects: Vec<Object>,
    /// Every external definition (private externs included: they resolve within the link).
    pub globals: HashMap<String, Def>,
    /// Referenced, never defined: the kext's imports, sorted by name.
    pub imports: BTreeSet<String>,
}

impl Resolved {
    pub fn symbol(&self, def: Def) -> &Symbol {
        &self.objects[def.obj].symbols[def.sym]
    }
}

struct State {
    objects: Vec<Object>,
    globals: HashMap<String, Def>,
    referenced: BTreeSet<String>,
}

impl State {
    fn add_object(&mut self, object: Object) -> Result<(), Error> {
        let obj = self.objects.len();
        for (sym, symbol) in object.symbols.iter().enumerate() {
            if symbol.is_stab() {
                continue;
            }
            if symbol.is_common() {
                return Err(Error::new(format!(
                    "{}: common (tentative) definition of {}: kextld does not lay out common symbols; compile with -fno-common",
                    object.name, symbol.name
                )));
            }
            if symbol.kind() == object::macho::N_INDR || symbol.kind() == object::macho::N_PBUD {
                return Err(Error::new(format!(
                    "{}: symbol {} has n_type {:#x} (N_INDR/N_PBUD), which a kext cannot contain",
                    object.name, symbol.name, symbol.n_type
                )));
            }
            if symbol.is_undefined() && symbol.is_external() {
                self.referenced.insert(symbol.name.clone());
                continue;
            }
            if !(symbol.is_defined() && symbol.is_external()) {
                continue;
            }
            if let Some(&other) = self.globals.get(&symbol.name) {
                let first = &self.objects[other.obj];
                let first_sym = &first.symbols[other.sym];
                if first_sym.is_weak_def() || symbol.is_weak_def() {
                    return Err(Error::new(format!(
                        "weak symbol {} is defined in both {} and {}: kextld does not coalesce weak definitions \
                         (ld64 would keep one copy); define it in one object only",
                        symbol.name, first.name, object.name
                    )));
                }
                return Err(Error::new(format!(
                    "duplicate symbol {} in {} and {}",
                    symbol.name, first.name, object.name
                )));
            }
            self.globals.insert(symbol.name.clone(), Def { obj, sym });
        }
        self.objects.push(object);
        Ok(())
    }

    fn undefined_names(&self) -> Vec<String> {
        self.referenced.iter().filter(|n| !self.globals.contains_key(*n)).cloned().collect()
    }
}

/// Loads the command-line objects and what the archives must supply. `required` are names
/// that must end up defined (kextld's `-u`), searched for in the archives like any undefined
/// name.
pub fn resolve(inputs: Vec<Input>, required: &[String]) -> Result<Resolved, Error> {
    let mut state = State { objects: Vec::new(), globals: HashMap::new(), referenced: BTreeSet::new() };
    let mut archives: Vec<(Archive, Vec<bool>)> = Vec::new();
    for input in inputs {
        match input {
            Input::Object(object) => state.add_object(object)?,
            Input::Archive(archive) => {
                let loaded = vec![false; archive.members.len()];
                archives.push((archive, loaded));
            }
        }
    }
    for name in required {
        state.referenced.insert(name.clone());
    }
    loop {
        let mut loaded_any = false;
        for name in state.undefined_names() {
            // "load for previous undefine may also have loaded this undefine, so check again"
            if state.globals.contains_key(&name) {
                continue;
            }
            for (archive, loaded) in archives.iter_mut() {
                if let Some(&member) = archive.toc.get(&name) {
                    if !loaded[member] {
                        loaded[member] = true;
                        state.add_object(archive.members[member].clone())?;
                        loaded_any = true;
                    }
                    break;
                }
            }
        }
        if !loaded_any {
            break;
        }
    }
    let missing: Vec<&String> = required.iter().filter(|n| !state.globals.contains_key(*n)).collect();
    if !missing.is_empty() {
        let names: Vec<&str> = missing.iter().map(|s| s.as_str()).collect();
        return Err(Error::new(format!(
            "required symbol(s) not defined by any input: {} (a kext needs _kmod_info from its kmod glue)",
            names.join(", ")
        )));
    }
    let imports = state.undefined_names().into_iter().collect();
    Ok(Resolved { objects: state.objects, globals: state.globals, imports })
}
