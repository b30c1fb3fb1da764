/* xnu-sim look-alike of <libkern/OSReturn.h> and the kext codes of <libkern/OSKextLib.h>. */
#ifndef XNU_SIM_LIBKERN_OSRETURN_H
#define XNU_SIM_LIBKERN_OSRETURN_H

#include <mach/kern_return.h>

typedef kern_return_t OSReturn;

#define kOSReturnSuccess 0
#define kOSKextReturnNotFound ((OSReturn)0xdc008006)
#define kOSKextReturnStartStopError ((OSReturn)0xdc008017)
#define kOSKextReturnInUse ((OSReturn)0xdc008018)
/* <libkern/c++/OSMetaClass.h>: libkern_metaclass_err(10), a class name already registered. */
#define kOSMetaClassDuplicateClass ((OSReturn)0xdc00400a)

#endif
