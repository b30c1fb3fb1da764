/* The kext code modules compiled into the simulator, by the XNU_SIM_MODULE name build.rs gives. */
#ifndef XNU_SIM_MODEL_MODULES_HPP
#define XNU_SIM_MODEL_MODULES_HPP

#include <mach/kmod.h>

/* build.rs compiles each kext's translation units with `#pragma clang section text` naming
 * xsim_text_<module>, so the linker's __start_/__stop_ symbols bound the kext's code: what a
 * function pointer (kauth callback, thread call) belongs to. */
struct xsim_module {
    const char *name;
    kmod_start_func_t *start;
    kmod_stop_func_t *stop;
    const char *codeStart;
    const char *codeEnd;
    unsigned index;
};

/* NULL if no such module is linked in. */
const xsim_module *xsim_find_module(const char *name);

#endif
