/* RustKext kxld glue: Mach VM address/size types for an LP64 host (Darwin: uintptr_t). */
#ifndef RUSTKEXT_MACH_VM_TYPES_H
#define RUSTKEXT_MACH_VM_TYPES_H
#include <stdint.h>
#include <mach/machine/vm_types.h>
typedef uintptr_t vm_offset_t;
typedef uintptr_t vm_size_t;
typedef uintptr_t vm_address_t;
typedef uint64_t mach_vm_address_t;
typedef uint64_t mach_vm_size_t;
#endif
