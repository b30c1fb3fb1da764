/* RustKext kxld glue: the two attribute macros xnu's libkern/os/overflow.h needs from os/base.h. */
#ifndef RUSTKEXT_OS_BASE_H
#define RUSTKEXT_OS_BASE_H
#define __header_always_inline static __inline__ __attribute__((__always_inline__))
#define OS_WARN_RESULT __attribute__((__warn_unused_result__))
#endif
