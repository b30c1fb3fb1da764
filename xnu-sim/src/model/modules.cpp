/*
 * The kext code modules linked into the simulator, and whether each one's code is mapped. Every
 * kext archive carries xnu-sim's registrar (kext/registrar.cpp), whose static constructor
 * registers its module here: the test-only fallback kext (module "xnusim.fallback") and every kext
 * built with the framework that the test binary links (module = its bundle id). xnu maps a kext's
 * code in OSKext::load and unmaps it at the end of OSKext::unload (after the module stop routine
 * and OSRuntimeFinalizeCPP); a call through a pointer into it after that is a kernel panic, which
 * the model reports as a violation.
 */
#include <atomic>
#include <cstring>

#include "modules.hpp"
#include "registrar.h"
#include "sim.hpp"

namespace {

const unsigned kMaxModules = 16;

/* Zero-initialized (constant initialization): registrars run from static constructors, in any
 * order relative to this file's. */
xsim_module sModules[kMaxModules];
unsigned sModuleCount;

struct ModuleState {
    std::atomic<bool> mapped{false};
    std::atomic<uint64_t> generation{0};
    std::atomic<int> inFlight{0};
};

ModuleState sState[kMaxModules];

} // namespace

extern "C" void xsim_module_register(const char *name, kmod_start_func_t *start, kmod_stop_func_t *stop,
                                     const char *codeStart, const char *codeEnd)
{
    if (xsim_find_module(name)) {
        xsim_violation("two kext modules named %s linked into one simulator", name);
    }
    if (sModuleCount == kMaxModules) {
        xsim_unmodelled("more than 16 kext modules linked into one simulator");
    }
    sModules[sModuleCount] = {name, start, stop, codeStart, codeEnd, sModuleCount};
    sModuleCount++;
}

const xsim_module *xsim_find_module(const char *name)
{
    for (unsigned i = 0; i < sModuleCount; i++) {
        if (name && strcmp(sModules[i].name, name) == 0) {
            return &sModules[i];
        }
    }
    return nullptr;
}

const xsim_module *xsim_module_named(const char *name) { return xsim_find_module(name); }

const xsim_module *xsim_module_of_code(const void *address)
{
    const char *p = static_cast<const char *>(address);
    for (unsigned i = 0; i < sModuleCount; i++) {
        const xsim_module &module = sModules[i];
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
