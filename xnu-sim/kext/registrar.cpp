/*
 * Compiled into every kext archive the simulator runs (the fixture kext here, every framework kext
 * through rustkext-build), with -DXNU_SIM_MODULE="<module>", -DXSIM_MODULE_START=<module start
 * routine>, -DXSIM_MODULE_STOP=<module stop routine> and -DXSIM_SECTION=<the section holding the
 * kext's code>: a static constructor that tells the model the module exists, where its code is,
 * and how it starts and stops (what the kmod info of a real kext says). Several kexts can thus be
 * linked into one test binary, each with its own module.
 */
#include <mach/kmod.h>

#include "registrar.h"

extern "C" kern_return_t XSIM_MODULE_START(kmod_info_t *, void *);
extern "C" kern_return_t XSIM_MODULE_STOP(kmod_info_t *, void *);

#define XSIM_PASTE2(a, b) a##b
#define XSIM_PASTE(a, b) XSIM_PASTE2(a, b)

/* Defined by the linker for the kext's code section (build: the forced `#pragma clang section`). */
extern "C" const char XSIM_PASTE(__start_, XSIM_SECTION)[];
extern "C" const char XSIM_PASTE(__stop_, XSIM_SECTION)[];

namespace {
struct Registrar {
    Registrar()
    {
        xsim_module_register(XNU_SIM_MODULE, XSIM_MODULE_START, XSIM_MODULE_STOP,
                             XSIM_PASTE(__start_, XSIM_SECTION), XSIM_PASTE(__stop_, XSIM_SECTION));
    }
};
Registrar sRegistrar;
} // namespace
