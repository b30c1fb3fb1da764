//! kextld on the project's own inputs: the Rust kernel library (always: it needs no Apple
//! headers, and the test builds it with scripts/kernel-lib.sh when build.sh has not), and with
//! KERNEL_HEADERS set the C++ shim and kmod glue too (compiled here with scripts/shim-linux.sh).
//! Every relocation of the link is checked by `support::verify`; the file is read back with
//! llvm-objdump-19 and llvm-nm-19.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::*;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// The x86_64 Rust kernel library, built as build.sh builds it if it is not there yet.
fn rust_kernel_library() -> PathBuf {
    let lib = root().join("target/kernel/x86_64-apple-macos-kernel/release/librustkext.a");
    if !lib.exists() {
        eprintln!("building {} with scripts/kernel-lib.sh (about 90 s from clean)", lib.display());
        let out = Command::new(root().join("scripts/kernel-lib.sh")).arg("x86_64").output().unwrap();
        assert!(out.status.success(), "scripts/kernel-lib.sh failed:\n{}", String::from_utf8_lossy(&out.stderr));
    }
    lib
}

fn tool(name: &str, args: &[&str], file: &Path) -> String {
    let out = Command::new(name).args(args).arg(file).output().unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(out.status.success(), "{name} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// What llvm-objdump-19 shows: an x86_64 KEXTBUNDLE with ld64's load commands.
fn check_with_llvm(path: &Path, img: &Image) {
    let headers = tool("llvm-objdump-19", &["--macho", "--private-headers"], path);
    let header_line = headers.lines().find(|l| l.trim_start().starts_with("MH_MAGIC_64")).unwrap();
    let fields: Vec<&str> = header_line.split_whitespace().collect();
    assert_eq!(fields[..5], ["MH_MAGIC_64", "X86_64", "ALL", "0x00", "KEXTBUNDLE"], "{header_line}");
    assert_eq!(fields[7..], ["NOUNDEFS", "DYLDLINK", "TWOLEVEL"], "{header_line}");
    let cmds: Vec<&str> = headers.lines().filter_map(|l| l.trim().strip_prefix("cmd ")).map(str::trim).collect();
    assert_eq!(cmds, ["LC_SEGMENT_64", "LC_SEGMENT_64", "LC_SEGMENT_64", "LC_SYMTAB", "LC_DYSYMTAB", "LC_UUID", "LC_SOURCE_VERSION"]);
    let relocs = tool("llvm-objdump-19", &["--macho", "-r"], path);
    assert!(relocs.contains(&format!("External relocation information {} entries", img.external_relocs.len())), "{relocs}");
    if !img.local_relocs.is_empty() {
        assert!(relocs.contains(&format!("Local relocation information {} entries", img.local_relocs.len())), "{relocs}");
    }
    let nm = tool("llvm-nm-19", &["-m"], path);
    let imported = nm.lines().filter(|l| l.contains("(undefined) external") && l.ends_with("(dynamically looked up)")).count();
    assert_eq!(imported, img.nundef as usize, "llvm-nm-19 sees every import as a dynamic lookup");
}

#[test]
fn rust_kernel_library_links() {
    let lib = rust_kernel_library();
    // Archive members are linked only to define what is undefined: alone, nothing is.
    assert!(link_with(&[&lib], &[], false).unwrap().objects.is_empty());
    // What the shim calls pulls in the crate's object, and only it (core and compiler_builtins
    // are not needed: kext-check's archive resolution says the same).
    let linked = link_with(&[&lib], &["_rk_service_start"], false).unwrap();
    let checked = verify(&linked);
    assert!(checked > 100, "only {checked} relocations checked");
    let names: Vec<&str> = linked.objects.iter().map(|o| o.name.rsplit('(').next().unwrap()).collect();
    assert!(names.len() == 1 && names[0].starts_with("rustkext-"), "{names:?}");
    let img = Image::parse(&linked.bytes);
    let imports: Vec<&str> = img.symbols.iter().filter(|s| s.n_type == 0x01).map(|s| s.name.as_str()).collect();
    for i in &imports {
        assert!(kext_check::allowed::rust_may_import(i), "{i} is not an import the Rust objects may have");
    }
    let out = scratch_dir("rust-only").join("RustOnly");
    std::fs::write(&out, &linked.bytes).unwrap();
    check_with_llvm(&out, &img);
}

#[test]
fn whole_kext_links_with_kernel_headers() {
    let Some(headers) = std::env::var_os("KERNEL_HEADERS") else {
        eprintln!("skipped: KERNEL_HEADERS is not set (the C++ shim needs Kernel.framework headers)");
        return;
    };
    let dir = scratch_dir("whole-kext");
    // The kmod glue from a plist with the two keys scripts/gen-kmod-info.sh reads.
    let plist = dir.join("Info.plist");
    std::fs::write(
        &plist,
        "<plist><dict>\n<key>CFBundleIdentifier</key>\n<string>org.rustkext.RustKext</string>\n\
         <key>CFBundleVersion</key>\n<string>0.1.0</string>\n</dict></plist>\n",
    )
    .unwrap();
    let glue = dir.join("RustKext_info.c");
    let ok = Command::new(root().join("scripts/gen-kmod-info.sh")).arg(&plist).arg(&glue).status().unwrap();
    assert!(ok.success());
    let out = Command::new(root().join("scripts/shim-linux.sh")).arg(&headers).arg(&dir).arg(&glue).output().unwrap();
    assert!(out.status.success(), "scripts/shim-linux.sh failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let objs: Vec<PathBuf> = String::from_utf8(out.stdout).unwrap().lines().map(PathBuf::from).collect();
    assert_eq!(objs.len(), 5, "4 shim objects and the glue");
    let lib = rust_kernel_library();
    let mut inputs: Vec<&Path> = objs.iter().map(PathBuf::as_path).collect();
    inputs.push(&lib);
    let linked = link_with(&inputs, &["_kmod_info"], true).unwrap();
    let checked = verify(&linked);
    assert!(checked > 900, "only {checked} relocations checked");
    let img = Image::parse(&linked.bytes);
    // What the kernel's linker looks for must be in the symbol table.
    for name in [
        "_kmod_info",
        "__ZTV20org_rustkext_Service",
        "__ZTV23org_rustkext_UserClient",
        "__ZTVN20org_rustkext_Service9MetaClassE",
        "__ZTVN23org_rustkext_UserClient9MetaClassE",
        "__ZN20org_rustkext_Service10superClassE",
        "__ZN23org_rustkext_UserClient10superClassE",
        "__ZN20org_rustkext_Service10gMetaClassE",
        "__ZN23org_rustkext_UserClient10gMetaClassE",
    ] {
        let s = img.symbol(name);
        assert_eq!(s.n_type, 0x0f, "{name} is an exported definition");
    }
    // _start/_stop come from the glue (private externs), not from the kernel.
    for name in ["__start", "__stop"] {
        assert_eq!(img.symbol(name).n_type, 0x1e, "{name}");
    }
    // kmod_info.start/stop point at them, through local relocations (kmod_info_t is packed to 4
    // bytes, 196 bytes on x86_64; its only pointers into the kext are start and stop).
    let kmod = img.addr("_kmod_info");
    let mut pointers: Vec<u64> = img
        .local_relocs
        .iter()
        .map(|r| u64::from(r.address))
        .filter(|&a| kmod <= a && a < kmod + 196)
        .map(|a| img.u64(a))
        .collect();
    pointers.sort_unstable();
    assert_eq!(pointers, vec![img.addr("__start").min(img.addr("__stop")), img.addr("__start").max(img.addr("__stop"))]);
    // A final image's vtable slot is valid when it is nonzero or has a relocation (kxld
    // init_by_entries_and_relocs): every slot of the kext's vtables up to the first empty one
    // is one or the other, never both.
    for vtable in ["__ZTV20org_rustkext_Service", "__ZTV23org_rustkext_UserClient"] {
        let base = img.addr(vtable);
        let mut slots = 0;
        let mut at = base + 16;
        loop {
            let value = img.u64(at);
            let ext = img.external_reloc_at(at).is_some();
            let local = img.local_reloc_at(at).is_some();
            if value == 0 && !ext {
                break;
            }
            assert!(ext != local, "{vtable} slot at {at:#x}: exactly one relocation");
            assert!(ext == (value == 0), "{vtable} slot at {at:#x}: external slots hold 0");
            slots += 1;
            at += 8;
        }
        assert!(slots > 100, "{vtable}: {slots} slots");
    }
    // The debug map names every object with DWARF (shim, glue, the Rust member).
    let oso: Vec<&str> = img.symbols.iter().filter(|s| s.n_type == 0x66).map(|s| s.name.as_str()).collect();
    assert_eq!(oso.len(), 6, "{oso:?}");
    assert!(oso.iter().any(|p| p.contains("librustkext.a(rustkext-")), "{oso:?}");
    let path = dir.join("RustKext");
    std::fs::write(&path, &linked.bytes).unwrap();
    check_with_llvm(&path, &img);
}
