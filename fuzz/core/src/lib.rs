//! The fuzz targets of the Rust core (docs/testing.md "Fuzzing"): `external_methods` and `lifecycle`
//! drive the C ABI (`shim-cpp/rustkext.h`) as the shim does, against the reference model of
//! `rustkext-fuzz-model`; `path_filter` drives the path filter, also with a concurrent writer.
//! Only [`adapter`] uses the implementation; [`kernel`] stands in for the kernel and the shim.

pub mod adapter;
pub mod kernel;
pub mod path_filter;
pub mod sequence;
