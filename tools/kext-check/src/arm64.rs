//! arm64: finds instructions that use the SIMD&FP registers (v0-v31 in any view, or SVE), from
//! the top-level A64 encoding table, so no disassembler is needed.

use crate::code::CodeRange;

/// Describes the first SIMD/FP use in `range`, if any.
pub fn first_float_use(range: &CodeRange<'_>) -> Option<(u64, String)> {
    range.bytes.chunks_exact(4).enumerate().find_map(|(i, word)| {
        let insn = u32::from_le_bytes([word[0], word[1], word[2], word[3]]);
        let address = range.address + 4 * i as u64;
        float_class(insn).map(|what| (address, format!("{insn:#010x} is {what}")))
    })
}

fn float_class(insn: u32) -> Option<&'static str> {
    let op0 = (insn >> 25) & 0xf;
    if op0 & 0b0111 == 0b0111 {
        Some("a scalar floating-point or Advanced SIMD data-processing instruction")
    } else if op0 & 0b0101 == 0b0100 && insn & (1 << 26) != 0 {
        // Loads and stores (op0 = x1x0) with V = 1: the transfer register is a SIMD&FP register.
        Some("a SIMD&FP register load/store")
    } else if op0 == 0b0010 {
        Some("an SVE instruction")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::float_class;

    #[test]
    fn classifies_known_encodings() {
        assert!(float_class(0x1e602820).is_some()); // fadd d0, d1, d0
        assert!(float_class(0x4ea11c20).is_some()); // mov v0.16b, v1.16b
        assert!(float_class(0xfd400020).is_some()); // ldr d0, [x1]
        assert!(float_class(0xad000440).is_some()); // stp q0, q1, [x2]
        assert!(float_class(0x04a00000).is_some()); // SVE (op0 = 0010)
        assert!(float_class(0x8b020020).is_none()); // add x0, x1, x2
        assert!(float_class(0xf9400020).is_none()); // ldr x0, [x1]
        assert!(float_class(0xa9bf7bfd).is_none()); // stp x29, x30, [sp, #-16]!
        assert!(float_class(0xd503237f).is_none()); // pacibsp
        assert!(float_class(0xd65f0fff).is_none()); // retab
        assert!(float_class(0xd5033bbf).is_none()); // dmb ish
    }
}
