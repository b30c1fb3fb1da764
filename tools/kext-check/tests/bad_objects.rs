//! The object and import checks reject what they must, with the right reason, and accept clean
//! objects. Objects are built by clang-19 here, so each test shows the check on real Mach-O.

mod support;

use std::process::Command;

use kext_check::exports;
use kext_check::imports::check_imports;
use kext_check::objects::check_objects;
use kext_check::{Arch, Finding};
use support::*;

const CLEAN: &str = "void IOLog(const char *, ...);\n\
                     void *memcpy(void *, const void *, unsigned long);\n\
                     int add(int a, int b) { return a + b; }\n\
                     void say(char *d, const char *s) { memcpy(d, s, 64); IOLog(\"%s\", d); }\n";

#[test]
fn clean_objects_pass_on_both_architectures() {
    let dir = scratch_dir("clean");
    for (arch, target) in [(Arch::X86_64, X86), (Arch::Arm64e, ARM64E)] {
        let mut obj = compile(&dir, &format!("clean-{arch}"), target, CLEAN);
        if arch == Arch::Arm64e {
            obj = kernel_abi(&obj);
        }
        let report = check_objects(&read(&obj, arch), arch);
        assert_eq!(report.findings, vec![], "{arch}");
    }
}

#[test]
fn sse_is_rejected() {
    let dir = scratch_dir("sse");
    let obj = compile(&dir, "sse", X86, "double scale(double a, double b) { return a * b + 1.0; }\n");
    let findings = check_objects(&read(&obj, Arch::X86_64), Arch::X86_64).findings;
    assert!(
        matches!(&findings[..], [Finding::FloatUse { symbol, what, .. }] if symbol == "_scale" && what.contains("XMM")),
        "{findings:?}"
    );
}

#[test]
fn x87_is_rejected() {
    let dir = scratch_dir("x87");
    let obj = compile(&dir, "x87", X86, "long double twice(long double a) { return a * 2; }\n");
    let findings = check_objects(&read(&obj, Arch::X86_64), Arch::X86_64).findings;
    assert!(
        matches!(&findings[..], [Finding::FloatUse { what, .. }] if what.contains("ST") || what.contains("FPU")),
        "{findings:?}"
    );
}

#[test]
fn arm64e_fp_simd_is_rejected() {
    let dir = scratch_dir("arm-fp");
    let obj = kernel_abi(&compile(&dir, "fp", ARM64E, "double scale(double a, double b) { return a * b + 1.0; }\n"));
    let findings = check_objects(&read(&obj, Arch::Arm64e), Arch::Arm64e).findings;
    assert!(
        matches!(&findings[..], [Finding::FloatUse { symbol, what, .. }] if symbol == "_scale" && what.contains("floating-point")),
        "{findings:?}"
    );
}

#[test]
fn undeclared_import_is_rejected() {
    let dir = scratch_dir("undeclared");
    let obj = compile(&dir, "undeclared", X86, "void kernel_secret(void);\nvoid f(void) { kernel_secret(); }\n");
    let findings = check_objects(&read(&obj, Arch::X86_64), Arch::X86_64).findings;
    assert!(
        matches!(&findings[..], [Finding::UndefinedNotAllowed { symbol, .. }] if symbol == "_kernel_secret"),
        "{findings:?}"
    );
}

#[test]
fn wrong_cpu_is_rejected() {
    let dir = scratch_dir("cpu");
    let x86 = compile(&dir, "x86", X86, CLEAN);
    let findings = check_objects(&read(&x86, Arch::Arm64e), Arch::Arm64e).findings;
    assert!(findings.iter().any(|f| matches!(f, Finding::WrongCpu { cpu_type: 0x0100_0007, .. })), "{findings:?}");

    // Plain arm64 (no pointer authentication ABI) is not arm64e.
    let arm64 = compile(&dir, "arm64", "arm64-apple-macos11", CLEAN);
    let findings = check_objects(&read(&arm64, Arch::Arm64e), Arch::Arm64e).findings;
    assert!(
        matches!(&findings[..], [Finding::WrongCpu { cpu_type: 0x0100_000c, cpu_subtype: 0, .. }]),
        "{findings:?}"
    );
}

#[test]
fn arm64e_objects_need_the_kernel_pointer_auth_abi() {
    let dir = scratch_dir("ptrauth-abi");
    // rustc's user ABI (0x80000002) is not what the kext's other objects carry.
    let user = compile(&dir, "user", ARM64E, CLEAN);
    let findings = check_objects(&read(&user, Arch::Arm64e), Arch::Arm64e).findings;
    assert!(
        matches!(&findings[..], [Finding::WrongCpu { cpu_type: 0x0100_000c, cpu_subtype: 0x8000_0002, .. }]),
        "{findings:?}"
    );
    assert!(findings[0].to_string().ends_with("expected arm64e (0x100000c/0xc0000002)"), "{}", findings[0]);
    // Marked, it passes; in an archive every member is marked, already marked ones are kept.
    let marked = kernel_abi(&user);
    assert_eq!(check_objects(&read(&marked, Arch::Arm64e), Arch::Arm64e).findings, vec![]);
    let lib = archive(&dir, "libboth.a", &[("a-user.o", &user), ("b-marked.o", &marked)]);
    let (bytes, changed) = kext_check::ptrauth::mark_kernel_abi("libboth.a", &std::fs::read(&lib).unwrap()).unwrap();
    assert_eq!(changed, 1);
    let out = dir.join("libmarked.a");
    std::fs::write(&out, bytes).unwrap();
    assert_eq!(check_objects(&read(&out, Arch::Arm64e), Arch::Arm64e).findings, vec![]);
    // Not arm64e: refused.
    let x86 = compile(&dir, "x86", X86, CLEAN);
    let err = kext_check::ptrauth::mark_kernel_abi("x86.o", &std::fs::read(&x86).unwrap()).unwrap_err();
    assert_eq!(err, "x86.o: cputype 0x1000007 cpusubtype 0x3 is not arm64e");
    // Signed data pointers sign differently under the two ABIs: refused. clang-19 writes no
    // ARM64_RELOC_AUTHENTICATED_POINTER, so one is made by setting a relocation's type to 11.
    let ptr = compile(&dir, "ptr", ARM64E, "void f(void) {}
void (*p)(void) = f;
");
    let mut bytes = std::fs::read(&ptr).unwrap();
    let file = object::read::macho::MachOFile64::<object::Endianness>::parse(&*bytes).unwrap();
    let reloff = object::Object::sections(&file)
        .find(|s| object::ObjectSection::name(s) == Ok("__data"))
        .map(|s| s.macho_section().reloff.get(object::Endianness::Little) as usize)
        .unwrap();
    bytes[reloff + 7] = (bytes[reloff + 7] & 0x0f) | (11 << 4);
    std::fs::write(&ptr, &bytes).unwrap();
    let err = kext_check::ptrauth::mark_kernel_abi("ptr.o", &bytes).unwrap_err();
    assert_eq!(
        err,
        "ptr.o: section __data has signed pointers (ARM64_RELOC_AUTHENTICATED_POINTER), whose signing differs \
         between the user and kernel ABIs: not relabelled"
    );
}

#[test]
fn debug_info_changes_no_verdict() {
    // The kernel objects now carry DWARF (-g, Rust line tables): the checks read symbols and
    // code, so a clean object still passes and a panic reference is still found.
    let dir = scratch_dir("debug-info");
    let clean = compile_with(&dir, "clean", X86, CLEAN, &["-g"]);
    assert_eq!(check_objects(&read(&clean, Arch::X86_64), Arch::X86_64).findings, vec![]);
    let src = "void core_panic(void) __asm__(\"__RNvNtCs1a2b3c_4core9panicking5panic\");\n\
               void f(int x) { if (x) core_panic(); }\n";
    let panics = compile_with(&dir, "panic", X86, src, &["-g"]);
    let findings = check_objects(&read(&panics, Arch::X86_64), Arch::X86_64).findings;
    assert!(
        findings.iter().any(|f| matches!(f, Finding::PanicOrFmt { symbols, .. } if symbols == &["core::panicking::panic"])),
        "{findings:?}"
    );
}

#[test]
fn wrong_deployment_target_is_rejected() {
    let dir = scratch_dir("minos");
    let obj = compile(&dir, "old", "x86_64-apple-macos10.13", CLEAN);
    let findings = check_objects(&read(&obj, Arch::X86_64), Arch::X86_64).findings;
    assert!(
        matches!(&findings[..], [Finding::WrongMinOs { found: Some(0x000a_0d00), expected: 0x000a_0f00, .. }]),
        "{findings:?}"
    );
}

#[test]
fn panic_symbol_is_rejected() {
    let dir = scratch_dir("panic");
    let src = "void core_panic(void) __asm__(\"__RNvNtCs1a2b3c_4core9panicking5panic\");\n\
               void f(int x) { if (x) core_panic(); }\n";
    let obj = compile(&dir, "panic", X86, src);
    let findings = check_objects(&read(&obj, Arch::X86_64), Arch::X86_64).findings;
    assert!(
        findings.iter().any(|f| matches!(f, Finding::PanicOrFmt { symbols, .. } if symbols == &["core::panicking::panic"])),
        "{findings:?}"
    );
}

/// A std object (here a fake `core`) is judged only if the project's objects pull it in, and then
/// all of it counts, as in the real link.
#[test]
fn std_object_counts_only_when_linked() {
    let dir = scratch_dir("std");
    let core = compile(
        &dir,
        "core",
        X86,
        "int helper(int x) { return x + 1; }\n\
         void fmt_it(void) __asm__(\"__RNvNtCs1a2b3c_4core3fmt5write\");\n\
         void fmt_it(void) {}\n",
    );
    let uses = compile(&dir, "uses", X86, "int helper(int);\nint g(int x) { return helper(x); }\n");
    let alone = compile(&dir, "alone", X86, CLEAN);

    let lib = archive(&dir, "libpulls.a", &[("mine-1.mine.0.o", &uses), ("core-9f.core.0.o", &core)]);
    let findings = check_objects(&read(&lib, Arch::X86_64), Arch::X86_64).findings;
    assert!(
        matches!(&findings[..], [Finding::PanicOrFmt { symbols, pulled_by, .. }]
            if symbols == &["core::fmt::write"] && pulled_by.contains("helper")),
        "{findings:?}"
    );

    let lib = archive(&dir, "libalone.a", &[("mine-1.mine.0.o", &alone), ("core-9f.core.0.o", &core)]);
    assert_eq!(check_objects(&read(&lib, Arch::X86_64), Arch::X86_64).findings, vec![]);
}

/// A minimal xnu `config/` with one KPI bundle, as the real one is laid out.
fn fake_xnu_config(dir: &std::path::Path) -> std::path::PathBuf {
    let config = dir.join("config");
    let kext = config.join("System.kext/PlugIns/Mach.kext");
    std::fs::create_dir_all(&kext).unwrap();
    std::fs::write(
        kext.join("Info.plist"),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\"><dict>\
         <key>CFBundleIdentifier</key><string>com.apple.kpi.mach</string>\
         <key>CFBundleExecutable</key><string>Mach</string></dict></plist>\n",
    )
    .unwrap();
    std::fs::write(config.join("Mach.exports"), "_mach_absolute_time\n_aliased:_kernel_internal\n").unwrap();
    std::fs::write(config.join("Mach.x86_64.exports"), "_x86_only\n").unwrap();
    std::fs::write(config.join("Mach.arm64.exports"), "_arm_only\n").unwrap();
    config
}

#[test]
fn imports_must_be_exported_by_a_declared_kpi() {
    let dir = scratch_dir("imports");
    let config = fake_xnu_config(&dir);
    let lists = exports::load(&config, Arch::X86_64).unwrap();
    let mach = vec!["com.apple.kpi.mach".to_string()];
    let good = compile(
        &dir,
        "good",
        X86,
        "unsigned long long mach_absolute_time(void); void aliased(void); void x86_only(void);\n\
         void _start(void); void f(void) { mach_absolute_time(); aliased(); x86_only(); _start(); }\n",
    );
    let report = check_imports(&read(&good, Arch::X86_64), &mach, &lists, true, true);
    assert_eq!(report.findings, vec![]);
    // A kext whose kmod glue defines _start/_stop (the Linux link) may not import them.
    let report = check_imports(&read(&good, Arch::X86_64), &mach, &lists, true, false);
    assert_eq!(report.findings, vec![Finding::NotExported { symbol: "__start".into(), declared: mach.clone() }]);

    let bad = compile(&dir, "bad", X86, "void arm_only(void); void kernel_internal(void);\n\
                                        void f(void) { arm_only(); kernel_internal(); }\n");
    let report = check_imports(&read(&bad, Arch::X86_64), &mach, &lists, true, true);
    let missing: Vec<&str> = report
        .findings
        .iter()
        .filter_map(|f| match f {
            Finding::NotExported { symbol, .. } => Some(symbol.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(missing, ["_arm_only", "_kernel_internal"]);
    // The only declared bundle exports none of these imports: declared but unused.
    assert!(report.findings.contains(&Finding::UnusedLibrary { bundle: "com.apple.kpi.mach".into() }));

    // Nothing is exempt for the Rust objects checked alone: they call no shim helper (the C ABI
    // goes one way), only KPIs.
    let rust_alone = compile(&dir, "rust", X86, "void rk_helper(void);\n\
                                               unsigned long long mach_absolute_time(void);\n\
                                               void f(void) { rk_helper(); mach_absolute_time(); }\n");
    let report = check_imports(&read(&rust_alone, Arch::X86_64), &mach, &lists, false, true);
    assert!(report.findings.iter().any(|f| matches!(f, Finding::NotExported { symbol, .. } if symbol == "_rk_helper")));

    // Declaring a bundle the export lists do not know is an error, not a pass.
    let report = check_imports(&read(&good, Arch::X86_64), &["com.apple.kpi.nope".to_string()], &lists, false, true);
    assert!(report.findings.contains(&Finding::UnknownLibrary { bundle: "com.apple.kpi.nope".into() }));
}

#[test]
fn arm64e_imports_need_an_xnu_with_arm64_macos() {
    let dir = scratch_dir("arm-xnu");
    let config = fake_xnu_config(&dir);
    let err = exports::load(&config, Arch::Arm64e).err().expect("no MASTER.arm64.MacOSX: refused");
    assert!(err.contains("MASTER.arm64.MacOSX"), "{err}");
    std::fs::write(config.join("MASTER.arm64.MacOSX"), "").unwrap();
    let lists = exports::load(&config, Arch::Arm64e).unwrap();
    let mach = &lists.bundles["com.apple.kpi.mach"];
    assert!(mach.exports("_arm_only") && mach.exports("_mach_absolute_time") && !mach.exports("_x86_only"));
}

#[test]
fn command_line_fails_with_the_reason() {
    let dir = scratch_dir("cli");
    let obj = compile(&dir, "sse", X86, "double scale(double a, double b) { return a * b; }\n");
    let out = Command::new(env!("CARGO_BIN_EXE_kext-check"))
        .args(["objects", "--arch", "x86_64"])
        .arg(&obj)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("floating-point/vector use in _scale"), "{stderr}");

    let clean = compile(&dir, "clean", X86, CLEAN);
    let out = Command::new(env!("CARGO_BIN_EXE_kext-check")).args(["objects", "--arch", "x86_64"]).arg(&clean).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
}

/// A kext has no LC_DATA_IN_CODE (ld64 writes none for `-kext`, nor does kextld): the scan of the
/// linked kext takes the jump tables from the objects it was linked from, found again by their
/// symbol and bytes, and still decodes everything else.
#[test]
fn a_linked_kexts_jump_tables_come_from_its_objects() {
    let dir = scratch_dir("jump-tables");
    let source = "int pick(int x, int a) { switch (x) { case 0: return a + 3; case 1: return a * 7;\n\
                  case 2: return a - 11; case 3: return a ^ 5; case 4: return a << 2; case 5: return a / 9;\n\
                  case 6: return a % 13; default: return 0; } }\n\
                  double scale(double a, double b) { return a * b + 1.0; }\n";
    let obj = compile(&dir, "switch", X86, source);
    let inputs = read(&obj, Arch::X86_64);
    let tables = inputs[0].data_in_code.clone();
    assert!(!tables.is_empty(), "clang-19 -O2 wrote no jump table for the switch");

    // The "linked" image: the object moved by 0x4000, as a link moves it, without data-in-code.
    const MOVED: u64 = 0x4000;
    let linked = || {
        let mut image = read(&obj, Arch::X86_64).remove(0);
        image.data_in_code.clear();
        for section in &mut image.sections {
            section.address += MOVED;
        }
        for symbol in image.symbols.iter_mut().filter(|s| s.defined) {
            symbol.address += MOVED;
        }
        image
    };

    let mut image = linked();
    kext_check::macho::add_data_in_code_from(&mut image, &inputs);
    let moved: Vec<(u64, u64)> = tables.iter().map(|&(start, len)| (start + MOVED, len)).collect();
    assert_eq!(image.data_in_code, moved);
    // Only the table is skipped: the SSE function next to it is still found.
    let mut findings = Vec::new();
    kext_check::objects::check_float(&image, &mut findings);
    assert!(
        matches!(&findings[..], [Finding::FloatUse { symbol, .. }] if symbol == "_scale"),
        "{findings:?}"
    );

    // Other bytes where the table should be: not the object's table, so it stays code.
    let mut changed = linked();
    let (start, _) = moved[0];
    let text = changed.sections.iter_mut().find(|s| s.address <= start && start < s.address + s.data.len() as u64).unwrap();
    let at = (start - text.address) as usize;
    text.data[at] ^= 0xff;
    kext_check::macho::add_data_in_code_from(&mut changed, &inputs);
    assert!(!changed.data_in_code.contains(&moved[0]), "{:?}", changed.data_in_code);
}
