//! `IOReturn` codes a method can answer with.

use macos_kext_sys as sys;

/// An IOKit return code (`kern_return_t`).
pub type IOReturn = i32;

/// Why a call is refused: the `IOReturn` the client gets. Nothing the call would have written is
/// written. Methods may refuse with any code; the framework's own checks use the constants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Refusal(pub IOReturn);

impl Refusal {
    /// `kIOReturnBadArgument`: unknown selector, wrong shape, input that does not decode.
    pub const BAD_ARGUMENT: Refusal = Refusal(sys::kIOReturnBadArgument);
    /// `kIOReturnNotPrivileged`: the method needs more than the client has.
    pub const NOT_PRIVILEGED: Refusal = Refusal(sys::kIOReturnNotPrivileged);
    /// `kIOReturnNotOpen`: the client is not open (closed, stale, or never opened).
    pub const NOT_OPEN: Refusal = Refusal(sys::kIOReturnNotOpen);
    /// `kIOReturnNotPermitted`.
    pub const NOT_PERMITTED: Refusal = Refusal(sys::kIOReturnNotPermitted);
    /// `kIOReturnNoResources`.
    pub const NO_RESOURCES: Refusal = Refusal(sys::kIOReturnNoResources);
    /// `kIOReturnBusy`.
    pub const BUSY: Refusal = Refusal(sys::kIOReturnBusy);
    /// `kIOReturnUnsupported`.
    pub const UNSUPPORTED: Refusal = Refusal(sys::kIOReturnUnsupported);

    /// The code.
    pub const fn code(self) -> IOReturn {
        self.0
    }
}
