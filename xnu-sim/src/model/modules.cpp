/*
 * The code modules linked into the simulator: the RustKext shim (shim-cpp/, module
 * "rustkext") and the test-only fallback kext (tests/fixtures/, module "xnusim.fallback").
 */
#include <cstring>

#include "modules.hpp"

extern "C" kern_return_t org_rustkext_module_start(kmod_info_t *, void *);
extern "C" kern_return_t org_rustkext_module_stop(kmod_info_t *, void *);
extern "C" kern_return_t xnusim_fallback_module_start(kmod_info_t *, void *);
extern "C" kern_return_t xnusim_fallback_module_stop(kmod_info_t *, void *);

static const xsim_module sModules[] = {
    {"rustkext", org_rustkext_module_start, org_rustkext_module_stop},
    {"xnusim.fallback", xnusim_fallback_module_start, xnusim_fallback_module_stop},
};

const xsim_module *xsim_find_module(const char *name)
{
    for (const xsim_module &module : sModules) {
        if (name && strcmp(module.name, name) == 0) {
            return &module;
        }
    }
    return nullptr;
}
