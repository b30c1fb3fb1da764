//! `mark-kernel-abi`: relabels rustc's arm64e objects (user pointer-auth ABI, cpusubtype
//! 0x80000002) as the kernel ABI (0xC0000002) that Apple clang gives `-mkernel` objects, so the
//! arm64e link sees one ABI (ld64 warns on a mix: "object file was built for different arm64e
//! ABI", Resolver.cpp). The ABIs differ in how signed pointers are discriminated; an object that
//! signs no pointer but its own return addresses (`pacibsp`/`retab`, Rust's
//! `-Zbranch-protection=pac-ret,b-key`) means the same under both, so it is relabelled only if it
//! has no authenticated-pointer relocation (ARM64_RELOC_AUTHENTICATED_POINTER): that is checked
//! here, not assumed.

use object::macho;
use object::read::archive::ArchiveFile;
use object::read::macho::{MachHeader, MachOFile64, Section as _};
use object::{Endianness, FileKind, Object, ObjectSection};

use crate::arch::{CPU_SUBTYPE_ARM64E_KERNEL_PTRAUTH, CPU_SUBTYPE_ARM64E_USER_PTRAUTH, CPU_TYPE_ARM64};

/// ARM64_RELOC_AUTHENTICATED_POINTER (mach-o/arm64/reloc.h value 11).
const ARM64_RELOC_AUTHENTICATED_POINTER: u8 = 11;

/// Marks the object starting at `start` of `data` in `out`; returns whether it changed.
fn mark_object(name: &str, data: &[u8], start: usize, out: &mut [u8]) -> Result<bool, String> {
    let bytes = &data[start..];
    let header = macho::MachHeader64::<Endianness>::parse(bytes, 0).map_err(|e| format!("{name}: {e}"))?;
    let endian = header.endian().map_err(|e| format!("{name}: {e}"))?;
    let (cputype, subtype) = (header.cputype(endian), header.cpusubtype(endian));
    if cputype != CPU_TYPE_ARM64 || (subtype & 0xff) != 2 {
        return Err(format!("{name}: cputype {cputype:#x} cpusubtype {subtype:#x} is not arm64e"));
    }
    if subtype == CPU_SUBTYPE_ARM64E_KERNEL_PTRAUTH {
        return Ok(false);
    }
    if subtype != CPU_SUBTYPE_ARM64E_USER_PTRAUTH {
        return Err(format!(
            "{name}: cpusubtype {subtype:#x} is not the user pointer-auth ABI version 0 ({CPU_SUBTYPE_ARM64E_USER_PTRAUTH:#x}) rustc writes"
        ));
    }
    let file = MachOFile64::<Endianness>::parse(bytes).map_err(|e| format!("{name}: {e}"))?;
    for section in file.sections() {
        let relocs = section.macho_section().relocations(endian, bytes).map_err(|e| format!("{name}: {e}"))?;
        if relocs.iter().any(|r| r.info(endian).r_type == ARM64_RELOC_AUTHENTICATED_POINTER) {
            return Err(format!(
                "{name}: section {} has signed pointers (ARM64_RELOC_AUTHENTICATED_POINTER), whose signing \
                 differs between the user and kernel ABIs: not relabelled",
                section.name().unwrap_or("?")
            ));
        }
    }
    out[start + 8..start + 12].copy_from_slice(&CPU_SUBTYPE_ARM64E_KERNEL_PTRAUTH.to_le_bytes());
    Ok(true)
}

/// Returns `data` (an arm64e object or an archive of them) with every user-ABI object marked as
/// the kernel ABI, and how many objects were changed.
pub fn mark_kernel_abi(name: &str, data: &[u8]) -> Result<(Vec<u8>, usize), String> {
    let mut out = data.to_vec();
    let mut changed = 0;
    match FileKind::parse(data).map_err(|e| format!("{name}: {e}"))? {
        FileKind::MachO64 => changed += usize::from(mark_object(name, data, 0, &mut out)?),
        FileKind::Archive => {
            let archive = ArchiveFile::parse(data).map_err(|e| format!("{name}: {e}"))?;
            for member in archive.members() {
                let member = member.map_err(|e| format!("{name}: {e}"))?;
                let member_name = String::from_utf8_lossy(member.name()).into_owned();
                if member_name.starts_with("__.SYMDEF") {
                    continue;
                }
                let bytes = member.data(data).map_err(|e| format!("{name}({member_name}): {e}"))?;
                // Where the member's bytes start (a BSD long name precedes them in the archive).
                if bytes.is_empty() {
                    return Err(format!("{name}({member_name}): empty member"));
                }
                let start = bytes.as_ptr() as usize - data.as_ptr() as usize;
                changed += usize::from(mark_object(&format!("{name}({member_name})"), data, start, &mut out)?);
            }
        }
        other => return Err(format!("{name}: not an arm64e object or archive ({other:?})")),
    }
    Ok((out, changed))
}
