/*
 * org_rustkext_UserClient: one per IOServiceOpen connection.
 *
 * Forwarding only: admission, argument validation and every method body are Rust's; the
 * IOExternalMethodDispatch entry is built from the shape Rust reports, so the kernel's own count
 * checks run too, and the dispatch function is C++ (signed on arm64e).
 */
#ifndef RUSTKEXT_USERCLIENT_HPP
#define RUSTKEXT_USERCLIENT_HPP

#include <IOKit/IOUserClient.h>

#include "rustkext.h"

class org_rustkext_Service;

class org_rustkext_UserClient : public IOUserClient {
    OSDeclareDefaultStructors(org_rustkext_UserClient)

public:
    using IOUserClient::initWithTask;
    bool initWithTask(task_t owningTask, void *securityToken, UInt32 type,
                      OSDictionary *properties) APPLE_KEXT_OVERRIDE;
    bool start(IOService *provider) APPLE_KEXT_OVERRIDE;
    void stop(IOService *provider) APPLE_KEXT_OVERRIDE;
    void free(void) APPLE_KEXT_OVERRIDE;
    IOReturn clientClose(void) APPLE_KEXT_OVERRIDE;
    /* IOConnectGetService: the base returns NULL (kIOReturnUnsupported). */
    IOService *getService(void) APPLE_KEXT_OVERRIDE;
    IOReturn clientDied(void) APPLE_KEXT_OVERRIDE;
    IOReturn externalMethod(uint32_t selector, IOExternalMethodArguments *arguments,
                            IOExternalMethodDispatch *dispatch, OSObject *target,
                            void *reference) APPLE_KEXT_OVERRIDE;

    /* Called by the service between initWithTask and attach: Rust's admission. */
    IOReturn admit(org_rustkext_Service *service, UInt32 type);
    /* Called by the service when attach or start failed after admission. */
    void abandon(void);

    uint32_t clientID(void) const { return fClientID; }
    int ownerPID(void) const { return fOwnerPID; }
    const char *ownerName(void) const { return fOwnerName; }

private:
    static IOReturn dispatchToRust(OSObject *target, void *reference,
                                   IOExternalMethodArguments *arguments);

    org_rustkext_Service *fService; /* retained from admit() until free() */
    uint32_t fClientID;             /* 0 until admitted */
    bool fIsAdmin;                  /* decided once, at open */
    int fOwnerPID;
    char fOwnerName[32];
};

#endif /* RUSTKEXT_USERCLIENT_HPP */
