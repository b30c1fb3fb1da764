/*
 * xnu-sim look-alike of <IOKit/IOService.h>: the IOService methods the shim uses, with the
 * termination phases, the newUserClient fallback and the IOResources helpers of docs/kernel-facts.md.
 */
#ifndef XNU_SIM_IOKIT_IOSERVICE_H
#define XNU_SIM_IOKIT_IOSERVICE_H

#include <IOKit/IOLib.h>
#include <IOKit/IORegistryEntry.h>
#include <IOKit/IOReturn.h>
#include <IOKit/IOTypes.h>
#include <libkern/c++/OSDictionary.h>
#include <libkern/c++/OSIterator.h>

enum {
    kIOServiceRequired = 0x00000001,
    kIOServiceTerminate = 0x00000004,
    kIOServiceSynchronous = 0x00000002,
    kIOServiceAsynchronous = 0x00000008,
};

class IOUserClient;
struct xsim_service;

class IOService : public IORegistryEntry {
    OSDeclareDefaultStructors(IOService)

public:
    bool init(OSDictionary *dictionary = NULL) APPLE_KEXT_OVERRIDE;
    void free() APPLE_KEXT_OVERRIDE;

    virtual bool start(IOService *provider);
    virtual void stop(IOService *provider);

    virtual bool attach(IOService *provider);
    virtual void detach(IOService *provider);
    virtual void registerService(IOOptionBits options = 0);

    virtual bool terminate(IOOptionBits options = 0);
    virtual bool requestTerminate(IOService *provider, IOOptionBits options);
    virtual bool willTerminate(IOService *provider, IOOptionBits options);
    virtual bool didTerminate(IOService *provider, IOOptionBits options, bool *defer);
    virtual bool finalize(IOOptionBits options);
    /* Phase 1 asks a client to go through its provider: client->terminate(options), virtual. */
    virtual bool terminateClient(IOService *client, IOOptionBits options);

    virtual IOReturn newUserClient(task_t owningTask, void *securityID, UInt32 type,
                                   OSDictionary *properties, IOUserClient **handler);
    virtual IOReturn newUserClient(task_t owningTask, void *securityID, UInt32 type,
                                   IOUserClient **handler);

    virtual IOService *getProvider(void) const;
    virtual OSIterator *getClientIterator(void) const;
    bool isInactive(void) const;

    /* kIOServiceStartState: a client that defers its provider's phase 2 (IOUserClient::reserve). */
    void setTerminateDefer(IOService *provider, bool defer);

    /* Sets `key` on IOResources (value NULL: the symbol "IOService") and re-registers it, so that
     * every personality on IOResources is matched again. */
    static void publishResource(const char *key, OSObject *value = NULL);
    /* IOResources. */
    static IOService *getResourceService(void);

protected:
    /* Simulator state: provider, clients, termination and start flags. */
    xsim_service *fService;
    friend struct xsim_registry;
};

#endif
