//! [`PathPrefix`]: a path prefix as a struct input of exactly `N` bytes.

use crate::wire::{Layout, Wire};
use crate::{is_utf8, Refusal};

/// A path prefix carried as a struct of exactly `N` bytes: the prefix, a NUL, then anything.
/// Decoding refuses (`kIOReturnBadArgument`) a struct of another size, one without a NUL, and a
/// prefix that is not UTF-8. The prefix is therefore at most `N - 1` bytes; an empty one is
/// valid (a driver may take it as "clear").
///
/// Taken by value: `N` bytes of the kernel stack (16 KiB) while the method runs.
#[derive(Clone, PartialEq, Eq)]
pub struct PathPrefix<const N: usize> {
    len: usize,
    bytes: [u8; N],
}

impl<const N: usize> PathPrefix<N> {
    /// The prefix (the bytes before the NUL), UTF-8.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or(&[])
    }

    /// A prefix from bytes: `Err(kIOReturnBadArgument)` unless shorter than `N`, without NUL,
    /// and UTF-8 (what decoding would refuse).
    pub fn new(prefix: &[u8]) -> Result<Self, Refusal> {
        #[allow(clippy::manual_contains)] // `contains` links core::fmt into a kext (memchr)
        if prefix.len() >= N || prefix.iter().any(|&b| b == 0) || !is_utf8(prefix) {
            return Err(Refusal::BAD_ARGUMENT);
        }
        let mut bytes = [0u8; N];
        for (dst, src) in bytes.iter_mut().zip(prefix) {
            *dst = *src;
        }
        Ok(PathPrefix { len: prefix.len(), bytes })
    }
}

impl<const N: usize> core::fmt::Debug for PathPrefix<N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("PathPrefix").field(&self.as_bytes()).finish()
    }
}

impl<const N: usize> Wire for PathPrefix<N> {
    const SCALARS: u32 = 0;
    const BYTES: u32 = N as u32;
    const LAYOUT: Layout = Layout { name: "PathPrefix", scalars: 0, bytes: N as u32, fields: &[] };

    fn decode(_: &[u64], bytes: &[u8]) -> Result<Self, Refusal> {
        if bytes.len() != N {
            return Err(Refusal::BAD_ARGUMENT);
        }
        let len = bytes.iter().position(|&b| b == 0).ok_or(Refusal::BAD_ARGUMENT)?;
        let prefix = bytes.get(..len).ok_or(Refusal::BAD_ARGUMENT)?;
        if !is_utf8(prefix) {
            return Err(Refusal::BAD_ARGUMENT);
        }
        let mut out = [0u8; N];
        for (dst, src) in out.iter_mut().zip(prefix) {
            *dst = *src;
        }
        Ok(PathPrefix { len, bytes: out })
    }

    fn encode(&self, _: &mut [u64], bytes: &mut [u8]) {
        for (i, dst) in bytes.iter_mut().enumerate() {
            *dst = if i < self.len { self.bytes.get(i).copied().unwrap_or(0) } else { 0 };
        }
    }

    fn example() -> Self {
        PathPrefix { len: 0, bytes: [0; N] }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    fn input(prefix: &[u8]) -> Vec<u8> {
        let mut bytes = std::vec![0u8; 16];
        bytes[..prefix.len()].copy_from_slice(prefix);
        bytes
    }

    #[test]
    fn exactly_n_bytes_with_a_nul_and_utf8_before_it() {
        type P = PathPrefix<16>;
        assert_eq!(P::decode(&[], &input(b"/a")).unwrap().as_bytes(), b"/a");
        assert_eq!(P::decode(&[], &input(b"/a")[..15]), Err(Refusal::BAD_ARGUMENT), "short");
        let mut long = input(b"/a");
        long.push(0);
        assert_eq!(P::decode(&[], &long), Err(Refusal::BAD_ARGUMENT), "long");
        assert_eq!(P::decode(&[], &[b'a'; 16]), Err(Refusal::BAD_ARGUMENT), "no NUL");
        let mut last = [b'a'; 16];
        last[15] = 0;
        assert_eq!(P::decode(&[], &last).unwrap().as_bytes().len(), 15);
        assert_eq!(P::decode(&[], &input(b"/tmp/\xff")), Err(Refusal::BAD_ARGUMENT), "not UTF-8");
        assert_eq!(P::decode(&[], &input("/zoë".as_bytes())).unwrap().as_bytes(), "/zoë".as_bytes());
        let mut padded = input(b"/x");
        padded[10] = 0xff;
        assert_eq!(P::decode(&[], &padded).unwrap().as_bytes(), b"/x", "after the NUL anything goes");
        assert_eq!(P::decode(&[], &input(b"")).unwrap().as_bytes(), b"", "empty");
    }

    #[test]
    fn new_refuses_what_decode_refuses_and_encodes_zero_padded() {
        assert!(PathPrefix::<4>::new(b"abcd").is_err());
        assert!(PathPrefix::<8>::new(b"a\0b").is_err());
        assert!(PathPrefix::<8>::new(b"\xff").is_err());
        let p = PathPrefix::<8>::new(b"/abc").unwrap();
        let mut out = [0xaau8; 8];
        p.encode(&mut [], &mut out);
        assert_eq!(out, *b"/abc\0\0\0\0");
        assert_eq!(PathPrefix::<8>::decode(&[], &out), Ok(p));
    }
}
