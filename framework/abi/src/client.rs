//! User space: what a generated client calls through ([`Transport`]), its [`Error`], and the
//! helpers its methods are made of.
#![allow(clippy::indexing_slicing)] // user space: a slip is a test failure, not a kernel panic

pub use std::vec::Vec;
use std::fmt;


use crate::table::{Entry, Interface, DESCRIBE, DESCRIBE_SHAPE};
use crate::wire::Wire;
use crate::IOReturn;

/// What a successful call returned.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Output {
    /// The scalars written.
    pub scalars: Vec<u64>,
    /// The struct bytes written.
    pub bytes: Vec<u8>,
}

/// One open connection to a service: `IOConnectCallMethod` on IOKit.framework, or the
/// simulator's. A generated client owns one.
pub trait Transport {
    /// Calls `selector` with these inputs and room for `scalar_capacity` scalars and
    /// `byte_capacity` struct bytes; the outputs written, or the code.
    fn call(
        &self,
        selector: u32,
        scalars: &[u64],
        bytes: &[u8],
        scalar_capacity: u32,
        byte_capacity: u32,
    ) -> Result<Output, IOReturn>;

}

impl<T: Transport + ?Sized> Transport for &T {
    fn call(&self, selector: u32, scalars: &[u64], bytes: &[u8], sc: u32, bc: u32) -> Result<Output, IOReturn> {
        (**self).call(selector, scalars, bytes, sc, bc)
    }
}

/// Why a generated client's call failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// The kernel refused the call with `code`.
    Refused {
        /// The method (`GetStats`; `Describe` for the check at open).
        method: &'static str,
        /// The `IOReturn`.
        code: IOReturn,
    },
    /// The kernel serves another version of the interface: refused at open, before any method.
    AbiMismatch {
        /// The interface.
        interface: &'static str,
        /// The kernel's fingerprint.
        kernel: u64,
        /// This client's.
        client: u64,
    },
    /// The kernel answered with other counts than the table's, or a result that does not decode.
    BadAnswer {
        /// The method.
        method: &'static str,
        /// What was wrong.
        why: &'static str,
    },
}

impl Error {
    /// The kernel's code, for a refusal.
    pub fn code(&self) -> Option<IOReturn> {
        match self {
            Error::Refused { code, .. } => Some(*code),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Refused { method, code } => write!(f, "{method} refused with {:#010x}", *code as u32),
            Error::AbiMismatch { interface, kernel, client } => write!(
                f,
                "the kernel serves another {interface} interface (fingerprint {kernel:#018x}, this client {client:#018x})"
            ),
            Error::BadAnswer { method, why } => write!(f, "{method}: {why}"),
        }
    }
}

impl std::error::Error for Error {}

/// `DESCRIBE`: the kernel's `[fingerprint, method count]`.
pub fn describe<T: Transport + ?Sized>(transport: &T) -> Result<[u64; 2], Error> {
    let out = transport
        .call(DESCRIBE, &[], &[], DESCRIBE_SHAPE.scalar_output_count, 0)
        .map_err(|code| Error::Refused { method: "Describe", code })?;
    match out.scalars[..] {
        [fingerprint, count] => Ok([fingerprint, count]),
        _ => Err(Error::BadAnswer { method: "Describe", why: "not 2 scalars" }),
    }
}

/// The check a generated client makes at open: the kernel's fingerprint is `I`'s.
pub fn check<I: Interface + ?Sized, T: Transport + ?Sized>(transport: &T) -> Result<(), Error> {
    let [kernel, _count] = describe(transport)?;
    if kernel != I::FINGERPRINT {
        return Err(Error::AbiMismatch { interface: I::NAME, kernel, client: I::FINGERPRINT });
    }
    Ok(())
}

/// Input buffers of exactly `entry`'s shape, zeroed.
pub fn inputs(entry: &Entry) -> (Vec<u64>, Vec<u8>) {
    (std::vec![0; entry.shape.scalar_input_count as usize], std::vec![0; entry.shape.struct_input_size as usize])
}

/// Encodes argument `value` at scalar `offset` (a struct argument fills the struct input).
pub fn put_arg<T: Wire>(value: &T, offset: u32, scalars: &mut [u64], bytes: &mut [u8]) {
    let start = (offset as usize).min(scalars.len());
    let end = (start + T::SCALARS as usize).min(scalars.len());
    let bytes: &mut [u8] = if T::BYTES > 0 { bytes } else { &mut [] };
    value.encode(&mut scalars[start..end], bytes);
}

/// Calls method `selector` (`entry` its row) and decodes its result.
pub fn call<R: Wire, T: Transport + ?Sized>(
    transport: &T,
    selector: u32,
    entry: &Entry,
    scalars: &[u64],
    bytes: &[u8],
) -> Result<R, Error> {
    let shape = entry.shape;
    let out = transport
        .call(selector, scalars, bytes, shape.scalar_output_count, shape.struct_output_size)
        .map_err(|code| Error::Refused { method: entry.name, code })?;
    if out.scalars.len() != shape.scalar_output_count as usize
        || out.bytes.len() != shape.struct_output_size as usize
    {
        return Err(Error::BadAnswer { method: entry.name, why: "output counts differ from the table's" });
    }
    R::decode(&out.scalars, &out.bytes)
        .map_err(|_| Error::BadAnswer { method: entry.name, why: "the result does not decode" })
}
