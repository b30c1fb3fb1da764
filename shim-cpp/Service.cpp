/*
 * RK_SERVICE_CLASS: start, terminate, newUserClient, stop, free. See docs/lifecycle.md.
 */
#include "Service.hpp"

#include <IOKit/IOLib.h>
#include <libkern/c++/OSBoolean.h>
#include <libkern/c++/OSDictionary.h>
#include <libkern/c++/OSNumber.h>
#include <libkern/c++/OSSerialize.h>
#include <libkern/c++/OSString.h>

#include "UserClient.hpp"

#define super IOService
OSDefineMetaClassAndStructors(RK_SERVICE_CLASS, IOService)

/* Shutdown waits this long for FILEOP callbacks in flight, then logs and goes on. */
static const uint32_t kDrainBoundMs = 5000;
/*
 * ...then this long for callers that read our kauth listener slot before kauth_unlisten_scope
 * cleared it but have not reached the gate yet (xnu's kauth_authorize_action: "there is a race
 * here if listener is removed"). The race cannot be closed from a kext: a caller delayed longer
 * than this calls into unmapped code after a kextunload. 1 s is many scheduler quanta; it is
 * spent on the caller's thread (kextunload's, or the self-terminate thread call), never inside a
 * work-loop gate.
 */
static const uint32_t kUnlistenGraceMs = 1000;

bool RK_SERVICE_CLASS::start(IOService *provider)
{
    if (!super::start(provider)) {
        return false;
    }
    /* Allocated now so that the last close never has to allocate. */
    fSelfTerminateCall = thread_call_allocate(&selfTerminateCallout, this);
    if (!fSelfTerminateCall) {
        IOLog(RK_LOG_PREFIX "start failed: no thread call\n");
        super::stop(provider);
        return false;
    }
    /* The settings Rust asks for, from the personality (this service's properties). */
    rk_property values[RK_MAX_SETTINGS];
    for (uint32_t i = 0; i < RK_MAX_SETTINGS; i++) {
        readProperty(rk_personality_key(i), &values[i]);
    }
    fDriver = rk_service_start(values, RK_MAX_SETTINGS); /* NULL: Rust logged why */
    if (!fDriver) {
        super::stop(provider);
        return false;
    }
    const bool listens = (rk_kauth_scopes() & RK_SCOPE_FILEOP) != 0;
    if (listens) {
        fListener = kauth_listen_scope(KAUTH_SCOPE_FILEOP, &fileopListener, fDriver);
    }
    if (listens && !fListener) {
        IOLog(RK_LOG_PREFIX "start failed: no free kauth listener slot in " KAUTH_SCOPE_FILEOP "\n");
        rk_service_close_gate(fDriver);
        rk_service_release(fDriver);
        fDriver = NULL;
        super::stop(provider);
        return false;
    }
    registerService();
    IOLog(RK_LOG_PREFIX "started\n");
    return true;
}

/* Absent for a NULL key (a setting the kext does not read). */
void RK_SERVICE_CLASS::readProperty(const char *key, rk_property *out) const
{
    OSObject *value = key ? getProperty(key) : NULL;
    out->kind = RK_PROPERTY_ABSENT;
    out->reserved = 0;
    out->value = 0;
    if (OSNumber *number = OSDynamicCast(OSNumber, value)) {
        out->kind = RK_PROPERTY_NUMBER;
        out->value = number->unsigned64BitValue();
    } else if (OSBoolean *boolean = OSDynamicCast(OSBoolean, value)) {
        out->kind = RK_PROPERTY_BOOL;
        out->value = boolean->isTrue() ? 1 : 0;
    } else if (value) {
        out->kind = RK_PROPERTY_OTHER;
    }
}

/*
 * Called by kextunload (IOCatalogue::terminateDrivers, also again on an inactive instance) and by
 * our own thread call. Everything that sleeps happens here, on the caller's thread, before
 * super::terminate: stop() later runs inside the platform work loop's gate.
 */
bool RK_SERVICE_CLASS::terminate(IOOptionBits options)
{
    uint32_t openClients = 0;
    switch (rk_service_terminate_request(fDriver, &openClients)) {
    case RK_TERMINATE_REFUSE:
        logOpenClients(openClients);
        return false;
    case RK_TERMINATE_SHUT_DOWN:
        shutDown();
        break;
    case RK_TERMINATE_PROCEED:
        break;
    }
    return super::terminate(options);
}

/*
 * Withdraw the kext's resource (no rematch can start us again; it is named after the bundle id,
 * as the module start published it), close the gate, unlisten, drain.
 */
void RK_SERVICE_CLASS::shutDown(void)
{
    OSString *bundleID = OSDynamicCast(OSString, getProperty("CFBundleIdentifier"));
    if (bundleID) {
        getResourceService()->removeProperty(bundleID->getCStringNoCopy());
    }
    rk_service_close_gate(fDriver);
    if (fListener) {
        kauth_unlisten_scope(fListener);
        fListener = NULL;
    }
    rk_service_drain(fDriver, kDrainBoundMs, kUnlistenGraceMs);
}

void RK_SERVICE_CLASS::logOpenClients(uint32_t openClients)
{
    IOLog(RK_LOG_PREFIX "terminate refused: %u client(s) open; the driver unloads after the last close\n",
          openClients);
    OSIterator *clients = getClientIterator();
    if (!clients) {
        return;
    }
    while (OSObject *object = clients->getNextObject()) {
        RK_USERCLIENT_CLASS *client = OSDynamicCast(RK_USERCLIENT_CLASS, object);
        /* A closed client stays attached, inactive, until its termination completes. */
        if (client && !client->isInactive()) {
            IOLog(RK_LOG_PREFIX "  client %u: pid %d (%s)\n", client->clientID(), client->ownerPID(),
                  client->ownerName());
        }
    }
    clients->release();
}

/*
 * ioreg -l and IORegistryEntryCreateCFProperties read the whole table through this
 * (is_io_registry_entry_get_properties_bin_buf, iokit/Kernel/IOUserClient.cpp xnu-6153.141.1:3610,
 * xnu-7195.141.2:3871, xnu-11417.101.15:3916: false answers kIOReturnUnsupported). The base copies
 * the table under its lock and serializes the copy (IORegistryEntry.cpp 6153:533, 7195:536,
 * 11417:543); we serialize a copy (dictionaryWithProperties, the same lock) with Rust's values,
 * computed now, added as one dictionary per group. Nothing is stored in the table, so no event
 * path ever writes the registry; this runs on the reader's thread, never on the kauth path.
 * getProperty (one key) does not see these values.
 */
bool RK_SERVICE_CLASS::serializeProperties(OSSerialize *s) const
{
    rk_registry_value values[RK_MAX_REGISTRY_VALUES] = {};
    uint32_t count = rk_registry_values(values, RK_MAX_REGISTRY_VALUES);
    OSDictionary *table = dictionaryWithProperties();
    if (!table) {
        return false; /* as the base does when its copy fails */
    }
    OSDictionary *into = table;
    OSDictionary *group = NULL;
    bool ok = true;
    for (uint32_t i = 0; ok && i < count && i < RK_MAX_REGISTRY_VALUES; i++) {
        const rk_registry_value *v = &values[i];
        if (v->kind == RK_REGISTRY_GROUP) {
            OSSafeReleaseNULL(group);
            group = OSDictionary::withCapacity(16);
            ok = group && table->setObject(v->key, group);
            into = group;
        } else if (v->kind == RK_REGISTRY_BOOL) {
            ok = into->setObject(v->key, v->value ? kOSBooleanTrue : kOSBooleanFalse);
        } else {
            OSNumber *number = OSNumber::withNumber(v->value, 64);
            ok = number && into->setObject(v->key, number);
            OSSafeReleaseNULL(number);
        }
    }
    OSSafeReleaseNULL(group);
    ok = ok && table->serialize(s);
    table->release();
    return ok;
}

IOReturn RK_SERVICE_CLASS::newUserClient(task_t owningTask, void *securityID, UInt32 type,
                                             OSDictionary *properties, IOUserClient **handler)
{
    if (!handler) {
        return kIOReturnBadArgument;
    }
    *handler = NULL;
    RK_USERCLIENT_CLASS *client = OSTypeAlloc(RK_USERCLIENT_CLASS);
    if (!client) {
        return kIOReturnNoMemory;
    }
    /* The same codes the kernel's IOUserClientClass path would return. */
    if (!client->initWithTask(owningTask, securityID, type, properties)) {
        client->release();
        return kIOReturnBadArgument;
    }
    IOReturn admitted = client->admit(this, type);
    if (admitted != kIOReturnSuccess) {
        client->release();
        return admitted;
    }
    if (!client->attach(this)) {
        client->abandon();
        client->release();
        return kIOReturnUnsupported;
    }
    if (!client->start(this)) {
        client->abandon();
        client->detach(this);
        client->release();
        return kIOReturnUnsupported;
    }
    *handler = client;
    return kIOReturnSuccess;
}

void RK_SERVICE_CLASS::clientClosed(uint32_t clientID)
{
    if (rk_client_close(fDriver, clientID) == RK_CLOSE_TERMINATE_SERVICE) {
        scheduleSelfTerminate();
    }
}

/*
 * The last close can arrive under the user client's IPC lock, and terminate() runs phase 1 (and
 * our shutdown) on the caller's thread: so the service terminates itself from a thread call,
 * never from clientClose.
 */
void RK_SERVICE_CLASS::scheduleSelfTerminate(void)
{
    IOLog(RK_LOG_PREFIX "last client closed after an unload request; terminating\n");
    retain(); /* dropped by the callout, or by stop() if it cancels the callout */
    if (thread_call_enter(fSelfTerminateCall)) {
        release(); /* already pending: that invocation holds its own reference */
    }
}

void RK_SERVICE_CLASS::selfTerminateCallout(thread_call_param_t service, thread_call_param_t)
{
    RK_SERVICE_CLASS *self = static_cast<RK_SERVICE_CLASS *>(service);
    self->terminate(0);
    self->release();
}

int RK_SERVICE_CLASS::fileopListener(kauth_cred_t, void *idata, kauth_action_t action,
                                         uintptr_t arg0, uintptr_t arg1, uintptr_t arg2,
                                         uintptr_t arg3)
{
    rk_fileop_callback(static_cast<rk_driver *>(idata), static_cast<uintptr_t>(action), arg0, arg1,
                       arg2, arg3);
    return KAUTH_RESULT_DEFER; /* FILEOP is notification only */
}

/* Runs inside the platform work loop's gate: releases only, never sleeps. */
void RK_SERVICE_CLASS::stop(IOService *provider)
{
    if (fListener) {
        /* Unreachable: every path to stop() goes through terminate(). Safety over the gate. */
        IOLog(RK_LOG_PREFIX "stop() without a shutdown; shutting down inside the work loop\n");
        shutDown();
    }
    if (fSelfTerminateCall && thread_call_cancel(fSelfTerminateCall)) {
        release(); /* the cancelled invocation's reference */
    }
    rk_service_release(fDriver);
    /* fDriver stays: the state is static and refuses every call until the next start. */
    super::stop(provider);
}

void RK_SERVICE_CLASS::free(void)
{
    if (fSelfTerminateCall) {
        /* If the callout is running (its release() brought us here), xnu frees it when it returns. */
        thread_call_free(fSelfTerminateCall);
        fSelfTerminateCall = NULL;
    }
    super::free();
}
