/*
 * xnu-sim look-alike of <IOKit/IOUserClient.h>: initWithTask, clientClose/clientDied, the
 * dispatch-checking externalMethod and clientHasPrivilege of docs/kernel-facts.md.
 */
#ifndef XNU_SIM_IOKIT_IOUSERCLIENT_H
#define XNU_SIM_IOKIT_IOUSERCLIENT_H

#include <IOKit/IOMemoryDescriptor.h>
#include <IOKit/IOService.h>

enum {
    kIOUCVariableStructureSize = 0xffffffff,
};

#define kIOClientPrivilegeAdministrator "root"
#define kIOClientPrivilegeLocalUser "local"

struct IOExternalMethodArguments {
    uint32_t version;

    uint32_t selector;

    mach_port_t asyncWakePort;
    io_user_reference_t *asyncReference;
    uint32_t asyncReferenceCount;

    const uint64_t *scalarInput;
    uint32_t scalarInputCount;

    const void *structureInput;
    uint32_t structureInputSize;

    IOMemoryDescriptor *structureInputDescriptor;

    uint64_t *scalarOutput;
    uint32_t scalarOutputCount;

    void *structureOutput;
    uint32_t structureOutputSize;

    IOMemoryDescriptor *structureOutputDescriptor;
    uint32_t structureOutputDescriptorSize;

    uint32_t __reservedA;

    OSObject **structureVariableOutputData;

    uint32_t __reserved[30];
};

typedef IOReturn (*IOExternalMethodAction)(OSObject *target, void *reference,
                                           IOExternalMethodArguments *arguments);

struct IOExternalMethodDispatch {
    IOExternalMethodAction function;
    uint32_t checkScalarInputCount;
    uint32_t checkStructureInputSize;
    uint32_t checkScalarOutputCount;
    uint32_t checkStructureOutputSize;
};

enum {
    kIOExternalMethodArgumentsCurrentVersion = 2,
};

class IOUserClient : public IOService {
    OSDeclareAbstractStructors(IOUserClient)

public:
    virtual bool initWithTask(task_t owningTask, void *securityToken, UInt32 type,
                              OSDictionary *properties);
    virtual bool initWithTask(task_t owningTask, void *securityToken, UInt32 type);

    virtual IOReturn clientClose(void);
    virtual IOReturn clientDied(void);

    virtual IOReturn externalMethod(uint32_t selector, IOExternalMethodArguments *arguments,
                                    IOExternalMethodDispatch *dispatch = NULL,
                                    OSObject *target = NULL, void *reference = NULL);

    static IOReturn clientHasPrivilege(void *securityToken, const char *privilegeName);

    /* IOConnectGetService: the base returns NULL (kIOReturnUnsupported to user space). */
    virtual IOService *getService(void);

    /* Set once by IOServiceClose or clientDied, as in xnu. */
    UInt8 closed;

    /* Simulator: the task given to initWithTask. */
    task_t xsimOwningTask(void) const { return fOwningTask; }

private:
    task_t fOwningTask;
};

#endif
