/* xnu-sim look-alike of <IOKit/IOTypes.h>. */
#ifndef XNU_SIM_IOKIT_IOTYPES_H
#define XNU_SIM_IOKIT_IOTYPES_H

#include <libkern/OSTypes.h>
#include <mach/mach_types.h>
#include <IOKit/IOReturn.h>

typedef UInt32 IOOptionBits;
typedef uint64_t IOByteCount;

#endif
