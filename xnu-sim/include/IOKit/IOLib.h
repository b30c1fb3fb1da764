/* xnu-sim look-alike of <IOKit/IOLib.h>: logging (captured), sleeping, memory. */
#ifndef XNU_SIM_IOKIT_IOLIB_H
#define XNU_SIM_IOKIT_IOLIB_H

#include <stdarg.h>

#include <IOKit/IOTypes.h>
#include <IOKit/IOLocks.h>
#include <libkern/OSTypes.h>

#ifdef __cplusplus
extern "C" {
#endif
void IOLog(const char *format, ...) __attribute__((format(printf, 1, 2)));
void IOLogv(const char *format, va_list ap) __attribute__((format(printf, 1, 0)));
void IOSleep(unsigned milliseconds);
void IODelay(unsigned microseconds);
void *IOMalloc(size_t size);
void *IOMallocZero(size_t size);
void IOFree(void *address, size_t size);
#ifdef __cplusplus
}
#endif

#endif
