//! ExecCount as a kext: the whole glue is one call.
#![no_std]
#![forbid(unsafe_code)]

rustkext::export! {
    driver: execcount_driver::ExecCountDriver = execcount_driver::ExecCountDriver::new(),
    interface: execcount_api::ExecCount,
    listens: [FileOp],
}
