//! strip-symbol removes exactly one symbol and keeps the file consistent.

mod support;

use kxld_check::macho::MachO;
use kxld_check::strip::strip_symbol;
use support::{kext, Rel, Sym, DATA, TEXT};

fn sample() -> Vec<u8> {
    let syms = [
        Sym { name: "__ZTVN3Foo9MetaClassE", sect: 0, value: 0, external: false }, // N_GSYM stab
        Sym { name: "_local", sect: 1, value: TEXT, external: false },
        Sym { name: "_kmod_info", sect: 2, value: DATA, external: true },
        Sym { name: "__ZTVN3Foo9MetaClassE", sect: 2, value: DATA + 0x100, external: true },
        Sym { name: "_IOLog", sect: 0, value: 0, external: true },
        Sym { name: "_IOSleep", sect: 0, value: 0, external: true },
    ];
    let relocs = [
        Rel { address: TEXT + 1, target: 4, external: true, kind: 2, pcrel: true, length: 2 },
        Rel { address: TEXT + 6, target: 5, external: true, kind: 2, pcrel: true, length: 2 },
    ];
    kext(&[0xe8, 0, 0, 0, 0, 0xe8, 0, 0, 0, 0, 0xc3], &[0u8; 0x110], &syms, &relocs)
}

#[test]
fn removes_one_symbol_and_renumbers() {
    let f = sample();
    let out = strip_symbol(&f, "__ZTVN3Foo9MetaClassE").unwrap_or_else(|e| panic!("{e}"));
    let m = MachO::parse(&out).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<_> = m.symbols.iter().map(|s| s.name.as_str()).collect();
    // The symbol is gone; its debug-map stab (N_GSYM) stays, as kxld does not index stabs.
    assert_eq!(names, ["__ZTVN3Foo9MetaClassE", "_local", "_kmod_info", "_IOLog", "_IOSleep"]);
    assert!(m.symbols[0].is_stab());
    let d = m.dysymtab.unwrap_or_default();
    assert_eq!((d.ilocalsym, d.nlocalsym, d.iextdefsym, d.nextdefsym, d.iundefsym, d.nundefsym), (0, 2, 2, 1, 3, 2));
    let targets: Vec<_> = m.extrel.iter().map(|r| m.symbols[r.symbolnum as usize].name.as_str()).collect();
    assert_eq!(targets, ["_IOLog", "_IOSleep"]);
}

#[test]
fn refuses_what_would_break_the_file() {
    let f = sample();
    assert!(strip_symbol(&f, "_IOLog").is_err(), "a relocation target");
    assert!(strip_symbol(&f, "_nope").is_err());
}
