//! A writer of small x86_64 `MH_KEXT_BUNDLE` files for the tests: `__TEXT,__text` at 0x1000,
//! `__DATA,__data` at 0x2000, `__LINKEDIT` at 0x3000 (local relocations, symbols, external
//! relocations, strings: ld64's order), `LC_SYMTAB`, `LC_DYSYMTAB`, `LC_UUID`.

#![allow(dead_code)]

pub const TEXT: u64 = 0x1000;
pub const DATA: u64 = 0x2000;

pub struct Sym {
    pub name: &'static str,
    /// 0 = undefined (or a stab: see `stab`), 1 = __text, 2 = __data
    pub sect: u8,
    pub value: u64,
    pub external: bool,
}

/// An N_GSYM debug-map stab (a local symbol entry in ld64's order).
pub const N_GSYM: u8 = 0x20;

pub struct Rel {
    pub address: u64,
    /// symbol index (external) or section ordinal (local)
    pub target: u32,
    pub external: bool,
    pub kind: u8,
    pub pcrel: bool,
    pub length: u8,
}

fn reloc(r: &Rel) -> [u8; 8] {
    let word = (r.target & 0xff_ffff)
        | (u32::from(r.pcrel) << 24)
        | (u32::from(r.length) << 25)
        | (u32::from(r.external) << 27)
        | (u32::from(r.kind) << 28);
    let mut b = [0u8; 8];
    b[..4].copy_from_slice(&(r.address as u32).to_le_bytes());
    b[4..].copy_from_slice(&word.to_le_bytes());
    b
}

fn name16(out: &mut Vec<u8>, s: &str) {
    let mut b = [0u8; 16];
    b[..s.len()].copy_from_slice(s.as_bytes());
    out.extend_from_slice(&b);
}

/// `sect`: (name, address, size); its file offset is its address (file = memory layout).
fn seg(out: &mut Vec<u8>, name: &str, addr: u64, size: u64, off: u64, fsize: u64, sect: Option<(&str, u64, u64)>) {
    let n = u32::from(sect.is_some());
    out.extend_from_slice(&0x19u32.to_le_bytes());
    out.extend_from_slice(&(72 + 80 * n).to_le_bytes());
    name16(out, name);
    for q in [addr, size, off, fsize] {
        out.extend_from_slice(&q.to_le_bytes());
    }
    for w in [7u32, 7, n, 0] {
        out.extend_from_slice(&w.to_le_bytes());
    }
    if let Some((s, at, len)) = sect {
        name16(out, s);
        name16(out, name);
        out.extend_from_slice(&at.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        for w in [at as u32, 3, 0, 0, 0, 0, 0, 0] {
            out.extend_from_slice(&w.to_le_bytes());
        }
    }
}

/// Symbols must come in ld64's order: locals, external definitions, undefined.
pub fn kext(text: &[u8], data: &[u8], syms: &[Sym], relocs: &[Rel]) -> Vec<u8> {
    // A symbol with sect 0 and external false is an N_GSYM stab (a local).
    let nlocal = syms.iter().filter(|s| !s.external).count() as u32;
    let nextdef = syms.iter().filter(|s| s.sect != 0 && s.external).count() as u32;
    let nundef = syms.iter().filter(|s| s.sect == 0 && s.external).count() as u32;
    let locrel: Vec<u8> = relocs.iter().filter(|r| !r.external).flat_map(reloc).collect();
    let extrel: Vec<u8> = relocs.iter().filter(|r| r.external).flat_map(reloc).collect();
    let mut strtab = vec![0u8; 4];
    let mut nlist = Vec::new();
    for s in syms {
        nlist.extend_from_slice(&(strtab.len() as u32).to_le_bytes());
        let t = match (s.sect, s.external) {
            (0, false) => N_GSYM,
            (0, true) => 0x01,
            (_, true) => 0x0f,
            (_, false) => 0x0e,
        };
        nlist.push(t);
        nlist.push(s.sect);
        nlist.extend_from_slice(&(if t == 0x01 { 0xfe00u16 } else { 0 }).to_le_bytes());
        nlist.extend_from_slice(&s.value.to_le_bytes());
        strtab.extend_from_slice(s.name.as_bytes());
        strtab.push(0);
    }
    let le = 0x3000u64;
    let locoff = le;
    let symoff = locoff + locrel.len() as u64;
    let extoff = symoff + nlist.len() as u64;
    let stroff = extoff + extrel.len() as u64;
    let le_size = stroff + strtab.len() as u64 - le;
    let mut cmds = Vec::new();
    seg(&mut cmds, "__TEXT", 0, 0x2000, 0, 0x2000, Some(("__text", TEXT, text.len() as u64)));
    seg(&mut cmds, "__DATA", 0x2000, 0x1000, 0x2000, 0x1000, Some(("__data", DATA, data.len() as u64)));
    seg(&mut cmds, "__LINKEDIT", le, 0x1000, le, le_size, None);
    for w in [2u32, 24, symoff as u32, syms.len() as u32, stroff as u32, strtab.len() as u32] {
        cmds.extend_from_slice(&w.to_le_bytes());
    }
    let dy = [0u32, nlocal, nlocal, nextdef, nlocal + nextdef, nundef, 0, 0, 0, 0, 0, 0, 0, 0, extoff as u32,
        (extrel.len() / 8) as u32, locoff as u32, (locrel.len() / 8) as u32];
    cmds.extend_from_slice(&0xbu32.to_le_bytes());
    cmds.extend_from_slice(&80u32.to_le_bytes());
    for w in dy {
        cmds.extend_from_slice(&w.to_le_bytes());
    }
    cmds.extend_from_slice(&0x1bu32.to_le_bytes());
    cmds.extend_from_slice(&24u32.to_le_bytes());
    cmds.extend_from_slice(b"0123456789abcdef");
    let mut f = Vec::new();
    for w in [0xfeed_facfu32, 0x0100_0007, 3, 0xb, 6, cmds.len() as u32, 0x85, 0] {
        f.extend_from_slice(&w.to_le_bytes());
    }
    f.extend_from_slice(&cmds);
    f.resize(TEXT as usize, 0);
    f.extend_from_slice(text);
    f.resize(DATA as usize, 0);
    f.extend_from_slice(data);
    f.resize(le as usize, 0);
    f.extend_from_slice(&locrel);
    f.extend_from_slice(&nlist);
    f.extend_from_slice(&extrel);
    f.extend_from_slice(&strtab);
    f
}
