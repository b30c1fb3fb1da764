//! [`Wire`]: how an argument or a result crosses the user-client boundary.
//!
//! IOKit carries two things each way: up to 16 64-bit scalars and one struct of bytes (up to 4096
//! inline). A `Wire` type occupies [`Wire::SCALARS`] scalars or [`Wire::BYTES`] struct bytes,
//! never both; the method table is the sum of its arguments' and its result's. Decoding is where
//! an input is validated: its [`Refusal`] is what the client gets, before the method runs.

use crate::table::Call;
use crate::Refusal;

/// The layout of a [`Wire`] type, folded into an interface's fingerprint: a change of a name,
/// a size or an offset changes the fingerprint, so client and kernel cannot disagree unnoticed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// The type's name (`u64`, `[u64]`, `PathPrefix`, the struct's name).
    pub name: &'static str,
    /// Scalars it occupies.
    pub scalars: u32,
    /// Struct bytes it occupies.
    pub bytes: u32,
    /// A struct's fields, in order.
    pub fields: &'static [FieldLayout],
}

/// One field of a struct [`Layout`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldLayout {
    /// The field's name.
    pub name: &'static str,
    /// Its type, as written.
    pub ty: &'static str,
    /// Its offset in the struct.
    pub offset: u32,
    /// Its size.
    pub size: u32,
}

impl Layout {
    /// A scalar type's layout.
    pub const fn scalars(name: &'static str, scalars: u32) -> Layout {
        Layout { name, scalars, bytes: 0, fields: &[] }
    }
}

/// A value that crosses the user-client boundary. See the module documentation.
///
/// `decode` gets exactly `SCALARS` scalars and, for a struct type, exactly `BYTES` bytes (the
/// dispatcher checked the shape); `encode` gets room for exactly as many.
pub trait Wire: Sized {
    /// 64-bit scalars the value occupies.
    const SCALARS: u32;
    /// Struct bytes the value occupies (0 for a scalar type).
    const BYTES: u32;
    /// Its layout, for the fingerprint.
    const LAYOUT: Layout;
    /// Reads and validates a value; the refusal is what the client gets.
    fn decode(scalars: &[u64], bytes: &[u8]) -> Result<Self, Refusal>;
    /// Writes the value.
    fn encode(&self, scalars: &mut [u64], bytes: &mut [u8]);
    /// A valid value (for generated tests).
    fn example() -> Self;
}

impl Wire for () {
    const SCALARS: u32 = 0;
    const BYTES: u32 = 0;
    const LAYOUT: Layout = Layout::scalars("()", 0);
    #[inline]
    fn decode(_: &[u64], _: &[u8]) -> Result<(), Refusal> {
        Ok(())
    }
    #[inline]
    fn encode(&self, _: &mut [u64], _: &mut [u8]) {}
    fn example() {}
}

impl Wire for u64 {
    const SCALARS: u32 = 1;
    const BYTES: u32 = 0;
    const LAYOUT: Layout = Layout::scalars("u64", 1);
    #[inline]
    fn decode(scalars: &[u64], _: &[u8]) -> Result<u64, Refusal> {
        scalars.first().copied().ok_or(Refusal::BAD_ARGUMENT)
    }
    #[inline]
    fn encode(&self, scalars: &mut [u64], _: &mut [u8]) {
        if let Some(out) = scalars.first_mut() {
            *out = *self;
        }
    }
    fn example() -> u64 {
        1
    }
}

impl<const N: usize> Wire for [u64; N] {
    const SCALARS: u32 = N as u32;
    const BYTES: u32 = 0;
    const LAYOUT: Layout = Layout::scalars("[u64]", N as u32);
    #[inline]
    fn decode(scalars: &[u64], _: &[u8]) -> Result<[u64; N], Refusal> {
        if scalars.len() != N {
            return Err(Refusal::BAD_ARGUMENT);
        }
        let mut out = [0u64; N];
        for (dst, src) in out.iter_mut().zip(scalars) {
            *dst = *src;
        }
        Ok(out)
    }
    #[inline]
    fn encode(&self, scalars: &mut [u64], _: &mut [u8]) {
        for (dst, src) in scalars.iter_mut().zip(self.iter()) {
            *dst = *src;
        }
    }
    fn example() -> [u64; N] {
        [1; N]
    }
}

/// The argument of type `T` that starts at scalar `scalar_offset` of `call` (a struct argument
/// takes the whole struct input). Generated dispatch code calls this.
#[inline]
pub fn arg<T: Wire>(call: &Call<'_>, scalar_offset: u32) -> Result<T, Refusal> {
    let start = scalar_offset as usize;
    let scalars = call
        .scalar_input
        .get(start..start + T::SCALARS as usize)
        .ok_or(Refusal::BAD_ARGUMENT)?;
    let bytes: &[u8] = if T::BYTES > 0 { call.struct_input } else { &[] };
    T::decode(scalars, bytes)
}

/// Writes a method's result into `call`'s outputs. Generated dispatch code calls this.
#[inline]
pub fn put<T: Wire>(value: &T, call: &mut Call<'_>) {
    value.encode(call.scalar_output, call.struct_output);
}

/// A fixed-width field of a `#[derive(Wire)]` struct: read and written in native byte order at
/// its offset. Implemented for the unsigned and signed integers and arrays of fields; never for
/// `usize`, `isize` or pointers, whose width differs between a Rosetta client and the kernel.
pub trait Field: Copy {
    /// Its size in bytes.
    const SIZE: usize;
    /// The zero value.
    const ZERO: Self;
    /// Reads it at `*at`, advancing `*at`.
    fn read(bytes: &[u8], at: &mut usize) -> Result<Self, Refusal>;
    /// Writes it at `*at`, advancing `*at`.
    fn write(&self, bytes: &mut [u8], at: &mut usize);
}

macro_rules! int_fields {
    ($($t:ty),*) => {$(
        impl Field for $t {
            const SIZE: usize = core::mem::size_of::<$t>();
            const ZERO: $t = 0;
            #[inline]
            fn read(bytes: &[u8], at: &mut usize) -> Result<$t, Refusal> {
                let mut raw = [0u8; core::mem::size_of::<$t>()];
                let src = bytes.get(*at..*at + Self::SIZE).ok_or(Refusal::BAD_ARGUMENT)?;
                for (dst, src) in raw.iter_mut().zip(src) {
                    *dst = *src;
                }
                *at += Self::SIZE;
                Ok(<$t>::from_ne_bytes(raw))
            }
            #[inline]
            fn write(&self, bytes: &mut [u8], at: &mut usize) {
                if let Some(dst) = bytes.get_mut(*at..*at + Self::SIZE) {
                    for (dst, src) in dst.iter_mut().zip(self.to_ne_bytes()) {
                        *dst = src;
                    }
                }
                *at += Self::SIZE;
            }
        }
    )*};
}

int_fields!(u8, u16, u32, u64, i8, i16, i32, i64);

impl<T: Field, const N: usize> Field for [T; N] {
    const SIZE: usize = T::SIZE * N;
    const ZERO: [T; N] = [T::ZERO; N];
    #[inline]
    fn read(bytes: &[u8], at: &mut usize) -> Result<[T; N], Refusal> {
        let mut out = [T::ZERO; N];
        for item in out.iter_mut() {
            *item = T::read(bytes, at)?;
        }
        Ok(out)
    }
    #[inline]
    fn write(&self, bytes: &mut [u8], at: &mut usize) {
        for item in self.iter() {
            item.write(bytes, at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_round_trip_and_refuse_short_input() {
        let mut out = [0u64; 3];
        [7u64, 8, 9].encode(&mut out, &mut []);
        assert_eq!(<[u64; 3]>::decode(&out, &[]), Ok([7, 8, 9]));
        assert_eq!(<[u64; 3]>::decode(&out[..2], &[]), Err(Refusal::BAD_ARGUMENT));
        assert_eq!(u64::decode(&[], &[]), Err(Refusal::BAD_ARGUMENT));
        assert_eq!(<[u64; 3] as Wire>::LAYOUT.scalars, 3);
    }

    #[test]
    fn fields_are_native_endian_at_their_offsets() {
        let mut bytes = [0u8; 12];
        let mut at = 0;
        0x0102_0304u32.write(&mut bytes, &mut at);
        [5u32, 6].write(&mut bytes, &mut at);
        assert_eq!(at, 12);
        assert_eq!(&bytes[..4], &0x0102_0304u32.to_ne_bytes());
        let mut at = 4;
        assert_eq!(<[u32; 2]>::read(&bytes, &mut at), Ok([5, 6]));
        let mut at = 10;
        assert_eq!(u32::read(&bytes, &mut at), Err(Refusal::BAD_ARGUMENT), "past the end");
    }
}
