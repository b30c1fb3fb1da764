//! The probe: clang-19 lays out a class hierarchy of our own, and the slots read from the
//! object file and the vtable dump must agree (the same compile the model uses for the
//! Kernel.framework classes). Needs clang-19 (scripts/setup.sh installs it).

use kxld_check::{layout, probe};

const TOY_H: &str = "#pragma once
class ToyBase {
public:
    virtual ~ToyBase();
    virtual void f(int) const;
    virtual const ToyBase *g() = 0;
    virtual int operator()(int);
private:
    virtual void _RESERVEDToyBase0();
};
";

/// Compiles the probe for ToyBase: (the -fdump-vtable-layouts text, the object file).
fn compile_probe(tag: &str) -> (String, Vec<u8>) {
    let dir = std::env::temp_dir().join(format!("kxld-check-probe-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("IOKit")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.join("IOKit/ToyBase.h"), TOY_H).unwrap_or_else(|e| panic!("{e}"));
    let header = probe::header_for(&dir, "ToyBase").unwrap_or_else(|| panic!("header not found"));
    assert_eq!(header, "IOKit/ToyBase.h");
    std::fs::write(dir.join("probe.cpp"), probe::source(&[("ToyBase".into(), header)])).unwrap_or_else(|e| panic!("{e}"));
    let out = std::process::Command::new("clang++-19")
        .args(["-target", "x86_64-apple-macos10.15", "-std=gnu++17", "-mkernel", "-fapple-kext", "-fno-rtti"])
        .args(["-fno-exceptions", "-nostdinc", "-O2", "-Xclang", "-fdump-vtable-layouts", "-c", "-isystem"])
        .arg(&dir)
        .arg(dir.join("probe.cpp"))
        .arg("-o")
        .arg(dir.join("probe.o"))
        .output()
        .unwrap_or_else(|e| panic!("clang++-19: {e} (apt-get install -y clang-19)"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let object = std::fs::read(dir.join("probe.o")).unwrap_or_else(|e| panic!("{e}"));
    let _ = std::fs::remove_dir_all(&dir);
    (String::from_utf8_lossy(&out.stdout).into_owned(), object)
}

#[test]
fn reads_the_layout_clang_gives() {
    let (dump, object) = compile_probe("ok");
    let layouts = layout::parse(&dump).unwrap_or_else(|e| panic!("{e}"));
    let vts = probe::read(&object, &layouts, &["ToyBase".to_string()]).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<&str> = vts[0].slots.iter().map(|s| s.symbol.as_str()).collect();
    assert_eq!(
        names,
        [
            "__ZN7ToyBaseD1Ev",
            "__ZN7ToyBaseD0Ev",
            "__ZNK7ToyBase1fEi",
            "___cxa_pure_virtual",
            "__ZN7ToyBaseclEi",
            "__ZN7ToyBase17_RESERVEDToyBase0Ev",
        ]
    );
}

#[test]
fn refuses_a_dump_that_disagrees_with_the_object() {
    let (dump, object) = compile_probe("bad");
    let renamed = dump.replace("void ToyBase::f(int) const", "void ToyBase::h(int) const");
    assert_ne!(renamed, dump);
    let layouts = layout::parse(&renamed).unwrap_or_else(|e| panic!("{e}"));
    let err = probe::read(&object, &layouts, &["ToyBase".to_string()]).err().unwrap_or_default();
    assert!(err.contains("the vtable dump says `void ToyBase::h(int) const` but the object file has __ZNK7ToyBase1fEi"), "{err}");
    // One slot fewer in the dump than in the object (the pad slot dropped).
    let shorter = dump
        .replace("(9 entries)", "(8 entries)")
        .replace("   7 | void ToyBase::_RESERVEDToyBase0()\n", "")
        .replace("   8 | vcall_offset (0)", "   7 | vcall_offset (0)");
    assert_ne!(shorter, dump);
    let layouts = layout::parse(&shorter).unwrap_or_else(|e| panic!("{e}"));
    let err = probe::read(&object, &layouts, &["ToyBase".to_string()]).err().unwrap_or_default();
    assert!(err.contains("the object has more slots than the dump"), "{err}");
}
