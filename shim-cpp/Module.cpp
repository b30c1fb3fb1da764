/*
 * Module start/stop (RK_MODULE_START/RK_MODULE_STOP), named by the kmod info that rustkext-build
 * generates from the kext's rustkext.toml (_realmain, _antimain). They own what must outlive every
 * instance of the kext's classes:
 *
 * - the kernel mutex behind every Rust lock, which Rust allocates and frees (rk_module_start,
 *   rk_module_stop);
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

extern "C" kern_return_t RK_MODULE_START(kmod_info_t *, void *);
extern "C" kern_return_t RK_MODULE_STOP(kmod_info_t *, void *);

extern "C" kern_return_t RK_MODULE_START(kmod_info_t *ki, void *)
{
    if (rk_module_start() != KERN_SUCCESS) {
        IOLog(RK_LOG_PREFIX "module start failed: no memory for the driver mutex\n");
        return KERN_FAILURE;
    }
    IOService::publishResource(ki->name);
    IOLog(RK_LOG_PREFIX "module start\n");
    return KERN_SUCCESS;
}

/* Runs only when no instance of the kext's classes is left, so nothing can take the mutex. */
extern "C" kern_return_t RK_MODULE_STOP(kmod_info_t *ki, void *)
{
    IOService::getResourceService()->removeProperty(ki->name);
    rk_module_stop();
    IOLog(RK_LOG_PREFIX "module stop\n");
    return KERN_SUCCESS;
}
