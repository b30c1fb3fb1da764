//! One test per relocation kind: a tiny object assembled by clang-19, linked by kextld, and the
//! exact bytes and relocation entries of the output checked (plus the independent check of
//! every relocation in `support::verify`).

mod support;

use kextld::input::{read_input, Input};
use support::*;

const UNSIGNED: u8 = 0;
const BRANCH: u8 = 2;

/// The relocation types of an object's first section named `sect`, in address order.
fn input_types(path: &std::path::Path, sect: &str) -> Vec<(u32, u8, bool)> {
    let Input::Object(o) = read_input(path.to_str().unwrap(), 1).unwrap() else { panic!() };
    let s = o.sections.iter().find(|s| s.sectname == sect).unwrap();
    let mut v: Vec<_> = s.relocs.iter().map(|r| (r.r_address, r.r_type, r.r_extern)).collect();
    v.sort();
    v
}

const DEFS: &str = "
    .section __TEXT,__text,regular,pure_instructions
    .globl _callee, _g
_callee:
    retq
_g:
    retq
    .section __DATA,__data
    .globl _data, _byte, _here
    .p2align 3
_data:
    .quad 1
_here:
    .quad 2
_byte:
    .byte 3
.subsections_via_symbols
";

#[test]
fn unsigned_local_and_external() {
    let dir = scratch_dir("unsigned");
    let a = assemble(
        &dir,
        "a",
        "
    .section __TEXT,__text,regular,pure_instructions
    .globl _f
_f:
    retq
    .section __TEXT,__cstring,cstring_literals
L_.str:
    .asciz \"hello\"
    .section __DATA,__data
    .globl _table
    .p2align 3
_table:
    .quad _f
    .quad L_.str+2
    .quad _kernel_thing+16
    .quad _g
    .quad _kernel_thing
.subsections_via_symbols
",
    );
    let b = assemble(&dir, "b", DEFS);
    assert_eq!(
        input_types(&a, "__data"),
        vec![(0, UNSIGNED, true), (8, UNSIGNED, true), (16, UNSIGNED, true), (24, UNSIGNED, true), (32, UNSIGNED, true)]
    );
    let linked = link(&[&a, &b]);
    let img = Image::parse(&linked.bytes);
    let table = img.addr("_table");
    let text = img.ordinal("__TEXT", "__text");
    let cstring = img.ordinal("__TEXT", "__cstring");
    // A pointer into the kext: the address, and a local UNSIGNED relocation naming the target's
    // section (r_extern 0, r_length 3).
    assert_eq!(img.u64(table), img.addr("_f"));
    let local = |a: u64, s: u32| Reloc { address: a as u32, symbolnum: s, pcrel: false, length: 3, external: false, rtype: UNSIGNED };
    // In ld64's order: an atom's fixups in the order of the object's relocation table
    // (`Section<A>::makeFixups`), which the assembler writes from the end of the section.
    assert_eq!(img.local_relocs, vec![local(table + 24, text), local(table + 8, cstring), local(table, text)]);
    assert_eq!(img.u64(table + 8), img.section("__TEXT", "__cstring").addr + 2);
    assert_eq!(img.u64(table + 24), img.addr("_g"));
    // A pointer to a kernel symbol: only the addend, and an external UNSIGNED relocation.
    assert_eq!(img.u64(table + 16), 16);
    assert_eq!(img.u64(table + 32), 0);
    let k = img.symbol_index("_kernel_thing");
    let ext = |a: u64| Reloc { address: a as u32, symbolnum: k, pcrel: false, length: 3, external: true, rtype: UNSIGNED };
    assert_eq!(img.external_relocs, vec![ext(table + 16), ext(table + 32)]);
    let sym = img.symbol("_kernel_thing");
    assert_eq!((sym.n_type, sym.n_sect, sym.n_desc, sym.n_value), (0x01, 0, 0xfe00, 0));
    // Relocations only in __DATA: no relocation attributes on __text.
    assert_eq!(img.section("__TEXT", "__text").flags, 0x8000_0400);
}

#[test]
fn pointer_in_text_sets_the_relocation_attributes() {
    let dir = scratch_dir("text-pointer");
    let a = assemble(
        &dir,
        "a",
        "
    .section __TEXT,__text,regular,pure_instructions
    .globl _f
_f:
    retq
    .p2align 3
_ptrs:
    .quad _f
    .quad _kernel_thing
.subsections_via_symbols
",
    );
    let img = Image::parse(&link(&[&a]).bytes);
    // S_ATTR_PURE_INSTRUCTIONS | S_ATTR_SOME_INSTRUCTIONS | S_ATTR_EXT_RELOC | S_ATTR_LOC_RELOC
    assert_eq!(img.section("__TEXT", "__text").flags, 0x8000_0700);
    assert_eq!(img.local_relocs.len(), 1);
    assert_eq!(img.external_relocs.len(), 1);
}

#[test]
fn signed_family_local_and_section_relative() {
    let dir = scratch_dir("signed");
    let a = assemble(
        &dir,
        "a",
        "
    .section __TEXT,__text,regular,pure_instructions
    .globl _code
_code:
    leaq _data(%rip), %rax
    movb $1, _byte(%rip)
    movw $2, _byte(%rip)
    movl $3, _byte(%rip)
    leaq L_.str(%rip), %rcx
    leaq _static(%rip), %rdx
    retq
    .section __TEXT,__cstring,cstring_literals
L_.str:
    .asciz \"x\"
    .section __DATA,__data
    .p2align 3
_static:
    .quad 0
.subsections_via_symbols
",
    );
    let b = assemble(&dir, "b", DEFS);
    // SIGNED, SIGNED_1, SIGNED_2, SIGNED_4 (external), SIGNED (section-based), SIGNED to a
    // non-external symbol.
    assert_eq!(
        input_types(&a, "__text"),
        vec![(3, 1, true), (9, 6, true), (17, 7, true), (25, 8, true), (36, 1, false), (43, 1, true)]
    );
    let linked = link(&[&b, &a]);
    let img = Image::parse(&linked.bytes);
    let code = img.addr("_code");
    // (displacement offset, end of instruction, target)
    let static_addr = img.section("__DATA", "__data").addr + 0x18; // after b's 17 bytes, 8-aligned
    let cases = [
        (3, 7, img.addr("_data")),
        (9, 14, img.addr("_byte")),
        (17, 23, img.addr("_byte")),
        (25, 33, img.addr("_byte")),
        (36, 40, img.section("__TEXT", "__cstring").addr),
        (43, 47, static_addr),
    ];
    for (disp, end, target) in cases {
        assert_eq!((code + end) as i64 + i64::from(img.i32(code + disp)), target as i64, "displacement at +{disp}");
    }
    assert!(img.local_relocs.is_empty() && img.external_relocs.is_empty());
}

#[test]
fn branch_local_and_external() {
    let dir = scratch_dir("branch");
    let a = assemble(
        &dir,
        "a",
        "
    .section __TEXT,__text,regular,pure_instructions
    .globl _caller
_caller:
    callq _callee
    callq _kernel_fn
    callq _kernel_fn
    jmp _kernel_a
.subsections_via_symbols
",
    );
    let b = assemble(&dir, "b", DEFS);
    let linked = link(&[&a, &b]);
    let img = Image::parse(&linked.bytes);
    let caller = img.addr("_caller");
    // Local: call rel32 to the callee, no relocation.
    assert_eq!(img.u8(caller), 0xe8);
    assert_eq!((caller + 5) as i64 + i64::from(img.i32(caller + 1)), img.addr("_callee") as i64);
    // External: call rel32 0 and an external BRANCH relocation (pc-relative, 4 bytes), sorted by
    // symbol number, then address.
    for at in [6, 11, 16] {
        assert_eq!(img.i32(caller + at), 0);
    }
    let call = |a: u64, s: &str| Reloc {
        address: a as u32,
        symbolnum: img.symbol_index(s),
        pcrel: true,
        length: 2,
        external: true,
        rtype: BRANCH,
    };
    assert_eq!(img.external_relocs, vec![call(caller + 16, "_kernel_a"), call(caller + 6, "_kernel_fn"), call(caller + 11, "_kernel_fn")]);
    assert!(img.local_relocs.is_empty());
    // Call sites do not set S_ATTR_EXT_RELOC (ld64 sets it for pointers only).
    assert_eq!(img.section("__TEXT", "__text").flags, 0x8000_0400);
}

#[test]
fn got_load_local_becomes_lea_external_gets_a_slot() {
    let dir = scratch_dir("got-load");
    let a = assemble(
        &dir,
        "a",
        "
    .section __TEXT,__text,regular,pure_instructions
    .globl _use
_use:
    movq _here@GOTPCREL(%rip), %rax
    movq _kernel_var@GOTPCREL(%rip), %rcx
    movq _kernel_var@GOTPCREL(%rip), %rdx
    movq _another@GOTPCREL(%rip), %rsi
    retq
.subsections_via_symbols
",
    );
    let b = assemble(&dir, "b", DEFS);
    assert!(input_types(&a, "__text").iter().all(|&(_, t, e)| t == 3 && e), "GOT_LOAD");
    let linked = link(&[&a, &b]);
    let img = Image::parse(&linked.bytes);
    let u = img.addr("_use");
    // A symbol defined in the kext: movq turned into leaq of the symbol (ld64's got pass).
    assert_eq!(img.u8(u + 1), 0x8d);
    assert_eq!((u + 7) as i64 + i64::from(img.i32(u + 3)), img.addr("_here") as i64);
    // Kernel symbols: one __DATA,__got slot each (S_REGULAR in a kext), sorted by name, first in
    // __DATA, holding 0, with an external UNSIGNED relocation; the movq reads the slot.
    let got = img.section("__DATA", "__got");
    assert_eq!((got.size, got.align, got.flags), (16, 3, 0));
    assert_eq!(img.sections.iter().position(|s| s.segname == "__DATA").unwrap(), img.ordinal("__DATA", "__got") as usize - 1);
    let slot = |i: u64| got.addr + 8 * i;
    for (at, end, s) in [(10u64, 14u64, 1u64), (17, 21, 1), (24, 28, 0)] {
        assert_eq!(img.u8(u + at - 2), 0x8b, "still a movq");
        assert_eq!((u + end) as i64 + i64::from(img.i32(u + at)), slot(s) as i64);
    }
    assert_eq!((img.u64(slot(0)), img.u64(slot(1))), (0, 0));
    let ptr = |a: u64, s: &str| Reloc {
        address: a as u32,
        symbolnum: img.symbol_index(s),
        pcrel: false,
        length: 3,
        external: true,
        rtype: UNSIGNED,
    };
    assert_eq!(img.external_relocs, vec![ptr(slot(0), "_another"), ptr(slot(1), "_kernel_var")]);
    assert!(img.local_relocs.is_empty());
    assert_eq!(linked.got_slots, 2);
}

#[test]
fn got_reference_in_data() {
    let dir = scratch_dir("got-data");
    let a = assemble(
        &dir,
        "a",
        "
    .section __DATA,__data
    .globl _ref
_ref:
    .long _kernel_var@GOTPCREL
.subsections_via_symbols
",
    );
    assert_eq!(input_types(&a, "__data"), vec![(0, 4, true)], "X86_64_RELOC_GOT");
    let img = Image::parse(&link(&[&a]).bytes);
    let got = img.section("__DATA", "__got");
    let r = img.addr("_ref");
    // ld64: slot + addend - (P + 4).
    assert_eq!(r as i64 + 4 + i64::from(img.i32(r)), got.addr as i64);
    assert_eq!(img.external_relocs.len(), 1);
}

#[test]
fn subtractor_pairs() {
    let dir = scratch_dir("subtractor");
    let a = assemble(
        &dir,
        "a",
        "
    .section __TEXT,__text,regular,pure_instructions
    .globl _far
_pad:
    retq
_far:
    retq
    .section __TEXT,__cstring,cstring_literals
L_.str:
    .asciz \"abc\"
    .section __DATA,__data
    .globl _diffs
    .p2align 3
_diffs:
    .quad _far - _diffs
    .long _far - _diffs
    .long 0
    .quad L_.str - _diffs
.subsections_via_symbols
",
    );
    let b = assemble(&dir, "b", DEFS);
    // SUBTRACTOR+UNSIGNED (external), (external, 4 bytes), (section-based)
    assert_eq!(input_types(&a, "__data").iter().filter(|&&(_, t, _)| t == 5).count(), 3);
    let img = Image::parse(&link(&[&b, &a]).bytes);
    let d = img.addr("_diffs");
    let far = img.addr("_far");
    let cstring = img.section("__TEXT", "__cstring").addr;
    assert_eq!(img.u64(d) as i64, far as i64 - d as i64);
    assert_eq!(i64::from(img.i32(d + 8)), far as i64 - d as i64);
    assert_eq!(img.u64(d + 16) as i64, cstring as i64 - d as i64);
    assert!(img.local_relocs.is_empty() && img.external_relocs.is_empty());
}

#[test]
fn weak_definitions_keep_ld64_semantics() {
    let dir = scratch_dir("weak");
    let a = assemble(
        &dir,
        "a",
        "
    .section __TEXT,__text,regular,pure_instructions
    .globl _w
    .weak_definition _w
_w:
    retq
    .globl _h
    .weak_def_can_be_hidden _h
    .weak_definition _h
_h:
    retq
    .globl _use
_use:
    movq _w@GOTPCREL(%rip), %rax
    movq _h@GOTPCREL(%rip), %rax
    retq
    .section __DATA,__data
    .p2align 3
_ptrs:
    .quad _w
    .quad _h
.subsections_via_symbols
",
    );
    let img = Image::parse(&link(&[&a]).bytes);
    // An exported weak definition: N_WEAK_DEF, MH_WEAK_DEFINES|MH_BINDS_TO_WEAK, pointers and GOT
    // slots to it stay external relocations (to the kext's own symbol).
    let w = img.symbol("_w");
    assert_eq!((w.n_type, w.n_desc), (0x0f, 0x0080));
    assert_eq!(img.flags, 0x85 | 0x8000 | 0x10000);
    let ptrs = img.section("__DATA", "__data").addr;
    let wi = img.symbol_index("_w");
    assert!(img.external_relocs.iter().any(|r| u64::from(r.address) == ptrs && r.symbolnum == wi && r.external));
    assert_eq!(img.section("__DATA", "__got").size, 8);
    // .weak_def_can_be_hidden: a local (N_PEXT) symbol, a local relocation, and lea.
    let h = img.symbol("_h");
    assert_eq!((h.n_type, h.n_desc), (0x1e, 0x0080));
    assert_eq!(img.u64(ptrs + 8), h.n_value);
    assert!(img.local_reloc_at(ptrs + 8).is_some());
    let u = img.addr("_use");
    assert_eq!((img.u8(u + 1), img.u8(u + 8)), (0x8b, 0x8d));
}

#[test]
fn weak_import_when_every_reference_is_weak() {
    let dir = scratch_dir("weak-import");
    let a = assemble(
        &dir,
        "a",
        "
    .section __TEXT,__text,regular,pure_instructions
    .weak_reference _maybe
    .globl _f
_f:
    callq _maybe
    callq _surely
    retq
.subsections_via_symbols
",
    );
    let img = Image::parse(&link(&[&a]).bytes);
    // N_WEAK_REF (0x40) with the dynamic-lookup ordinal.
    assert_eq!(img.symbol("_maybe").n_desc, 0xfe40);
    assert_eq!(img.symbol("_surely").n_desc, 0xfe00);
}
