/* xnu-sim look-alike of <IOKit/IOLocks.h>: IOLock is a host mutex. */
#ifndef XNU_SIM_IOKIT_IOLOCKS_H
#define XNU_SIM_IOKIT_IOLOCKS_H

#include <mach/mach_types.h>

typedef struct _IOLock IOLock;

#ifdef __cplusplus
extern "C" {
#endif
IOLock *IOLockAlloc(void);
void IOLockFree(IOLock *lock);
void IOLockLock(IOLock *lock);
boolean_t IOLockTryLock(IOLock *lock);
void IOLockUnlock(IOLock *lock);
#ifdef __cplusplus
}
#endif

#endif
