/* xnu-sim look-alike of <mach/kmod.h>: the module start/stop signature. */
#ifndef XNU_SIM_MACH_KMOD_H
#define XNU_SIM_MACH_KMOD_H

#include <mach/mach_types.h>

typedef struct kmod_info {
    struct kmod_info *next;
    int32_t info_version;
    uint32_t id;
    char name[64];
    char version[64];
    int32_t reference_count;
    void *reference_list;
    uintptr_t address;
    uintptr_t size;
    uintptr_t hdr_size;
    kern_return_t (*start)(struct kmod_info *ki, void *data);
    kern_return_t (*stop)(struct kmod_info *ki, void *data);
} kmod_info_t;

typedef kern_return_t kmod_start_func_t(struct kmod_info *ki, void *data);
typedef kern_return_t kmod_stop_func_t(struct kmod_info *ki, void *data);

#endif
