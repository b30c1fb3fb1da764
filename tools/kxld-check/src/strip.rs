//! Removes one symbol (not its debug-map stabs) from a final-linked Mach-O's symbol table (the "stripped metaclass
//! vtable" negative test). The symbol table is rebuilt without it; the `LC_DYSYMTAB` ranges and
//! every external relocation's symbol index are renumbered, so the file stays consistent and
//! only that symbol is gone.

use crate::macho::{MachO, Reloc};

pub fn strip_symbol(file: &[u8], name: &str) -> Result<Vec<u8>, String> {
    let m = MachO::parse(file)?;
    if m.slice_offset != 0 {
        return Err("strip a thin Mach-O, not a fat file".into());
    }
    let st = m.symtab.ok_or("no LC_SYMTAB")?;
    // The symbol itself, not a debug-map stab of the same name (an N_GSYM for a global): kxld
    // indexes symbols by name without the stabs (sym_is_name_indexed in kxld_symtab.c).
    let idx = m
        .symbols
        .iter()
        .position(|s| s.name == name && !s.is_stab())
        .ok_or_else(|| format!("no symbol {name} (other than stabs)"))? as u32;
    let mut out = file.to_vec();
    let symoff = st.symoff as usize;
    let n = st.nsyms as usize;
    // Shift the nlist entries after it down by one; the string table stays as is.
    let from = symoff + (idx as usize + 1) * 16;
    let to = symoff + n * 16;
    out.copy_within(from..to, symoff + idx as usize * 16);
    out[to - 16..to].fill(0);
    let put = |out: &mut Vec<u8>, off: usize, v: u32| out[off..off + 4].copy_from_slice(&v.to_le_bytes());
    put(&mut out, st.cmd_offset + 12, st.nsyms - 1);
    if let Some(d) = m.dysymtab {
        let ranges = [(d.ilocalsym, d.nlocalsym), (d.iextdefsym, d.nextdefsym), (d.iundefsym, d.nundefsym)];
        for (k, (start, count)) in ranges.iter().enumerate() {
            let (mut s, mut c) = (*start, *count);
            if idx < s {
                s -= 1;
            } else if idx < s + c {
                c -= 1;
            }
            put(&mut out, d.cmd_offset + 8 + 8 * k, s);
            put(&mut out, d.cmd_offset + 12 + 8 * k, c);
        }
        for (i, r) in m.extrel.iter().enumerate() {
            if r.symbolnum == idx {
                return Err(format!("{name} is the target of an external relocation; stripping it would break the file"));
            }
            if r.symbolnum > idx {
                let fixed = Reloc { symbolnum: r.symbolnum - 1, ..*r };
                let at = d.extreloff as usize + i * 8;
                out[at..at + 8].copy_from_slice(&fixed.encode());
            }
        }
    }
    Ok(out)
}
