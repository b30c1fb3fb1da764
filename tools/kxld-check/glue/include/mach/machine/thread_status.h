/* RustKext kxld glue: mach-o/loader.h includes this; kxld uses no thread state type. */
#ifndef RUSTKEXT_MACH_MACHINE_THREAD_STATUS_H
#define RUSTKEXT_MACH_MACHINE_THREAD_STATUS_H
#endif
