//! UTF-8 validation for kernel code.

/// Whether `bytes` is well-formed UTF-8 (RFC 3629: no overlong form, no surrogate, nothing above
/// U+10FFFF), the same answer as `core::str::from_utf8`. That function is not used because it
/// lives in the object of `core` that also holds `core::fmt` and the panic machinery: calling it
/// links all of that into a kext (measured: 248 such symbols survive `-dead_strip`).
pub fn is_utf8(bytes: &[u8]) -> bool {
    let mut rest = bytes.iter();
    while let Some(&lead) = rest.next() {
        if lead < 0x80 {
            continue;
        }
        // Continuation bytes that follow, and the range allowed for the first of them (the
        // others take 0x80..=0xbf): no overlong form, no surrogate, nothing above U+10FFFF.
        let (continuations, first_min, first_max) = match lead {
            0xc2..=0xdf => (1, 0x80, 0xbf),
            0xe0 => (2, 0xa0, 0xbf),
            0xed => (2, 0x80, 0x9f),
            0xe1..=0xef => (2, 0x80, 0xbf),
            0xf0 => (3, 0x90, 0xbf),
            0xf4 => (3, 0x80, 0x8f),
            0xf1..=0xf3 => (3, 0x80, 0xbf),
            _ => return false,
        };
        let (mut min, mut max) = (first_min, first_max);
        for _ in 0..continuations {
            match rest.next() {
                Some(&b) if b >= min && b <= max => {}
                _ => return false,
            }
            (min, max) = (0x80, 0xbf);
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::is_utf8;

    /// `is_utf8` must agree with `core::str::from_utf8` (the function it replaces) on every
    /// 1- and 2-byte input, every 3-byte input with a multi-byte lead, and 4-byte inputs around
    /// each boundary of the continuation ranges.
    #[test]
    fn is_utf8_agrees_with_core() {
        let agree = |bytes: &[u8]| {
            assert_eq!(is_utf8(bytes), core::str::from_utf8(bytes).is_ok(), "{bytes:02x?}");
        };
        for a in 0..=255u8 {
            agree(&[a]);
            for b in 0..=255u8 {
                agree(&[a, b]);
            }
        }
        for a in 0xc0..=0xffu8 {
            for b in 0..=255u8 {
                for c in 0..=255u8 {
                    agree(&[a, b, c]);
                }
            }
        }
        let edges = [0x00u8, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xff];
        for a in 0xf0..=0xf7u8 {
            for &b in &edges {
                for &c in &edges {
                    for &d in &edges {
                        agree(&[a, b, c, d]);
                        agree(&[b'/', a, b, c, d, b'x']);
                    }
                }
            }
        }
    }
}
