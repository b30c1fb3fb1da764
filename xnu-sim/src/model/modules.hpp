/* The kext code modules compiled into the simulator, by the XNU_SIM_MODULE name build.rs gives. */
#ifndef XNU_SIM_MODEL_MODULES_HPP
#define XNU_SIM_MODEL_MODULES_HPP

#include <mach/kmod.h>

struct xsim_module {
    const char *name;
    kmod_start_func_t *start;
    kmod_stop_func_t *stop;
};

/* NULL if no such module is linked in. */
const xsim_module *xsim_find_module(const char *name);

#endif
