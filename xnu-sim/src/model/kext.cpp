/*
 * Kexts (KERNEL-FACTS.md "Unload", "Matching on IOResources"): load runs the module start, then
 * matches the personalities on IOResources; kextunload terminates the kext's services with
 * kIOServiceRequired|kIOServiceSynchronous and stops at the first refusal (0xe00002c7), then
 * unloads only when no instance of the kext's classes lives (else 0xdc008018). Autounload runs
 * when the simulated clock passes 60 s of registry quiet and the kext has no instances.
 */
#include <libkern/c++/OSBoolean.h>
#include <libkern/c++/OSNumber.h>
#include <libkern/c++/OSString.h>

#include <chrono>
#include <cstring>
#include <map>

#include "modules.hpp"
#include "sim.hpp"

namespace {

const uint64_t kAutounloadQuietNs = 60ull * 1000 * 1000 * 1000;

struct Personality {
    std::string name;
    OSDictionary *properties;
};

struct Kext {
    std::string bundleID;
    const xsim_module *module;
    std::vector<Personality> personalities;
    bool loaded = false;
    bool personalitiesInCatalogue = false;
    kmod_info_t info = {};
};

std::mutex sKextLock; /* the kernel's kext lock: load, unload, autounload */
std::map<std::string, Kext> sKexts;

std::mutex sBusyLock;
std::condition_variable sBusyChanged;
unsigned sBusy = 0;
uint64_t sClockNs = 0;
uint64_t sQuietSinceNs = 0;

Kext *findKext(const char *bundleID)
{
    auto found = sKexts.find(bundleID ? bundleID : "");
    return found == sKexts.end() ? nullptr : &found->second;
}

unsigned instancesOf(const Kext &kext)
{
    unsigned n = 0;
    for (const OSMetaClass *meta = OSMetaClass::xsimFirst(); meta; meta = meta->xsimNext()) {
        if (strcmp(meta->xsimModule(), kext.module->name) == 0) {
            n += meta->getInstanceCount();
        }
    }
    return n;
}

struct BusyScope {
    BusyScope() { xsim_busy_begin(); }
    ~BusyScope() { xsim_busy_end(); }
};

const char *stringProperty(OSDictionary *dict, const char *key)
{
    OSString *value = OSDynamicCast(OSString, dict->getObject(key));
    return value ? value->getCStringNoCopy() : nullptr;
}

bool categoryTaken(const char *category)
{
    IOService *resources = xsim_registry::resources();
    OSIterator *clients = resources->getClientIterator();
    bool taken = false;
    while (OSObject *object = clients->getNextObject()) {
        IOService *client = OSDynamicCast(IOService, object);
        OSString *other = client ? OSDynamicCast(OSString, client->getProperty("IOMatchCategory")) : nullptr;
        const char *otherName = other ? other->getCStringNoCopy() : "IODefaultMatchCategory";
        if (!client->isInactive() && strcmp(otherName, category) == 0) {
            taken = true;
        }
    }
    clients->release();
    return taken;
}

/* Matching of one personality on IOResources, then probe-less start. */
void matchPersonality(const Kext &kext, const Personality &personality)
{
    OSDictionary *dict = personality.properties;
    const char *providerClass = stringProperty(dict, "IOProviderClass");
    if (!providerClass || strcmp(providerClass, "IOResources") != 0) {
        xsim_unmodelled("matching on a provider other than IOResources");
    }
    const char *resource = stringProperty(dict, "IOResourceMatch");
    if (resource && !xsim_registry::resources()->getProperty(resource)) {
        IOLog("xnu-sim: %s: resource %s not published; not matched\n", personality.name.c_str(),
              resource);
        return;
    }
    const char *category = stringProperty(dict, "IOMatchCategory");
    if (categoryTaken(category ? category : "IODefaultMatchCategory")) {
        IOLog("xnu-sim: %s: IOMatchCategory %s already has a driver on IOResources\n",
              personality.name.c_str(), category ? category : "IODefaultMatchCategory");
        return;
    }
    const char *className = stringProperty(dict, "IOClass");
    OSObject *object = OSMetaClass::allocClassWithName(className);
    IOService *service = OSDynamicCast(IOService, object);
    if (!service) {
        IOLog("xnu-sim: %s: IOClass %s is not an IOService class of a loaded kext\n",
              personality.name.c_str(), className ? className : "(none)");
        OSSafeReleaseNULL(object);
        return;
    }
    OSDictionary *table = OSDictionary::withDictionary(dict);
    OSString *bundle = OSString::withCString(kext.bundleID.c_str());
    table->setObject("CFBundleIdentifier", bundle);
    bundle->release();
    bool ok = service->init(table);
    table->release();
    IOService *provider = xsim_registry::resources();
    if (ok && service->attach(provider)) {
        if (!service->start(provider)) {
            IOLog("xnu-sim: %s::start failed\n", className);
            service->detach(provider);
        }
    }
    service->release();
}

uint32_t unloadModule(Kext &kext, const char *why)
{
    unsigned instances = instancesOf(kext);
    if (instances > 0) {
        IOLog("Can't unload kext %s; classes have instances (%u)\n", kext.bundleID.c_str(), instances);
        return (uint32_t)kOSKextReturnInUse;
    }
    BusyScope busy;
    if (kext.module->stop(&kext.info, nullptr) != KERN_SUCCESS) {
        IOLog("Kext %s stop failed\n", kext.bundleID.c_str());
        return (uint32_t)kOSKextReturnStartStopError;
    }
    kext.loaded = false;
    xsim_count(std::string("kext.unloaded:") + why);
    IOLog("Kext %s unloaded (%s)\n", kext.bundleID.c_str(), why);
    return 0;
}

void considerAutounload()
{
    std::lock_guard<std::mutex> guard(sKextLock);
    for (auto &entry : sKexts) {
        Kext &kext = entry.second;
        if (kext.loaded && instancesOf(kext) == 0) {
            unloadModule(kext, "autounload");
        }
    }
}

} // namespace

/* ---- registry activity and the simulated clock ---- */

void xsim_busy_begin()
{
    std::lock_guard<std::mutex> guard(sBusyLock);
    sBusy++;
}

void xsim_busy_end()
{
    std::lock_guard<std::mutex> guard(sBusyLock);
    if (sBusy == 0) {
        xsim_violation("registry activity ended twice");
    }
    if (--sBusy == 0) {
        sQuietSinceNs = sClockNs;
        sBusyChanged.notify_all();
    }
}

extern "C" bool xsim_wait_quiet(uint32_t timeoutMs)
{
    std::unique_lock<std::mutex> held(sBusyLock);
    return sBusyChanged.wait_for(held, std::chrono::milliseconds(timeoutMs),
                                 [] { return sBusy == 0; });
}

extern "C" void xsim_advance_clock_ns(uint64_t nanoseconds)
{
    xsim_wait_quiet(30000);
    bool due;
    {
        std::lock_guard<std::mutex> guard(sBusyLock);
        sClockNs += nanoseconds;
        due = sBusy == 0 && sClockNs - sQuietSinceNs >= kAutounloadQuietNs;
    }
    if (due) {
        considerAutounload();
    }
}

/* ---- the driving API ---- */

extern "C" int xsim_kext_define(const char *bundleID, const char *moduleName)
{
    const xsim_module *module = xsim_find_module(moduleName);
    if (!module || !bundleID) {
        return -1;
    }
    std::lock_guard<std::mutex> guard(sKextLock);
    Kext *existing = findKext(bundleID);
    if (existing && existing->loaded) {
        return -1;
    }
    if (existing) {
        for (Personality &p : existing->personalities) {
            p.properties->release();
        }
    }
    Kext &kext = sKexts[bundleID];
    kext = Kext();
    kext.bundleID = bundleID;
    kext.module = module;
    snprintf(kext.info.name, sizeof(kext.info.name), "%s", bundleID);
    kext.info.start = module->start;
    kext.info.stop = module->stop;
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
    std::lock_guard<std::mutex> guard(sKextLock);
    Kext *kext = findKext(bundleID);
    if (!kext) {
        xsim_violation("personality for undefined kext %s", bundleID);
    }
    kext->personalities.push_back({name, OSDictionary::withCapacity(8)});
}

extern "C" void xsim_kext_property_string(const char *bundleID, const char *key, const char *value)
{
    std::lock_guard<std::mutex> guard(sKextLock);
    OSString *object = OSString::withCString(value);
    lastPersonality(bundleID)->setObject(key, object);
    object->release();
}

extern "C" void xsim_kext_property_number(const char *bundleID, const char *key, uint64_t value,
                                          uint32_t bits)
{
    std::lock_guard<std::mutex> guard(sKextLock);
    OSNumber *object = OSNumber::withNumber(value, bits);
    lastPersonality(bundleID)->setObject(key, object);
    object->release();
}

extern "C" void xsim_kext_property_bool(const char *bundleID, const char *key, bool value)
{
    std::lock_guard<std::mutex> guard(sKextLock);
    lastPersonality(bundleID)->setObject(key, value ? kOSBooleanTrue : kOSBooleanFalse);
}

extern "C" int32_t xsim_kext_load(const char *bundleID)
{
    std::lock_guard<std::mutex> guard(sKextLock);
    Kext *kext = findKext(bundleID);
    if (!kext) {
        return kOSKextReturnNotFound;
    }
    if (kext->loaded) {
        return kOSReturnSuccess;
    }
    BusyScope busy;
    if (kext->module->start(&kext->info, nullptr) != KERN_SUCCESS) {
        return kOSKextReturnStartStopError;
    }
    kext->loaded = true;
    kext->personalitiesInCatalogue = true;
    xsim_count("kext.loaded");
    for (const Personality &personality : kext->personalities) {
        matchPersonality(*kext, personality);
    }
    return kOSReturnSuccess;
}

extern "C" int32_t xsim_kext_unload(const char *bundleID)
{
    std::lock_guard<std::mutex> guard(sKextLock);
    Kext *kext = findKext(bundleID);
    if (!kext || !kext->loaded) {
        return kOSKextReturnNotFound;
    }
    BusyScope busy;
    std::vector<IOService *> services = xsim_registry::copyServicesOfBundle(bundleID);
    bool refused = false;
    for (IOService *service : services) {
        if (!refused && !service->terminate(kIOServiceRequired | kIOServiceSynchronous)) {
            refused = true;
        }
        service->release();
    }
    if (refused) {
        IOLog("Kext %s: a service refused to terminate; kext not unloaded\n", bundleID);
        xsim_count("kext.unload_refused");
        return kIOReturnUnsupported;
    }
    kext->personalitiesInCatalogue = false;
    return (int32_t)unloadModule(*kext, "kextunload");
}

extern "C" bool xsim_kext_loaded(const char *bundleID)
{
    std::lock_guard<std::mutex> guard(sKextLock);
    Kext *kext = findKext(bundleID);
    return kext && kext->loaded;
}

extern "C" uint32_t xsim_kext_service_count(const char *bundleID)
{
    std::vector<IOService *> services = xsim_registry::copyServicesOfBundle(bundleID);
    for (IOService *service : services) {
        service->release();
    }
    return (uint32_t)services.size();
}

extern "C" int64_t xsim_instance_count(const char *className)
{
    const OSMetaClass *meta = OSMetaClass::getMetaClassWithName(className);
    return meta ? (int64_t)meta->getInstanceCount() : -1;
}

/* Drops the definitions (and personalities) of every kext that is not loaded. */
void xsim_kexts_forget_unloaded()
{
    std::lock_guard<std::mutex> guard(sKextLock);
    for (auto it = sKexts.begin(); it != sKexts.end();) {
        if (it->second.loaded) {
            ++it;
            continue;
        }
        for (Personality &p : it->second.personalities) {
            p.properties->release();
        }
        it = sKexts.erase(it);
    }
}

void xsim_kexts_reset()
{
    {
        std::lock_guard<std::mutex> guard(sKextLock);
        for (auto &entry : sKexts) {
            if (entry.second.loaded) {
                xsim_violation("boot with kext %s still loaded", entry.first.c_str());
            }
        }
    }
    xsim_kexts_forget_unloaded();
    std::lock_guard<std::mutex> busy(sBusyLock);
    sClockNs = 0;
    sQuietSinceNs = 0;
}

/* ---- boot and shutdown ---- */

extern "C" void xsim_boot(void)
{
    xsim_set_synchronous_terminate_bound_ms(15000);
    xsim_registry::reset();
    xsim_terminate_start_worker();
    xsim_thread_call_start();
    xsim_kexts_reset();
    xsim_tasks_reset();
    xsim_kauth_reset();
    xsim_log_reset();
    xsim_counters_reset();
}

/* Leaves the world as a fresh boot expects it: every task dead, every kext unloaded. */
extern "C" void xsim_shutdown(void)
{
    xsim_tasks_kill_all();
    xsim_kauth_unlisten_others();
    std::vector<std::string> loaded;
    {
        std::lock_guard<std::mutex> guard(sKextLock);
        for (auto &entry : sKexts) {
            if (entry.second.loaded) {
                loaded.push_back(entry.first);
            }
        }
    }
    for (const std::string &bundleID : loaded) {
        xsim_kext_unload(bundleID.c_str());
        xsim_wait_quiet(30000);
        xsim_advance_clock_ns(kAutounloadQuietNs);
    }
    xsim_wait_quiet(30000);
    xsim_kexts_forget_unloaded();
    xsim_kauth_forget_listeners();
}
