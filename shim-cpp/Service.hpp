/*
 * RK_SERVICE_CLASS (the kext's <class-prefix>_Service): the IOService it publishes on IOResources.
 *
 * Forwarding only: every decision (admission, terminate refusal, self-termination, what a FILEOP
 * event means) is made by the Rust core behind rustkext.h; this class obeys the answer.
 */
#ifndef RUSTKEXT_SERVICE_HPP
#define RUSTKEXT_SERVICE_HPP

#include <IOKit/IOService.h>
#include <kern/thread_call.h>
#include <sys/kauth.h>

#include "rustkext.h"

class RK_USERCLIENT_CLASS;

class RK_SERVICE_CLASS : public IOService {
    OSDeclareDefaultStructors(RK_SERVICE_CLASS)

public:
    bool start(IOService *provider) APPLE_KEXT_OVERRIDE;
    void stop(IOService *provider) APPLE_KEXT_OVERRIDE;
    void free(void) APPLE_KEXT_OVERRIDE;
    bool terminate(IOOptionBits options = 0) APPLE_KEXT_OVERRIDE;
    bool serializeProperties(OSSerialize *s) const APPLE_KEXT_OVERRIDE;

    using IOService::newUserClient;
    IOReturn newUserClient(task_t owningTask, void *securityID, UInt32 type,
                           OSDictionary *properties, IOUserClient **handler) APPLE_KEXT_OVERRIDE;

    /* For RK_USERCLIENT_CLASS. */
    rk_driver *driver(void) const { return fDriver; }
    void clientClosed(uint32_t clientID);

private:
    static int fileopListener(kauth_cred_t credential, void *idata, kauth_action_t action,
                              uintptr_t arg0, uintptr_t arg1, uintptr_t arg2, uintptr_t arg3);
    static void selfTerminateCallout(thread_call_param_t service, thread_call_param_t unused);
    void scheduleSelfTerminate(void);
    void shutDown(void);
    void readProperty(const char *key, rk_property *out) const;
    void logOpenClients(uint32_t openClients);

    rk_driver *fDriver;
    kauth_listener_t fListener;
    thread_call_t fSelfTerminateCall;
};

#endif /* RUSTKEXT_SERVICE_HPP */
