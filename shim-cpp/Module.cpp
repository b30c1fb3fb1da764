/*
 * Module start/stop, named by the kmod info that build.sh generates from Info.plist (_realmain,
 * _antimain). The service does all the work; these only mark the module's life in the log.
 */
#include <IOKit/IOLib.h>
#include <mach/kmod.h>

extern "C" kern_return_t org_rustkext_module_start(kmod_info_t *, void *);
extern "C" kern_return_t org_rustkext_module_stop(kmod_info_t *, void *);

extern "C" kern_return_t org_rustkext_module_start(kmod_info_t *, void *)
{
    IOLog("RustKext: module start\n");
    return KERN_SUCCESS;
}

extern "C" kern_return_t org_rustkext_module_stop(kmod_info_t *, void *)
{
    IOLog("RustKext: module stop\n");
    return KERN_SUCCESS;
}
