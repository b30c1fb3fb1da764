//! The translation unit path of an object's DWARF, for the debug map (N_SO stabs).
//!
//! The same lookup as ld64's `Parser<A>::read_comp_unit` and `Parser<A>::parseDebugInfo`
//! (parsers/macho_relocatable_file.cpp): the first `DW_TAG_compile_unit` DIE of `__debug_info`,
//! its `DW_AT_name` and `DW_AT_comp_dir`; a relative name is joined to the directory. DWARF 2-5,
//! 32- and 64-bit. Strings may be inline, `DW_FORM_strp`, `DW_FORM_line_strp` or `DW_FORM_strx*`
//! (DWARF 5, through `DW_AT_str_offsets_base`, which may come after the name in the DIE, so the
//! attributes are collected first and resolved afterwards).

use crate::input::Object;

const DW_TAG_COMPILE_UNIT: u64 = 0x11;
const DW_UT_COMPILE: u8 = 0x01;
const DW_AT_NAME: u64 = 0x03;
const DW_AT_COMP_DIR: u64 = 0x1b;
const DW_AT_STR_OFFSETS_BASE: u64 = 0x72;

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(data: &'a [u8], pos: usize) -> Reader<'a> {
        Reader { data, pos }
    }

    fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let b = self.data.get(self.pos..end)?;
        self.pos = end;
        Some(b)
    }

    fn uint(&mut self, n: usize) -> Option<u64> {
        let b = self.bytes(n)?;
        Some(b.iter().rev().fold(0u64, |acc, &x| (acc << 8) | u64::from(x)))
    }

    fn uleb(&mut self) -> Option<u64> {
        let mut result = 0u64;
        let mut shift = 0u32;
        loop {
            let b = *self.data.get(self.pos)?;
            self.pos += 1;
            if shift < 64 {
                result |= u64::from(b & 0x7f) << shift;
            }
            shift += 7;
            if b & 0x80 == 0 {
                return Some(result);
            }
        }
    }

    fn cstr(&mut self) -> Option<&'a [u8]> {
        let rest = self.data.get(self.pos..)?;
        let len = rest.iter().position(|&b| b == 0)?;
        self.pos += len + 1;
        rest.get(..len)
    }
}

/// A string-valued attribute, not yet resolved (strx needs the offsets base).
enum StrValue<'a> {
    Inline(&'a [u8]),
    Strp(u64),
    LineStrp(u64),
    Strx(u64),
}

fn section_data<'a>(object: &'a Object, name: &str) -> &'a [u8] {
    object.find_section("__DWARF", name).map_or(&[][..], |s| s.data.as_slice())
}

fn cstr_at(data: &[u8], offset: u64) -> Option<String> {
    let mut r = Reader::new(data, usize::try_from(offset).ok()?);
    r.cstr().map(|b| String::from_utf8_lossy(b).into_owned())
}

/// `None` when the object has no usable DWARF (ld64 then makes no debug notes for it).
pub fn translation_unit_path(object: &Object) -> Option<String> {
    let info = section_data(object, "__debug_info");
    let abbrev = section_data(object, "__debug_abbrev");
    if info.len() < 12 || abbrev.is_empty() {
        return None;
    }
    let mut next_cu = 0usize;
    while next_cu < info.len() {
        let mut r = Reader::new(info, next_cu);
        let mut length = r.uint(4)?;
        let dwarf64 = length == 0xffff_ffff;
        if dwarf64 {
            length = r.uint(8)?;
        } else if length > 0xffff_ff00 {
            return None;
        }
        next_cu = r.pos.checked_add(usize::try_from(length).ok()?)?;
        let version = r.uint(2)?;
        if !(2..=5).contains(&version) {
            return None;
        }
        let offset_size = if dwarf64 { 8 } else { 4 };
        let address_size;
        let abbrev_offset;
        if version == 5 {
            let unit_type = *r.bytes(1)?.first()?;
            address_size = *r.bytes(1)?.first()?;
            abbrev_offset = r.uint(offset_size)?;
            if unit_type != DW_UT_COMPILE {
                continue;
            }
        } else {
            abbrev_offset = r.uint(offset_size)?;
            address_size = *r.bytes(1)?.first()?;
        }
        let code = r.uleb()?;
        // Find the abbreviation.
        let mut a = Reader::new(abbrev, usize::try_from(abbrev_offset).ok()?);
        loop {
            let this = a.uleb()?;
            if this == 0 {
                return None;
            }
            let tag = a.uleb()?;
            a.bytes(1)?; // DW_CHILDREN_*
            if this == code {
                if tag != DW_TAG_COMPILE_UNIT {
                    return None;
                }
                break;
            }
            loop {
                let attr = a.uleb()?;
                let form = a.uleb()?;
                if form == 0x21 {
                    a.uleb()?; // DW_FORM_implicit_const value
                }
                if attr == 0 && form == 0 {
                    break;
                }
            }
        }
        let mut name = None;
        let mut comp_dir = None;
        let mut str_offsets_base = None;
        loop {
            let attr = a.uleb()?;
            let mut form = a.uleb()?;
            if attr == 0 && form == 0 {
                break;
            }
            if form == 0x16 {
                form = r.uleb()?; // DW_FORM_indirect
            }
            if form == 0x21 {
                a.uleb()?; // DW_FORM_implicit_const: the value is in the abbreviation
                continue;
            }
            if attr == DW_AT_STR_OFFSETS_BASE && form == 0x17 {
                str_offsets_base = Some(r.uint(offset_size)?);
                continue;
            }
            let value = read_form(&mut r, form, address_size, offset_size)?;
            match attr {
                DW_AT_NAME => name = value,
                DW_AT_COMP_DIR => comp_dir = value,
                _ => {}
            }
        }
        let resolve = |v: StrValue| -> Option<String> {
            match v {
                StrValue::Inline(b) => Some(String::from_utf8_lossy(b).into_owned()),
                StrValue::Strp(o) => cstr_at(section_data(object, "__debug_str"), o),
                StrValue::LineStrp(o) => cstr_at(section_data(object, "__debug_line_str"), o),
                StrValue::Strx(i) => {
                    let base = str_offsets_base.unwrap_or(if dwarf64 { 16 } else { 8 });
                    let offs = section_data(object, "__debug_str_offs");
                    let at = base.checked_add(i.checked_mul(offset_size as u64)?)?;
                    let o = Reader::new(offs, usize::try_from(at).ok()?).uint(offset_size)?;
                    cstr_at(section_data(object, "__debug_str"), o)
                }
            }
        };
        let name = name.and_then(resolve);
        let comp_dir = comp_dir.and_then(resolve);
        // "Swift object files may contain two CUs" (ld64): skip the clang importer's.
        if name.as_deref() == Some("<swift-imported-modules>") {
            continue;
        }
        return match (name, comp_dir) {
            (Some(n), _) if n.starts_with('/') => Some(n),
            (Some(n), Some(d)) => Some(format!("{d}/{n}")),
            (Some(n), None) => Some(n),
            (None, _) => None,
        };
    }
    None
}

/// Reads (or skips) one attribute value; returns string values.
fn read_form<'a>(
    r: &mut Reader<'a>,
    form: u64,
    address_size: u8,
    offset_size: usize,
) -> Option<Option<StrValue<'a>>> {
    let skip = |r: &mut Reader<'a>, n: usize| r.bytes(n).map(|_| None);
    match form {
        0x01 => skip(r, usize::from(address_size)),             // addr
        0x03 => { let n = r.uint(2)?; skip(r, usize::try_from(n).ok()?) } // block2
        0x04 => { let n = r.uint(4)?; skip(r, usize::try_from(n).ok()?) } // block4
        0x05 | 0x12 => skip(r, 2),                              // data2, ref2
        0x06 | 0x13 => skip(r, 4),                              // data4, ref4
        0x07 | 0x14 | 0x20 => skip(r, 8),                       // data8, ref8, ref_sig8
        0x08 => Some(Some(StrValue::Inline(r.cstr()?))),        // string
        0x09 | 0x18 => { let n = r.uleb()?; skip(r, usize::try_from(n).ok()?) } // block, exprloc
        0x0a => { let n = r.uint(1)?; skip(r, usize::try_from(n).ok()?) } // block1
        0x0b | 0x0c | 0x11 => skip(r, 1),                       // data1, flag, ref1
        0x0d | 0x0f | 0x15 | 0x1b | 0x22 | 0x23 => r.uleb().map(|_| None), // sdata, udata, ref_udata, addrx, loclistx, rnglistx
        0x0e => Some(Some(StrValue::Strp(r.uint(offset_size)?))), // strp
        0x10 | 0x17 | 0x1c | 0x1d => skip(r, offset_size),      // ref_addr, sec_offset, strp_sup, ref_sup4
        0x19 => Some(None),                                     // flag_present
        0x1a => Some(Some(StrValue::Strx(r.uleb()?))),          // strx
        0x1e => skip(r, 16),                                    // data16
        0x1f => Some(Some(StrValue::LineStrp(r.uint(offset_size)?))), // line_strp
        0x24 => skip(r, 8),                                     // ref_sup8
        0x25 => Some(Some(StrValue::Strx(r.uint(1)?))),         // strx1
        0x26 => Some(Some(StrValue::Strx(r.uint(2)?))),         // strx2
        0x27 => Some(Some(StrValue::Strx(r.uint(3)?))),         // strx3
        0x28 => Some(Some(StrValue::Strx(r.uint(4)?))),         // strx4
        0x29 => skip(r, 1),                                     // addrx1
        0x2a => skip(r, 2),                                     // addrx2
        0x2b => skip(r, 3),                                     // addrx3
        0x2c => skip(r, 4),                                     // addrx4
        _ => None, // unknown form: give up, as ld64's skip_form does
    }
}
