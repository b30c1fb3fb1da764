/*
 * RustKext kxld glue: user-space kxld includes this for PAGE_SIZE/round_page and, through
 * Darwin's mach_types.h, kmod_info_t (kxld_object.c).
 */
#ifndef RUSTKEXT_MACH_MACH_INIT_H
#define RUSTKEXT_MACH_MACH_INIT_H
#include <mach/vm_param.h>
#include <mach/kmod.h>
#endif
