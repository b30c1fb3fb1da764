//! The file-activity monitor as a kext: the whole glue is one call.
#![no_std]
#![forbid(unsafe_code)]

rustkext::export! {
    driver: rustkext_monitor::MonitorDriver = rustkext_monitor::MonitorDriver::new(),
    interface: rustkext_monitor_api::Monitor,
    listens: [FileOp],
}
