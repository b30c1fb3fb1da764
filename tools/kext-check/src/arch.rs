//! The two kernel architectures and what their Mach-O headers must say.

use std::fmt;
use std::str::FromStr;

pub const CPU_TYPE_X86_64: u32 = 0x0100_0007;
pub const CPU_TYPE_ARM64: u32 = 0x0100_000c;
pub const CPU_SUBTYPE_X86_64_ALL: u32 = 3;
/// `CPU_SUBTYPE_ARM64E` (2) with the pointer-authentication ABI flags in the top byte: 0x80
/// "versioned ABI" (`CPU_SUBTYPE_PTRAUTH_ABI`), 0x40 the kernel ABI, the low 6 bits the version
/// (ld64 Resolver.cpp reads them: "(arm64eABIVersion & 0x40) ? \"kernel\" : \"user\"").
/// Kernel ABI version 0: what Apple clang writes for `-mkernel` objects, so what every object
/// of an arm64e kext must carry (the Rust objects are marked so by `mark-kernel-abi`).
pub const CPU_SUBTYPE_ARM64E_KERNEL_PTRAUTH: u32 = 0xC000_0002;
/// User ABI version 0: what rustc writes for arm64e.
pub const CPU_SUBTYPE_ARM64E_USER_PTRAUTH: u32 = 0x8000_0002;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    X86_64,
    Arm64e,
}

impl Arch {
    pub fn cpu_type(self) -> u32 {
        match self {
            Arch::X86_64 => CPU_TYPE_X86_64,
            Arch::Arm64e => CPU_TYPE_ARM64,
        }
    }

    pub fn cpu_subtype(self) -> u32 {
        match self {
            Arch::X86_64 => CPU_SUBTYPE_X86_64_ALL,
            Arch::Arm64e => CPU_SUBTYPE_ARM64E_KERNEL_PTRAUTH,
        }
    }

    /// Oldest supported macOS, as Mach-O encodes it (xxxx.yy.zz): 10.15 and 11.0.
    pub fn min_os(self) -> u32 {
        match self {
            Arch::X86_64 => 0x000a_0f00,
            Arch::Arm64e => 0x000b_0000,
        }
    }

    /// The architecture part of xnu's export list names (`IOKit.<arch>.exports`).
    pub fn exports_name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Arm64e => "arm64",
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Arch::X86_64 => "x86_64",
            Arch::Arm64e => "arm64e",
        })
    }
}

impl FromStr for Arch {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "x86_64" => Ok(Arch::X86_64),
            "arm64e" => Ok(Arch::Arm64e),
            _ => Err(format!("unknown architecture {s:?} (expected x86_64 or arm64e)")),
        }
    }
}

/// Formats a Mach-O packed version (xxxx.yy.zz).
pub fn version_string(v: u32) -> String {
    format!("{}.{}.{}", v >> 16, (v >> 8) & 0xff, v & 0xff)
}
