//! What kextld refuses, each with its exact message: what ld64 refuses or would link wrongly
//! for a kext, and what kextld does not implement.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::*;

fn refused(test: &str, source: &str) -> (PathBuf, String) {
    let dir = scratch_dir(test);
    let a = assemble(&dir, "a", source);
    let msg = link_err(&[&a]);
    (a, msg)
}

fn text(body: &str) -> String {
    format!("    .section __TEXT,__text,regular,pure_instructions\n    .globl _f\n_f:\n{body}\n    retq\n.subsections_via_symbols\n")
}

fn p(path: &Path) -> String {
    path.to_str().unwrap().to_string()
}

#[test]
fn rip_relative_reference_to_a_kernel_symbol() {
    let (a, msg) = refused("signed-undef", &text("    leaq _kernel_var(%rip), %rax"));
    assert_eq!(
        msg,
        format!(
            "{}: __TEXT,__text+0x3: X86_64_RELOC_SIGNED to _kernel_var: RIP-relative reference to an undefined \
             (kernel) symbol: ld64 -kext writes no relocation for it (addClassicRelocs makes external relocations \
             only for pointers and call sites), so its output would point at address 0 and the kernel's linker would \
             never fix it; load the address from the GOT instead (movq sym@GOTPCREL(%rip), what clang and rustc \
             emit for a symbol that is not known to be local)",
            p(&a)
        )
    );
}

#[test]
fn rip_relative_store_with_immediate_to_a_kernel_symbol() {
    let (a, msg) = refused("signed4-undef", &text("    movl $3, _kernel_var(%rip)"));
    assert!(msg.starts_with(&format!("{}: __TEXT,__text+0x2: X86_64_RELOC_SIGNED_4 to _kernel_var: RIP-relative", p(&a))), "{msg}");
}

#[test]
fn thread_local_access() {
    let (a, msg) = refused("tlv", &text("    movq _tlv@TLVP(%rip), %rdi"));
    assert_eq!(
        msg,
        format!("{}: __TEXT,__text+0x3: X86_64_RELOC_TLV to _tlv: thread-local variable access: kexts have no TLV support", p(&a))
    );
}

#[test]
fn thread_local_section() {
    let (a, msg) = refused(
        "tlv-section",
        "    .section __DATA,__thread_bss,thread_local_zerofill\n    .globl _t\n_t:\n    .quad 0\n.subsections_via_symbols\n",
    );
    assert_eq!(
        msg,
        format!(
            "{}: section __DATA,__thread_bss: thread-local variables are not supported in kexts (the kernel has no TLV runtime)",
            p(&a)
        )
    );
}

#[test]
fn thirty_two_bit_absolute_address() {
    let (a, msg) = refused("abs32", "    .section __DATA,__data\n    .globl _d\n_d:\n    .long _d\n.subsections_via_symbols\n");
    assert_eq!(
        msg,
        format!(
            "{}: __DATA,__data+0x0: X86_64_RELOC_UNSIGNED to _d: 32-bit (or smaller) absolute address: a kext's \
             pointers are 64-bit; the kernel's linker (kxld x86_64_process_reloc) relocates UNSIGNED only with \
             r_length 3, and ld64 would record an 8-byte relocation over this field",
            p(&a)
        )
    );
}

#[test]
fn call_to_a_kernel_symbol_plus_an_addend() {
    let (a, msg) = refused("branch-addend", &text("    callq _kernel_fn+4"));
    assert_eq!(
        msg,
        format!(
            "{}: __TEXT,__text+0x1: X86_64_RELOC_BRANCH to _kernel_fn: call to an undefined symbol plus an addend: \
             ld64 -kext emits an external BRANCH relocation only for a plain call (kindStoreTargetAddressX86BranchPCRel32)",
            p(&a)
        )
    );
}

#[test]
fn got_load_with_an_addend() {
    // The assembler writes `sym@GOTPCREL+4` as X86_64_RELOC_GOT; a GOT_LOAD with an addend is
    // made by patching the displacement of a plain one.
    let dir = scratch_dir("got-addend");
    let a = assemble(&dir, "a", &text("    movq _kernel_var@GOTPCREL(%rip), %rax"));
    patch(&a, &[0x48, 0x8b, 0x05, 0, 0, 0, 0], &[0x48, 0x8b, 0x05, 4, 0, 0, 0]);
    let msg = link_err(&[&a]);
    assert_eq!(
        msg,
        format!(
            "{}: __TEXT,__text+0x3: X86_64_RELOC_GOT_LOAD to _kernel_var: GOT load with an addend: ld64's got pass \
             only routes plain GOT loads (kindStoreTargetAddressX86PCRel32GOTLoad) through the GOT",
            p(&a)
        )
    );
}

/// Turns the definition of `name` into an undefined external symbol (n_type N_UNDF|N_EXT,
/// n_sect 0, n_value 0), through the object's LC_SYMTAB.
fn make_undefined(path: &Path, name: &str) {
    let mut b = std::fs::read(path).unwrap();
    let u32_at = |b: &[u8], o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap()) as usize;
    let ncmds = u32_at(&b, 16);
    let mut o = 32;
    for _ in 0..ncmds {
        if u32_at(&b, o) == 2 {
            let (symoff, nsyms, stroff) = (u32_at(&b, o + 8), u32_at(&b, o + 12), u32_at(&b, o + 16));
            for i in 0..nsyms {
                let e = symoff + 16 * i;
                let strx = stroff + u32_at(&b, e);
                if b[strx..].starts_with(name.as_bytes()) && b[strx + name.len()] == 0 {
                    b[e + 4] = 0x01;
                    b[e + 5] = 0;
                    b[e + 8..e + 16].fill(0);
                    std::fs::write(path, b).unwrap();
                    return;
                }
            }
        }
        o += u32_at(&b, o + 4);
    }
    panic!("no symbol {name}");
}

/// Replaces the first occurrence of `from` in the file (the objects are tiny; the patterns
/// are unique in them).
fn patch(path: &Path, from: &[u8], to: &[u8]) {
    let mut bytes = std::fs::read(path).unwrap();
    let at = bytes.windows(from.len()).position(|w| w == from).expect("pattern not found");
    bytes[at..at + to.len()].copy_from_slice(to);
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn got_load_of_a_local_symbol_that_is_not_a_movq() {
    let dir = scratch_dir("got-not-movq");
    let a = assemble(&dir, "a", &text("    movq _f@GOTPCREL(%rip), %rax"));
    // 48 8b 05 = movq disp32(%rip), %rax -> 48 03 05 = addq disp32(%rip), %rax
    patch(&a, &[0x48, 0x8b, 0x05], &[0x48, 0x03, 0x05]);
    let msg = link_err(&[&a]);
    assert_eq!(
        msg,
        format!(
            "{}: __TEXT,__text+0x3: X86_64_RELOC_GOT_LOAD to _f: GOT load of a symbol defined in the kext is not a \
             movq: ld64 turns it into a leaq and refuses anything else (\"GOT load reloc does not point to a movq \
             instruction\")",
            p(&a)
        )
    );
}

#[test]
fn difference_with_an_undefined_symbol() {
    let dir = scratch_dir("subtractor-undef");
    let a = assemble(
        &dir,
        "a",
        "    .section __TEXT,__text,regular,pure_instructions\n    .globl _zfar\n_zfar:\n    retq\n\
             .section __DATA,__data\n    .globl _d\n_d:\n    .quad _zfar - _d\n.subsections_via_symbols\n",
    );
    make_undefined(&a, "_zfar");
    let msg = link_err(&[&a]);
    assert_eq!(
        msg,
        format!(
            "{}: __DATA,__data+0x0: X86_64_RELOC_SUBTRACTOR to _d: difference involving the undefined symbol \
             _zfar: a difference of addresses needs both in the kext (ld64 asserts the same in addClassicRelocs)",
            p(&a)
        )
    );
}

#[test]
fn duplicate_definitions() {
    let dir = scratch_dir("duplicate");
    let a = assemble(&dir, "a", &text(""));
    let b = assemble(&dir, "b", &text(""));
    assert_eq!(link_err(&[&a, &b]), format!("duplicate symbol _f in {} and {}", p(&a), p(&b)));
    let w = "    .section __TEXT,__text,regular,pure_instructions\n    .globl _w\n    .weak_definition _w\n_w:\n    retq\n";
    let c = assemble(&dir, "c", w);
    let d = assemble(&dir, "d", w);
    assert_eq!(
        link_err(&[&c, &d]),
        format!(
            "weak symbol _w is defined in both {} and {}: kextld does not coalesce weak definitions (ld64 would \
             keep one copy); define it in one object only",
            p(&c),
            p(&d)
        )
    );
}

#[test]
fn common_symbols() {
    let (a, msg) = refused("common", "    .comm _c, 8, 3\n");
    assert_eq!(
        msg,
        format!(
            "{}: common (tentative) definition of _c: kextld does not lay out common symbols; compile with -fno-common",
            p(&a)
        )
    );
}

#[test]
fn unwind_tables() {
    let (a, msg) = refused(
        "eh-frame",
        "    .section __TEXT,__eh_frame,coalesced,no_toc+strip_static_syms+live_support\n    .quad 0\n",
    );
    assert_eq!(
        msg,
        format!(
            "{}: section __TEXT,__eh_frame: kextld does not relocate DWARF unwind tables (ld64 keeps __eh_frame in \
             kexts); build without them (clang -fno-asynchronous-unwind-tables, Rust panic=abort without \
             force-unwind-tables)",
            p(&a)
        )
    );
}

#[test]
fn other_segments() {
    let (a, msg) = refused("segment", "    .section __KLD,__text,regular,pure_instructions\n    retq\n");
    assert_eq!(
        msg,
        format!(
            "{}: section __KLD,__text: only __TEXT and __DATA input segments are supported (the kext keeps ld64's \
             three segments __TEXT, __DATA, __LINKEDIT)",
            p(&a)
        )
    );
}

#[test]
fn other_architectures() {
    let dir = scratch_dir("arm64");
    let src = dir.join("a.c");
    std::fs::write(&src, "int f(void) { return 1; }\n").unwrap();
    let obj = dir.join("a.o");
    let ok = Command::new("clang-19").args(["-target", "arm64-apple-macos11", "-c"]).arg(&src).arg("-o").arg(&obj).status().unwrap();
    assert!(ok.success());
    let err = kextld::input::read_input(obj.to_str().unwrap(), 1).err().unwrap();
    assert_eq!(err.to_string(), format!("{}: cputype 0x100000c, not x86_64: kextld links x86_64 kexts only", p(&obj)));
}

#[test]
fn required_symbol_missing() {
    let dir = scratch_dir("required");
    let a = assemble(&dir, "a", &text(""));
    let err = link_with(&[&a], &["_kmod_info"], false).err().unwrap();
    assert_eq!(
        err.to_string(),
        "required symbol(s) not defined by any input: _kmod_info (a kext needs _kmod_info from its kmod glue)"
    );
}

#[test]
fn archive_without_table_of_contents() {
    let dir = scratch_dir("no-toc");
    let a = assemble(&dir, "a", &text(""));
    let lib = dir.join("libx.a");
    let ok = Command::new("llvm-ar-19").args(["--format=darwin", "rcS"]).arg(&lib).arg(&a).status().unwrap();
    assert!(ok.success());
    let err = kextld::input::read_input(lib.to_str().unwrap(), 1).err().unwrap();
    assert_eq!(err.to_string(), format!("{}: archive has no table of contents (run ranlib on it)", p(&lib)));
}
