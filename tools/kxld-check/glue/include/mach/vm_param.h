/* RustKext kxld glue: the x86_64 macOS page size (4 KiB) and page rounding kxld uses. */
#ifndef RUSTKEXT_MACH_VM_PARAM_H
#define RUSTKEXT_MACH_VM_PARAM_H
#include <mach/vm_types.h>
#define PAGE_SIZE 4096UL
#define PAGE_MASK (PAGE_SIZE - 1)
#define round_page(x) (((vm_offset_t)(x) + PAGE_MASK) & ~((vm_offset_t)PAGE_MASK))
#define trunc_page(x) ((vm_offset_t)(x) & ~((vm_offset_t)PAGE_MASK))
#endif
