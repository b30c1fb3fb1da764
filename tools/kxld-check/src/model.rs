//! The 10.15 kernel symbol model: a kernel `MH_EXECUTE` that defines every symbol of xnu's KPI
//! symbol sets and the superclass vtables laid out from the headers, and the KPI pseudo-kexts
//! that restrict what a kext may see of it, in the layout of a real system:
//!
//! ```text
//! <out>/kernel
//! <out>/System.kext/PlugIns/<Set>.kext/Info.plist
//! <out>/System.kext/PlugIns/<Set>.kext/<Set>
//! ```
//!
//! so the link step reads the model exactly as it reads a Mac's `/System/Library/Kernels/kernel`
//! and `/System/Library/Extensions/System.kext/PlugIns`.
//!
//! What kxld needs from them (libkern/kxld): the kernel is recognised by `MH_EXECUTE`
//! (`kxld_object_init_from_macho`) and is "linked", so its vtables are read entry by entry up to
//! a zero entry, each entry looked up by value among the kernel's C++ symbols (`init_by_entries`
//! in kxld_vtable.c): every slot therefore points at a distinct, named function. A pseudo-kext
//! (written like xnu's `SETUP/kextsymboltool`) is an `MH_KEXT_BUNDLE` with only a symbol table:
//! `N_UNDF|N_EXT` for an export the kernel defines under the same name, `N_INDR|N_EXT` for an
//! alias (`export_symbols_through_interface` in kxld_kext.c).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::exports::SymbolSet;
use crate::macho::{CPU_SUBTYPE_X86_64_ALL, CPU_TYPE_X86_64, LC_SEGMENT_64, LC_SYMTAB, LC_UUID, MH_EXECUTE, MH_KEXT_BUNDLE, MH_MAGIC_64, N_EXT, N_INDR, N_SECT, N_UNDF};
use crate::probe::{vtable_symbol, ClassVtable};

/// Where the model kernel's `__TEXT` starts: the 10.15 kernel's unslid base.
pub const KERNEL_BASE: u64 = 0xffff_ff80_0020_0000;
const PAGE: u64 = 0x1000;
const FUNCTION_SIZE: u64 = 16;
const DATA_SIZE: u64 = 16;
const N_DESC_DISCARDED: u16 = 0x20;
const MH_INCRLINK: u32 = 0x2;
const MH_NOUNDEFS: u32 = 0x1;

fn round_page(x: u64) -> u64 {
    x.div_ceil(PAGE) * PAGE
}

/// A C++ variable: a nested name with nothing after its closing `E` (no parameter list).
fn is_cxx_variable(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("__ZN") else { return false };
    // Walk <length><identifier> components up to the closing E.
    let mut s = rest.strip_prefix('K').unwrap_or(rest);
    loop {
        let digits = s.chars().take_while(char::is_ascii_digit).count();
        if digits == 0 {
            return s == "E";
        }
        let Ok(len) = s[..digits].parse::<usize>() else { return false };
        let Some(next) = s.get(digits + len..) else { return false };
        s = next;
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Function,
    Data,
    Vtable,
}

/// The kernel's symbols: name -> kind, and the vtables' contents.
pub struct KernelModel {
    pub symbols: BTreeMap<String, Kind>,
    pub vtables: Vec<ClassVtable>,
}

impl KernelModel {
    pub fn new(sets: &[SymbolSet], vtables: &[ClassVtable]) -> KernelModel {
        let mut symbols = BTreeMap::new();
        for set in sets {
            for e in set.exports.iter().filter(|e| !e.wildcard) {
                let name = e.kernel_symbol().to_string();
                let kind = if name.starts_with("__ZTV") {
                    Kind::Vtable // laid out below if a probed class; otherwise empty
                } else if is_cxx_variable(&name) {
                    Kind::Data
                } else {
                    Kind::Function
                };
                symbols.insert(name, kind);
            }
        }
        for vt in vtables {
            symbols.insert(vtable_symbol(&vt.class), Kind::Vtable);
            for slot in &vt.slots {
                symbols.insert(slot.symbol.clone(), Kind::Function);
            }
        }
        KernelModel { symbols, vtables: vtables.to_vec() }
    }

    /// The kernel `MH_EXECUTE`: `__TEXT,__text` (a `ret` per function), `__DATA,__const` (the
    /// vtables: two zero words, the slots, a zero terminator), `__DATA,__data` (16 bytes per
    /// variable), `__LINKEDIT` (symbols, strings).
    pub fn write_kernel(&self) -> Vec<u8> {
        let functions: Vec<&str> =
            self.symbols.iter().filter(|(_, k)| **k == Kind::Function).map(|(n, _)| n.as_str()).collect();
        let data: Vec<&str> = self.symbols.iter().filter(|(_, k)| **k == Kind::Data).map(|(n, _)| n.as_str()).collect();

        let ncmds = 5u32;
        let sizeofcmds = (72 + 80) + (72 + 2 * 80) + 72 + 24 + 24;
        let text_addr = KERNEL_BASE + PAGE;
        let text_size = functions.len() as u64 * FUNCTION_SIZE;
        let text_seg_size = round_page(PAGE + text_size);
        let mut addr: BTreeMap<&str, u64> = BTreeMap::new();
        for (i, f) in functions.iter().enumerate() {
            addr.insert(f, text_addr + i as u64 * FUNCTION_SIZE);
        }
        let data_seg = KERNEL_BASE + text_seg_size;
        let const_addr = data_seg;
        let mut vt_bytes: Vec<u8> = Vec::new();
        let mut vt_addr: Vec<(String, u64)> = Vec::new();
        // Every vtable symbol: the laid-out ones with their slots; an exported vtable of a class
        // the headers were not asked about has no slots (header and terminator only).
        for (name, _) in self.symbols.iter().filter(|(_, k)| **k == Kind::Vtable) {
            vt_addr.push((name.clone(), const_addr + vt_bytes.len() as u64));
            vt_bytes.extend_from_slice(&[0u8; 16]);
            if let Some(vt) = self.vtables.iter().find(|v| vtable_symbol(&v.class) == *name) {
                for slot in &vt.slots {
                    let target = addr.get(slot.symbol.as_str()).copied().unwrap_or(0);
                    vt_bytes.extend_from_slice(&target.to_le_bytes());
                }
            }
            vt_bytes.extend_from_slice(&[0u8; 8]);
        }
        let const_size = vt_bytes.len() as u64;
        let data_addr = const_addr + const_size.next_multiple_of(16);
        for (i, d) in data.iter().enumerate() {
            addr.insert(d, data_addr + i as u64 * DATA_SIZE);
        }
        for (name, a) in &vt_addr {
            addr.insert(name.as_str(), *a);
        }
        let data_size = data.len() as u64 * DATA_SIZE;
        let data_seg_size = round_page(data_addr + data_size - data_seg);
        let linkedit_addr = data_seg + data_seg_size;
        let linkedit_off = text_seg_size + data_seg_size;

        // Symbols, sorted by name: __text = 1, __const = 2, __data = 3.
        let mut strtab = vec![0u8, 0, 0, 0];
        let mut nlist = Vec::new();
        for (name, kind) in &self.symbols {
            let sect = match kind {
                Kind::Function => 1u8,
                Kind::Vtable => 2,
                Kind::Data => 3,
            };
            let value = addr.get(name.as_str()).copied().unwrap_or(0);
            push_nlist(&mut nlist, strtab.len() as u32, N_SECT | N_EXT, sect, 0, value);
            strtab.extend_from_slice(name.as_bytes());
            strtab.push(0);
        }
        while strtab.len() % 8 != 0 {
            strtab.push(0);
        }
        let symoff = linkedit_off;
        let stroff = symoff + nlist.len() as u64;
        let linkedit_size = nlist.len() as u64 + strtab.len() as u64;

        let mut out = Vec::new();
        header(&mut out, MH_EXECUTE, ncmds, sizeofcmds, MH_NOUNDEFS);
        segment(&mut out, "__TEXT", KERNEL_BASE, text_seg_size, 0, text_seg_size, 5, &[("__text", text_addr, text_size, PAGE, 4, 0x8000_0400)]);
        segment(
            &mut out,
            "__DATA",
            data_seg,
            data_seg_size,
            text_seg_size,
            data_seg_size,
            3,
            &[
                ("__const", const_addr, const_size, text_seg_size, 3, 0),
                ("__data", data_addr, data_size, text_seg_size + (data_addr - data_seg), 4, 0),
            ],
        );
        segment(&mut out, "__LINKEDIT", linkedit_addr, round_page(linkedit_size), linkedit_off, linkedit_size, 1, &[]);
        symtab_cmd(&mut out, symoff, self.symbols.len(), stroff, strtab.len());
        uuid_cmd(&mut out, &nlist, &strtab);
        debug_assert_eq!(out.len(), 32 + sizeofcmds as usize);

        out.resize(PAGE as usize, 0);
        for _ in &functions {
            out.push(0xc3); // ret
            out.extend_from_slice(&[0xcc; FUNCTION_SIZE as usize - 1]); // int3
        }
        out.resize(text_seg_size as usize, 0);
        out.extend_from_slice(&vt_bytes);
        out.resize((text_seg_size + data_seg_size) as usize, 0);
        out.extend_from_slice(&nlist);
        out.extend_from_slice(&strtab);
        out
    }
}

/// One KPI pseudo-kext, as `kextsymboltool -import <kernel symbols> -export <lists>` writes it.
/// Wildcard exports expand to the kernel symbols with that prefix.
pub fn write_interface(set: &SymbolSet, kernel_symbols: &BTreeSet<&str>) -> Result<Vec<u8>, String> {
    // (name, indirect, obsolete), unique by name, sorted like kextsymboltool's qsort.
    let mut entries: BTreeMap<String, (Option<String>, bool)> = BTreeMap::new();
    for e in &set.exports {
        if e.wildcard {
            for k in kernel_symbols.iter().filter(|k| k.starts_with(&e.name)) {
                entries.entry((*k).to_string()).or_insert((None, e.obsolete));
            }
            continue;
        }
        if !kernel_symbols.contains(e.kernel_symbol()) {
            return Err(format!("{}: exported name not in the kernel model: {}", set.set, e.kernel_symbol()));
        }
        if entries.insert(e.name.clone(), (e.alias.clone(), e.obsolete)).is_some() {
            return Err(format!("{}: duplicate export: {}", set.set, e.name));
        }
    }
    let mut strtab = vec![0u8, 0, 0, 0];
    let mut nlist = Vec::new();
    for (name, (alias, obsolete)) in &entries {
        let strx = strtab.len() as u32;
        strtab.extend_from_slice(name.as_bytes());
        strtab.push(0);
        let desc = if *obsolete { N_DESC_DISCARDED } else { 0 };
        match alias {
            Some(a) => {
                let target = strtab.len() as u64;
                strtab.extend_from_slice(a.as_bytes());
                strtab.push(0);
                push_nlist(&mut nlist, strx, N_INDR | N_EXT, 0, desc, target);
            }
            None => push_nlist(&mut nlist, strx, N_UNDF | N_EXT, 0, desc, 0),
        }
    }
    while strtab.len() % 4 != 0 {
        strtab.push(0);
    }
    let sizeofcmds = 72 + 24 + 24;
    let symoff = round_page(32 + sizeofcmds as u64);
    let size = nlist.len() as u64 + strtab.len() as u64;
    let mut out = Vec::new();
    header(&mut out, MH_KEXT_BUNDLE, 3, sizeofcmds, MH_INCRLINK);
    segment(&mut out, "__LINKEDIT", 0, size, symoff, size, 1, &[]);
    symtab_cmd(&mut out, symoff, entries.len(), symoff + nlist.len() as u64, strtab.len());
    uuid_cmd(&mut out, &nlist, &strtab);
    out.resize(symoff as usize, 0);
    out.extend_from_slice(&nlist);
    out.extend_from_slice(&strtab);
    Ok(out)
}

/// The pseudo-kext's Info.plist (the keys OSKext and this check read).
pub fn interface_plist(set: &SymbolSet) -> plist::Value {
    let mut d = plist::Dictionary::new();
    let s = |v: &str| plist::Value::String(v.to_string());
    d.insert("CFBundleIdentifier".into(), s(&set.bundle_id));
    d.insert("CFBundleExecutable".into(), s(&set.executable));
    d.insert("CFBundlePackageType".into(), s("KEXT"));
    d.insert("CFBundleVersion".into(), s(&set.version));
    if let Some(c) = &set.compatible_version {
        d.insert("OSBundleCompatibleVersion".into(), s(c));
    }
    d.insert("OSKernelResource".into(), plist::Value::Boolean(set.kernel_resource));
    plist::Value::Dictionary(d)
}

/// Writes the kernel and every pseudo-kext under `out`.
pub fn write(out: &Path, sets: &[SymbolSet], vtables: &[ClassVtable]) -> Result<KernelModel, String> {
    let model = KernelModel::new(sets, vtables);
    let io = |p: &Path, e: std::io::Error| format!("{}: {e}", p.display());
    std::fs::create_dir_all(out).map_err(|e| io(out, e))?;
    let kernel_path = out.join("kernel");
    std::fs::write(&kernel_path, model.write_kernel()).map_err(|e| io(&kernel_path, e))?;
    let names: BTreeSet<&str> = model.symbols.keys().map(String::as_str).collect();
    for set in sets {
        let dir = out.join("System.kext/PlugIns").join(format!("{}.kext", set.set));
        std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
        let bin = dir.join(&set.executable);
        std::fs::write(&bin, write_interface(set, &names)?).map_err(|e| io(&bin, e))?;
        let plist_path = dir.join("Info.plist");
        interface_plist(set).to_file_xml(&plist_path).map_err(|e| format!("{}: {e}", plist_path.display()))?;
    }
    Ok(model)
}

fn push_nlist(out: &mut Vec<u8>, strx: u32, n_type: u8, n_sect: u8, n_desc: u16, n_value: u64) {
    out.extend_from_slice(&strx.to_le_bytes());
    out.push(n_type);
    out.push(n_sect);
    out.extend_from_slice(&n_desc.to_le_bytes());
    out.extend_from_slice(&n_value.to_le_bytes());
}

fn header(out: &mut Vec<u8>, filetype: u32, ncmds: u32, sizeofcmds: u32, flags: u32) {
    for w in [MH_MAGIC_64, CPU_TYPE_X86_64, CPU_SUBTYPE_X86_64_ALL, filetype, ncmds, sizeofcmds, flags, 0] {
        out.extend_from_slice(&w.to_le_bytes());
    }
}

fn name16(out: &mut Vec<u8>, name: &str) {
    let mut b = [0u8; 16];
    for (d, s) in b.iter_mut().zip(name.bytes()) {
        *d = s;
    }
    out.extend_from_slice(&b);
}

/// (sectname, addr, size, file offset, align (log2), flags)
type SectionSpec<'a> = (&'a str, u64, u64, u64, u32, u32);

#[allow(clippy::too_many_arguments)]
fn segment(out: &mut Vec<u8>, name: &str, vmaddr: u64, vmsize: u64, fileoff: u64, filesize: u64, prot: u32, sects: &[SectionSpec<'_>]) {
    out.extend_from_slice(&LC_SEGMENT_64.to_le_bytes());
    out.extend_from_slice(&(72 + 80 * sects.len() as u32).to_le_bytes());
    name16(out, name);
    for q in [vmaddr, vmsize, fileoff, filesize] {
        out.extend_from_slice(&q.to_le_bytes());
    }
    for w in [prot, prot, sects.len() as u32, 0] {
        out.extend_from_slice(&w.to_le_bytes());
    }
    for (sect, addr, size, off, align, flags) in sects {
        name16(out, sect);
        name16(out, name);
        out.extend_from_slice(&addr.to_le_bytes());
        out.extend_from_slice(&size.to_le_bytes());
        for w in [*off as u32, *align, 0, 0, *flags, 0, 0, 0] {
            out.extend_from_slice(&w.to_le_bytes());
        }
    }
}

fn symtab_cmd(out: &mut Vec<u8>, symoff: u64, nsyms: usize, stroff: u64, strsize: usize) {
    for w in [LC_SYMTAB, 24, symoff as u32, nsyms as u32, stroff as u32, strsize as u32] {
        out.extend_from_slice(&w.to_le_bytes());
    }
}

/// A UUID derived from the contents (FNV-1a), so the same inputs give the same files.
fn uuid_cmd(out: &mut Vec<u8>, a: &[u8], b: &[u8]) {
    let mut h1: u64 = 0xcbf2_9ce4_8422_2325;
    let mut h2: u64 = 0x8422_2325_cbf2_9ce4;
    for &x in a.iter().chain(b) {
        h1 = (h1 ^ u64::from(x)).wrapping_mul(0x0100_0000_01b3);
        h2 = (h2 ^ u64::from(x)).wrapping_mul(0x0000_0100_0000_01b3 ^ 0x5bd1_e995);
    }
    out.extend_from_slice(&LC_UUID.to_le_bytes());
    out.extend_from_slice(&24u32.to_le_bytes());
    out.extend_from_slice(&h1.to_le_bytes());
    out.extend_from_slice(&h2.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exports::Export;
    use crate::macho::MachO;
    use crate::probe::Slot;

    fn export(name: &str, alias: Option<&str>, wildcard: bool) -> Export {
        Export { name: name.into(), alias: alias.map(Into::into), wildcard, obsolete: false }
    }

    fn toy() -> (Vec<SymbolSet>, Vec<ClassVtable>) {
        let set = SymbolSet {
            set: "Toy".into(),
            bundle_id: "com.example.kpi.toy".into(),
            executable: "Toy".into(),
            version: "19.6.0".into(),
            compatible_version: Some("8.0".into()),
            kernel_resource: true,
            exports: vec![
                export("_plain", None, false),
                export("_alias", Some("_real"), false),
                export("__ZN4Base10gMetaClassE", None, false),
                export("__ZN4Base", None, true),
            ],
        };
        let vt = ClassVtable {
            class: "Base".into(),
            slots: vec![
                Slot { symbol: "__ZN4BaseD1Ev".into(), text: "Base::~Base() [complete]".into() },
                Slot { symbol: "__ZN4Base1fEv".into(), text: "void Base::f()".into() },
                Slot { symbol: "___cxa_pure_virtual".into(), text: "void Base::g() [pure]".into() },
            ],
        };
        (vec![set], vec![vt])
    }

    #[test]
    fn classifies_variables() {
        assert!(is_cxx_variable("__ZN9IOService10gMetaClassE"));
        assert!(is_cxx_variable("__ZN9IOService10superClassE"));
        assert!(!is_cxx_variable("__ZN9IOService5startEPS_"));
        assert!(!is_cxx_variable("__ZNK8OSObject7releaseEv"));
        assert!(!is_cxx_variable("_kauth_listen_scope"));
    }

    #[test]
    fn kernel_defines_every_symbol_and_the_vtable() {
        let (sets, vts) = toy();
        let model = KernelModel::new(&sets, &vts);
        let bytes = model.write_kernel();
        let k = MachO::parse(&bytes).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(k.filetype, MH_EXECUTE);
        let defs = k.defined_by_name();
        for name in ["_plain", "_real", "__ZN4Base10gMetaClassE", "__ZTV4Base", "__ZN4BaseD1Ev", "__ZN4Base1fEv", "___cxa_pure_virtual"] {
            assert!(defs.contains_key(name), "{name} missing");
        }
        assert!(!defs.contains_key("_alias"), "an alias is the pseudo-kext's, not the kernel's");
        let vt = defs.get("__ZTV4Base").map(|s| s.n_value).unwrap_or(0);
        let slot = |i: u64| k.u64_at_addr(vt + 16 + 8 * i);
        assert_eq!(k.u64_at_addr(vt), Some(0));
        assert_eq!(slot(0), defs.get("__ZN4BaseD1Ev").map(|s| s.n_value));
        assert_eq!(slot(1), defs.get("__ZN4Base1fEv").map(|s| s.n_value));
        assert_eq!(slot(2), defs.get("___cxa_pure_virtual").map(|s| s.n_value));
        assert_eq!(slot(3), Some(0), "apple-kext terminator");
        let addrs: BTreeSet<u64> = defs.values().map(|s| s.n_value).collect();
        assert_eq!(addrs.len(), defs.len(), "every symbol at its own address");
        assert!(defs.values().all(|s| s.n_value % 2 == 0));
        assert_eq!(k.bytes_at(defs.get("_plain").map(|s| s.n_value).unwrap_or(0), 1), Some(&[0xc3u8][..]));
    }

    #[test]
    fn interface_lists_exports_aliases_and_wildcard_matches() {
        let (sets, vts) = toy();
        let model = KernelModel::new(&sets, &vts);
        let names: BTreeSet<&str> = model.symbols.keys().map(String::as_str).collect();
        let bytes = write_interface(&sets[0], &names).unwrap_or_default();
        let i = MachO::parse(&bytes).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(i.filetype, MH_KEXT_BUNDLE);
        let get = |n: &str| i.symbols.iter().find(|s| s.name == n).cloned();
        assert_eq!(get("_plain").map(|s| s.n_type), Some(N_UNDF | N_EXT));
        let alias = get("_alias").unwrap_or_else(|| panic!("no _alias"));
        assert_eq!((alias.n_type, alias.indirect.as_deref()), (N_INDR | N_EXT, Some("_real")));
        // __ZN4Base* matched the kernel's Base symbols (vtable slots and gMetaClass).
        assert!(get("__ZN4Base1fEv").is_some());
        assert!(get("__ZN4BaseD1Ev").is_some());
        assert!(get("__ZN4Base10gMetaClassE").is_some());
        assert!(get("_real").is_none());
    }

    #[test]
    fn interface_refuses_an_export_the_kernel_lacks() {
        let (mut sets, vts) = toy();
        let names: BTreeSet<&str> = ["_plain"].into_iter().collect();
        sets[0].exports.truncate(1);
        assert!(write_interface(&sets[0], &names).is_ok());
        sets[0].exports.push(export("_missing", None, false));
        assert!(write_interface(&sets[0], &names).is_err());
        let _ = vts;
    }
}
