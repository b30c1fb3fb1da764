//! Independent verification of kxld's output: every relocation of the kext is recomputed from
//! the kernel (model or real) and the declared KPIs, without kxld's code, and compared with the
//! value kxld wrote; vtable slots are checked against the superclass vtable in the kernel.
//!
//! The rules, from the C++ ABI and the x86_64 Mach-O relocation semantics:
//! - A local relocation (`r_extern` 0, `X86_64_RELOC_UNSIGNED`, 8 bytes) holds a pointer into
//!   the kext: linked value = input value + (load address - the kext's base address).
//! - An external `UNSIGNED` (8 bytes) to symbol S: linked value = address(S) + input value.
//!   An external `BRANCH` (`call rel32`) to S: the CPU jumps to end-of-field + rel32, so
//!   linked rel32 = address(S) + input rel32 - (field address + 4).
//!   address(S) is the kernel symbol a declared KPI exports as S (its alias for `N_INDR`).
//! - Slot i of a vtable of class C whose superclass P the kernel defines: if the kext supplies
//!   the function (a local relocation, C overrides it), the slot points into the kext; otherwise
//!   it must point at the function in slot i of P's vtable in the kernel, whatever name the kext
//!   was built with (kxld's vtable patching; for a metaclass, P is OSMetaClass). A slot whose
//!   kernel function is a reserved pad slot while the kext names another function means the
//!   kext was built against newer headers: kxld must have refused it.
//! - Every other byte of the kext's sections is unchanged, except the three kmod_info words
//!   kxld fills (address, size, hdr_size; `populate_kmod_info` in kxld_object.c).

use std::collections::{BTreeMap, HashMap};

use crate::macho::{
    reloc_type_name, MachO, Reloc, N_INDR, N_UNDF, X86_64_RELOC_BRANCH, X86_64_RELOC_UNSIGNED,
};

/// kmod_info_64_v1 (osfmk/mach/kmod.h, `#pragma pack(push, 4)`): next_addr 0, info_version 8,
/// id 12, name 16, version 80, reference_count 144, reference_list_addr 148, address 156,
/// size 164, hdr_size 172, start_addr 180, stop_addr 188.
const KMOD_ADDRESS: u64 = 156;
const KMOD_SIZE: u64 = 164;
const KMOD_HDR_SIZE: u64 = 172;

pub struct Interface<'a> {
    pub bundle_id: String,
    pub macho: MachO<'a>,
}

#[derive(Default, Debug)]
pub struct Outcome {
    pub lines: Vec<String>,
    pub errors: Vec<String>,
}

impl Outcome {
    pub fn passed(&self) -> bool {
        self.errors.is_empty()
    }
}

#[derive(Default)]
struct VtableStats {
    slots: usize,
    parent: Option<(String, usize)>,
    overridden: usize,
    inherited: usize,
    /// Inherited slots whose kernel function has no symbol: resolved by the kext's name.
    unnamed: usize,
    patched: Vec<String>,
}

/// `org_rustkext_Service` of `__ZTV20org_rustkext_Service`; `(class, true)` for the metaclass
/// vtable `__ZTVN20org_rustkext_Service9MetaClassE`.
pub fn class_of_vtable(symbol: &str) -> Option<(String, bool)> {
    if let Some(rest) = symbol.strip_prefix("__ZTVN") {
        let inner = rest.strip_suffix("9MetaClassE")?;
        return Some((demangle_simple(inner)?, true));
    }
    demangle_simple(symbol.strip_prefix("__ZTV")?).map(|c| (c, false))
}

/// `<len><name>` (one component) to `name`.
fn demangle_simple(s: &str) -> Option<String> {
    let digits = s.chars().take_while(char::is_ascii_digit).count();
    let len: usize = s.get(..digits)?.parse().ok()?;
    let name = s.get(digits..)?;
    (name.len() == len).then(|| name.to_string())
}

/// The class of a `__ZN<len><Class>10gMetaClassE` symbol.
fn class_of_metaclass(symbol: &str) -> Option<String> {
    demangle_simple(symbol.strip_prefix("__ZN")?.strip_suffix("10gMetaClassE")?)
}

pub fn verify(kext: &MachO<'_>, linked: &[u8], load: u64, kmod_info: u64, kernel: &MachO<'_>, interfaces: &[Interface<'_>]) -> Outcome {
    let mut out = Outcome::default();
    let base = kext.segments.first().map_or(0, |s| s.vmaddr);
    let slide = load.wrapping_sub(base);
    let linked_u64 = |addr: u64| -> Option<u64> {
        let off = usize::try_from(addr.checked_sub(base)?).ok()?;
        let b = linked.get(off..off + 8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Some(u64::from_le_bytes(a))
    };
    let linked_i32 = |addr: u64| -> Option<i32> {
        let off = usize::try_from(addr.checked_sub(base)?).ok()?;
        let b = linked.get(off..off + 4)?;
        Some(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };

    // What the declared KPIs let the kext see: exported name -> kernel address.
    let kernel_defs = kernel.defined_by_name();
    let kernel_by_addr = kernel.defined_by_address();
    let mut exported: HashMap<&str, (u64, &str)> = HashMap::new();
    for i in interfaces {
        for s in &i.macho.symbols {
            let target = match s.kind() {
                N_UNDF if s.is_external() => s.name.as_str(),
                N_INDR => s.indirect.as_deref().unwrap_or_default(),
                _ => continue,
            };
            if let Some(k) = kernel_defs.get(target) {
                exported.entry(s.name.as_str()).or_insert((k.n_value, i.bundle_id.as_str()));
            }
        }
    }
    let kernel_name = |addr: u64| kernel_by_addr.get(&addr).map_or_else(|| format!("{addr:#x}"), |s| s.name.clone());

    // The kext's relocations by address.
    let mut relocs: BTreeMap<u32, Reloc> = BTreeMap::new();
    for r in kext.extrel.iter().chain(&kext.locrel) {
        if relocs.insert(r.address, *r).is_some() {
            out.errors.push(format!("two relocations at {:#x}", r.address));
        }
    }
    let kext_defs = kext.defined_by_name();

    // The kext's vtables: slots from +16 while a relocation or a nonzero value is there (the
    // rule kxld's init_by_entries_and_relocs applies to final images).
    struct KextVtable {
        name: String,
        class: String,
        meta: bool,
        slots: Vec<u64>,
    }
    let mut vtables = Vec::new();
    for s in kext.symbols.iter().filter(|s| s.is_defined() && s.name.starts_with("__ZTV")) {
        let Some((class, meta)) = class_of_vtable(&s.name) else { continue };
        let mut slots = Vec::new();
        let mut at = s.n_value + 16;
        while relocs.contains_key(&((at - base) as u32)) || kext.u64_at_addr(at).is_some_and(|v| v != 0) {
            slots.push(at);
            at += 8;
        }
        vtables.push(KextVtable { name: s.name.clone(), class, meta, slots });
    }

    // Each vtable's superclass vtable in the kernel (slot addresses), from the kext's
    // `<Class>10superClassE` pointer (external relocation to `<Super>10gMetaClassE`).
    let superclass = |class: &str| -> Option<String> {
        let smcp = format!("__ZN{}{class}10superClassE", class.len());
        let sym = kext_defs.get(smcp.as_str())?;
        let r = relocs.get(&((sym.n_value - base) as u32))?;
        if !r.is_extern {
            return None;
        }
        class_of_metaclass(&kext.symbols.get(r.symbolnum as usize)?.name)
    };
    let mut slot_of: HashMap<u64, (usize, usize)> = HashMap::new(); // address -> (vtable, slot)
    let mut parent_slots: Vec<Option<(String, Vec<u64>)>> = Vec::new();
    let mut stats: Vec<VtableStats> = Vec::new();
    for (vi, vt) in vtables.iter().enumerate() {
        for (si, &a) in vt.slots.iter().enumerate() {
            slot_of.insert(a, (vi, si));
        }
        let parent_class = if vt.meta { Some("OSMetaClass".to_string()) } else { superclass(&vt.class) };
        let parent = parent_class.and_then(|p| {
            let name = format!("__ZTV{}{p}", p.len());
            let sym = kernel_defs.get(name.as_str())?;
            let mut v = Vec::new();
            let mut at = sym.n_value + 16;
            while let Some(x) = kernel.u64_at_addr(at).filter(|&x| x != 0) {
                v.push(x);
                at += 8;
            }
            Some((p, v))
        });
        let mut st = VtableStats { slots: vt.slots.len(), ..Default::default() };
        match &parent {
            Some((p, v)) if v.is_empty() => {
                out.errors.push(format!("{}: the kernel's vtable for superclass {p} has no slots (no layout in the model?)", vt.name));
            }
            Some((p, v)) => {
                st.parent = Some((p.clone(), v.len()));
                if vt.slots.len() < v.len() {
                    out.errors.push(format!(
                        "{}: {} slots but the kernel's {p} has {}: kxld must refuse a vtable shorter than its superclass's",
                        vt.name,
                        vt.slots.len(),
                        v.len()
                    ));
                }
            }
            None => {}
        }
        parent_slots.push(parent);
        stats.push(st);
    }

    // Every relocation.
    let errors_before = out.errors.len();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for r in relocs.values() {
        let addr = base + u64::from(r.address);
        let what = format!("{} {}", if r.is_extern { "external" } else { "local" }, reloc_type_name(r.kind));
        *counts.entry(what.clone()).or_default() += 1;
        let sym = if r.is_extern { kext.symbols.get(r.symbolnum as usize) } else { None };
        if r.is_extern && sym.is_none() {
            out.errors.push(format!("{addr:#x}: {what} names symbol #{} which does not exist", r.symbolnum));
            continue;
        }
        // The target the slot or symbol must resolve to.
        let target: Option<u64> = if let Some(&(vi, si)) = slot_of.get(&addr) {
            let kext_supplies = !r.is_extern || sym.is_some_and(|s| s.is_defined());
            let st = &mut stats[vi];
            if kext_supplies {
                st.overridden += 1;
                None // checked as a pointer into the kext below
            } else {
                let s = sym.map(|s| s.name.as_str()).unwrap_or_default();
                match parent_slots[vi].as_ref().and_then(|(p, v)| v.get(si).map(|&x| (p, x))) {
                    // A kernel slot whose function has no symbol (inlined in the kernel) cannot be
                    // patched (kxld_vtable_patch skips it): the kext's own name stands.
                    Some((_, want)) if !kernel_by_addr.contains_key(&want) && exported.contains_key(s) => {
                        st.unnamed += 1;
                        exported.get(s).map(|e| e.0)
                    }
                    Some((p, want)) => {
                        let want_name = kernel_name(want);
                        if want_name != s {
                            if want_name.contains("_RESERVED") {
                                out.errors.push(format!(
                                    "{} slot {si}: the kext calls {s} where the kernel's {p} has the pad slot {want_name}: \
                                     an out-of-date superclass vtable that kxld must refuse",
                                    vtables[vi].name
                                ));
                            }
                            st.patched.push(format!("slot {si}: {s} -> {want_name}"));
                        } else {
                            st.inherited += 1;
                        }
                        Some(want)
                    }
                    None => exported.get(s).map(|e| e.0),
                }
            }
        } else if let Some(s) = sym {
            if s.is_defined() {
                None
            } else {
                match exported.get(s.name.as_str()) {
                    Some(e) => Some(e.0),
                    None => {
                        out.errors.push(format!(
                            "{addr:#x}: {what} to {} which no declared KPI exports: kxld must refuse it",
                            s.name
                        ));
                        continue;
                    }
                }
            }
        } else {
            None
        };
        let shown = |v: Option<String>| v.unwrap_or_else(|| "nothing (outside the image)".into());
        let check = |ok: bool, expected: String, got: String| -> Option<String> {
            (!ok).then(|| format!("{addr:#x}: {what}{}: kxld wrote {got}, expected {expected}", sym.map(|s| format!(" to {}", s.name)).unwrap_or_default()))
        };
        let err = match (r.kind, r.length, r.pcrel, target) {
            (X86_64_RELOC_UNSIGNED, 3, false, Some(t)) => {
                let want = kext.u64_at_addr(addr).unwrap_or(0).wrapping_add(t);
                let got = linked_u64(addr);
                check(got == Some(want), format!("{want:#x} ({})", kernel_name(t)), shown(got.map(|g| format!("{g:#x}"))))
            }
            (X86_64_RELOC_UNSIGNED, 3, false, None) => {
                // A pointer into the kext: the input pointer moved by the slide. An external
                // relocation to a kext-defined symbol points at that symbol.
                let input = kext.u64_at_addr(addr).unwrap_or(0);
                let want = match sym {
                    Some(s) => s.n_value.wrapping_add(input).wrapping_add(slide),
                    None => input.wrapping_add(slide),
                };
                let got = linked_u64(addr);
                check(got == Some(want), format!("{want:#x}"), shown(got.map(|g| format!("{g:#x}"))))
            }
            (X86_64_RELOC_BRANCH, 2, true, Some(t)) => {
                let input = i64::from(kext.i32_at_addr(addr).unwrap_or(0));
                let want = (t as i64).wrapping_add(input).wrapping_sub((load.wrapping_add(u64::from(r.address)) + 4) as i64);
                let got = linked_i32(addr);
                if want < i64::from(i32::MIN) || want > i64::from(i32::MAX) {
                    Some(format!("{addr:#x}: {what}: the target is out of rel32 range from the load address"))
                } else {
                    check(got == Some(want as i32), format!("rel32 {want:#x} (-> {})", kernel_name(t)), shown(got.map(|g| format!("rel32 {g:#x}"))))
                }
            }
            _ => Some(format!(
                "{addr:#x}: {what} (length {}, pcrel {}) is not a kind this check verifies (kexts use UNSIGNED pointers and BRANCH calls)",
                1u32 << r.length,
                r.pcrel
            )),
        };
        if let Some(e) = err {
            out.errors.push(e);
        }
    }

    let wrong = out.errors.len() - errors_before;

    // Bytes outside the fixups, and kmod_info.
    let kmod = kext_defs.get("_kmod_info").map(|s| s.n_value);
    let mut skip: Vec<(u64, u64)> = relocs.values().map(|r| (base + u64::from(r.address), 1u64 << r.length)).collect();
    match kmod {
        Some(k) => {
            skip.extend([(k + KMOD_ADDRESS, 8), (k + KMOD_SIZE, 8), (k + KMOD_HDR_SIZE, 8)]);
            if kmod_info != k.wrapping_add(slide) {
                out.errors.push(format!("kxld reports kmod_info at {kmod_info:#x}, the kext's _kmod_info is at {:#x}", k.wrapping_add(slide)));
            }
            let (a, s, h) = (linked_u64(k + KMOD_ADDRESS), linked_u64(k + KMOD_SIZE), linked_u64(k + KMOD_HDR_SIZE));
            if a != Some(load) || s != Some(linked.len() as u64) {
                out.errors.push(format!("kmod_info: address {a:x?} size {s:x?}, expected {load:#x} and {:#x}", linked.len()));
            } else {
                out.lines.push(format!(
                    "kmod_info at {kmod_info:#x}: address {load:#x}, size {:#x}, hdr_size {:#x} (filled in by kxld)",
                    linked.len(),
                    h.unwrap_or(0)
                ));
            }
        }
        None => out.errors.push("the kext has no _kmod_info symbol".into()),
    }
    skip.sort_unstable();
    let covered = |a: u64| skip.iter().any(|&(s, n)| a >= s && a < s + n);
    let mut compared = 0usize;
    let mut changed = Vec::new();
    for sect in &kext.sections {
        let zerofill = matches!(sect.flags & 0xff, 0x1 | 0xc | 0x12);
        for i in 0..sect.size {
            let a = sect.addr + i;
            if covered(a) {
                continue;
            }
            let want = if zerofill { Some(0) } else { kext.bytes_at(a, 1).map(|b| b[0]) };
            let got = usize::try_from(a - base).ok().and_then(|o| linked.get(o).copied());
            compared += 1;
            if want != got && changed.len() < 8 {
                changed.push(format!("{a:#x} ({},{}): {want:x?} -> {got:x?}", sect.segname, sect.sectname));
            }
        }
    }
    if changed.is_empty() {
        out.lines.push(format!("{compared} section bytes outside the fixups: unchanged"));
    } else {
        out.errors.push(format!("bytes changed outside any fixup: {}", changed.join(", ")));
    }

    // The linked symbol table: every defined symbol moved by the slide.
    match MachO::parse(linked) {
        Ok(l) => {
            // By name and value: local names repeat (each object's `__GLOBAL__D_a`).
            let mut lsyms: HashMap<&str, Vec<u64>> = HashMap::new();
            for s in l.symbols.iter().filter(|s| s.is_defined()) {
                lsyms.entry(s.name.as_str()).or_default().push(s.n_value);
            }
            let mut moved = 0;
            for s in kext.symbols.iter().filter(|s| s.is_defined() && s.n_sect != 0) {
                let want = s.n_value.wrapping_add(slide);
                match lsyms.get(s.name.as_str()) {
                    Some(v) if v.contains(&want) => moved += 1,
                    Some(v) => out.errors.push(format!("symbol {} at {v:x?} in the linked kext, expected {want:#x}", s.name)),
                    None if s.is_external() => out.errors.push(format!("symbol {} is missing from the linked kext", s.name)),
                    None => {}
                }
            }
            out.lines.push(format!("{moved} defined symbols in the linked symbol table, each moved by {slide:#x}"));

            // What the kernel does next with the linked header (OSRuntimeInitializeCPP and
            // OSRuntimeCallStructorsInSection, libkern/c++/OSRuntime.cpp): every section named
            // __mod_init_func / __mod_term_func of any segment is a list of function pointers
            // it calls; each must be non-null and inside the linked __TEXT,__text.
            let text = l.sections.iter().find(|x| x.segname == "__TEXT" && x.sectname == "__text").map(|x| (x.addr, x.addr + x.size));
            let mut structors = Vec::new();
            for sect in l.sections.iter().filter(|x| x.sectname == "__mod_init_func" || x.sectname == "__mod_term_func") {
                let mut n = 0;
                for i in 0..sect.size / 8 {
                    let at = sect.addr + 8 * i;
                    let p = usize::try_from(at.wrapping_sub(load)).ok().and_then(|o| linked.get(o..o + 8)).map(|b| {
                        let mut a = [0u8; 8];
                        a.copy_from_slice(b);
                        u64::from_le_bytes(a)
                    });
                    match (p, text) {
                        (Some(p), Some((lo, hi))) if p >= lo && p < hi => n += 1,
                        _ => out.errors.push(format!("{}: entry {i} at {at:#x} is {p:x?}, not a function in the linked __TEXT,__text", sect.sectname)),
                    }
                }
                structors.push(format!("{n} in {},{}", sect.segname, sect.sectname));
            }
            if !structors.is_empty() {
                out.lines.push(format!(
                    "static constructors/destructors the kernel will call from the linked header: {} (each in __TEXT,__text)",
                    structors.join(", ")
                ));
            }
        }
        Err(e) => out.errors.push(format!("kxld's output is not a Mach-O image: {e}")),
    }

    // Summary lines.
    for (vt, st) in vtables.iter().zip(&stats) {
        let kind = if vt.meta { format!("{}::MetaClass", vt.class) } else { vt.class.clone() };
        let parent = match &st.parent {
            Some((p, n)) => format!("superclass {p} ({n} slots in the kernel)"),
            None => "no superclass vtable in the kernel".into(),
        };
        out.lines.push(format!(
            "vtable {kind} [{}]: {} slots vs {parent}: {} the kext's own, {} the kernel's function under the same name, {} patched by kxld to the kernel's function{}{}",
            vt.name,
            st.slots,
            st.overridden,
            st.inherited,
            st.patched.len(),
            if st.patched.is_empty() { String::new() } else { format!(" ({})", st.patched.join("; ")) },
            if st.unnamed == 0 { String::new() } else { format!(", {} unnamed in the kernel (by the kext's name)", st.unnamed) }
        ));
    }
    let summary: Vec<String> = counts.iter().map(|(k, n)| format!("{n} {k}")).collect();
    out.lines.push(format!(
        "{} relocations recomputed ({}): {}",
        relocs.len(),
        summary.join(", "),
        if wrong == 0 { "every value kxld wrote is the expected one".to_string() } else { format!("{wrong} wrong") }
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_vtables_and_metaclasses() {
        assert_eq!(class_of_vtable("__ZTV20org_rustkext_Service"), Some(("org_rustkext_Service".into(), false)));
        assert_eq!(class_of_vtable("__ZTVN20org_rustkext_Service9MetaClassE"), Some(("org_rustkext_Service".into(), true)));
        assert_eq!(class_of_vtable("__ZTV5Short2"), None);
        assert_eq!(class_of_metaclass("__ZN9IOService10gMetaClassE"), Some("IOService".into()));
        assert_eq!(class_of_metaclass("__ZN9IOService9metaClassE"), None);
    }
}
