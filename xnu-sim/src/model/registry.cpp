/*
 * The I/O Registry: IORegistryEntry properties, IOService attach/detach/registration, the busy
 * count (IOService::_adjustBusy), the base termination virtuals (requestTerminate ->
 * terminateClient -> the client's own terminate(); didTerminate and finalize scheduling stop),
 * the base newUserClient (docs/kernel-facts.md "User clients": the 4-argument call, then the
 * IOUserClientClass fallback with its codes), and IOResources with publishResource.
 */
#include <IOKit/IOService.h>
#include <IOKit/IOUserClient.h>
#include <libkern/c++/OSBoolean.h>
#include <libkern/c++/OSNumber.h>
#include <libkern/c++/OSSerialize.h>
#include <libkern/c++/OSString.h>

#include <algorithm>
#include <atomic>
#include <cstring>

#include "sim.hpp"

static std::atomic<uint64_t> sNextEntryID{0x100000100};
/* Every entry attached in the service plane (IOResources included). */
static std::vector<IOService *> sAttached;
static IOService *sResources = nullptr;
/* The registry root's busy count (gIOServiceRoot; IOResources is attached to it). */
static std::atomic<int> sRootBusy{0};
static std::atomic<uint64_t> sGeneration{0};
/* terminatePhase1 waits here for another thread's phase 1 on the same victim. */
static std::condition_variable_any sPhase1Changed;

std::recursive_mutex &xsim_registry::lock()
{
    static std::recursive_mutex registryLock;
    return registryLock;
}

/* ---- IORegistryEntry ---- */

OSDefineMetaClassAndStructors(IORegistryEntry, OSObject)

bool IORegistryEntry::init(OSDictionary *dictionary)
{
    if (!OSObject::init()) {
        return false;
    }
    if (fEntry) {
        return true; /* initWithTask after init: the table exists */
    }
    fEntry = new xsim_entry;
    fEntry->id = sNextEntryID++;
    if (dictionary) {
        dictionary->retain();
        fEntry->properties = dictionary;
    } else {
        fEntry->properties = OSDictionary::withCapacity(4);
    }
    return true;
}

void IORegistryEntry::free()
{
    if (fEntry) {
        fEntry->properties->release();
        delete fEntry;
        fEntry = nullptr;
    }
    OSObject::free();
}

OSObject *IORegistryEntry::getProperty(const char *aKey) const
{
    if (!fEntry) {
        return nullptr;
    }
    std::lock_guard<std::mutex> guard(fEntry->lock);
    return fEntry->properties->getObject(aKey);
}

OSObject *IORegistryEntry::copyProperty(const char *aKey) const
{
    if (!fEntry) {
        return nullptr;
    }
    std::lock_guard<std::mutex> guard(fEntry->lock);
    OSObject *value = fEntry->properties->getObject(aKey);
    if (value) {
        value->retain();
    }
    return value;
}

bool IORegistryEntry::setProperty(const char *aKey, OSObject *anObject)
{
    if (!fEntry) {
        return false;
    }
    std::lock_guard<std::mutex> guard(fEntry->lock);
    return fEntry->properties->setObject(aKey, anObject);
}

bool IORegistryEntry::setProperty(const char *aKey, const char *aString)
{
    OSString *value = OSString::withCString(aString);
    bool ok = value && setProperty(aKey, value);
    OSSafeReleaseNULL(value);
    return ok;
}

bool IORegistryEntry::setProperty(const char *aKey, bool aBoolean)
{
    return setProperty(aKey, aBoolean ? kOSBooleanTrue : kOSBooleanFalse);
}

bool IORegistryEntry::setProperty(const char *aKey, unsigned long long aValue,
                                  unsigned int aNumberOfBits)
{
    OSNumber *value = OSNumber::withNumber(aValue, aNumberOfBits);
    bool ok = value && setProperty(aKey, value);
    OSSafeReleaseNULL(value);
    return ok;
}

void IORegistryEntry::removeProperty(const char *aKey)
{
    if (fEntry) {
        std::lock_guard<std::mutex> guard(fEntry->lock);
        fEntry->properties->removeObject(aKey);
    }
}

/* iokit/Kernel/IORegistryEntry.cpp dictionaryWithProperties (xnu-6153.141.1:561,
 * xnu-7195.141.2:564, xnu-11417.101.15:571): OSDictionary::withDictionary of the table under
 * PLOCK. */
OSDictionary *IORegistryEntry::dictionaryWithProperties(void) const
{
    if (!fEntry) {
        return nullptr;
    }
    std::lock_guard<std::mutex> guard(fEntry->lock);
    return OSDictionary::withDictionary(fEntry->properties, fEntry->properties->getCount());
}

/* IORegistryEntry::serializeProperties (xnu-6153.141.1:533, xnu-7195.141.2:536,
 * xnu-11417.101.15:543): copyCollection of the table under PLOCK, unlocked serialize of the copy;
 * false when the copy fails. IOService's override only calls it (IOService.cpp 6153:5037,
 * 7195:5196, 11417:5856). */
bool IORegistryEntry::serializeProperties(OSSerialize *s) const
{
    OSDictionary *snapshot = dictionaryWithProperties();
    if (!snapshot) {
        return false;
    }
    bool ok = snapshot->serialize(s);
    snapshot->release();
    return ok;
}

const char *IORegistryEntry::getName(const IORegistryPlane *) const
{
    return getMetaClass()->getClassName();
}

uint64_t IORegistryEntry::getRegistryEntryID(void) { return fEntry ? fEntry->id : 0; }

/* ---- IOService ---- */

OSDefineMetaClassAndStructors(IOService, IORegistryEntry)

bool IOService::init(OSDictionary *dictionary)
{
    if (!IORegistryEntry::init(dictionary)) {
        return false;
    }
    if (!fService) {
        fService = new xsim_service;
    }
    return true;
}

void IOService::free()
{
    if (fService) {
        if (fService->provider || !fService->clients.empty()) {
            xsim_violation("%s freed while still attached", getName());
        }
        delete fService;
        fService = nullptr;
    }
    IORegistryEntry::free();
}

bool IOService::start(IOService *)
{
    std::lock_guard<std::recursive_mutex> guard(xsim_registry::lock());
    fService->started = true;
    return true;
}

void IOService::stop(IOService *) {}

bool IOService::attach(IOService *provider)
{
    if (!provider || !fService) {
        return false;
    }
    std::lock_guard<std::recursive_mutex> guard(xsim_registry::lock());
    if (provider->fService->inactive) {
        return false;
    }
    if (fService->provider) {
        xsim_unmodelled("IOService::attach to a second provider");
    }
    /* The provider's client list and this entry's provider link each hold a reference. */
    retain();
    provider->retain();
    fService->provider = provider;
    provider->fService->clients.push_back(this);
    sAttached.push_back(this);
    sGeneration++;
    return true;
}

/* IOService::detach: the busy count goes with the entry (a terminated entry's is cleared), the
 * provider's phase 2 is rescheduled if this client deferred it, and a terminated provider
 * without clients left is finalized. */
void IOService::detach(IOService *provider)
{
    bool adjParent;
    bool startState;
    bool finalizeProvider;
    {
        std::lock_guard<std::recursive_mutex> guard(xsim_registry::lock());
        if (!provider || fService->provider != provider) {
            return;
        }
        int busy = fService->busy;
        adjParent = busy != 0;
        auto &clients = provider->fService->clients;
        clients.erase(std::remove(clients.begin(), clients.end(), this), clients.end());
        sAttached.erase(std::remove(sAttached.begin(), sAttached.end(), this), sAttached.end());
        fService->provider = nullptr;
        sGeneration++;
        if (busy && fService->termPhase3) {
            fService->busy = 0; /* _adjustBusy(-busy): no provider left to propagate to */
        }
        startState = fService->startState;
        finalizeProvider = provider->fService->termPhase3 && provider->fService->clients.empty();
    }
    if (startState) {
        xsim_terminate_schedule_phase2(provider, 0);
    }
    if (adjParent) {
        xsim_registry::adjustBusy(provider, -1);
    }
    if (finalizeProvider) {
        xsim_terminate_schedule_finalize(provider);
    }
    provider->release();
    release();
}

void IOService::registerService(IOOptionBits)
{
    {
        std::lock_guard<std::recursive_mutex> guard(xsim_registry::lock());
        if (fService->inactive) {
            return;
        }
        fService->registered = true;
    }
    xsim_start_matching(this);
}

bool IOService::terminate(IOOptionBits options)
{
    return xsim_terminate_phase1(this, options | kIOServiceTerminate);
}

/* "if its our only provider": provider->terminateClient(this, options | kIOServiceRecursing),
 * then whether that made us inactive. */
bool IOService::requestTerminate(IOService *provider, IOOptionBits options)
{
    bool ok;
    {
        std::lock_guard<std::recursive_mutex> guard(xsim_registry::lock());
        ok = fService->provider == provider;
    }
    if (ok) {
        xsim_count("terminate.terminateClient");
        provider->terminateClient(this, options | kXsimServiceRecursing);
        std::lock_guard<std::recursive_mutex> guard(xsim_registry::lock());
        ok = fService->inactive;
    }
    return ok;
}

bool IOService::terminateClient(IOService *client, IOOptionBits options)
{
    bool only;
    {
        std::lock_guard<std::recursive_mutex> guard(xsim_registry::lock());
        only = client->fService->provider == this;
    }
    return only ? client->terminate(options) : true;
}

bool IOService::willTerminate(IOService *, IOOptionBits) { return true; }

/* Not deferred: scheduleStop(provider) (nothing is open through IOService::open here). */
bool IOService::didTerminate(IOService *provider, IOOptionBits, bool *defer)
{
    if (!defer || !*defer) {
        xsim_terminate_schedule_stop(this, provider);
    }
    return true;
}

bool IOService::finalize(IOOptionBits)
{
    IOService *provider;
    bool phase3;
    bool providerPhase3;
    {
        std::lock_guard<std::recursive_mutex> guard(xsim_registry::lock());
        provider = fService->provider;
        phase3 = fService->termPhase3;
        providerPhase3 = provider && provider->fService->termPhase3;
        if (provider) {
            provider->retain();
        }
    }
    if (provider) {
        if (!phase3) {
            xsim_unmodelled("IOService::finalize outside of phase 3 (programmatic stop)");
        }
        if (!providerPhase3) {
            xsim_terminate_schedule_stop(this, provider);
        }
        provider->release();
    }
    return true;
}

void IOService::setTerminateDefer(IOService *provider, bool defer)
{
    {
        std::lock_guard<std::recursive_mutex> guard(xsim_registry::lock());
        fService->startState = defer;
    }
    if (provider && !defer) {
        xsim_terminate_schedule_phase2(provider, 0);
    }
}

IOService *IOService::getProvider(void) const
{
    std::lock_guard<std::recursive_mutex> guard(xsim_registry::lock());
    return fService ? fService->provider : nullptr;
}

bool IOService::isInactive(void) const
{
    std::lock_guard<std::recursive_mutex> guard(xsim_registry::lock());
    return fService && fService->inactive;
}

/* A snapshot of the clients, each retained until the iterator goes. */
class xsim_ArrayIterator : public OSIterator {
    OSDeclareDefaultStructors(xsim_ArrayIterator)

public:
    static xsim_ArrayIterator *withObjects(const std::vector<IOService *> &objects)
    {
        xsim_ArrayIterator *it = new xsim_ArrayIterator;
        it->fObjects = new std::vector<IOService *>(objects);
        for (IOService *object : *it->fObjects) {
            object->retain();
        }
        return it;
    }
    void reset() APPLE_KEXT_OVERRIDE { fNext = 0; }
    bool isValid() APPLE_KEXT_OVERRIDE { return true; }
    OSObject *getNextObject() APPLE_KEXT_OVERRIDE
    {
        return fNext < fObjects->size() ? (*fObjects)[fNext++] : nullptr;
    }
    void free() APPLE_KEXT_OVERRIDE
    {
        if (fObjects) {
            for (IOService *object : *fObjects) {
                object->release();
            }
            delete fObjects;
        }
        OSIterator::free();
    }

private:
    std::vector<IOService *> *fObjects;
    size_t fNext;
};

OSDefineMetaClassAndStructors(xsim_ArrayIterator, OSIterator)

OSIterator *IOService::getClientIterator(void) const
{
    std::lock_guard<std::recursive_mutex> guard(xsim_registry::lock());
    return xsim_ArrayIterator::withObjects(fService->clients);
}

IOReturn IOService::newUserClient(task_t, void *, UInt32, IOUserClient **)
{
    return kIOReturnUnsupported;
}

IOReturn IOService::newUserClient(task_t owningTask, void *securityID, UInt32 type,
                                  OSDictionary *properties, IOUserClient **handler)
{
    if (newUserClient(owningTask, securityID, type, handler) == kIOReturnSuccess) {
        return kIOReturnSuccess;
    }
    OSString *className = OSDynamicCast(OSString, copyProperty("IOUserClientClass"));
    if (!className) {
        return kIOReturnUnsupported;
    }
    OSObject *object = OSMetaClass::allocClassWithName(className->getCStringNoCopy());
    className->release();
    if (!object) {
        return kIOReturnNoMemory;
    }
    IOUserClient *client = OSDynamicCast(IOUserClient, object);
    if (!client) {
        object->release();
        return kIOReturnUnsupported;
    }
    if (!client->initWithTask(owningTask, securityID, type, properties)) {
        client->release();
        return kIOReturnBadArgument;
    }
    if (!client->attach(this)) {
        client->release();
        return kIOReturnUnsupported;
    }
    if (!client->start(this)) {
        client->detach(this);
        client->release();
        return kIOReturnUnsupported;
    }
    *handler = client;
    return kIOReturnSuccess;
}

/* ---- IOResources ---- */

class IOResources : public IOService {
    OSDeclareDefaultStructors(IOResources)
};

OSDefineMetaClassAndStructors(IOResources, IOService)

IOService *xsim_registry::resources() { return sResources; }

IOService *IOService::getResourceService(void) { return sResources; }

/* IOService::publishResource: value NULL -> gIOServiceKey; setProperty on IOResources, then
 * gIOResources->registerService(), which re-runs matching of every personality on it. */
void IOService::publishResource(const char *key, OSObject *value)
{
    if (value) {
        sResources->setProperty(key, value);
    } else {
        sResources->setProperty(key, "IOService");
    }
    xsim_count("resources.published");
    sResources->registerService();
}

std::vector<IOService *> xsim_registry::copyMatching(const char *className)
{
    std::vector<IOService *> found;
    const OSMetaClass *meta = OSMetaClass::getMetaClassWithName(className);
    if (!meta) {
        return found;
    }
    std::lock_guard<std::recursive_mutex> guard(lock());
    for (IOService *service : sAttached) {
        if (service->fService->registered && !service->fService->inactive &&
            service->metaCast(meta)) {
            service->retain();
            found.push_back(service);
        }
    }
    return found;
}

std::vector<IOService *> xsim_registry::copyServicesOfBundle(const char *bundleID)
{
    std::vector<IOService *> found;
    std::lock_guard<std::recursive_mutex> guard(lock());
    for (IOService *service : sAttached) {
        OSString *bundle = OSDynamicCast(OSString, service->getProperty("CFBundleIdentifier"));
        if (bundle && bundle->isEqualTo(bundleID)) {
            service->retain();
            found.push_back(service);
        }
    }
    return found;
}

uint64_t xsim_registry::generation() { return sGeneration.load(); }

int xsim_registry::rootBusy() { return sRootBusy.load(); }

void xsim_registry::adjustBusy(IOService *service, int delta)
{
    /* Not quiet until the edge's consequences (considerUnloads) are in place. */
    xsim_activity_begin();
    bool rootQuietEdge = false;
    {
        std::lock_guard<std::recursive_mutex> guard(lock());
        IOService *next = service;
        while (delta && next) {
            int &count = next->fService->busy;
            bool wasQuiet = count == 0;
            if (delta < 0 && wasQuiet) {
                xsim_violation("%s: bad busy count", next->getName());
            }
            count += delta;
            bool nowQuiet = count == 0;
            if (!(wasQuiet || nowQuiet)) {
                break;
            }
            delta = nowQuiet ? -1 : +1;
            IOService *provider = next->fService->provider;
            if (!provider && next == sResources) {
                /* IOResources hangs off the registry root. */
                int before = sRootBusy.fetch_add(delta);
                rootQuietEdge = before + delta == 0;
                break;
            }
            next = provider;
        }
    }
    if (rootQuietEdge) {
        /* _adjustBusy: nowQuiet && next == gIOServiceRoot -> OSKext::considerUnloads(). */
        xsim_count("registry.quiet_edges");
        xsim_kext_consider_unloads(false);
    }
    xsim_activity_end();
}

bool xsim_registry::usesPlatformWorkLoop(IOService *service)
{
    std::lock_guard<std::recursive_mutex> guard(lock());
    for (IOService *s = service; s; s = s->fService->provider) {
        if (s == sResources) {
            return true;
        }
    }
    return false;
}

/* The boot holds the root busy until the kext daemon is up (IOService::iokitDaemonLaunched:
 * getServiceRoot()->adjustBusy(-1)); kext.cpp drops it. */
void xsim_registry::reset()
{
    std::lock_guard<std::recursive_mutex> guard(lock());
    if (!sResources) {
        sResources = new IOResources;
        sResources->init(nullptr);
        sResources->fService->started = true;
    }
    sResources->fService->registered = true;
    /* Only the kernel's own resources survive a boot. */
    OSDictionary *fresh = OSDictionary::withCapacity(8);
    {
        std::lock_guard<std::mutex> props(sResources->fEntry->lock);
        sResources->fEntry->properties->release();
        sResources->fEntry->properties = fresh;
    }
    sResources->setProperty("IOKit", "IOKit");
    sResources->setProperty("IOBSD", "IOBSD");
    if (sResources->fService->busy != 0 || !sResources->fService->clients.empty()) {
        xsim_violation("boot with IOResources busy or with clients");
    }
    sRootBusy.store(1);
}

void xsim_registry_boot_done()
{
    xsim_activity_begin();
    if (sRootBusy.fetch_sub(1) == 1) {
        xsim_count("registry.quiet_edges");
        xsim_kext_consider_unloads(false);
    }
    xsim_activity_end();
}

void xsim_registry_terminate_wait_phase1(IOService *victim)
{
    std::unique_lock<std::recursive_mutex> held(xsim_registry::lock());
    sPhase1Changed.wait(held, [victim] { return !xsim_registry::state(victim).termPhase1; });
}

void xsim_registry_phase1_done()
{
    std::lock_guard<std::recursive_mutex> held(xsim_registry::lock());
    sPhase1Changed.notify_all();
}
