//! The thin layer between the targets and the code under test: porting the fuzzers to a new
//! layout of the driver changes these files (and `kernel.rs`) only, as the port to the framework
//! did.

pub mod c_abi;
pub mod filter;
