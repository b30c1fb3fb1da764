//! The fuzz targets of the Rust core (docs/testing.md "Fuzzing"): `external_methods` and `lifecycle`
//! drive the C ABI (`shim-cpp/rustkext.h`) as the shim does, against the reference model of
//! `rustkext-fuzz-model`; `path_filter` drives the path filter, also with a concurrent writer.
//! Only [`adapter`] and [`kernel`] use the implementation; [`kernel`] boots xnu-sim for the
//! kernel functions the Rust side imports (and the module mutex the shim's module start takes).

pub mod adapter;
pub mod kernel;
pub mod path_filter;
pub mod sequence;
