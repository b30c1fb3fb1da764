/* The model's side of registrar.cpp (implemented in src/model/modules.cpp). */
#ifndef XNU_SIM_KEXT_REGISTRAR_H
#define XNU_SIM_KEXT_REGISTRAR_H

#include <mach/kmod.h>

#ifdef __cplusplus
extern "C" {
#endif
/* A kext code module linked into the simulator: its name (XNU_SIM_MODULE of its translation
 * units, which tags its classes), module start/stop routines and code range. Called from static
 * constructors: the table is constant-initialized. Aborts on a name registered twice. */
void xsim_module_register(const char *name, kmod_start_func_t *start, kmod_stop_func_t *stop,
                          const char *codeStart, const char *codeEnd);
#ifdef __cplusplus
}
#endif

#endif
