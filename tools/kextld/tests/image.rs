//! The shape of the file: header, load commands, segments, section order and layout,
//! `__LINKEDIT`, symbol table, strings, UUID, archive loading, the debug map.

mod support;

use kextld::input::{read_input, Input};
use support::*;

const A: &str = "
    .section __TEXT,__text,regular,pure_instructions
    .globl _start_a, _b_global
_start_a:
    callq _kernel_fn
    movq _kernel_var@GOTPCREL(%rip), %rax
    leaq L_.str(%rip), %rcx
    retq
_b_global:
    retq
_static_fn:
    retq
Ltemp:
    retq
ltmp_auto:
    retq
    .private_extern _hidden
    .globl _hidden
_hidden:
    retq
    .section __TEXT,__cstring,cstring_literals
L_.str:
    .asciz \"a\"
    .section __TEXT,__const
    .globl _tconst
_tconst:
    .quad 7
    .section __DATA,__data
    .globl _a_data
    .p2align 3
_a_data:
    .quad _start_a
    .quad _zeta_import
    .section __DATA,__mod_init_func,mod_init_funcs
    .p2align 3
    .quad _static_fn
    .section __DATA,__bss,zerofill
    .zerofill __DATA,__bss,_zbss,64,4
.subsections_via_symbols
";

const B: &str = "
    .section __TEXT,__text,regular,pure_instructions
    .globl _a_b
_a_b:
    retq
    .section __DATA,__const
    .globl _b_const
    .p2align 3
_b_const:
    .quad _a_b
.subsections_via_symbols
";

#[test]
fn header_segments_and_load_commands() {
    let dir = scratch_dir("shape");
    let a = assemble(&dir, "a", A);
    let b = assemble(&dir, "b", B);
    let linked = link(&[&a, &b]);
    let img = Image::parse(&linked.bytes);
    // MH_KEXT_BUNDLE, CPU_SUBTYPE_X86_64_ALL, MH_NOUNDEFS|MH_DYLDLINK|MH_TWOLEVEL.
    assert_eq!((img.filetype, img.cpusubtype, img.flags), (0xb, 3, 0x85));
    // LC_SEGMENT_64 x3, LC_SYMTAB, LC_DYSYMTAB, LC_UUID, LC_SOURCE_VERSION, nothing else.
    assert_eq!(img.commands, vec![0x19, 0x19, 0x19, 0x2, 0xb, 0x1b, 0x2a]);
    let names: Vec<&str> = img.segments.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["__TEXT", "__DATA", "__LINKEDIT"]);
    let [text, data, linkedit] = [&img.segments[0], &img.segments[1], &img.segments[2]];
    // __TEXT holds the header at base address 0; all segments 4 KiB aligned.
    assert_eq!((text.vmaddr, text.fileoff), (0, 0));
    for s in &img.segments {
        assert_eq!(s.vmaddr % 4096, 0, "{}", s.name);
        assert_eq!(s.vmsize % 4096, 0, "{}", s.name);
        assert_eq!(s.fileoff % 4096, 0, "{}", s.name);
        assert_eq!(s.maxprot, s.initprot, "{}", s.name);
    }
    assert_eq!((text.initprot, data.initprot, linkedit.initprot), (5, 3, 1));
    assert_eq!(text.filesize % 4096, 0);
    assert_eq!(data.vmaddr, text.vmaddr + text.vmsize);
    assert_eq!(linkedit.vmaddr, data.vmaddr + data.vmsize);
    // __LINKEDIT's file size is exact (not page-rounded) and ends the file.
    assert_eq!(linkedit.fileoff + linkedit.filesize, img.bytes.len() as u64);
    // Sections, in ld64's order.
    let order: Vec<String> = img.sections.iter().map(|s| format!("{},{}", s.segname, s.sectname)).collect();
    assert_eq!(
        order,
        [
            "__TEXT,__text",
            "__TEXT,__cstring",
            "__TEXT,__const",
            "__DATA,__got",
            "__DATA,__mod_init_func",
            "__DATA,__const",
            "__DATA,__data",
            "__DATA,__bss"
        ]
    );
    // "work backwards from end of segment": the last __TEXT section ends the segment.
    let last_text = img.sections.iter().rfind(|s| s.segname == "__TEXT").unwrap();
    assert_eq!(last_text.addr + last_text.size, text.vmsize);
    // Zero-fill: no file space, offset 0, S_ZEROFILL; __DATA's file size stops before it.
    let bss = img.section("__DATA", "__bss");
    assert_eq!((bss.offset, bss.flags, bss.align), (0, 1, 4));
    assert!(data.filesize <= data.vmsize);
    let init = img.section("__DATA", "__mod_init_func");
    assert_eq!(init.flags, 9, "S_MOD_INIT_FUNC_POINTERS");
    assert_eq!(img.u64(init.addr), img.addr("_static_fn"));
    assert_eq!(img.section("__TEXT", "__cstring").flags, 2, "S_CSTRING_LITERALS");
    // Section contents are at their file offsets.
    for s in img.sections.iter().filter(|s| s.flags & 0xff != 1) {
        assert_eq!(u64::from(s.offset) - s.addr + (if s.segname == "__DATA" { data.vmaddr - data.fileoff } else { 0 }), 0, "{}", s.sectname);
    }
}

#[test]
fn linkedit_order_and_symbol_table() {
    let dir = scratch_dir("linkedit");
    let a = assemble(&dir, "a", A);
    let b = assemble(&dir, "b", B);
    let img = Image::parse(&link(&[&a, &b]).bytes);
    // Local relocations, symbols, external relocations, strings: contiguous, 8-aligned.
    let linkedit = &img.segments[2];
    let (locreloff, extreloff) = img.reloff;
    let (symoff, nsyms, stroff, strsize) = img.symtab;
    assert_eq!(u64::from(locreloff), linkedit.fileoff);
    assert_eq!(symoff, locreloff + 8 * img.local_relocs.len() as u32);
    assert_eq!(extreloff, symoff + 16 * nsyms);
    assert_eq!(stroff, extreloff + 8 * img.external_relocs.len() as u32);
    assert_eq!(u64::from(stroff + strsize), linkedit.fileoff + linkedit.filesize);
    assert_eq!(strsize % 8, 0);
    assert_eq!(&img.bytes[stroff as usize..stroff as usize + 2], b" \0");
    assert_eq!(img.nindirect, 0, "no indirect symbol table without stubs");
    // Locals (in address order; 'L' and 'l' labels dropped; private externs N_PEXT), then
    // globals sorted by name, then imports sorted by name.
    let names: Vec<(&str, u8)> = img.symbols.iter().map(|s| (s.name.as_str(), s.n_type)).collect();
    assert_eq!(
        names,
        [
            ("_static_fn", 0x0e),
            ("_hidden", 0x1e),
            ("_zbss", 0x0e),
            ("_a_b", 0x0f),
            ("_a_data", 0x0f),
            ("_b_const", 0x0f),
            ("_b_global", 0x0f),
            ("_start_a", 0x0f),
            ("_tconst", 0x0f),
            ("_kernel_fn", 0x01),
            ("_kernel_var", 0x01),
            ("_zeta_import", 0x01),
        ]
    );
    assert_eq!((img.nlocal, img.nextdef, img.nundef), (3, 6, 3));
    for s in &img.symbols {
        if s.n_type == 0x01 {
            assert_eq!((s.n_sect, s.n_desc, s.n_value), (0, 0xfe00, 0), "{}", s.name);
        } else {
            let sect = &img.sections[usize::from(s.n_sect) - 1];
            assert!(sect.addr <= s.n_value && s.n_value < sect.addr + sect.size, "{} in its section", s.name);
        }
    }
}

#[test]
fn code_padding_between_objects_is_nops() {
    let dir = scratch_dir("nops");
    let a = assemble(&dir, "a", "    .section __TEXT,__text,regular,pure_instructions\n    .globl _x\n_x:\n    retq\n");
    let b = assemble(&dir, "b", "    .section __TEXT,__text,regular,pure_instructions\n    .p2align 4\n    .globl _y\n_y:\n    retq\n");
    let img = Image::parse(&link(&[&a, &b]).bytes);
    let (x, y) = (img.addr("_x"), img.addr("_y"));
    assert_eq!(y, x + 16);
    for at in x + 1..y {
        assert_eq!(img.u8(at), 0x90, "ld64 copyNoOps fills code padding with 0x90");
    }
}

#[test]
fn uuid_is_content_based() {
    let dir = scratch_dir("uuid");
    let a = assemble(&dir, "a", A);
    let b = assemble(&dir, "b", B);
    let one = link(&[&a, &b]);
    let two = link(&[&a, &b]);
    assert_eq!(one.uuid, two.uuid);
    assert_eq!(one.bytes, two.bytes);
    assert_eq!(Image::parse(&one.bytes).uuid, one.uuid);
    // RFC 4122 version 3 and variant bits, as ld64 sets them.
    assert_eq!((one.uuid[6] >> 4, one.uuid[8] >> 6), (3, 2));
    let other = link(&[&b, &a]);
    assert_ne!(one.uuid, other.uuid);
}

#[test]
fn archive_members_only_as_needed_in_member_order() {
    let dir = scratch_dir("archive");
    let root = assemble(&dir, "root", "    .section __TEXT,__text,regular,pure_instructions\n    .globl _root\n_root:\n    callq _m2\n    retq\n");
    // m1 is needed only by m2; m3 by nobody.
    let m1 = assemble(&dir, "m1", "    .section __TEXT,__text,regular,pure_instructions\n    .globl _m1\n_m1:\n    retq\n");
    let m2 = assemble(&dir, "m2", "    .section __TEXT,__text,regular,pure_instructions\n    .globl _m2\n_m2:\n    callq _m1\n    retq\n");
    let m3 = assemble(&dir, "m3", "    .section __TEXT,__text,regular,pure_instructions\n    .globl _m3\n_m3:\n    callq _absent\n    retq\n");
    let lib = archive(&dir, "libm.a", &[&m1, &m2, &m3]);
    let linked = link(&[&root, &lib]);
    let loaded: Vec<&str> = linked.objects.iter().map(|o| o.name.rsplit('/').next().unwrap()).collect();
    // Loaded in resolution order (m2, then m1 for m2's reference); never m3.
    assert_eq!(loaded, ["root.o", "libm.a(m2.o)", "libm.a(m1.o)"]);
    let img = Image::parse(&linked.bytes);
    // Laid out by archive member order (ld64's file ordinals), not load order.
    assert!(img.addr("_m1") < img.addr("_m2"));
    assert!(img.symbols.iter().all(|s| s.name != "_m3" && s.name != "_absent"));
    // An archive member named by -u is loaded too.
    let linked = link_with(&[&root, &lib], &["_m3"], false).unwrap();
    assert_eq!(linked.objects.len(), 4);
}

#[test]
fn debug_map_for_dsymutil() {
    let dir = scratch_dir("debug-map");
    let c = compile_c(
        &dir,
        "unit",
        "extern void kernel_fn(void);\nint counter = 1;\nstatic int hidden_counter;\n\
         void bump(void) { counter++; hidden_counter++; kernel_fn(); }\nint *where(void) { return &hidden_counter; }\n",
        &["-g"],
    );
    let Input::Object(o) = read_input(c.to_str().unwrap(), 1).unwrap() else { panic!() };
    let tu = kextld::dwarf::translation_unit_path(&o).expect("DWARF compile unit");
    assert_eq!(tu, dir.join("unit.c").to_str().unwrap());
    let linked = link_with(&[&c], &[], true).unwrap();
    verify(&linked);
    let img = Image::parse(&linked.bytes);
    let stabs: Vec<(u8, u8, u16, String)> = img
        .symbols
        .iter()
        .filter(|s| s.n_type & 0xe0 != 0)
        .map(|s| (s.n_type, s.n_sect, s.n_desc, s.name.clone()))
        .collect();
    let dir_slash = format!("{}/", dir.to_str().unwrap());
    let text = img.ordinal("__TEXT", "__text") as u8;
    let bss = img.sections.iter().position(|s| s.sectname == "__bss").map(|i| i as u8 + 1).unwrap();
    let fun = |name: &str| {
        vec![(0x2e, text, 0, String::new()), (0x24, 1, 0, name.to_string()), (0x24, 0, 0, String::new()), (0x4e, text, 0, String::new())]
    };
    let mut expected = vec![
        (0x64, 1, 0, String::new()),
        (0x64, 0, 0, dir_slash),
        (0x64, 0, 0, "unit.c".to_string()),
        (0x66, 3, 1, c.to_str().unwrap().to_string()),
    ];
    expected.extend(fun("_bump"));
    expected.extend(fun("_where"));
    expected.push((0x20, 0, 0, "_counter".into()));
    expected.push((0x26, bss, 0, "_hidden_counter".into()));
    expected.push((0x64, 1, 0, String::new()));
    assert_eq!(stabs, expected);
    // The stabs follow the locals: nlocal counts them; N_FUN end holds the function size.
    let ends: Vec<u64> = img.symbols.iter().filter(|s| s.n_type == 0x24 && s.n_sect == 0).map(|s| s.n_value).collect();
    assert_eq!(ends.len(), 2);
    assert!(ends.iter().all(|&size| size > 0 && size < 64));
    // The debug map does not change the UUID when only the N_OSO time changes.
    let mut inputs = vec![read_input(c.to_str().unwrap(), 1).unwrap()];
    let zero = kextld::link(
        std::mem::take(&mut inputs),
        &kextld::Options { output_path: "/tmp/Test".into(), required: vec![], debug_map: true, zero_mod_time: false },
    )
    .unwrap();
    assert_eq!(zero.uuid, linked.uuid);
    assert_ne!(zero.bytes, linked.bytes);
}
