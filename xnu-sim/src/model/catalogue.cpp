/*
 * The IOCatalogue and matching (docs/kernel-facts.md "Matching on IOResources").
 *
 * Personalities enter the catalogue when their kext loads, right after the module start routine
 * (OSKext::load -> start() -> sendPersonalitiesToCatalog -> IOCatalogue::addDrivers, no
 * duplicates), stay there through autounload (OSKext::autounloadKext calls removeKext(aKext)
 * without removing personalities), and leave only with kextunload, once its terminate walk
 * succeeded (IOCatalogue::terminateDriversForModule -> _removeDrivers).
 *
 * IOService::startMatching marks the nub kIOServiceNeedConfigState, makes it busy and queues a
 * job for the matching (config) thread, a fixed-priority kernel thread; doServiceMatch runs
 * probeCandidates over the catalogue's personalities for the nub, again while NeedConfig was set
 * meanwhile. IOResources is re-registered by every IOService::publishResource, so every
 * personality on IOResources is matched again and again. probeCandidates, per personality:
 *  1. the IOMatchCategory (default IODefaultMatchCategory) is taken by an ACTIVE client -> skip
 *     (copyClientWithCategory skips inactive clients);
 *  2. matchPassive: IOResourceMatch names a resource that must be a property of IOResources
 *     (IOResourcesMatchPropertyTable);
 *  3. IOCatalogue::isModuleLoaded: a kext that is not loaded is loaded (11+: in place from its
 *     collection) or a load request is queued to user space (10.15), and this pass ends
 *     ("reprobing will occur after reloc has been loaded");
 * then per category the first candidate is allocated, init'ed with a copy of the personality,
 * attached and started (startCandidate; detached again if start fails).
 */
#include <libkern/c++/OSString.h>

#include <cstring>
#include <deque>
#include <thread>

#include "sim.hpp"

namespace {

struct Entry {
    std::string bundleID;
    std::string name;
    OSDictionary *dict; /* retained */
};

std::mutex sCatalogueLock;
std::vector<Entry> sCatalogue;

/* Never destroyed: the config thread waits on them until the process exits. */
std::mutex &sConfigLock = *new std::mutex;
std::condition_variable &sConfigChanged = *new std::condition_variable;
std::deque<IOService *> sConfigQueue; /* retained */

const char *stringProperty(OSDictionary *dict, const char *key)
{
    OSString *value = OSDynamicCast(OSString, dict->getObject(key));
    return value ? value->getCStringNoCopy() : nullptr;
}

/* The keys matchPassive / IOResourcesMatchPropertyTable would look at that the model does not. */
const char *const kUnmodelledMatchKeys[] = {
    "IONameMatch",      "IOPropertyMatch",   "IOPathMatch",          "IOLocationMatch",
    "IOResourceMatched", "IORegistryEntryID", "IOPropertyExistsMatch", "IOParentMatch",
};

/* copyClientWithCategory: an active client with that category (inactive ones do not count,
 * kIOServiceRematchOnDetach is not modelled). */
bool categoryTaken(IOService *nub, const char *category)
{
    OSIterator *clients = nub->getClientIterator();
    bool taken = false;
    while (OSObject *object = clients->getNextObject()) {
        IOService *client = OSDynamicCast(IOService, object);
        if (!client || client->isInactive()) {
            continue;
        }
        OSString *cat = OSDynamicCast(OSString, client->getProperty("IOMatchCategory"));
        const char *name = cat ? cat->getCStringNoCopy() : "IODefaultMatchCategory";
        if (strcmp(name, category) == 0) {
            taken = true;
        }
    }
    clients->release();
    return taken;
}

/* IOResourcesMatchPropertyTable for an OSString IOResourceMatch. */
bool resourcesMatch(IOService *resources, OSDictionary *dict, const std::string &name)
{
    OSObject *prop = dict->getObject("IOResourceMatch");
    if (!prop) {
        return true;
    }
    OSString *str = OSDynamicCast(OSString, prop);
    if (!str) {
        xsim_unmodelled("IOResourceMatch that is not a string");
    }
    bool ok = resources->getProperty(str->getCStringNoCopy()) != nullptr;
    if (!ok) {
        xsim_count("matching.resource_absent:" + name);
    }
    return ok;
}

void startCandidate(IOService *nub, const Entry &entry)
{
    const char *className = stringProperty(entry.dict, "IOClass");
    OSObject *object = className ? OSMetaClass::allocClassWithName(className) : nullptr;
    IOService *inst = OSDynamicCast(IOService, object);
    if (!inst) {
        IOLog("Couldn't alloc class \"%s\"\n", className ? className : "(none)");
        OSSafeReleaseNULL(object);
        return;
    }
    OSDictionary *props = OSDictionary::withDictionary(entry.dict);
    if (!inst->init(props)) {
        props->release();
        inst->release();
        return;
    }
    props->release();
    const char *category = stringProperty(entry.dict, "IOMatchCategory");
    inst->setProperty("IOMatchCategory", category ? category : "IODefaultMatchCategory");
    if (inst->attach(nub)) {
        xsim_count("matching.started:" + std::string(className));
        if (!inst->start(nub)) {
            IOLog("xnu-sim: %s::start(%s) failed\n", className, nub->getName());
            inst->detach(nub);
        }
    }
    inst->release();
}

void probeCandidates(IOService *nub)
{
    std::vector<Entry> matches;
    {
        std::lock_guard<std::mutex> guard(sCatalogueLock);
        for (const Entry &entry : sCatalogue) {
            entry.dict->retain();
            matches.push_back(entry);
        }
    }
    xsim_count("matching.passes");
    std::vector<const Entry *> candidates;
    std::vector<std::string> categories;
    bool needReloc = false;
    for (const Entry &entry : matches) {
        if (needReloc) {
            break;
        }
        const char *category = stringProperty(entry.dict, "IOMatchCategory");
        std::string cat = category ? category : "IODefaultMatchCategory";
        if (categoryTaken(nub, cat.c_str())) {
            continue;
        }
        if (!resourcesMatch(nub, entry.dict, entry.name)) {
            continue;
        }
        needReloc = !xsim_kext_module_loaded_for_match(stringProperty(entry.dict, "CFBundleIdentifier"));
        if (needReloc) {
            break;
        }
        candidates.push_back(&entry);
        categories.push_back(cat);
    }
    /* start the best (the first, in the model) of each category */
    std::vector<std::string> started;
    for (size_t i = 0; i < candidates.size() && !needReloc; i++) {
        bool done = false;
        for (const std::string &c : started) {
            done |= c == categories[i];
        }
        if (!done) {
            started.push_back(categories[i]);
            startCandidate(nub, *candidates[i]);
        }
    }
    for (Entry &entry : matches) {
        entry.dict->release();
    }
}

/* IOService::doServiceMatch, then the _adjustBusy(-1) that ends the job. */
void doServiceMatch(IOService *nub)
{
    for (;;) {
        {
            std::lock_guard<std::recursive_mutex> guard(xsim_registry::lock());
            xsim_service &state = xsim_registry::state(nub);
            if (state.inactive) {
                break;
            }
            state.needConfig = false;
            state.configRunning = true;
        }
        if (nub == xsim_registry::resources()) {
            probeCandidates(nub);
        }
        std::lock_guard<std::recursive_mutex> guard(xsim_registry::lock());
        if (!xsim_registry::state(nub).needConfig) {
            break;
        }
    }
    {
        std::lock_guard<std::recursive_mutex> guard(xsim_registry::lock());
        xsim_registry::state(nub).configRunning = false;
    }
    xsim_registry::adjustBusy(nub, -1);
}

void configMain()
{
    std::unique_lock<std::mutex> held(sConfigLock);
    for (;;) {
        sConfigChanged.wait(held, [] { return !sConfigQueue.empty(); });
        IOService *nub = sConfigQueue.front();
        sConfigQueue.pop_front();
        held.unlock();
        {
            /* _IOConfigThread is a kernel thread: fixed priority. */
            xsim_cpu_job job("matching thread", 81);
            doServiceMatch(nub);
        }
        nub->release();
        /* quiet only once the job's reference on the nub is gone (xnu's _IOServiceJob releases
         * it after doServiceMatch's _adjustBusy(-1): a window a test must not fall into) */
        xsim_activity_end();
        held.lock();
    }
}

} // namespace

void xsim_start_matching(IOService *service)
{
    bool needConfig;
    {
        std::lock_guard<std::recursive_mutex> guard(xsim_registry::lock());
        xsim_service &state = xsim_registry::state(service);
        needConfig = !(state.needConfig || state.configRunning) && !state.inactive;
        state.needConfig = true;
    }
    if (!needConfig) {
        return;
    }
    xsim_registry::adjustBusy(service, 1);
    service->retain();
    xsim_activity_begin();
    std::lock_guard<std::mutex> guard(sConfigLock);
    sConfigQueue.push_back(service);
    sConfigChanged.notify_all();
}

void xsim_config_thread_start()
{
    static std::once_flag started;
    std::call_once(started, [] { std::thread(configMain).detach(); });
}

void xsim_catalogue_add(const std::string &bundleID, const std::string &name, OSDictionary *dict)
{
    const char *provider = stringProperty(dict, "IOProviderClass");
    if (!provider || strcmp(provider, "IOResources") != 0) {
        xsim_unmodelled("matching on a provider other than IOResources");
    }
    for (const char *key : kUnmodelledMatchKeys) {
        if (dict->getObject(key)) {
            xsim_unmodelled(key);
        }
    }
    std::lock_guard<std::mutex> guard(sCatalogueLock);
    for (const Entry &entry : sCatalogue) {
        if (entry.bundleID == bundleID && entry.name == name) {
            return; /* "Be sure not to double up on personalities." */
        }
    }
    OSDictionary *copy = OSDictionary::withDictionary(dict);
    if (!copy->getObject("CFBundleIdentifier")) {
        OSString *bundle = OSString::withCString(bundleID.c_str());
        copy->setObject("CFBundleIdentifier", bundle);
        bundle->release();
    }
    sCatalogue.push_back({bundleID, name, copy});
}

unsigned xsim_catalogue_remove(const std::string &bundleID)
{
    std::lock_guard<std::mutex> guard(sCatalogueLock);
    unsigned removed = 0;
    for (auto it = sCatalogue.begin(); it != sCatalogue.end();) {
        if (it->bundleID == bundleID) {
            it->dict->release();
            it = sCatalogue.erase(it);
            removed++;
        } else {
            ++it;
        }
    }
    return removed;
}

unsigned xsim_catalogue_count(const std::string &bundleID)
{
    std::lock_guard<std::mutex> guard(sCatalogueLock);
    unsigned n = 0;
    for (const Entry &entry : sCatalogue) {
        n += entry.bundleID == bundleID;
    }
    return n;
}

void xsim_catalogue_reset()
{
    std::lock_guard<std::mutex> guard(sCatalogueLock);
    for (Entry &entry : sCatalogue) {
        entry.dict->release();
    }
    sCatalogue.clear();
}

extern "C" uint32_t xsim_catalogue_personalities(const char *bundleID)
{
    return xsim_catalogue_count(bundleID ? bundleID : "");
}
