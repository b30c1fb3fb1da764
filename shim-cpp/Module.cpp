/*
 * Module start/stop, named by the kmod info that build.sh generates from Info.plist (_realmain,
 * _antimain). They own what must outlive every instance of the kext's classes:
 *
 * - the kernel mutex behind every Rust lock (rustkext.h, rk_shim_mutex_lock);
 * - the kext's resource. The personality matches IOResources only while a resource named after
 *   the bundle id is published (IOResourceMatch), and only this code publishes it. So the service
 *   starts when the kext is loaded on purpose, and never again by itself: not at a later rematch
 *   of IOResources (every publishResource re-registers IOResources, and the personality stays in
 *   the IOCatalogue after autounload), not at boot when installed. The service withdraws the
 *   resource when it is allowed to terminate (Service.cpp); module stop withdraws it too, for a
 *   service that never started. xnu: IOService::probeCandidates runs matchPassive
 *   (IOResourcesMatchPropertyTable) before isModuleLoaded, so an unmatched personality queues no
 *   load request (xnu-6153.141.1, xnu-7195.141.2, xnu-11417.101.15).
 *
 * kmod_info->name is the bundle id: the kernel copies CFBundleIdentifier into it before start
 * (OSKext::load).
 */
#include <IOKit/IOLib.h>
#include <IOKit/IOService.h>
#include <mach/kmod.h>

#include "rustkext.h"

extern "C" kern_return_t org_rustkext_module_start(kmod_info_t *, void *);
extern "C" kern_return_t org_rustkext_module_stop(kmod_info_t *, void *);

static IOLock *gDriverMutex;

extern "C" void rk_shim_mutex_lock(void) { IOLockLock(gDriverMutex); }
extern "C" void rk_shim_mutex_unlock(void) { IOLockUnlock(gDriverMutex); }

extern "C" kern_return_t org_rustkext_module_start(kmod_info_t *ki, void *)
{
    gDriverMutex = IOLockAlloc();
    if (!gDriverMutex) {
        IOLog("RustKext: module start failed: no memory for the driver mutex\n");
        return KERN_FAILURE;
    }
    IOService::publishResource(ki->name);
    IOLog("RustKext: module start\n");
    return KERN_SUCCESS;
}

/* Runs only when no instance of the kext's classes is left, so nothing can take the mutex. */
extern "C" kern_return_t org_rustkext_module_stop(kmod_info_t *ki, void *)
{
    IOService::getResourceService()->removeProperty(ki->name);
    IOLockFree(gDriverMutex);
    gDriverMutex = NULL;
    IOLog("RustKext: module stop\n");
    return KERN_SUCCESS;
}
