/*
 * The I/O Registry: IORegistryEntry properties, IOService attach/detach/registration and the
 * base newUserClient (KERNEL-FACTS.md "User clients": the 4-argument call, then the
 * IOUserClientClass fallback with its codes), and IOResources, the nub drivers match on.
 */
#include <IOKit/IOService.h>
#include <IOKit/IOUserClient.h>
#include <libkern/c++/OSBoolean.h>
#include <libkern/c++/OSNumber.h>
#include <libkern/c++/OSString.h>

#include <algorithm>
#include <atomic>
#include <cstring>

#include "sim.hpp"

static std::atomic<uint64_t> sNextEntryID{0x100000100};
/* Every entry attached in the service plane (IOResources included). */
static std::vector<IOService *> sAttached;
static IOService *sResources = nullptr;

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
    xsim_busy_begin();
    xsim_busy_end();
    return true;
}

void IOService::detach(IOService *provider)
{
    {
        std::lock_guard<std::recursive_mutex> guard(xsim_registry::lock());
        if (!provider || fService->provider != provider) {
            return;
        }
        auto &clients = provider->fService->clients;
        clients.erase(std::remove(clients.begin(), clients.end(), this), clients.end());
        sAttached.erase(std::remove(sAttached.begin(), sAttached.end(), this), sAttached.end());
        fService->provider = nullptr;
    }
    provider->release();
    release();
}

void IOService::registerService(IOOptionBits)
{
    std::lock_guard<std::recursive_mutex> guard(xsim_registry::lock());
    fService->registered = true;
}

bool IOService::terminate(IOOptionBits options)
{
    return xsim_terminate_phase1(this, options | kIOServiceTerminate);
}

bool IOService::requestTerminate(IOService *, IOOptionBits) { return true; }
bool IOService::willTerminate(IOService *, IOOptionBits) { return true; }

bool IOService::didTerminate(IOService *, IOOptionBits, bool *defer)
{
    if (defer) {
        *defer = false;
    }
    return true;
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

/* Temporary minimal model until the strict catalogue lands: sets the property only. */
void IOService::publishResource(const char *key, OSObject *value)
{
    sResources->setProperty(key, value ? value : (OSObject *)kOSBooleanTrue);
}

IOService *IOService::getResourceService(void) { return sResources; }

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
        if (!service->fService->inactive && bundle && bundle->isEqualTo(bundleID)) {
            service->retain();
            found.push_back(service);
        }
    }
    return found;
}

void xsim_registry::reset()
{
    std::lock_guard<std::recursive_mutex> guard(lock());
    if (!sResources) {
        sResources = new IOResources;
        sResources->init(nullptr);
        sResources->setProperty("IOKit", "IOKit");
        sResources->setProperty("IOBSD", "IOBSD");
        sResources->fService->registered = true;
        sResources->fService->started = true;
    }
}
