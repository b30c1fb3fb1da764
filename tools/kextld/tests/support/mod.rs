//! Test helpers: small objects assembled by clang-19 (scripts/setup.sh installs it), a reader
//! for the kext kextld writes (own code, independent of kextld's writer), and an independent
//! check of every relocation of a link.
#![allow(dead_code)] // each test file uses part of this

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use kextld::input::{read_input, Input};
use kextld::{Error, Linked, Options};

pub const TARGET: &str = "x86_64-apple-macos10.15";

pub fn scratch_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kextld-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Assembles x86_64 Mach-O assembly into `dir/name.o`.
pub fn assemble(dir: &Path, name: &str, source: &str) -> PathBuf {
    let src = dir.join(format!("{name}.s"));
    let obj = dir.join(format!("{name}.o"));
    std::fs::write(&src, source).unwrap();
    let out = Command::new("clang-19")
        .args(["-target", TARGET, "-c"])
        .arg(&src)
        .arg("-o")
        .arg(&obj)
        .output()
        .expect("clang-19 must be installed (scripts/setup.sh installs it)");
    assert!(out.status.success(), "clang-19 failed on {name}: {}", String::from_utf8_lossy(&out.stderr));
    obj
}

/// Compiles C with the kernel code model flags (no Apple headers needed).
pub fn compile_c(dir: &Path, name: &str, source: &str, extra: &[&str]) -> PathBuf {
    let src = dir.join(format!("{name}.c"));
    let obj = dir.join(format!("{name}.o"));
    std::fs::write(&src, source).unwrap();
    let out = Command::new("clang-19")
        .args(["-target", TARGET, "-O2", "-ffreestanding", "-mkernel", "-c"])
        .args(extra)
        .arg(&src)
        .arg("-o")
        .arg(&obj)
        .output()
        .expect("clang-19 must be installed (scripts/setup.sh installs it)");
    assert!(out.status.success(), "clang-19 failed on {name}: {}", String::from_utf8_lossy(&out.stderr));
    obj
}

/// A Darwin-format archive with a table of contents, as rustc and llvm-ar write them.
pub fn archive(dir: &Path, name: &str, members: &[&Path]) -> PathBuf {
    let out = dir.join(name);
    let _ = std::fs::remove_file(&out);
    let status = Command::new("llvm-ar-19").arg("--format=darwin").arg("rcs").arg(&out).args(members).status().unwrap();
    assert!(status.success(), "llvm-ar-19 failed");
    out
}

pub fn link_with(paths: &[&Path], required: &[&str], debug_map: bool) -> Result<Linked, Error> {
    let mut inputs: Vec<Input> = Vec::new();
    for (i, p) in paths.iter().enumerate() {
        inputs.push(read_input(p.to_str().unwrap(), i + 1)?);
    }
    let options = Options {
        output_path: "/tmp/Test".into(),
        required: required.iter().map(|s| s.to_string()).collect(),
        debug_map,
        zero_mod_time: true,
    };
    kextld::link(inputs, &options)
}

pub fn link(paths: &[&Path]) -> Linked {
    let linked = link_with(paths, &[], false).unwrap_or_else(|e| panic!("link failed: {e}"));
    verify(&linked);
    linked
}

pub fn link_err(paths: &[&Path]) -> String {
    match link_with(paths, &[], false) {
        Ok(_) => panic!("the link succeeded but must fail"),
        Err(e) => e.to_string(),
    }
}

// ---- reading the output (independent of kextld's writer) ----

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reloc {
    pub address: u32,
    pub symbolnum: u32,
    pub pcrel: bool,
    pub length: u8,
    pub external: bool,
    pub rtype: u8,
}

#[derive(Clone, Debug)]
pub struct Sym {
    pub name: String,
    pub n_type: u8,
    pub n_sect: u8,
    pub n_desc: u16,
    pub n_value: u64,
}

#[derive(Clone, Debug)]
pub struct Sect {
    pub segname: String,
    pub sectname: String,
    pub addr: u64,
    pub size: u64,
    pub offset: u32,
    pub align: u32,
    pub flags: u32,
}

#[derive(Clone, Debug)]
pub struct Seg {
    pub name: String,
    pub vmaddr: u64,
    pub vmsize: u64,
    pub fileoff: u64,
    pub filesize: u64,
    pub maxprot: u32,
    pub initprot: u32,
}

pub struct Image {
    pub bytes: Vec<u8>,
    pub filetype: u32,
    pub cpusubtype: u32,
    pub flags: u32,
    pub commands: Vec<u32>,
    pub segments: Vec<Seg>,
    pub sections: Vec<Sect>,
    pub symbols: Vec<Sym>,
    pub nlocal: u32,
    pub nextdef: u32,
    pub nundef: u32,
    pub local_relocs: Vec<Reloc>,
    pub external_relocs: Vec<Reloc>,
    pub nindirect: u32,
    /// (symoff, nsyms, stroff, strsize), (locreloff, extreloff)
    pub symtab: (u32, u32, u32, u32),
    pub reloff: (u32, u32),
    pub uuid: [u8; 16],
}

fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(b[o..o + 4].try_into().unwrap())
}
fn u64_at(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(b[o..o + 8].try_into().unwrap())
}
fn name_at(b: &[u8], o: usize) -> String {
    let raw = &b[o..o + 16];
    let end = raw.iter().position(|&c| c == 0).unwrap_or(16);
    String::from_utf8_lossy(&raw[..end]).into_owned()
}

fn relocs_at(b: &[u8], off: u32, n: u32) -> Vec<Reloc> {
    (0..n as usize)
        .map(|i| {
            let o = off as usize + 8 * i;
            let w = u32_at(b, o + 4);
            Reloc {
                address: u32_at(b, o),
                symbolnum: w & 0xff_ffff,
                pcrel: (w >> 24) & 1 != 0,
                length: ((w >> 25) & 3) as u8,
                external: (w >> 27) & 1 != 0,
                rtype: (w >> 28) as u8,
            }
        })
        .collect()
}

impl Image {
    pub fn parse(bytes: &[u8]) -> Image {
        let b = bytes;
        assert_eq!(u32_at(b, 0), 0xfeed_facf, "MH_MAGIC_64");
        assert_eq!(u32_at(b, 4), 0x0100_0007, "CPU_TYPE_X86_64");
        let ncmds = u32_at(b, 16);
        let mut img = Image {
            bytes: bytes.to_vec(),
            filetype: u32_at(b, 12),
            cpusubtype: u32_at(b, 8),
            flags: u32_at(b, 24),
            commands: Vec::new(),
            segments: Vec::new(),
            sections: Vec::new(),
            symbols: Vec::new(),
            nlocal: 0,
            nextdef: 0,
            nundef: 0,
            local_relocs: Vec::new(),
            external_relocs: Vec::new(),
            nindirect: 0,
            symtab: (0, 0, 0, 0),
            reloff: (0, 0),
            uuid: [0; 16],
        };
        let mut o = 32usize;
        for _ in 0..ncmds {
            let cmd = u32_at(b, o);
            let size = u32_at(b, o + 4) as usize;
            img.commands.push(cmd);
            match cmd {
                0x19 => {
                    img.segments.push(Seg {
                        name: name_at(b, o + 8),
                        vmaddr: u64_at(b, o + 24),
                        vmsize: u64_at(b, o + 32),
                        fileoff: u64_at(b, o + 40),
                        filesize: u64_at(b, o + 48),
                        maxprot: u32_at(b, o + 56),
                        initprot: u32_at(b, o + 60),
                    });
                    let nsects = u32_at(b, o + 64) as usize;
                    for i in 0..nsects {
                        let s = o + 72 + 80 * i;
                        img.sections.push(Sect {
                            sectname: name_at(b, s),
                            segname: name_at(b, s + 16),
                            addr: u64_at(b, s + 32),
                            size: u64_at(b, s + 40),
                            offset: u32_at(b, s + 48),
                            align: u32_at(b, s + 52),
                            flags: u32_at(b, s + 64),
                        });
                    }
                }
                0x2 => img.symtab = (u32_at(b, o + 8), u32_at(b, o + 12), u32_at(b, o + 16), u32_at(b, o + 20)),
                0xb => {
                    img.nlocal = u32_at(b, o + 12);
                    img.nextdef = u32_at(b, o + 20);
                    img.nundef = u32_at(b, o + 28);
                    img.nindirect = u32_at(b, o + 60);
                    let (extreloff, nextrel) = (u32_at(b, o + 64), u32_at(b, o + 68));
                    let (locreloff, nlocrel) = (u32_at(b, o + 72), u32_at(b, o + 76));
                    img.external_relocs = relocs_at(b, extreloff, nextrel);
                    img.local_relocs = relocs_at(b, locreloff, nlocrel);
                    img.reloff = (locreloff, extreloff);
                }
                0x1b => img.uuid.copy_from_slice(&b[o + 8..o + 24]),
                _ => {}
            }
            o += size;
        }
        let (symoff, nsyms, stroff, _) = img.symtab;
        for i in 0..nsyms as usize {
            let e = symoff as usize + 16 * i;
            let strx = u32_at(b, e) as usize;
            let s = &b[stroff as usize + strx..];
            let end = s.iter().position(|&c| c == 0).unwrap();
            img.symbols.push(Sym {
                name: String::from_utf8_lossy(&s[..end]).into_owned(),
                n_type: b[e + 4],
                n_sect: b[e + 5],
                n_desc: u16::from_le_bytes([b[e + 6], b[e + 7]]),
                n_value: u64_at(b, e + 8),
            });
        }
        img
    }

    pub fn section(&self, seg: &str, sect: &str) -> &Sect {
        self.sections
            .iter()
            .find(|s| s.segname == seg && s.sectname == sect)
            .unwrap_or_else(|| panic!("no section {seg},{sect}"))
    }

    /// 1-based ordinal of a section.
    pub fn ordinal(&self, seg: &str, sect: &str) -> u32 {
        self.sections.iter().position(|s| s.segname == seg && s.sectname == sect).unwrap() as u32 + 1
    }

    /// The section holding `addr` (1-based ordinal and the section).
    pub fn section_at(&self, addr: u64) -> Option<(u32, &Sect)> {
        self.sections
            .iter()
            .enumerate()
            .find(|(_, s)| s.addr <= addr && addr < s.addr + s.size)
            .map(|(i, s)| (i as u32 + 1, s))
    }

    fn file_offset(&self, addr: u64) -> usize {
        let (_, s) = self.section_at(addr).unwrap_or_else(|| panic!("address {addr:#x} in no section"));
        assert!(s.flags & 0xff != 1, "address {addr:#x} is in a zero-fill section");
        (u64::from(s.offset) + addr - s.addr) as usize
    }

    pub fn u32(&self, addr: u64) -> u32 {
        u32_at(&self.bytes, self.file_offset(addr))
    }
    pub fn i32(&self, addr: u64) -> i32 {
        self.u32(addr) as i32
    }
    pub fn u64(&self, addr: u64) -> u64 {
        u64_at(&self.bytes, self.file_offset(addr))
    }
    pub fn u8(&self, addr: u64) -> u8 {
        self.bytes[self.file_offset(addr)]
    }

    pub fn symbol(&self, name: &str) -> &Sym {
        self.symbols
            .iter()
            .find(|s| s.name == name && s.n_type & 0xe0 == 0)
            .unwrap_or_else(|| panic!("no symbol {name}"))
    }

    pub fn symbol_index(&self, name: &str) -> u32 {
        self.symbols.iter().position(|s| s.name == name && s.n_type & 0xe0 == 0).unwrap() as u32
    }

    pub fn addr(&self, name: &str) -> u64 {
        self.symbol(name).n_value
    }

    pub fn external_reloc_at(&self, address: u64) -> Option<&Reloc> {
        self.external_relocs.iter().find(|r| u64::from(r.address) == address)
    }

    pub fn local_reloc_at(&self, address: u64) -> Option<&Reloc> {
        self.local_relocs.iter().find(|r| u64::from(r.address) == address)
    }
}

// ---- an independent check of every relocation ----

const UNSIGNED: u8 = 0;
const SIGNED: u8 = 1;
const BRANCH: u8 = 2;
const GOT_LOAD: u8 = 3;
const GOT: u8 = 4;
const SUBTRACTOR: u8 = 5;
const SIGNED_1: u8 = 6;
const SIGNED_2: u8 = 7;
const SIGNED_4: u8 = 8;

/// Checks every relocation of every linked input against the output, from the Mach-O
/// semantics of x86_64 relocations (not from kextld's code): what each instruction or pointer
/// must refer to, and that the output says so with its bytes and its relocation tables (and
/// that the output has no relocation the inputs do not explain). kextld only tells where each
/// input section went; that placement is itself checked against the output symbol table.
/// Returns the number of input relocations checked.
pub fn verify(linked: &Linked) -> usize {
    let img = Image::parse(&linked.bytes);
    assert_eq!(img.filetype, 0xb, "MH_KEXT_BUNDLE");
    // Output names: every defined output symbol by name (for references resolved by name).
    let mut defined: HashMap<&str, u64> = HashMap::new();
    for s in &img.symbols {
        if s.n_type & 0xe0 == 0 && s.n_type & 0x0e == 0x0e && s.n_type & 0x01 != 0 {
            defined.insert(&s.name, s.n_value);
        }
    }
    let imports: Vec<&str> = img.symbols.iter().filter(|s| s.n_type == 0x01).map(|s| s.name.as_str()).collect();
    // Private externs are locals in the output: add them by their input placement.
    let mut private_externs: HashMap<&str, u64> = HashMap::new();
    for (obj, object) in linked.objects.iter().enumerate() {
        for s in &object.symbols {
            if s.n_type & 0xe0 == 0 && s.n_type & 0x0e == 0x0e && s.n_type & 0x01 != 0 {
                let sect = usize::from(s.n_sect) - 1;
                if let Some(base) = linked.placement[obj][sect] {
                    let addr = base + s.n_value - object.sections[sect].addr;
                    if let Some(&v) = defined.get(s.name.as_str()) {
                        assert_eq!(v, addr, "{}: symbol {} is not where its section went", object.name, s.name);
                    } else {
                        private_externs.insert(&s.name, addr);
                    }
                }
            }
        }
    }
    let mut seen_local = 0usize;
    let mut seen_external = 0usize;
    let mut got_slots_used: HashMap<u64, String> = HashMap::new();
    let mut checked = 0;
    for (obj, object) in linked.objects.iter().enumerate() {
        // What a symbol of this object means in the output: (name if by name, address if defined).
        let resolve = |index: u32| -> (Option<String>, Option<u64>) {
            let s = &object.symbols[index as usize];
            let local = s.n_type & 0x0e == 0x0e && (s.n_type & 0x01 == 0 || s.name.starts_with('L'));
            if local {
                let sect = usize::from(s.n_sect) - 1;
                let base = linked.placement[obj][sect].expect("target section not in the image");
                return (None, Some(base + s.n_value - object.sections[sect].addr));
            }
            if s.n_type & 0x0e == 0x02 {
                return (None, Some(s.n_value)); // absolute
            }
            let addr = defined.get(s.name.as_str()).or_else(|| private_externs.get(s.name.as_str())).copied();
            (Some(s.name.clone()), addr)
        };
        let section_addr = |sect_num: u32, obj_addr: u64| -> u64 {
            let sect = sect_num as usize - 1;
            linked.placement[obj][sect].unwrap() + obj_addr - object.sections[sect].addr
        };
        for (sect, section) in object.sections.iter().enumerate() {
            let Some(base) = linked.placement[obj][sect] else { continue };
            let mut i = 0;
            while i < section.relocs.len() {
                let r = section.relocs[i];
                i += 1;
                checked += 1;
                let off = r.r_address as usize;
                let p = base + u64::from(r.r_address);
                let here = format!("{}: {},{}+{:#x} type {}", object.name, section.segname, section.sectname, off, r.r_type);
                let content = match r.r_length {
                    2 => i64::from(i32::from_le_bytes(section.data[off..off + 4].try_into().unwrap())),
                    3 => i64::from_le_bytes(section.data[off..off + 8].try_into().unwrap()),
                    _ => panic!("{here}: unexpected length"),
                };
                match r.r_type {
                    UNSIGNED => {
                        assert_eq!(r.r_length, 3, "{here}");
                        let (name, addr, addend) = if r.r_extern {
                            let (n, a) = resolve(r.r_symbolnum);
                            (n, a, content)
                        } else {
                            (None, Some(section_addr(r.r_symbolnum, content as u64)), 0)
                        };
                        if let Some(ext) = img.external_reloc_at(p) {
                            seen_external += 1;
                            let sym = &img.symbols[ext.symbolnum as usize];
                            assert_eq!(Some(&sym.name), name.as_ref(), "{here}: external relocation names another symbol");
                            assert!((ext.rtype, ext.length, ext.pcrel) == (UNSIGNED, 3, false), "{here}: {ext:?}");
                            assert_eq!(img.u64(p) as i64, addend, "{here}: external pointer must hold only the addend");
                            assert!(addr.is_none() || sym.n_desc & 0x80 != 0, "{here}: a defined non-weak target needs no external relocation");
                        } else {
                            let addr = addr.unwrap_or_else(|| panic!("{here}: pointer to undefined {name:?} without an external relocation"));
                            let expected = (addr as i64 + addend) as u64;
                            assert_eq!(img.u64(p), expected, "{here}: pointer value");
                            if let Some(name) = &name {
                                assert!(!imports.contains(&name.as_str()), "{here}");
                            }
                            if object.symbols.get(r.r_symbolnum as usize).is_none_or(|s| s.n_type & 0x0e != 0x02) {
                                let l = img.local_reloc_at(p).unwrap_or_else(|| panic!("{here}: no local relocation"));
                                seen_local += 1;
                                assert!(!l.external && !l.pcrel && l.length == 3 && l.rtype == UNSIGNED, "{here}: {l:?}");
                                let (ordinal, _) = img.section_at(addr).or_else(|| img.section_at(addr - 1)).unwrap();
                                assert_eq!(l.symbolnum, ordinal, "{here}: r_symbolnum must be the target's section");
                            }
                        }
                    }
                    SIGNED | SIGNED_1 | SIGNED_2 | SIGNED_4 | BRANCH => {
                        let n = match r.r_type {
                            SIGNED_1 => 1,
                            SIGNED_2 => 2,
                            SIGNED_4 => 4,
                            _ => 0,
                        };
                        let end = p as i64 + 4 + n;
                        let expected = if r.r_extern {
                            let (name, addr) = resolve(r.r_symbolnum);
                            if r.r_type == BRANCH && addr.is_none() {
                                let ext = img.external_reloc_at(p).unwrap_or_else(|| panic!("{here}: call to {name:?} has no relocation"));
                                seen_external += 1;
                                assert_eq!(Some(&img.symbols[ext.symbolnum as usize].name), name.as_ref(), "{here}");
                                assert!((ext.rtype, ext.length, ext.pcrel) == (BRANCH, 2, true), "{here}: {ext:?}");
                                assert_eq!(img.i32(p), 0, "{here}: external call displacement");
                                continue;
                            }
                            addr.unwrap_or_else(|| panic!("{here}: pc-relative reference to undefined {name:?}")) as i64 + content + n
                        } else {
                            let obj_target = section.addr as i64 + off as i64 + 4 + n + content;
                            section_addr(r.r_symbolnum, obj_target as u64) as i64
                        };
                        assert_eq!(end + i64::from(img.i32(p)), expected, "{here}: pc-relative target");
                    }
                    GOT_LOAD | GOT => {
                        let (name, addr) = resolve(r.r_symbolnum);
                        let end = p as i64 + 4;
                        let target = end + i64::from(img.i32(p)) - if r.r_type == GOT { content } else { 0 };
                        if r.r_type == GOT_LOAD && img.u8(p - 2) == 0x8d {
                            assert_eq!(section.data[off - 2], 0x8b, "{here}: only a movq may become a leaq");
                            assert_eq!(Some(target as u64), addr, "{here}: leaq target");
                        } else {
                            let got = img.section("__DATA", "__got");
                            assert!(got.addr <= target as u64 && (target as u64) < got.addr + got.size, "{here}: not a GOT slot");
                            got_slots_used.insert(target as u64, name.clone().unwrap_or_default());
                            match img.external_reloc_at(target as u64) {
                                Some(ext) => assert_eq!(Some(&img.symbols[ext.symbolnum as usize].name), name.as_ref(), "{here}: GOT slot symbol"),
                                None => assert_eq!(Some(img.u64(target as u64)), addr, "{here}: GOT slot value"),
                            }
                        }
                    }
                    SUBTRACTOR => {
                        let next = section.relocs[i];
                        i += 1;
                        let (_, minus) = resolve(r.r_symbolnum);
                        let plus = if next.r_extern {
                            resolve(next.r_symbolnum).1.unwrap() as i64 + content
                        } else {
                            section_addr(next.r_symbolnum, content as u64) as i64
                        };
                        let value = plus - minus.unwrap() as i64;
                        let got = if r.r_length == 3 { img.u64(p) as i64 } else { i64::from(img.i32(p)) };
                        assert_eq!(got, if r.r_length == 3 { value } else { i64::from(value as i32) }, "{here}: difference");
                        assert!(img.local_reloc_at(p).is_none() && img.external_reloc_at(p).is_none(), "{here}");
                    }
                    other => panic!("{here}: unexpected relocation type {other}"),
                }
            }
        }
    }
    // GOT slots: each used, each with its external relocation.
    for (&slot, name) in &got_slots_used {
        if let Some(ext) = img.external_reloc_at(slot) {
            assert_eq!(&img.symbols[ext.symbolnum as usize].name, name);
            seen_external += 1;
        }
    }
    if let Some(got) = img.sections.iter().find(|s| s.sectname == "__got") {
        assert_eq!(got.size as usize, 8 * got_slots_used.len(), "every GOT slot is used by a GOT load");
        assert_eq!(got.flags, 0, "__got is S_REGULAR in a kext");
    }
    assert_eq!(seen_local, img.local_relocs.len(), "local relocations the inputs do not explain");
    assert_eq!(seen_external, img.external_relocs.len(), "external relocations the inputs do not explain");
    checked
}
