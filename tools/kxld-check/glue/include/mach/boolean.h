/* RustKext kxld glue: Mach boolean_t (an int in the Darwin ABI). */
#ifndef RUSTKEXT_MACH_BOOLEAN_H
#define RUSTKEXT_MACH_BOOLEAN_H
typedef int boolean_t;
#ifndef TRUE
#define TRUE 1
#endif
#ifndef FALSE
#define FALSE 0
#endif
#endif
