/* xnu-sim look-alike of <kern/debug.h>: panic() aborts the test process with the message. */
#ifndef XNU_SIM_KERN_DEBUG_H
#define XNU_SIM_KERN_DEBUG_H

#ifdef __cplusplus
extern "C" {
#endif
void panic(const char *format, ...) __attribute__((noreturn, format(printf, 1, 2)));
#ifdef __cplusplus
}
#endif

#endif
