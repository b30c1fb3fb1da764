//! The thin layer between the targets and the code under test: porting the fuzzers to a new
//! layout of the driver (the framework) changes these files only.

pub mod c_abi;
pub mod filter;
