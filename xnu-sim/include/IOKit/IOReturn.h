/* xnu-sim look-alike of <IOKit/IOReturn.h> (values as in docs/kernel-facts.md "Return codes"). */
#ifndef XNU_SIM_IOKIT_IORETURN_H
#define XNU_SIM_IOKIT_IORETURN_H

#include <mach/kern_return.h>

typedef kern_return_t IOReturn;

#define sys_iokit ((int)(0x38u << 26))
#define sub_iokit_common 0
#define iokit_common_err(code) ((IOReturn)(sys_iokit | sub_iokit_common | (code)))

#define kIOReturnSuccess KERN_SUCCESS
#define kIOReturnError iokit_common_err(0x2bc)
#define kIOReturnNoMemory iokit_common_err(0x2bd)
#define kIOReturnNoResources iokit_common_err(0x2be)
#define kIOReturnIPCError iokit_common_err(0x2bf)
#define kIOReturnNotPrivileged iokit_common_err(0x2c1)
#define kIOReturnBadArgument iokit_common_err(0x2c2)
#define kIOReturnExclusiveAccess iokit_common_err(0x2c5)
#define kIOReturnUnsupported iokit_common_err(0x2c7)
#define kIOReturnNotOpen iokit_common_err(0x2cd)
#define kIOReturnBusy iokit_common_err(0x2d5)
#define kIOReturnTimeout iokit_common_err(0x2d6)
#define kIOReturnNotReady iokit_common_err(0x2d8)
#define kIOReturnNotAttached iokit_common_err(0x2d9)
#define kIOReturnNotPermitted iokit_common_err(0x2e2)
#define kIOReturnNoCompletion iokit_common_err(0x2ea)
#define kIOReturnAborted iokit_common_err(0x2eb)
#define kIOReturnNotFound iokit_common_err(0x2f0)

#endif
