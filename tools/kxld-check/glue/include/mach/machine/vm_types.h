/* RustKext kxld glue: the two integer types xnu's osfmk/mach/machine.h needs (LP64 Darwin). */
#ifndef RUSTKEXT_MACH_MACHINE_VM_TYPES_H
#define RUSTKEXT_MACH_MACHINE_VM_TYPES_H
typedef int integer_t;
typedef unsigned int natural_t;
#endif
