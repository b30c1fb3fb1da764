//! The verifier against hand-linked images: it accepts exactly the values the rules give and
//! names every wrong one (a check that cannot fail is worthless).

mod support;

use kxld_check::exports::{Export, SymbolSet};
use kxld_check::macho::MachO;
use kxld_check::model::{write_interface, KernelModel};
use kxld_check::probe::{ClassVtable, Slot};
use kxld_check::verify::{verify, Interface};
use support::{kext, Rel, Sym, DATA, TEXT};

const LOAD: u64 = 0xffff_ff7f_9000_0000;
const UNSIGNED: u8 = 0;
const BRANCH: u8 = 2;

fn set(exports: &[&str]) -> SymbolSet {
    SymbolSet {
        set: "Toy".into(),
        bundle_id: "com.example.kpi.toy".into(),
        executable: "Toy".into(),
        version: "19.6.0".into(),
        compatible_version: Some("8.0".into()),
        kernel_resource: true,
        exports: exports
            .iter()
            .map(|n| Export { name: (*n).into(), alias: None, wildcard: false, obsolete: false })
            .collect(),
    }
}

fn base_vtable(slot1: &str) -> ClassVtable {
    ClassVtable {
        class: "Base".into(),
        slots: vec![
            Slot { symbol: "__ZN4BaseD1Ev".into(), text: "Base::~Base() [complete]".into() },
            Slot { symbol: slot1.into(), text: String::new() },
        ],
    }
}

struct World {
    kernel: Vec<u8>,
    iface: Vec<u8>,
}

fn world(slot1: &str) -> World {
    let s = set(&["_IOLog", "__ZN4Base10gMetaClassE", "__ZN4Base1fEv", "__ZN4Base14_RESERVEDBase0Ev"]);
    let model = KernelModel::new(std::slice::from_ref(&s), &[base_vtable(slot1)]);
    let names = model.symbols.keys().map(String::as_str).collect();
    World { kernel: model.write_kernel(), iface: write_interface(&s, &names).unwrap_or_default() }
}

/// The test kext: `_fn` calls `_IOLog`; kmod_info; a local and an external pointer; class Foo
/// (superclass Base) with a vtable of two slots: its own destructor and `slot1_name`.
fn test_kext(slot1_name: &'static str) -> Vec<u8> {
    let text = [0x55, 0xe8, 0, 0, 0, 0, 0x5d, 0xc3, 0xc3];
    let mut data = vec![0u8; 0x140];
    data[200..208].copy_from_slice(&(TEXT).to_le_bytes()); // local pointer to _fn
    data[0x118..0x120].copy_from_slice(&(TEXT + 8).to_le_bytes()); // vtable slot 0: Foo::~Foo
    let syms = [
        Sym { name: "_fn", sect: 1, value: TEXT, external: true },
        Sym { name: "__ZN3FooD1Ev", sect: 1, value: TEXT + 8, external: true },
        Sym { name: "_kmod_info", sect: 2, value: DATA, external: true },
        Sym { name: "__ZN3Foo10superClassE", sect: 2, value: DATA + 0x100, external: true },
        Sym { name: "__ZTV3Foo", sect: 2, value: DATA + 0x108, external: true },
        Sym { name: "_IOLog", sect: 0, value: 0, external: true },
        Sym { name: "__ZN4Base10gMetaClassE", sect: 0, value: 0, external: true },
        Sym { name: slot1_name, sect: 0, value: 0, external: true },
    ];
    let relocs = [
        Rel { address: TEXT + 2, target: 5, external: true, kind: BRANCH, pcrel: true, length: 2 },
        Rel { address: DATA + 200, target: 1, external: false, kind: UNSIGNED, pcrel: false, length: 3 },
        Rel { address: DATA + 208, target: 5, external: true, kind: UNSIGNED, pcrel: false, length: 3 },
        Rel { address: DATA + 0x100, target: 6, external: true, kind: UNSIGNED, pcrel: false, length: 3 },
        Rel { address: DATA + 0x118, target: 1, external: false, kind: UNSIGNED, pcrel: false, length: 3 },
        Rel { address: DATA + 0x120, target: 7, external: true, kind: UNSIGNED, pcrel: false, length: 3 },
    ];
    kext(&text, &data, &syms, &relocs)
}

/// Links by hand what kxld would write: each fixup by the rules, kmod_info, the symbols moved.
fn link_by_hand(kext: &[u8], kernel: &[u8], slot1_target: &str) -> Vec<u8> {
    let k = MachO::parse(kernel).unwrap_or_else(|e| panic!("{e}"));
    let defs = k.defined_by_name();
    let addr = |n: &str| defs.get(n).map(|s| s.n_value).unwrap_or_else(|| panic!("kernel lacks {n}"));
    let mut out = kext[..0x3000].to_vec();
    let put64 = |out: &mut Vec<u8>, at: u64, v: u64| out[at as usize..at as usize + 8].copy_from_slice(&v.to_le_bytes());
    let rel32 = (addr("_IOLog") as i64 - (LOAD + TEXT + 2 + 4) as i64) as i32;
    out[(TEXT + 2) as usize..(TEXT + 6) as usize].copy_from_slice(&rel32.to_le_bytes());
    put64(&mut out, DATA + 200, TEXT + LOAD);
    put64(&mut out, DATA + 208, addr("_IOLog"));
    put64(&mut out, DATA + 0x100, addr("__ZN4Base10gMetaClassE"));
    put64(&mut out, DATA + 0x118, TEXT + 8 + LOAD);
    put64(&mut out, DATA + 0x120, addr(slot1_target));
    put64(&mut out, DATA + 156, LOAD);
    // The symbol table, moved (kxld writes its own; the verifier reads names and values).
    let m = MachO::parse(kext).unwrap_or_else(|e| panic!("{e}"));
    let st = m.symtab.unwrap_or_default();
    let mut le = kext[st.symoff as usize..].to_vec();
    for (i, s) in m.symbols.iter().enumerate() {
        if s.is_defined() {
            let at = i * 16 + 8;
            le[at..at + 8].copy_from_slice(&(s.n_value + LOAD).to_le_bytes());
        }
    }
    out.extend_from_slice(&le);
    // Point LC_SYMTAB at the copy (symoff 0x3000, stroff after the nlists).
    let shift = st.symoff - 0x3000;
    let c = st.cmd_offset;
    out[c + 8..c + 12].copy_from_slice(&(st.symoff - shift).to_le_bytes());
    out[c + 16..c + 20].copy_from_slice(&(st.stroff - shift).to_le_bytes());
    // kmod_info.size: the whole image, as kxld's output buffer is (page-rounded).
    out.resize(out.len().div_ceil(0x1000) * 0x1000, 0);
    let size = out.len() as u64;
    put64(&mut out, DATA + 164, size);
    out
}

fn run(kext_bytes: &[u8], linked: &[u8], w: &World) -> kxld_check::verify::Outcome {
    let kx = MachO::parse(kext_bytes).unwrap_or_else(|e| panic!("{e}"));
    let kernel = MachO::parse(&w.kernel).unwrap_or_else(|e| panic!("{e}"));
    let iface = Interface { bundle_id: "com.example.kpi.toy".into(), macho: MachO::parse(&w.iface).unwrap_or_else(|e| panic!("{e}")) };
    verify(&kx, linked, LOAD, LOAD + DATA, &kernel, &[iface])
}

#[test]
fn accepts_a_correct_link() {
    let w = world("__ZN4Base1fEv");
    let k = test_kext("__ZN4Base1fEv");
    let linked = link_by_hand(&k, &w.kernel, "__ZN4Base1fEv");
    let o = run(&k, &linked, &w);
    assert!(o.passed(), "{:#?}", o);
    let text = o.lines.join("\n");
    assert!(text.contains("vtable Foo [__ZTV3Foo]: 2 slots vs superclass Base (2 slots in the kernel): 1 the kext's own, 1 the kernel's function under the same name, 0 patched"), "{text}");
    assert!(text.contains("6 relocations recomputed (1 external BRANCH, 3 external UNSIGNED, 2 local UNSIGNED): every value kxld wrote is the expected one"), "{text}");
}

#[test]
fn names_each_wrong_value() {
    let w = world("__ZN4Base1fEv");
    let k = test_kext("__ZN4Base1fEv");
    let good = link_by_hand(&k, &w.kernel, "__ZN4Base1fEv");
    let cases: [(usize, &str); 5] = [
        ((TEXT + 3) as usize, "external BRANCH to _IOLog: kxld wrote"),
        ((DATA + 200) as usize, "local UNSIGNED: kxld wrote"),
        ((DATA + 208) as usize, "external UNSIGNED to _IOLog: kxld wrote"),
        ((DATA + 0x120) as usize, "external UNSIGNED to __ZN4Base1fEv: kxld wrote"),
        ((TEXT + 7) as usize, "bytes changed outside any fixup"),
    ];
    for (at, message) in cases {
        let mut bad = good.clone();
        bad[at] ^= 0x10;
        let o = run(&k, &bad, &w);
        assert!(!o.passed(), "a change at {at:#x} must be caught");
        assert!(o.errors.iter().any(|e| e.contains(message)), "{at:#x}: {:#?}", o.errors);
    }
    let mut bad = good.clone();
    bad[(DATA + 164) as usize] ^= 1;
    assert!(run(&k, &bad, &w).errors.iter().any(|e| e.starts_with("kmod_info")));
}

#[test]
fn a_renamed_inherited_slot_must_hold_the_kernels_function() {
    // The kernel filled Base's pad slot with f (newer kernel); the kext still names the pad.
    let w = world("__ZN4Base1fEv");
    let k = test_kext("__ZN4Base14_RESERVEDBase0Ev");
    let linked = link_by_hand(&k, &w.kernel, "__ZN4Base1fEv");
    let o = run(&k, &linked, &w);
    assert!(o.passed(), "{:#?}", o);
    assert!(o.lines.iter().any(|l| l.contains("1 patched by kxld to the kernel's function (slot 1: __ZN4Base14_RESERVEDBase0Ev -> __ZN4Base1fEv)")), "{:#?}", o.lines);
    // Left unpatched (the kext's own name resolved), it is wrong.
    let unpatched = link_by_hand(&k, &w.kernel, "__ZN4Base14_RESERVEDBase0Ev");
    assert!(!run(&k, &unpatched, &w).passed());
}

#[test]
fn a_kext_newer_than_the_kernel_is_an_error_even_if_linked() {
    // The kernel's slot 1 is still the pad; the kext calls f there: kxld must refuse.
    let w = world("__ZN4Base14_RESERVEDBase0Ev");
    let k = test_kext("__ZN4Base1fEv");
    let linked = link_by_hand(&k, &w.kernel, "__ZN4Base14_RESERVEDBase0Ev");
    let o = run(&k, &linked, &w);
    assert!(o.errors.iter().any(|e| e.contains("out-of-date superclass vtable that kxld must refuse")), "{:#?}", o.errors);
}
