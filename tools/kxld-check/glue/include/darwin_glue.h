/*
 * RustKext kxld glue (our own code, not from xnu): force-included (-include) into every
 * libkern/kxld C file when kxld is built on Linux as a user-space library (KERNEL unset), the
 * way xnu's libkern/kxld/Makefile builds libkxld.dylib on macOS. It supplies the BSD/Darwin
 * bits glibc lacks; glue.c implements the functions.
 */
#ifndef RUSTKEXT_DARWIN_GLUE_H
#define RUSTKEXT_DARWIN_GLUE_H

#include <stddef.h>
#include <sys/types.h>

/* BSD attribute spelling used throughout kxld (e.g. `flags __unused`). */
#ifndef __unused
#define __unused __attribute__((unused))
/* BSD's sys/queue.h has STAILQ_FOREACH_SAFE (kxld_array.c uses it); glibc's does not. */
#include <sys/queue.h>
#ifndef STAILQ_FOREACH_SAFE
#define STAILQ_FOREACH_SAFE(var, head, field, tvar)                 \
	for ((var) = STAILQ_FIRST((head));                          \
	    (var) && ((tvar) = STAILQ_NEXT((var), field), 1);       \
	    (var) = (tvar))
#endif

#endif

/* BSD string functions (glibc has them only from 2.38). */
size_t strlcpy(char *dst, const char *src, size_t size);
size_t strlcat(char *dst, const char *src, size_t size);

/* BSD's sys/queue.h has STAILQ_FOREACH_SAFE (kxld_array.c uses it); glibc's does not. */
#include <sys/queue.h>
#ifndef STAILQ_FOREACH_SAFE
#define STAILQ_FOREACH_SAFE(var, head, field, tvar)                 \
	for ((var) = STAILQ_FIRST((head));                          \
	    (var) && ((tvar) = STAILQ_NEXT((var), field), 1);       \
	    (var) = (tvar))
#endif

#endif
