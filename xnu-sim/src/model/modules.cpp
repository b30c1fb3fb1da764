/*
 * The code modules linked into the simulator: the RustKext shim (shim-cpp/, module "rustkext")
 * and the test-only fallback kext (tests/fixtures/, module "xnusim.fallback"), and whether each
 * one's code is mapped. xnu maps a kext's code in OSKext::load and unmaps it at the end of
 * OSKext::unload (after the module stop routine and OSRuntimeFinalizeCPP); a call through a
 * pointer into it after that is a kernel panic, which the model reports as a violation.
 */
#include <atomic>
#include <cstring>

#include "modules.hpp"
#include "sim.hpp"

extern "C" kern_return_t org_rustkext_module_start(kmod_info_t *, void *);
extern "C" kern_return_t org_rustkext_module_stop(kmod_info_t *, void *);
extern "C" kern_return_t xnusim_fallback_module_start(kmod_info_t *, void *);
extern "C" kern_return_t xnusim_fallback_module_stop(kmod_info_t *, void *);

/* Defined by the linker for the sections build.rs names. */
extern "C" const char __start_xsim_text_rustkext[];
extern "C" const char __stop_xsim_text_rustkext[];
extern "C" const char __start_xsim_text_xnusim_fallback[];
extern "C" const char __stop_xsim_text_xnusim_fallback[];

namespace {

const unsigned kModules = 2;

xsim_module sModules[kModules] = {
    {"rustkext", org_rustkext_module_start, org_rustkext_module_stop, __start_xsim_text_rustkext,
     __stop_xsim_text_rustkext, 0},
    {"xnusim.fallback", xnusim_fallback_module_start, xnusim_fallback_module_stop,
     __start_xsim_text_xnusim_fallback, __stop_xsim_text_xnusim_fallback, 1},
};

struct ModuleState {
    std::atomic<bool> mapped{false};
    std::atomic<uint64_t> generation{0};
    std::atomic<int> inFlight{0};
};

ModuleState sState[kModules];

} // namespace

const xsim_module *xsim_find_module(const char *name)
{
    for (const xsim_module &module : sModules) {
        if (name && strcmp(module.name, name) == 0) {
            return &module;
        }
    }
    return nullptr;
}

const xsim_module *xsim_module_named(const char *name) { return xsim_find_module(name); }

const xsim_module *xsim_module_of_code(const void *address)
{
    const char *p = static_cast<const char *>(address);
    for (const xsim_module &module : sModules) {
        if (module.codeStart < module.codeEnd && p >= module.codeStart && p < module.codeEnd) {
            return &module;
        }
    }
    return nullptr;
}

bool xsim_module_mapped(const xsim_module *module)
{
    return module && sState[module->index].mapped.load();
}

uint64_t xsim_module_generation(const xsim_module *module)
{
    return module ? sState[module->index].generation.load() : 0;
}

const char *xsim_module_name(const xsim_module *module) { return module ? module->name : "kernel"; }

void xsim_module_map(const xsim_module *module)
{
    ModuleState &state = sState[module->index];
    if (state.mapped.load()) {
        xsim_unmodelled("two loaded kexts sharing one code module");
    }
    state.generation.fetch_add(1);
    state.mapped.store(true);
}

void xsim_module_unmap(const xsim_module *module)
{
    ModuleState &state = sState[module->index];
    state.mapped.store(false);
    int running = state.inFlight.load();
    if (running > 0) {
        xsim_report(XSIM_VIOLATION_UNMAPPED_CALL, module->name, "unmap", 0,
                    "the code of %s was unmapped while %d call(s) into it (kauth callback, "
                    "thread call) were still running",
                    module->name, running);
    }
    xsim_kauth_module_unmapped(module);
}

void xsim_module_enter(const xsim_module *module)
{
    if (module) {
        sState[module->index].inFlight.fetch_add(1);
    }
}

void xsim_module_exit(const xsim_module *module)
{
    if (module) {
        sState[module->index].inFlight.fetch_sub(1);
    }
}

bool xsim_module_check_call(const xsim_module *module, uint64_t seen, const char *what)
{
    if (!module) {
        return true;
    }
    ModuleState &state = sState[module->index];
    if (!state.mapped.load()) {
        xsim_report(XSIM_VIOLATION_UNMAPPED_CALL, module->name, what, 0,
                    "%s called into the code of %s after it was unmapped (kernel panic)", what,
                    module->name);
        return false;
    }
    /* 10.15 links each load at a new address (kxld); 11+ reloads a kext of a collection at
     * the address the collection maps it at, so an old pointer still reaches the same code. */
    if (xsim_catalina() && state.generation.load() != seen) {
        xsim_report(XSIM_VIOLATION_UNMAPPED_CALL, module->name, what, 0,
                    "%s called through a pointer into an earlier load of %s, since unmapped "
                    "(kernel panic)",
                    what, module->name);
        return false;
    }
    return true;
}

void xsim_modules_reset()
{
    for (ModuleState &state : sState) {
        if (state.mapped.load()) {
            xsim_violation("boot with a kext's code still mapped");
        }
    }
}
