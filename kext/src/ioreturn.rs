//! Every `IOReturn` code the core returns, in one place, with Apple's names and values
//! (`IOKit/IOReturn.h`: `iokit_common_err(x)` = `0xe0000000 | x`).
#![allow(non_upper_case_globals)]

/// `IOReturn` is `kern_return_t`, a C `int`.
pub type IOReturn = i32;

const fn iokit_common_err(code: u32) -> IOReturn {
    (0xe000_0000u32 | code) as IOReturn
}

/// Success.
pub const kIOReturnSuccess: IOReturn = 0;
/// The client table is full.
pub const kIOReturnNoResources: IOReturn = iokit_common_err(0x2be);
/// The caller is not an administrator.
pub const kIOReturnNotPrivileged: IOReturn = iokit_common_err(0x2c1);
/// Invalid argument: unknown selector, wrong counts or sizes, bad input.
pub const kIOReturnBadArgument: IOReturn = iokit_common_err(0x2c2);
/// The client is not open.
pub const kIOReturnNotOpen: IOReturn = iokit_common_err(0x2cd);
/// Not permitted: an unload is pending or the service is terminating.
pub const kIOReturnNotPermitted: IOReturn = iokit_common_err(0x2e2);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_apples() {
        assert_eq!(kIOReturnSuccess, 0);
        assert_eq!(kIOReturnNoResources as u32, 0xe00002be);
        assert_eq!(kIOReturnNotPrivileged as u32, 0xe00002c1);
        assert_eq!(kIOReturnBadArgument as u32, 0xe00002c2);
        assert_eq!(kIOReturnNotOpen as u32, 0xe00002cd);
        assert_eq!(kIOReturnNotPermitted as u32, 0xe00002e2);
    }
}
