//! UTF-8 validation for kernel code.

/// Whether `bytes` is well-formed UTF-8 (RFC 3629: no overlong form, no surrogate, nothing above
/// U+10FFFF), the same answer as `core::str::from_utf8`. That function is not used because it
/// lives in the object of `core` that also holds `core::fmt` and the panic machinery: calling it
/// links all of that into a kext (measured: 248 such symbols survive `-dead_strip`).
pub fn is_utf8(bytes: &[u8]) -> bool {
    // Each sequence is decoded and its code point checked, rather than each lead byte mapped to
    // the ranges its continuations allow: the same answers in about half the kernel code.
    let mut rest = bytes.iter();
    while let Some(&lead) = rest.next() {
        // The lead's leading ones: 0 for ASCII, 2 to 4 for the length of a longer sequence; 1 (a
        // continuation byte) and 5 or more are never a lead.
        let len = (!lead).leading_zeros();
        if len == 0 {
            continue;
        }
        if !(2..=4).contains(&len) {
            return false;
        }
        let mut code = u32::from(lead) & (0x7f >> len);
        for _ in 1..len {
            match rest.next() {
                Some(&b) if b & 0xc0 == 0x80 => code = (code << 6) | u32::from(b & 0x3f),
                _ => return false,
            }
        }
        // The shortest form only, no surrogate, nothing above U+10FFFF.
        let shortest = match len {
            2 => 0x80,
            3 => 0x800,
            _ => 0x1_0000,
        };
        if code < shortest || code > 0x10_ffff || (0xd800..=0xdfff).contains(&code) {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::is_utf8;
    use proptest::prelude::*;
    use std::{string::String, vec::Vec};

    fn agree(bytes: &[u8]) {
        assert_eq!(
            is_utf8(bytes),
            core::str::from_utf8(bytes).is_ok(),
            "{bytes:02x?}"
        );
    }

    /// `is_utf8` must agree with `core::str::from_utf8` (the function it replaces) on every
    /// input of up to 3 bytes, and on every 4-byte input that starts with a 4-byte lead (or a
    /// byte past them), with any second and third byte and a last byte on each edge of the byte
    /// classes (ASCII, continuation, leads).
    #[test]
    fn is_utf8_agrees_with_core_exhaustively() {
        agree(&[]);
        for a in 0..=255u8 {
            agree(&[a]);
            for b in 0..=255u8 {
                agree(&[a, b]);
                for c in 0..=255u8 {
                    agree(&[a, b, c]);
                }
            }
        }
        let edges = [
            0x00u8, 0x7f, 0x80, 0x81, 0xbe, 0xbf, 0xc0, 0xc2, 0xe0, 0xf0, 0xf4, 0xff,
        ];
        for a in 0xf0..=0xffu8 {
            for b in 0..=255u8 {
                for c in 0..=255u8 {
                    for &d in &edges {
                        agree(&[a, b, c, d]);
                    }
                }
            }
        }
    }

    /// Strings of any code points, then damaged: a byte replaced, the end cut, a byte inserted.
    fn damaged() -> impl Strategy<Value = Vec<u8>> {
        (
            proptest::collection::vec(any::<char>(), 0..8),
            any::<u8>(),
            any::<usize>(),
            0..4u8,
        )
            .prop_map(|(chars, byte, at, how)| {
                let mut bytes = chars.into_iter().collect::<String>().into_bytes();
                let at = at % (bytes.len() + 1);
                match how {
                    0 if at < bytes.len() => bytes[at] = byte,
                    1 => bytes.truncate(at),
                    2 => bytes.insert(at, byte),
                    _ => {}
                }
                bytes
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]
        #[test]
        fn is_utf8_agrees_with_core_on_damaged_strings(bytes in damaged()) {
            prop_assert_eq!(is_utf8(&bytes), core::str::from_utf8(&bytes).is_ok(), "{:02x?}", bytes);
        }

        #[test]
        fn is_utf8_agrees_with_core_on_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..16)) {
            prop_assert_eq!(is_utf8(&bytes), core::str::from_utf8(&bytes).is_ok(), "{:02x?}", bytes);
        }
    }
}
