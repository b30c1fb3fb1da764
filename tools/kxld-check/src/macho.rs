//! A reader for the 64-bit little-endian Mach-O files this check handles: the kext
//! (`MH_KEXT_BUNDLE`), a kernel (`MH_EXECUTE`), the KPI pseudo-kexts, kxld's linked output and
//! the probe object (`MH_OBJECT`). A fat file yields its x86_64 slice. Only what the check needs
//! is decoded, and every offset is bounds-checked: a malformed file is an error, never a panic.

use std::collections::HashMap;

pub const MH_MAGIC_64: u32 = 0xfeed_facf;
pub const FAT_MAGIC: u32 = 0xcafe_babe;
pub const CPU_TYPE_X86_64: u32 = 0x0100_0007;
pub const CPU_SUBTYPE_X86_64_ALL: u32 = 3;

pub const MH_OBJECT: u32 = 0x1;
pub const MH_EXECUTE: u32 = 0x2;
pub const MH_KEXT_BUNDLE: u32 = 0xb;

pub const LC_SEGMENT_64: u32 = 0x19;
pub const LC_SYMTAB: u32 = 0x2;
pub const LC_DYSYMTAB: u32 = 0xb;
pub const LC_UUID: u32 = 0x1b;

pub const N_STAB: u8 = 0xe0;
pub const N_PEXT: u8 = 0x10;
pub const N_TYPE: u8 = 0x0e;
pub const N_EXT: u8 = 0x01;
pub const N_UNDF: u8 = 0x0;
pub const N_ABS: u8 = 0x2;
pub const N_SECT: u8 = 0xe;
pub const N_INDR: u8 = 0xa;

pub const X86_64_RELOC_UNSIGNED: u8 = 0;
pub const X86_64_RELOC_SIGNED: u8 = 1;
pub const X86_64_RELOC_BRANCH: u8 = 2;
pub const X86_64_RELOC_GOT_LOAD: u8 = 3;
pub const X86_64_RELOC_GOT: u8 = 4;
pub const X86_64_RELOC_SUBTRACTOR: u8 = 5;
pub const X86_64_RELOC_SIGNED_1: u8 = 6;
pub const X86_64_RELOC_SIGNED_2: u8 = 7;
pub const X86_64_RELOC_SIGNED_4: u8 = 8;

/// The x86_64 relocation type's name (`mach-o/x86_64/reloc.h`).
pub fn reloc_type_name(kind: u8) -> &'static str {
    match kind {
        X86_64_RELOC_UNSIGNED => "UNSIGNED",
        X86_64_RELOC_SIGNED => "SIGNED",
        X86_64_RELOC_BRANCH => "BRANCH",
        X86_64_RELOC_GOT_LOAD => "GOT_LOAD",
        X86_64_RELOC_GOT => "GOT",
        X86_64_RELOC_SUBTRACTOR => "SUBTRACTOR",
        X86_64_RELOC_SIGNED_1 => "SIGNED_1",
        X86_64_RELOC_SIGNED_2 => "SIGNED_2",
        X86_64_RELOC_SIGNED_4 => "SIGNED_4",
        _ => "unknown",
    }
}

#[derive(Clone, Debug)]
pub struct Segment {
    pub name: String,
    pub vmaddr: u64,
    pub vmsize: u64,
    pub fileoff: u64,
    pub filesize: u64,
}

#[derive(Clone, Debug)]
pub struct Section {
    pub segname: String,
    pub sectname: String,
    pub addr: u64,
    pub size: u64,
    pub offset: u32,
    pub flags: u32,
    /// Section relocations (`MH_OBJECT`); final images keep theirs in `LC_DYSYMTAB`.
    pub relocs: Vec<Reloc>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Symbol {
    pub name: String,
    pub n_type: u8,
    /// 1-based section ordinal, 0 for none.
    pub n_sect: u8,
    pub n_desc: u16,
    pub n_value: u64,
    /// For `N_INDR`: the name `n_value` points at in the string table.
    pub indirect: Option<String>,
}

impl Symbol {
    pub fn kind(&self) -> u8 {
        self.n_type & N_TYPE
    }
    pub fn is_stab(&self) -> bool {
        self.n_type & N_STAB != 0
    }
    pub fn is_external(&self) -> bool {
        self.n_type & N_EXT != 0 && self.n_type & N_PEXT == 0
    }
    pub fn is_defined(&self) -> bool {
        !self.is_stab() && matches!(self.kind(), N_SECT | N_ABS)
    }
    pub fn is_undefined(&self) -> bool {
        !self.is_stab() && self.kind() == N_UNDF && self.n_value == 0
    }
}

/// `struct relocation_info` (scattered relocations do not exist on x86_64).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reloc {
    pub address: u32,
    pub symbolnum: u32,
    pub pcrel: bool,
    /// log2 of the width: 2 = 4 bytes, 3 = 8 bytes.
    pub length: u8,
    pub is_extern: bool,
    pub kind: u8,
}

impl Reloc {
    pub fn decode(b: &[u8; 8]) -> Reloc {
        let address = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        let word = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
        Reloc {
            address,
            symbolnum: word & 0x00ff_ffff,
            pcrel: (word >> 24) & 1 != 0,
            length: ((word >> 25) & 3) as u8,
            is_extern: (word >> 27) & 1 != 0,
            kind: ((word >> 28) & 0xf) as u8,
        }
    }

    pub fn encode(&self) -> [u8; 8] {
        let word = (self.symbolnum & 0x00ff_ffff)
            | (u32::from(self.pcrel) << 24)
            | (u32::from(self.length & 3) << 25)
            | (u32::from(self.is_extern) << 27)
            | (u32::from(self.kind & 0xf) << 28);
        let mut out = [0u8; 8];
        out[..4].copy_from_slice(&self.address.to_le_bytes());
        out[4..].copy_from_slice(&word.to_le_bytes());
        out
    }
}

#[derive(Clone, Copy, Debug, Default)]
pub struct SymtabCmd {
    /// Offset of the load command itself in the (sliced) file.
    pub cmd_offset: usize,
    pub symoff: u32,
    pub nsyms: u32,
    pub stroff: u32,
    pub strsize: u32,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct DysymtabCmd {
    pub cmd_offset: usize,
    pub ilocalsym: u32,
    pub nlocalsym: u32,
    pub iextdefsym: u32,
    pub nextdefsym: u32,
    pub iundefsym: u32,
    pub nundefsym: u32,
    pub extreloff: u32,
    pub nextrel: u32,
    pub locreloff: u32,
    pub nlocrel: u32,
}

pub struct MachO<'a> {
    /// The thin Mach-O (a fat file's x86_64 slice).
    pub data: &'a [u8],
    /// Where `data` starts in the file that was read (non-zero for a fat slice).
    pub slice_offset: usize,
    pub cputype: u32,
    pub cpusubtype: u32,
    pub filetype: u32,
    pub flags: u32,
    pub ncmds: u32,
    pub sizeofcmds: u32,
    pub segments: Vec<Segment>,
    pub sections: Vec<Section>,
    pub symbols: Vec<Symbol>,
    pub symtab: Option<SymtabCmd>,
    pub dysymtab: Option<DysymtabCmd>,
    pub extrel: Vec<Reloc>,
    pub locrel: Vec<Reloc>,
    pub has_uuid: bool,
    pub load_commands: Vec<u32>,
}

pub fn u32_at(data: &[u8], off: usize) -> Result<u32, String> {
    data.get(off..off.checked_add(4).ok_or("offset overflow")?)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or_else(|| format!("truncated Mach-O: 4 bytes at {off:#x}"))
}

pub fn u64_at(data: &[u8], off: usize) -> Result<u64, String> {
    let b = data
        .get(off..off.checked_add(8).ok_or("offset overflow")?)
        .ok_or_else(|| format!("truncated Mach-O: 8 bytes at {off:#x}"))?;
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    Ok(u64::from_le_bytes(a))
}

fn u32_be(data: &[u8], off: usize) -> Result<u32, String> {
    u32_at(data, off).map(u32::from_be)
}

fn name16(data: &[u8], off: usize) -> Result<String, String> {
    let b = data.get(off..off + 16).ok_or_else(|| format!("truncated Mach-O: name at {off:#x}"))?;
    let end = b.iter().position(|&c| c == 0).unwrap_or(16);
    Ok(String::from_utf8_lossy(b.get(..end).unwrap_or_default()).into_owned())
}

fn c_string(strtab: &[u8], off: usize) -> Result<String, String> {
    let tail = strtab.get(off..).ok_or_else(|| format!("string table offset {off:#x} out of range"))?;
    let end = tail.iter().position(|&c| c == 0).ok_or("unterminated string in the string table")?;
    Ok(String::from_utf8_lossy(tail.get(..end).unwrap_or_default()).into_owned())
}

fn relocs_at(data: &[u8], off: u32, n: u32) -> Result<Vec<Reloc>, String> {
    let mut out = Vec::with_capacity(n as usize);
    for i in 0..n as usize {
        let at = off as usize + i * 8;
        let b = data.get(at..at + 8).ok_or_else(|| format!("truncated relocation table at {at:#x}"))?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        out.push(Reloc::decode(&a));
    }
    Ok(out)
}

/// The x86_64 slice of a fat file, or the file itself.
pub fn thin(data: &[u8]) -> Result<(&[u8], usize), String> {
    if data.len() >= 8 && u32_be(data, 0)? == FAT_MAGIC {
        let n = u32_be(data, 4)? as usize;
        for i in 0..n {
            let at = 8 + i * 20;
            if u32_be(data, at)? == CPU_TYPE_X86_64 {
                let off = u32_be(data, at + 8)? as usize;
                let size = u32_be(data, at + 12)? as usize;
                let slice = data.get(off..off + size).ok_or("truncated fat slice")?;
                return Ok((slice, off));
            }
        }
        return Err("fat file without an x86_64 slice".into());
    }
    Ok((data, 0))
}

impl<'a> MachO<'a> {
    pub fn parse(file: &'a [u8]) -> Result<MachO<'a>, String> {
        let (data, slice_offset) = thin(file)?;
        if u32_at(data, 0)? != MH_MAGIC_64 {
            return Err("not a 64-bit little-endian Mach-O file".into());
        }
        let mut m = MachO {
            data,
            slice_offset,
            cputype: u32_at(data, 4)?,
            cpusubtype: u32_at(data, 8)?,
            filetype: u32_at(data, 12)?,
            ncmds: u32_at(data, 16)?,
            sizeofcmds: u32_at(data, 20)?,
            flags: u32_at(data, 24)?,
            segments: Vec::new(),
            sections: Vec::new(),
            symbols: Vec::new(),
            symtab: None,
            dysymtab: None,
            extrel: Vec::new(),
            locrel: Vec::new(),
            has_uuid: false,
            load_commands: Vec::new(),
        };
        let mut off = 32usize;
        for _ in 0..m.ncmds {
            let cmd = u32_at(data, off)?;
            let cmdsize = u32_at(data, off + 4)? as usize;
            if cmdsize < 8 {
                return Err(format!("load command at {off:#x} has size {cmdsize}"));
            }
            m.load_commands.push(cmd);
            match cmd {
                LC_SEGMENT_64 => {
                    m.segments.push(Segment {
                        name: name16(data, off + 8)?,
                        vmaddr: u64_at(data, off + 24)?,
                        vmsize: u64_at(data, off + 32)?,
                        fileoff: u64_at(data, off + 40)?,
                        filesize: u64_at(data, off + 48)?,
                    });
                    let nsects = u32_at(data, off + 64)? as usize;
                    for s in 0..nsects {
                        let at = off + 72 + s * 80;
                        let reloff = u32_at(data, at + 56)?;
                        let nreloc = u32_at(data, at + 60)?;
                        m.sections.push(Section {
                            sectname: name16(data, at)?,
                            segname: name16(data, at + 16)?,
                            addr: u64_at(data, at + 32)?,
                            size: u64_at(data, at + 40)?,
                            offset: u32_at(data, at + 48)?,
                            flags: u32_at(data, at + 64)?,
                            relocs: relocs_at(data, reloff, nreloc)?,
                        });
                    }
                }
                LC_SYMTAB => {
                    m.symtab = Some(SymtabCmd {
                        cmd_offset: off,
                        symoff: u32_at(data, off + 8)?,
                        nsyms: u32_at(data, off + 12)?,
                        stroff: u32_at(data, off + 16)?,
                        strsize: u32_at(data, off + 20)?,
                    });
                }
                LC_DYSYMTAB => {
                    let f = |i: usize| u32_at(data, off + 8 + 4 * i);
                    let d = DysymtabCmd {
                        cmd_offset: off,
                        ilocalsym: f(0)?,
                        nlocalsym: f(1)?,
                        iextdefsym: f(2)?,
                        nextdefsym: f(3)?,
                        iundefsym: f(4)?,
                        nundefsym: f(5)?,
                        extreloff: f(14)?,
                        nextrel: f(15)?,
                        locreloff: f(16)?,
                        nlocrel: f(17)?,
                    };
                    m.extrel = relocs_at(data, d.extreloff, d.nextrel)?;
                    m.locrel = relocs_at(data, d.locreloff, d.nlocrel)?;
                    m.dysymtab = Some(d);
                }
                LC_UUID => m.has_uuid = true,
                _ => {}
            }
            off += cmdsize;
        }
        if let Some(st) = m.symtab {
            let strtab = data
                .get(st.stroff as usize..st.stroff as usize + st.strsize as usize)
                .ok_or("string table outside the file")?;
            for i in 0..st.nsyms as usize {
                let at = st.symoff as usize + i * 16;
                let strx = u32_at(data, at)? as usize;
                let n_type = *data.get(at + 4).ok_or("truncated symbol table")?;
                let n_sect = *data.get(at + 5).ok_or("truncated symbol table")?;
                let n_desc = u16::from_le_bytes([
                    *data.get(at + 6).ok_or("truncated symbol table")?,
                    *data.get(at + 7).ok_or("truncated symbol table")?,
                ]);
                let n_value = u64_at(data, at + 8)?;
                let indirect = if n_type & N_STAB == 0 && n_type & N_TYPE == N_INDR {
                    Some(c_string(strtab, n_value as usize)?)
                } else {
                    None
                };
                m.symbols.push(Symbol { name: c_string(strtab, strx)?, n_type, n_sect, n_desc, n_value, indirect });
            }
        }
        Ok(m)
    }

    /// Bytes of the image at virtual address `addr` (through the segments' file mapping).
    pub fn bytes_at(&self, addr: u64, len: usize) -> Option<&'a [u8]> {
        let seg = self
            .segments
            .iter()
            .find(|s| addr >= s.vmaddr && addr + len as u64 <= s.vmaddr + s.filesize.min(s.vmsize))?;
        let off = (seg.fileoff + (addr - seg.vmaddr)) as usize;
        self.data.get(off..off + len)
    }

    pub fn u64_at_addr(&self, addr: u64) -> Option<u64> {
        let b = self.bytes_at(addr, 8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Some(u64::from_le_bytes(a))
    }

    pub fn i32_at_addr(&self, addr: u64) -> Option<i32> {
        let b = self.bytes_at(addr, 4)?;
        Some(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// Defined (`N_SECT`/`N_ABS`), non-stab symbols by name; the first definition wins.
    pub fn defined_by_name(&self) -> HashMap<&str, &Symbol> {
        let mut map = HashMap::new();
        for s in self.symbols.iter().filter(|s| s.is_defined()) {
            map.entry(s.name.as_str()).or_insert(s);
        }
        map
    }

    /// Defined symbols by address (external ones preferred).
    pub fn defined_by_address(&self) -> HashMap<u64, &Symbol> {
        let mut map: HashMap<u64, &Symbol> = HashMap::new();
        for s in self.symbols.iter().filter(|s| s.is_defined()) {
            let e = map.entry(s.n_value).or_insert(s);
            if !e.is_external() && s.is_external() {
                *e = s;
            }
        }
        map
    }

    pub fn section_of(&self, n_sect: u8) -> Option<&Section> {
        self.sections.get(usize::from(n_sect).checked_sub(1)?)
    }

    pub fn segment(&self, name: &str) -> Option<&Segment> {
        self.segments.iter().find(|s| s.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reloc_round_trips() {
        let r = Reloc { address: 0x1234, symbolnum: 0xabcdef, pcrel: true, length: 2, is_extern: true, kind: 2 };
        assert_eq!(Reloc::decode(&r.encode()), r);
        let r = Reloc { address: 8, symbolnum: 3, pcrel: false, length: 3, is_extern: false, kind: 0 };
        assert_eq!(Reloc::decode(&r.encode()), r);
    }

    #[test]
    fn rejects_garbage() {
        assert!(MachO::parse(b"not a mach-o").is_err());
        assert!(MachO::parse(&[0xcf, 0xfa, 0xed, 0xfe]).is_err());
    }
}
