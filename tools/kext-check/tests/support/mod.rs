//! Builds small Mach-O objects with clang-19 at test time (setup.sh installs it).
#![allow(dead_code)] // each test file uses part of this

use std::path::{Path, PathBuf};
use std::process::Command;

use kext_check::macho::{read_file, Member};
use kext_check::Arch;

pub fn scratch_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kext-check-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Compiles C `source` for `target` (e.g. `x86_64-apple-macos10.15`) into `dir/name.o`.
pub fn compile(dir: &Path, name: &str, target: &str, source: &str) -> PathBuf {
    compile_with(dir, name, target, source, &[])
}

/// `compile` with extra clang flags (e.g. `-g`).
pub fn compile_with(dir: &Path, name: &str, target: &str, source: &str, extra: &[&str]) -> PathBuf {
    let src = dir.join(format!("{name}.c"));
    let obj = dir.join(format!("{name}.o"));
    std::fs::write(&src, source).unwrap();
    let status = Command::new("clang-19")
        .args(["-target", target, "-O2", "-ffreestanding", "-c"])
        .args(extra)
        .arg(&src)
        .arg("-o")
        .arg(&obj)
        .status()
        .expect("clang-19 must be installed (scripts/setup.sh installs it)");
    assert!(status.success(), "clang-19 failed on {name}");
    if target.starts_with("arm64e") {
        set_ptrauth_abi(&obj);
    }
    obj
}

/// clang-19 writes arm64e objects with cpusubtype 2; rustc sets the pointer authentication ABI
/// bit as well (0x80000002, the user ABI): the test objects look like rustc's.
fn set_ptrauth_abi(obj: &Path) {
    let mut bytes = std::fs::read(obj).unwrap();
    assert_eq!(bytes[8..12], 2u32.to_le_bytes(), "unexpected arm64e cpusubtype from clang-19");
    bytes[8..12].copy_from_slice(&0x8000_0002u32.to_le_bytes());
    std::fs::write(obj, bytes).unwrap();
}

/// What build.sh does to the Rust arm64e objects before checking and linking them
/// (`kext-check mark-kernel-abi`): the kernel pointer-auth ABI, 0xC0000002.
pub fn kernel_abi(obj: &Path) -> PathBuf {
    let data = std::fs::read(obj).unwrap();
    let (marked, changed) = kext_check::ptrauth::mark_kernel_abi(obj.to_str().unwrap(), &data).unwrap();
    assert!(changed >= 1);
    let out = obj.with_extension("kernel-abi.o");
    std::fs::write(&out, marked).unwrap();
    out
}

/// Archives objects as the Rust staticlib does (Darwin format, member names as given).
pub fn archive(dir: &Path, name: &str, members: &[(&str, &Path)]) -> PathBuf {
    let out = dir.join(name);
    let mut paths = Vec::new();
    for (member_name, obj) in members {
        let p = dir.join(member_name);
        std::fs::copy(obj, &p).unwrap();
        paths.push(p);
    }
    let status = Command::new("llvm-ar-19").arg("--format=darwin").arg("rcs").arg(&out).args(&paths).status().unwrap();
    assert!(status.success(), "llvm-ar-19 failed");
    out
}

pub fn read(path: &Path, arch: Arch) -> Vec<Member> {
    read_file(path.to_str().unwrap(), arch).unwrap()
}

pub const X86: &str = "x86_64-apple-macos10.15";
pub const ARM64E: &str = "arm64e-apple-macos11";
