/*
 * Kexts (docs/kernel-facts.md "Unload", libkern/c++/OSKext.cpp, iokit/Kernel/IOCatalogue.cpp).
 *
 * Load (OSKext::load): refuse a kext one of whose class names a loaded kext already has
 * (OSMetaClass::postModLoad: "Kext %s class %s is a duplicate", kOSMetaClassDuplicateClass; the
 * class namespace is global), map the code, run the module start routine (kmod_info name = the
 * bundle id, as OSKext overwrites it from the plist), enable autounload for a kext with an IOService
 * subclass, then sendPersonalitiesToCatalog, which starts matching on IOResources (catalogue.cpp).
 * Loading a loaded kext sends its personalities again and rematches.
 *
 * kextunload (OSKext::removeKext(kext, true) under the kext lock): IOCatalogue::
 * terminateDriversForModule -> terminateDrivers walks EVERY service carrying the bundle id,
 * inactive ones included, again while the registry changed under the walk; a bundle id starting
 * with "com.apple." is refused (kIOReturnUnsupported) before terminate() is called; each service
 * gets terminate(kIOServiceRequired | kIOServiceSynchronous) and the first refusal ends the walk
 * with kIOReturnUnsupported. Then the personalities leave the catalogue (_removeDrivers) and
 * OSKext::unload: kOSKextReturnInUse while any instance of the kext's classes lives, else module
 * stop (failure: kOSKextReturnStartStopError), then the code is unmapped. 10.15 forgets the kext
 * (sKextsByID); 11+ keeps a kext of a collection known ("Fileset kext %s unloaded.").
 *
 * Autounload: at every registry quiet edge OSKext::considerUnloads() cancels and re-enters a
 * delayed thread call 60 s out (only while the user-space kext daemon is active); when it runs,
 * _OSKextConsiderUnloads -> autounloadKext -> removeKext(kext) for each loaded kext with
 * autounload enabled and no instances: WITHOUT removing its personalities.
 *
 * Matching a personality of a kext that is not loaded (IOCatalogue::isModuleLoaded ->
 * OSKext::loadKextWithIdentifier): a kext the kernel knows (11+: one of the auxiliary
 * collection) is loaded in place; otherwise "Kext %s not found; queued load request to user
 * space." and the daemon (kextd on 10.15, kernelmanagerd on 11+) loads it, if it is installed,
 * on its own thread, which rematches.
 *
 * Installing puts a kext in /Library/Extensions (10.15) or the auxiliary kext collection (11+;
 * kmutil load does that too): at boot its personalities go into the catalogue and IOResources is
 * matched, which loads it if a personality matches.
 */
#include <libkern/c++/OSBoolean.h>
#include <libkern/c++/OSNumber.h>
#include <libkern/c++/OSString.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <deque>
#include <map>
#include <set>
#include <thread>

#include <kern/thread_call.h>

#include "modules.hpp"
#include "sim.hpp"

namespace {

const uint64_t kSecondNs = 1000ull * 1000 * 1000;
const uint32_t kConsiderUnloadDelay = 60; /* sConsiderUnloadDelay, seconds */

struct Personality {
    std::string name;
    OSDictionary *properties;
};

struct Kext {
    std::string bundleID;
    const xsim_module *module = nullptr;
    std::vector<Personality> personalities;
    bool loaded = false;
    bool installed = false;
    bool autounloadEnabled = false;
    uint64_t loadOrder = 0;
    kmod_info_t info = {};
};

std::atomic<int> sFlavor{XSIM_FLAVOR_BIG_SUR_AND_LATER};

/* sKextLock: load, unload, autounload, load requests. Recursive, as xnu's. */
std::recursive_mutex sKextLock;
std::map<std::string, Kext> sKexts;
uint64_t sNextLoadOrder = 1;

/* sKextInnerLock and the unload callout. */
std::mutex sInnerLock;
thread_call_t sUnloadCallout = nullptr;
bool sConsiderUnloadsPending = false;
std::atomic<bool> sDaemonActive{false};

/* sKernelRequests / sPostedKextLoadIdentifiers and the daemon. Never destroyed. */
std::mutex &sRequestsLock = *new std::mutex;
std::condition_variable &sRequestsChanged = *new std::condition_variable;
std::deque<std::string> sRequests;
std::set<std::string> sPosted;

const char *daemonName() { return xsim_catalina() ? "kextd" : "kernelmanagerd"; }

Kext *findKext(const char *bundleID)
{
    auto found = sKexts.find(bundleID ? bundleID : "");
    return found == sKexts.end() ? nullptr : &found->second;
}

/* In sKextsByID: 10.15 knows a kext while it is loaded; 11+ knows every kext of its collections. */
bool known(const Kext &kext) { return kext.loaded || (!xsim_catalina() && kext.installed); }

bool isClassOf(const OSMetaClass *meta, const Kext &kext)
{
    return strcmp(meta->xsimModule(), kext.module->name) == 0;
}

unsigned instancesOf(const Kext &kext)
{
    unsigned n = 0;
    for (const OSMetaClass *meta = OSMetaClass::xsimFirst(); meta; meta = meta->xsimNext()) {
        if (isClassOf(meta, kext)) {
            n += meta->getInstanceCount();
        }
    }
    return n;
}

const char *ioServiceSubclass(const Kext &kext)
{
    const OSMetaClass *ioService = OSMetaClass::getMetaClassWithName("IOService");
    for (const OSMetaClass *meta = OSMetaClass::xsimFirst(); meta; meta = meta->xsimNext()) {
        if (!isClassOf(meta, kext)) {
            continue;
        }
        for (const OSMetaClass *super = meta; super; super = super->getSuperClass()) {
            if (super == ioService) {
                return meta->getClassName();
            }
        }
    }
    return nullptr;
}

/* The class of the kext's module whose name a class of another loaded kext already has (and
 * that kext), or NULL. */
const char *duplicateClass(const Kext &kext, std::string *owner)
{
    for (const OSMetaClass *meta = OSMetaClass::xsimFirst(); meta; meta = meta->xsimNext()) {
        if (!isClassOf(meta, kext)) {
            continue;
        }
        for (const auto &entry : sKexts) {
            const Kext &other = entry.second;
            if (&other == &kext || !other.loaded) {
                continue;
            }
            for (const OSMetaClass *m = OSMetaClass::xsimFirst(); m; m = m->xsimNext()) {
                if (isClassOf(m, other) && strcmp(m->getClassName(), meta->getClassName()) == 0) {
                    *owner = other.bundleID;
                    return meta->getClassName();
                }
            }
        }
    }
    return nullptr;
}

void sendPersonalitiesToCatalog(const Kext &kext)
{
    for (const Personality &p : kext.personalities) {
        xsim_catalogue_add(kext.bundleID, p.name, p.properties);
    }
    /* IOCatalogue::addDrivers(..., doNubMatching) -> catalogNewDrivers -> startMatching. */
    xsim_start_matching(xsim_registry::resources());
}

/* OSKext::load, with the kext lock held. */
int32_t loadKext(Kext &kext, const char *why)
{
    if (kext.loaded) {
        sendPersonalitiesToCatalog(kext);
        return kOSReturnSuccess;
    }
    /* OSKext::start -> OSRuntimeInitializeCPP -> OSMetaClass::postModLoad: the kext's classes are
     * registered by name, and a name a loaded kext already registered refuses them all
     * (kOSMetaClassDuplicateClass): OSRuntimeFinalizeCPP, no module start, the load fails and the
     * code goes. Checked before mapping here: in the model the duplicate's code can be the very
     * module already mapped (the same kext under a second bundle id). */
    std::string owner;
    if (const char *duplicate = duplicateClass(kext, &owner)) {
        IOLog("OSMetaClass: Kext %s class %s is a duplicate;kext %s already has a class by that name.\n",
              kext.bundleID.c_str(), duplicate, owner.c_str());
        IOLog("Kext %s start failed (result 0x%x).\n", kext.bundleID.c_str(),
              (unsigned)kOSMetaClassDuplicateClass);
        xsim_count("kext.duplicate_class_refused");
        return kOSMetaClassDuplicateClass;
    }
    xsim_module_map(kext.module);
    snprintf(kext.info.name, sizeof(kext.info.name), "%s", kext.bundleID.c_str());
    snprintf(kext.info.version, sizeof(kext.info.version), "%s", "0.1.0");
    kext.info.start = kext.module->start;
    kext.info.stop = kext.module->stop;
    if (kext.module->start(&kext.info, nullptr) != KERN_SUCCESS) {
        IOLog("Kext %s start failed (result 0x%x).\n", kext.bundleID.c_str(),
              (unsigned)kOSKextReturnStartStopError);
        xsim_module_unmap(kext.module);
        return kOSKextReturnStartStopError;
    }
    kext.loaded = true;
    kext.loadOrder = sNextLoadOrder++;
    if (const char *subclass = ioServiceSubclass(kext)) {
        kext.autounloadEnabled = true;
        IOLog("Kext %s has IOService subclass %s; enabling autounload.\n", kext.bundleID.c_str(),
              subclass);
    }
    xsim_count("kext.loaded");
    xsim_count(std::string("kext.loaded:") + why);
    IOLog("Kext %s loaded (%s).\n", kext.bundleID.c_str(), why);
    sendPersonalitiesToCatalog(kext);
    return kOSReturnSuccess;
}

/* OSKext::unload, with the kext lock held. */
int32_t unloadKext(Kext &kext, const char *why)
{
    unsigned instances = instancesOf(kext);
    if (instances > 0) {
        IOLog("Can't unload kext %s; classes have instances (%u)\n", kext.bundleID.c_str(),
              instances);
        return kOSKextReturnInUse;
    }
    if (kext.module->stop(&kext.info, nullptr) != KERN_SUCCESS) {
        IOLog("Kext %s can't unload - module stop returned 0x%x.\n", kext.bundleID.c_str(),
              (unsigned)kOSKextReturnStartStopError);
        return kOSKextReturnStartStopError;
    }
    /* static destructors would run here (OSRuntimeFinalizeCPP), then the code goes */
    kext.loaded = false;
    kext.autounloadEnabled = false;
    xsim_module_unmap(kext.module);
    xsim_count(std::string("kext.unloaded:") + why);
    IOLog("Kext %s unloaded (%s)\n", kext.bundleID.c_str(), why);
    return kOSReturnSuccess;
}

/* IOCatalogue::terminateDrivers for one bundle: every service carrying it, inactive ones too;
 * walked again while the registry changed under the walk (IORegistryIterator::isValid). */
int32_t terminateDrivers(const Kext &kext)
{
    for (unsigned walk = 0; walk < 16; walk++) {
        uint64_t generation = xsim_registry::generation();
        std::vector<IOService *> services = xsim_registry::copyServicesOfBundle(kext.bundleID.c_str());
        int32_t ret = kIOReturnSuccess;
        for (IOService *service : services) {
            if (ret == kIOReturnSuccess) {
                std::string owner = xsim_kext_of_class(service->getMetaClass());
                if (owner.compare(0, strlen("com.apple."), "com.apple.") == 0) {
                    IOLog("disallowing kextunload terminate for bundleID %s\n", owner.c_str());
                    ret = kIOReturnUnsupported;
                } else if (!service->terminate(kIOServiceRequired | kIOServiceSynchronous)) {
                    ret = kIOReturnUnsupported;
                }
                xsim_count("kextunload.terminate_walked");
            }
            service->release();
        }
        if (ret != kIOReturnSuccess || services.empty() || xsim_registry::generation() == generation) {
            return ret;
        }
    }
    xsim_unmodelled("a registry that keeps changing under kextunload's walk");
}

/* OSKext::removeKext, with the kext lock held. */
int32_t removeKext(Kext &kext, bool terminateServicesAndRemovePersonalities, const char *why)
{
    if (kext.loaded) {
        if (terminateServicesAndRemovePersonalities) {
            /* terminateDriversForModule(id, unload = false) */
            int32_t result = terminateDrivers(kext);
            if (result == kIOReturnSuccess) {
                xsim_catalogue_remove(kext.bundleID);
            } else {
                IOLog("Can't remove kext %s; services failed to terminate - 0x%x.\n",
                      kext.bundleID.c_str(), (unsigned)result);
                xsim_count("kext.unload_refused");
                return result;
            }
        }
        int32_t result = unloadKext(kext, why);
        if (result != kOSReturnSuccess) {
            IOLog("Can't remove kext %s; kext failed to unload - 0x%x.\n", kext.bundleID.c_str(),
                  (unsigned)result);
            return result;
        }
    }
    if (terminateServicesAndRemovePersonalities) {
        /* removePersonalitiesFromCatalog, which also restarts matching */
        xsim_catalogue_remove(kext.bundleID);
        xsim_start_matching(xsim_registry::resources());
    }
    if (xsim_catalina() || !kext.installed) {
        IOLog("Removing kext %s.\n", kext.bundleID.c_str());
    } else {
        IOLog("Fileset kext %s unloaded.\n", kext.bundleID.c_str());
    }
    return kOSReturnSuccess;
}

/* _OSKextConsiderUnloads: the delayed thread call. */
void considerUnloadsCallout(thread_call_param_t, thread_call_param_t)
{
    std::lock_guard<std::recursive_mutex> guard(sKextLock);
    xsim_count("kext.unload_scans");
    bool didUnload;
    do {
        didUnload = false;
        std::vector<Kext *> loaded;
        for (auto &entry : sKexts) {
            if (entry.second.loaded) {
                loaded.push_back(&entry.second);
            }
        }
        /* backwards through sLoadedKexts */
        std::sort(loaded.begin(), loaded.end(),
                  [](const Kext *a, const Kext *b) { return a->loadOrder > b->loadOrder; });
        for (Kext *kext : loaded) {
            /* autounloadKext */
            if (!kext->autounloadEnabled || instancesOf(*kext) > 0) {
                continue;
            }
            didUnload |= removeKext(*kext, false, "autounload") == kOSReturnSuccess;
        }
    } while (didUnload);
    std::lock_guard<std::mutex> inner(sInnerLock);
    sConsiderUnloadsPending = false;
}

void daemonMain()
{
    std::unique_lock<std::mutex> held(sRequestsLock);
    for (;;) {
        sRequestsChanged.wait(held, [] { return !sRequests.empty(); });
        /* kKextRequestPredicateGetKernelRequests: the daemon takes them all; posted flushed. */
        std::deque<std::string> requests;
        requests.swap(sRequests);
        sPosted.clear();
        held.unlock();
        for (const std::string &bundleID : requests) {
            {
                std::lock_guard<std::recursive_mutex> guard(sKextLock);
                Kext *kext = findKext(bundleID.c_str());
                if (kext && kext->installed) {
                    loadKext(*kext, "load request");
                } else {
                    IOLog("xnu-sim %s: no installed kext %s; load request dropped\n", daemonName(),
                          bundleID.c_str());
                }
            }
            xsim_activity_end();
        }
        held.lock();
    }
}

void daemonStart()
{
    static std::once_flag started;
    std::call_once(started, [] { std::thread(daemonMain).detach(); });
}

void releasePersonalities(Kext &kext)
{
    for (Personality &p : kext.personalities) {
        p.properties->release();
    }
    kext.personalities.clear();
}

} // namespace

int xsim_flavor() { return sFlavor.load(); }

extern "C" int xsim_flavor_get(void) { return xsim_flavor(); }

std::string xsim_kext_of_class(const OSMetaClass *meta)
{
    std::lock_guard<std::recursive_mutex> guard(sKextLock);
    for (auto &entry : sKexts) {
        if (entry.second.loaded && isClassOf(meta, entry.second)) {
            return entry.first;
        }
    }
    return "";
}

void xsim_kext_consider_unloads(bool rescheduleOnly)
{
    std::lock_guard<std::mutex> inner(sInnerLock);
    if (!sUnloadCallout) {
        sUnloadCallout = thread_call_allocate(&considerUnloadsCallout, nullptr);
    }
    xsim_count("kext.consider_unloads");
    if (rescheduleOnly && !sConsiderUnloadsPending) {
        return;
    }
    thread_call_cancel(sUnloadCallout);
    if (sDaemonActive.load()) {
        uint64_t when;
        clock_interval_to_deadline(kConsiderUnloadDelay, (uint32_t)kSecondNs, &when);
        sConsiderUnloadsPending = true;
        thread_call_enter_delayed(sUnloadCallout, when);
    }
}

bool xsim_kext_module_loaded_for_match(const char *bundleID)
{
    if (!bundleID) {
        return true; /* an in-kernel driver */
    }
    {
        std::lock_guard<std::recursive_mutex> guard(sKextLock);
        Kext *kext = findKext(bundleID);
        if (kext && known(*kext)) {
            if (!kext->loaded) {
                /* loadKextWithIdentifier -> theKext->load(): module present or never will be */
                loadKext(*kext, "match");
            }
            return true;
        }
    }
    std::lock_guard<std::mutex> guard(sRequestsLock);
    if (!sPosted.count(bundleID)) {
        sPosted.insert(bundleID);
        sRequests.push_back(bundleID);
        xsim_activity_begin();
        xsim_count("kext.load_requests");
        IOLog("Kext %s not found; queued load request to user space.\n", bundleID);
        sRequestsChanged.notify_all();
    }
    return false;
}

/* ---- the driving API ---- */

extern "C" int xsim_kext_define(const char *bundleID, const char *moduleName)
{
    const xsim_module *module = xsim_find_module(moduleName);
    if (!module || !bundleID) {
        return -1;
    }
    std::lock_guard<std::recursive_mutex> guard(sKextLock);
    Kext *existing = findKext(bundleID);
    if (existing && existing->loaded) {
        return -1;
    }
    bool installed = existing && existing->installed;
    if (existing) {
        releasePersonalities(*existing);
    }
    Kext &kext = sKexts[bundleID];
    kext = Kext();
    kext.bundleID = bundleID;
    kext.module = module;
    kext.installed = installed;
    return 0;
}

static OSDictionary *lastPersonality(const char *bundleID)
{
    Kext *kext = findKext(bundleID);
    if (!kext || kext->personalities.empty()) {
        xsim_violation("personality property for an undefined kext or personality");
    }
    return kext->personalities.back().properties;
}

extern "C" void xsim_kext_personality(const char *bundleID, const char *name)
{
    std::lock_guard<std::recursive_mutex> guard(sKextLock);
    Kext *kext = findKext(bundleID);
    if (!kext) {
        xsim_violation("personality for undefined kext %s", bundleID);
    }
    kext->personalities.push_back({name, OSDictionary::withCapacity(8)});
}

extern "C" void xsim_kext_property_string(const char *bundleID, const char *key, const char *value)
{
    std::lock_guard<std::recursive_mutex> guard(sKextLock);
    OSString *object = OSString::withCString(value);
    lastPersonality(bundleID)->setObject(key, object);
    object->release();
}

extern "C" void xsim_kext_property_number(const char *bundleID, const char *key, uint64_t value,
                                          uint32_t bits)
{
    std::lock_guard<std::recursive_mutex> guard(sKextLock);
    OSNumber *object = OSNumber::withNumber(value, bits);
    lastPersonality(bundleID)->setObject(key, object);
    object->release();
}

extern "C" void xsim_kext_property_bool(const char *bundleID, const char *key, bool value)
{
    std::lock_guard<std::recursive_mutex> guard(sKextLock);
    lastPersonality(bundleID)->setObject(key, value ? kOSBooleanTrue : kOSBooleanFalse);
}

extern "C" int32_t xsim_kext_install(const char *bundleID)
{
    std::lock_guard<std::recursive_mutex> guard(sKextLock);
    Kext *kext = findKext(bundleID);
    if (!kext) {
        return kOSKextReturnNotFound;
    }
    kext->installed = true;
    return kOSReturnSuccess;
}

/* kextutil (10.15) / kmutil load (11+: which puts the kext in the auxiliary collection). */
extern "C" int32_t xsim_kext_load(const char *bundleID)
{
    std::lock_guard<std::recursive_mutex> guard(sKextLock);
    Kext *kext = findKext(bundleID);
    if (!kext) {
        return kOSKextReturnNotFound;
    }
    if (!xsim_catalina()) {
        kext->installed = true;
    }
    return loadKext(*kext, "kextload");
}

extern "C" int32_t xsim_kext_unload(const char *bundleID)
{
    std::lock_guard<std::recursive_mutex> guard(sKextLock);
    Kext *kext = findKext(bundleID);
    if (!kext || !known(*kext)) {
        IOLog("Can't remove kext %s - not found.\n", bundleID ? bundleID : "(null)");
        return kOSKextReturnNotFound;
    }
    return removeKext(*kext, true, "kextunload");
}

extern "C" bool xsim_kext_loaded(const char *bundleID)
{
    std::lock_guard<std::recursive_mutex> guard(sKextLock);
    Kext *kext = findKext(bundleID);
    return kext && kext->loaded;
}

extern "C" uint32_t xsim_kext_service_count(const char *bundleID)
{
    uint32_t active = 0;
    for (IOService *service : xsim_registry::copyServicesOfBundle(bundleID)) {
        active += service->isInactive() ? 0 : 1;
        service->release();
    }
    return active;
}

extern "C" int64_t xsim_instance_count(const char *className)
{
    const OSMetaClass *meta = OSMetaClass::getMetaClassWithName(className);
    return meta ? (int64_t)meta->getInstanceCount() : -1;
}

extern "C" void xsim_resource_publish(const char *key) { IOService::publishResource(key); }

extern "C" void xsim_resource_remove(const char *key)
{
    IOService::getResourceService()->removeProperty(key);
}

extern "C" bool xsim_resource_published(const char *key)
{
    return IOService::getResourceService()->getProperty(key) != nullptr;
}

/* ---- boot, shutdown, reboot ---- */

/* A reboot keeps the violations not taken yet: the test still has to see them. */
static void bootWorld(int flavor, bool reboot)
{
    sFlavor.store(flavor);
    xsim_set_shutting_down(false);
    xsim_clock_boot();
    xsim_timers_reset();
    xsim_modules_reset();
    xsim_catalogue_reset();
    xsim_registry::reset();
    xsim_terminate_reset();
    xsim_tasks_reset();
    xsim_kauth_reset();
    xsim_userclient_hooks_reset();
    xsim_cpu_reset();
    xsim_log_reset();
    xsim_counters_reset();
    if (!reboot) {
        xsim_violations_reset();
    }
    xsim_gate_reset();
    {
        std::lock_guard<std::mutex> inner(sInnerLock);
        sConsiderUnloadsPending = false;
    }
    xsim_timer_thread_start();
    xsim_terminate_start_worker();
    xsim_thread_call_start();
    xsim_config_thread_start();
    daemonStart();
    {
        std::lock_guard<std::recursive_mutex> guard(sKextLock);
        for (auto &entry : sKexts) {
            if (entry.second.loaded) {
                xsim_violation("boot with kext %s still loaded", entry.first.c_str());
            }
            /* the installed kexts' personalities (kextd / the auxiliary collection) */
            if (entry.second.installed) {
                for (const Personality &p : entry.second.personalities) {
                    xsim_catalogue_add(entry.first, p.name, p.properties);
                }
            }
        }
    }
    /* IOResources registered: matching of everything in the catalogue. */
    xsim_start_matching(xsim_registry::resources());
    /* iokitDaemonLaunched: the daemon is up, the boot's hold on the root goes. */
    sDaemonActive.store(true);
    xsim_registry_boot_done();
    xsim_desktop_default();
    xsim_wait_quiet(30000);
}

extern "C" void xsim_boot(int flavor)
{
    {
        std::lock_guard<std::recursive_mutex> guard(sKextLock);
        for (auto &entry : sKexts) {
            releasePersonalities(entry.second);
        }
        sKexts.clear();
    }
    bootWorld(flavor, false);
}

/* Leaves the world as a fresh boot expects it: every task dead, every kext unloaded. */
extern "C" void xsim_shutdown(bool reboot)
{
    xsim_set_shutting_down(true);
    xsim_desktop_off();
    xsim_cpu_reset();
    xsim_hook_hold_terminate_worker(false);
    xsim_hook_release_open();
    xsim_hook_release_method();
    xsim_tasks_kill_all();
    xsim_kauth_unlisten_others();
    xsim_wait_quiet(30000);
    for (int round = 0; round < 4; round++) {
        std::vector<std::string> loaded;
        {
            std::lock_guard<std::recursive_mutex> guard(sKextLock);
            for (auto &entry : sKexts) {
                if (entry.second.loaded) {
                    loaded.push_back(entry.first);
                }
            }
        }
        if (loaded.empty()) {
            break;
        }
        for (const std::string &bundleID : loaded) {
            if (xsim_kext_unload(bundleID.c_str()) == kIOReturnUnsupported) {
                /* refused (a com.apple. bundle id, or a service that says no): the model
                 * terminates the services itself, as a shutdown would take them down */
                for (IOService *service : xsim_registry::copyServicesOfBundle(bundleID.c_str())) {
                    service->IOService::terminate(kIOServiceRequired | kIOServiceSynchronous);
                    service->release();
                }
                std::lock_guard<std::recursive_mutex> guard(sKextLock);
                if (Kext *kext = findKext(bundleID.c_str())) {
                    xsim_catalogue_remove(bundleID);
                    if (kext->loaded) {
                        unloadKext(*kext, "shutdown");
                    }
                }
            }
            xsim_wait_quiet(30000);
        }
        /* refused or in use: the kernel autounloads once nothing is left */
        xsim_advance_clock_ns((kConsiderUnloadDelay + 1) * kSecondNs);
    }
    xsim_wait_quiet(30000);
    {
        std::lock_guard<std::mutex> inner(sInnerLock);
        if (sUnloadCallout) {
            thread_call_cancel(sUnloadCallout);
        }
        sConsiderUnloadsPending = false;
    }
    sDaemonActive.store(false);
    xsim_kauth_forget_listeners();
    if (reboot) {
        bootWorld(xsim_flavor(), true);
    } else {
        std::lock_guard<std::recursive_mutex> guard(sKextLock);
        for (auto &entry : sKexts) {
            if (!entry.second.loaded) {
                releasePersonalities(entry.second);
            }
        }
        for (auto it = sKexts.begin(); it != sKexts.end();) {
            it = it->second.loaded ? std::next(it) : sKexts.erase(it);
        }
        xsim_catalogue_reset();
        xsim_set_shutting_down(false);
    }
}
