//! The ABI fingerprint: FNV-1a (64 bits) over an interface's name, its table and the layout of
//! every argument and result, computed at compile time. Kernel and client each carry theirs;
//! `DESCRIBE` answers the kernel's, and a generated client refuses a different one.
// Evaluated in constants (`Interface::FINGERPRINT`): every index is below its loop bound, and
// an out-of-range one would be a compile error, never kernel code.
#![allow(clippy::indexing_slicing)]

use crate::table::Entry;
use crate::wire::Layout;

const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const PRIME: u64 = 0x0000_0100_0000_01b3;

/// One method's arguments' and result's layouts, in declaration order.
#[derive(Clone, Copy, Debug)]
pub struct MethodLayouts {
    /// The arguments.
    pub inputs: &'static [Layout],
    /// The result (`()` when none; the `T` of `Result<T, Refusal>`).
    pub output: Layout,
}

const fn byte(hash: u64, b: u8) -> u64 {
    (hash ^ b as u64).wrapping_mul(PRIME)
}

const fn str(mut hash: u64, s: &str) -> u64 {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        hash = byte(hash, bytes[i]);
        i += 1;
    }
    byte(hash, 0xff) // a separator no UTF-8 string contains
}

const fn num(mut hash: u64, n: u32) -> u64 {
    let b = n.to_le_bytes();
    let mut i = 0;
    while i < 4 {
        hash = byte(hash, b[i]);
        i += 1;
    }
    hash
}

const fn layout(mut hash: u64, l: &Layout) -> u64 {
    hash = str(hash, l.name);
    hash = num(hash, l.scalars);
    hash = num(hash, l.bytes);
    hash = num(hash, l.fields.len() as u32);
    let mut i = 0;
    while i < l.fields.len() {
        let f = &l.fields[i];
        hash = str(hash, f.name);
        hash = str(hash, f.ty);
        hash = num(hash, f.offset);
        hash = num(hash, f.size);
        i += 1;
    }
    hash
}

/// The fingerprint of interface `name` with `table` and, per method, `methods` (same order).
pub const fn of(name: &str, table: &[Entry], methods: &[MethodLayouts]) -> u64 {
    let mut hash = str(OFFSET, name);
    hash = num(hash, table.len() as u32);
    let mut i = 0;
    while i < table.len() {
        let e = &table[i];
        hash = str(hash, e.name);
        hash = num(hash, e.shape.scalar_input_count);
        hash = num(hash, e.shape.struct_input_size);
        hash = num(hash, e.shape.scalar_output_count);
        hash = num(hash, e.shape.struct_output_size);
        hash = str(hash, e.privilege.name());
        hash = byte(hash, e.query as u8);
        if i < methods.len() {
            let m = &methods[i];
            hash = num(hash, m.inputs.len() as u32);
            let mut j = 0;
            while j < m.inputs.len() {
                hash = layout(hash, &m.inputs[j]);
                j += 1;
            }
            hash = layout(hash, &m.output);
        }
        i += 1;
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::{Privilege, Shape};
    use crate::wire::FieldLayout;

    const T: &[Entry] = &[Entry { name: "Ping", shape: Shape::new(1, 0, 1, 0), privilege: Privilege::Anyone, query: true }];
    const U64: Layout = Layout::scalars("u64", 1);
    const M: &[MethodLayouts] = &[MethodLayouts { inputs: &[U64], output: U64 }];

    #[test]
    fn every_part_changes_the_fingerprint() {
        let base = of("X", T, M);
        assert_eq!(base, of("X", T, M), "deterministic");
        assert_ne!(base, of("Y", T, M));
        let mut t = T[0];
        t.privilege = Privilege::Admin;
        assert_ne!(base, of("X", &[t], M));
        let mut t = T[0];
        t.query = false;
        assert_ne!(base, of("X", &[t], M));
        let mut t = T[0];
        t.name = "Pong";
        assert_ne!(base, of("X", &[t], M));
        const F: &[FieldLayout] = &[FieldLayout { name: "a", ty: "u64", offset: 0, size: 8 }];
        const G: &[FieldLayout] = &[FieldLayout { name: "a", ty: "u64", offset: 8, size: 8 }];
        let s = |fields| [MethodLayouts { inputs: &[], output: Layout { name: "S", scalars: 0, bytes: 16, fields } }];
        assert_ne!(of("X", T, &s(F)), of("X", T, &s(G)), "a field's offset");
        // Names are separated: ("ab", "c") and ("a", "bc") differ.
        assert_ne!(str(OFFSET, "ab") ^ 1, str(str(OFFSET, "a"), "b") ^ 1);
    }
}
