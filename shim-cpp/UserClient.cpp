/*
 * RK_USERCLIENT_CLASS: admission, close/death, external methods. See docs/lifecycle.md.
 */
#include "UserClient.hpp"

#include <IOKit/IOLib.h>
#include <sys/proc.h>

#include "Service.hpp"

#define super IOUserClient
OSDefineMetaClassAndStructors(RK_USERCLIENT_CLASS, IOUserClient)

bool RK_USERCLIENT_CLASS::initWithTask(task_t owningTask, void *securityToken, UInt32 type,
                                           OSDictionary *properties)
{
    if (!super::initWithTask(owningTask, securityToken, type, properties)) {
        return false;
    }
    /* Decided once: a later setuid in the client process changes nothing. */
    fIsAdmin = clientHasPrivilege(securityToken, kIOClientPrivilegeAdministrator) == kIOReturnSuccess;
    /* newUserClient runs on the opening thread, so "self" is the owner; kept for log lines only. */
    fOwnerPID = proc_selfpid();
    proc_selfname(fOwnerName, (int)sizeof(fOwnerName));
    return true;
}

IOReturn RK_USERCLIENT_CLASS::admit(RK_SERVICE_CLASS *service, UInt32 type)
{
    IOReturn result = rk_client_open(service->driver(), type, fIsAdmin, &fClientID);
    if (result == kIOReturnSuccess) {
        fService = service;
        fService->retain();
    }
    return result;
}

void RK_USERCLIENT_CLASS::abandon(void)
{
    if (fService) {
        fService->clientClosed(fClientID);
    }
}

bool RK_USERCLIENT_CLASS::start(IOService *provider)
{
    return provider == fService && super::start(provider);
}

/* IOServiceClose, or clientDied on process death: at most once (the kernel guarantees it). */
IOReturn RK_USERCLIENT_CLASS::clientClose(void)
{
    terminate();
    if (fService) {
        fService->clientClosed(fClientID);
    }
    return kIOReturnSuccess;
}

IOService *RK_USERCLIENT_CLASS::getService(void)
{
    return fService;
}

IOReturn RK_USERCLIENT_CLASS::clientDied(void)
{
    IOLog(RK_LOG_PREFIX "client %u (pid %d) died\n", fClientID, fOwnerPID);
    return super::clientDied(); /* calls clientClose() unless it already ran */
}

/* Reached without clientClose only if the provider terminated; the Rust close is idempotent. */
void RK_USERCLIENT_CLASS::stop(IOService *provider)
{
    if (fService) {
        fService->clientClosed(fClientID);
    }
    super::stop(provider);
}

void RK_USERCLIENT_CLASS::free(void)
{
    if (fService) {
        fService->release();
        fService = NULL;
    }
    super::free();
}

IOReturn RK_USERCLIENT_CLASS::externalMethod(uint32_t selector, IOExternalMethodArguments *arguments,
                                                 IOExternalMethodDispatch *, OSObject *, void *)
{
    rk_method_shape shape;
    IOReturn refusal = rk_method_shape_for(selector, &shape);
    if (refusal != kIOReturnSuccess) {
        return refusal; /* the kernel never bounds-checks the selector */
    }
    IOExternalMethodDispatch dispatch = {
        &RK_USERCLIENT_CLASS::dispatchToRust,
        shape.scalar_input_count,
        shape.struct_input_size,
        shape.scalar_output_count,
        shape.struct_output_size,
    };
    return super::externalMethod(selector, arguments, &dispatch, this, NULL);
}

/* Out-of-line (descriptor) structs never match a shape: passed as NULL with an impossible size. */
IOReturn RK_USERCLIENT_CLASS::dispatchToRust(OSObject *target, void *,
                                                 IOExternalMethodArguments *arguments)
{
    RK_USERCLIENT_CLASS *self = static_cast<RK_USERCLIENT_CLASS *>(target);
    const bool inputOutOfLine = arguments->structureInputDescriptor != NULL;
    const bool outputOutOfLine = arguments->structureOutputDescriptor != NULL;
    rk_method_args call = {};
    call.selector = arguments->selector;
    call.scalar_input_count = arguments->scalarInputCount;
    call.scalar_input = arguments->scalarInput;
    call.struct_input_size = inputOutOfLine ? UINT32_MAX : arguments->structureInputSize;
    call.struct_input = inputOutOfLine ? NULL : arguments->structureInput;
    call.scalar_output_count = arguments->scalarOutputCount;
    call.scalar_output = arguments->scalarOutput;
    call.struct_output_size = outputOutOfLine ? UINT32_MAX : arguments->structureOutputSize;
    call.struct_output = outputOutOfLine ? NULL : arguments->structureOutput;

    IOReturn result = rk_external_method(self->fService->driver(), self->fClientID, &call);

    arguments->scalarOutputCount = call.scalar_output_count;
    if (!outputOutOfLine) {
        arguments->structureOutputSize = call.struct_output_size;
    }
    return result;
}
