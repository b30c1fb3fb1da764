/*
 * Object ports: the IKOT_IOKIT_OBJECT ports through which user space names a service
 * (io_service_t from IOServiceGetMatchingService), and what they keep alive. Read from
 * xnu-11417.101.15 (cross-checked with xnu-6153.141.1 where noted):
 *
 *  - iokit/Kernel/IOUserClient.cpp internal_io_service_get_matching_service: the matching
 *    dictionary goes to IOService::copyMatchingService (registered, active services only);
 *    "*service ? kIOReturnSuccess : kIOReturnNotFound". The MIG outtran (osfmk/device/device.defs,
 *    io_object_t: iokit_make_object_port) turns that reference into a send right on the object's
 *    port. There is one port per object and type (IOMachPort::portForObject), holding one
 *    reference on the object for as long as the port lives.
 *  - The port goes when its last send right goes (no-senders: IOMachPort::noMoreSendersForObject,
 *    then the reference is dropped), or when the service is terminated: terminatePhase1 calls
 *    IOUserClient::destroyUserReferences(victim) for every victim (iokit/Kernel/IOService.cpp),
 *    whose first step, IOMachPort::releasePortForObject(obj, IKOT_IOKIT_OBJECT), disables and
 *    destroys the port and drops its reference on the service (6153: machPort->release() the
 *    same way). The only exception, machPortHoldDestroy, is set for services delivered in a
 *    terminated notification, which the model does not have. A service handle user space still
 *    holds is then a dead name: it no longer keeps the service, or the kext, alive.
 *
 * Names and user references are the task's IPC space (user-space state): whoever drives the model
 * keeps them, and calls xsim_object_port_release_send once per task whose last reference went.
 */
#include <IOKit/IOService.h>

#include <libkern/c++/OSSerialize.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>

#include "sim.hpp"

namespace {

struct ObjectPort {
    IOService *object; /* the port's reference */
    uint32_t sendRights;
};

std::mutex sObjectPortsLock;
std::map<uint64_t, ObjectPort> sObjectPorts; /* live ports by id */
std::map<IOService *, uint64_t> sPortOfObject;
uint64_t sNextObjectPort = 1;

/* Takes the port's object reference out of the table; the caller releases it, unlocked. */
IOService *destroyLocked(std::map<uint64_t, ObjectPort>::iterator it)
{
    IOService *object = it->second.object;
    sPortOfObject.erase(object);
    sObjectPorts.erase(it);
    return object;
}

} // namespace

/* destroyUserReferences(victim): called by the model's terminate phase 1 for every victim. */
void xsim_object_ports_destroy(IOService *victim)
{
    IOService *reference = nullptr;
    {
        std::lock_guard<std::mutex> guard(sObjectPortsLock);
        auto found = sPortOfObject.find(victim);
        if (found != sPortOfObject.end()) {
            reference = destroyLocked(sObjectPorts.find(found->second));
        }
    }
    if (reference) {
        xsim_count("object_port.destroyed_by_terminate");
        reference->release();
    }
}

extern "C" int32_t xsim_object_port_matching_service(const char *className, uint64_t *port)
{
    std::vector<IOService *> matching = xsim_registry::copyMatching(className);
    /* copyMatching walks the services attached to a provider; IOResources hangs off the registry
     * root, and IOService::copyMatchingService walks the whole service plane from the root, so
     * it matches IOResources too (first: it is above every driver on it). */
    IOService *resources = xsim_registry::resources();
    const OSMetaClass *meta = OSMetaClass::getMetaClassWithName(className);
    if (resources && meta && resources->metaCast(meta)) {
        std::lock_guard<std::recursive_mutex> guard(xsim_registry::lock());
        if (xsim_registry::state(resources).registered && !xsim_registry::state(resources).inactive) {
            resources->retain();
            matching.insert(matching.begin(), resources);
        }
    }
    if (matching.empty()) {
        return kIOReturnNotFound;
    }
    IOService *service = matching.front();
    for (size_t i = 1; i < matching.size(); i++) {
        matching[i]->release();
    }
    bool merged = false;
    {
        std::lock_guard<std::mutex> guard(sObjectPortsLock);
        auto found = sPortOfObject.find(service);
        if (found != sPortOfObject.end()) {
            ObjectPort &existing = sObjectPorts.at(found->second);
            existing.sendRights++;
            *port = found->second;
            merged = true;
        } else {
            uint64_t id = sNextObjectPort++;
            sObjectPorts.emplace(id, ObjectPort{service, 1}); /* copyMatchingService's reference */
            sPortOfObject.emplace(service, id);
            *port = id;
        }
    }
    if (merged) {
        service->release(); /* the port already holds one */
    }
    xsim_count("object_port.send_right_made");
    return kIOReturnSuccess;
}

extern "C" void xsim_object_port_release_send(uint64_t port)
{
    IOService *reference = nullptr;
    {
        std::lock_guard<std::mutex> guard(sObjectPortsLock);
        auto found = sObjectPorts.find(port);
        if (found == sObjectPorts.end()) {
            return; /* destroyed already: the task held a dead name */
        }
        if (found->second.sendRights == 0) {
            xsim_violation("object port %llu: more send rights released than made",
                           (unsigned long long)port);
        }
        if (--found->second.sendRights == 0) {
            reference = destroyLocked(found);
        }
    }
    if (reference) {
        xsim_count("object_port.no_senders");
        reference->release();
    }
}

extern "C" bool xsim_object_port_alive(uint64_t port)
{
    std::lock_guard<std::mutex> guard(sObjectPortsLock);
    return sObjectPorts.count(port) != 0;
}

extern "C" uint32_t xsim_object_port_count(void)
{
    std::lock_guard<std::mutex> guard(sObjectPortsLock);
    return (uint32_t)sObjectPorts.size();
}

extern "C" bool xsim_object_port_class(uint64_t port, char *buffer, size_t capacity)
{
    std::lock_guard<std::mutex> guard(sObjectPortsLock);
    auto found = sObjectPorts.find(port);
    if (found == sObjectPorts.end()) {
        return false;
    }
    snprintf(buffer, capacity, "%s", found->second.object->getMetaClass()->getClassName());
    return true;
}

/*
 * is_io_service_open_extended on the port's service. The model's open path (xsim_open) matches
 * by class; while the port lives its service is the registered, active instance of its class
 * (the one IOMatchCategory on IOResources holds one driver), because terminate phase 1 marks a
 * service inactive and destroys its ports in the same step. A dead port: the request cannot be
 * sent (MACH_SEND_INVALID_DEST).
 */
extern "C" int32_t xsim_object_port_open(uint64_t port, uint32_t task, uint32_t type,
                                         uint64_t *connection)
{
    char className[128];
    if (!xsim_object_port_class(port, className, sizeof(className))) {
        return MACH_SEND_INVALID_DEST;
    }
    return xsim_open(task, className, type, connection);
}

/*
 * is_io_registry_entry_get_properties_bin_buf on the port's entry (iokit/Kernel/IOUserClient.cpp
 * xnu-6153.141.1:3610, xnu-7195.141.2:3871, xnu-11417.101.15:3916): OSSerialize::binaryWithCapacity
 * (kIOReturnNoMemory if it fails), then entry->serializeProperties(s), kIOReturnUnsupported when
 * that returns false. (11+: an entry with gIOUserServicePropertiesKey or compatibility properties
 * is serialized from dictionaryWithProperties instead; the model's services have neither.) The
 * serialization is copied to `buffer` when it fits (with a NUL); *length is its length either way,
 * so the caller can retry with a larger buffer. A dead port: MACH_SEND_INVALID_DEST.
 */
extern "C" int32_t xsim_object_port_get_properties(uint64_t port, char *buffer, size_t capacity,
                                                   size_t *length)
{
    IOService *entry = nullptr;
    {
        std::lock_guard<std::mutex> guard(sObjectPortsLock);
        auto found = sObjectPorts.find(port);
        if (found == sObjectPorts.end()) {
            return MACH_SEND_INVALID_DEST;
        }
        entry = found->second.object;
        entry->retain(); /* for the call, as the MIG intran's iokit_lookup_object_port does */
    }
    IOReturn result = kIOReturnSuccess;
    OSSerialize *s = OSSerialize::binaryWithCapacity(4096);
    if (!s) {
        result = kIOReturnNoMemory;
    } else if (!entry->serializeProperties(s)) {
        result = kIOReturnUnsupported;
    } else {
        *length = s->getLength();
        if (buffer && capacity > s->getLength()) {
            memcpy(buffer, s->text(), s->getLength() + 1);
        }
    }
    OSSafeReleaseNULL(s);
    entry->release();
    xsim_count("registry.get_properties");
    return result;
}
