/*
 * User clients and the tasks that own them (docs/kernel-facts.md "User clients", "External methods").
 *
 * A connection stands for the IKOT_IOKIT_CONNECT port: it holds a reference to the user client
 * until the client is terminated (destroyUserReferences) or its last send right dies.
 *
 * Locking by flavour (IOUserClient.cpp):
 *  - 11+ (7195, 11417): is_io_connect_method runs externalMethod under ipcEnter(kIPCLockRead)
 *    (defaultLocking, set for a client without locking properties), is_io_service_close and
 *    iokit_client_died run clientClose/clientDied under the write lock: never overlapping.
 *  - 10.15 (6153): is_io_connect_method calls client->externalMethod() with NO lock;
 *    is_io_service_close and iokit_client_died take client->lock (an IOLock) around
 *    clientClose/clientDied. A close can run while a method on the same connection runs.
 *
 * Opening (is_io_service_open_extended): newUserClient (the client's init/initWithTask calls
 * reserve(), i.e. setTerminateDefer(NULL, true): kIOServiceStartState), then the kernel's own
 * checks (entitlements, MACF, the sandbox filter, registerOwner): a failure there calls
 * client->clientClose() itself, with `closed` unset, (11+: setTerminateDefer(service, false))
 * and releases the client; on success setTerminateDefer(service, false) lets a terminating
 * provider go on. A task that dies while its open is in flight never gets the connection: the
 * reply carrying the send right cannot be delivered, the right dies, clientDied follows.
 */
#include <IOKit/IOUserClient.h>
#include <sys/proc.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <map>
#include <memory>
#include <shared_mutex>

#include "sim.hpp"

struct xsim_task {
    uint32_t id;
    uint32_t euid;
    int pid;
    std::string name;
    bool alive = true;
};

struct xsim_connection {
    uint64_t id;
    xsim_task *task;
    IOUserClient *client; /* the port's reference; null once the port is destroyed */
    std::shared_mutex ipc; /* 11+: IOUserClient's IPC lock */
    std::mutex lock;       /* 10.15: IOUserClient::lock */
};

/* clientClose / clientDied: the 11+ write lock, or the 10.15 client->lock. */
struct xsim_close_lock {
    explicit xsim_close_lock(xsim_connection &c) : connection(c)
    {
        if (xsim_catalina()) {
            connection.lock.lock();
        } else {
            connection.ipc.lock();
        }
    }
    ~xsim_close_lock()
    {
        if (xsim_catalina()) {
            connection.lock.unlock();
        } else {
            connection.ipc.unlock();
        }
    }
    xsim_connection &connection;
};

namespace {
/* Test hooks. */
std::mutex sHooksLock;
std::condition_variable sHooksChanged;
int32_t sFailNextOpen = 0;
bool sPauseNextOpen = false;
bool sOpenPaused = false;
bool sOpenReleased = false;
uint64_t sParkConnection = 0;
bool sMethodParked = false;
bool sMethodReleased = false;
} // namespace

static const int MIG_ARRAY_TOO_LARGE = -307;
static const size_t kInbandStructMax = 4096;
static const uint32_t kScalarMax = 16;

static std::mutex sPortsLock;
static std::map<uint32_t, std::unique_ptr<xsim_task>> sTasks;
static std::map<uint64_t, std::shared_ptr<xsim_connection>> sConnections;
static uint32_t sNextTask = 1;
static uint64_t sNextConnection = 1;

static thread_local xsim_task *tCurrentTask = nullptr;

xsim_task *xsim_current_task() { return tCurrentTask; }
xsim_task_scope::xsim_task_scope(xsim_task *task) : previous(tCurrentTask) { tCurrentTask = task; }
xsim_task_scope::~xsim_task_scope() { tCurrentTask = previous; }

extern "C" task_t current_task(void) { return reinterpret_cast<task_t>(tCurrentTask); }

extern "C" int proc_selfpid(void) { return tCurrentTask ? tCurrentTask->pid : 0; }

extern "C" void proc_selfname(char *buf, int size)
{
    if (size > 0) {
        snprintf(buf, (size_t)size, "%s", tCurrentTask ? tCurrentTask->name.c_str() : "kernel_task");
    }
}

static xsim_task *taskOf(void *token) { return static_cast<xsim_task *>(token); }

/* ---- IOUserClient ---- */

OSDefineMetaClassAndAbstractStructors(IOUserClient, IOService)

bool IOUserClient::initWithTask(task_t owningTask, void *securityToken, UInt32 type,
                                OSDictionary *properties)
{
    bool ok = IOService::init(properties);
    ok &= initWithTask(owningTask, securityToken, type);
    return ok;
}

/* IOUserClient::initWithTask -> reserve(): setTerminateDefer(NULL, true). */
bool IOUserClient::initWithTask(task_t owningTask, void *, UInt32)
{
    if (!fService && !IOService::init(nullptr)) {
        return false;
    }
    fOwningTask = owningTask;
    setTerminateDefer(nullptr, true);
    return true;
}

IOService *IOUserClient::getService(void) { return nullptr; }

IOReturn IOUserClient::clientClose(void) { return kIOReturnUnsupported; }

IOReturn IOUserClient::clientDied(void)
{
    IOReturn ret = kIOReturnNotReady;
    if (__sync_bool_compare_and_swap(&closed, 0, 1)) {
        ret = clientClose();
    }
    return ret;
}

IOReturn IOUserClient::externalMethod(uint32_t, IOExternalMethodArguments *args,
                                      IOExternalMethodDispatch *dispatch, OSObject *target,
                                      void *reference)
{
    if (dispatch) {
        uint32_t count = dispatch->checkScalarInputCount;
        if (count != kIOUCVariableStructureSize && count != args->scalarInputCount) {
            return kIOReturnBadArgument;
        }
        count = dispatch->checkStructureInputSize;
        if (count != kIOUCVariableStructureSize &&
            count != (args->structureInputDescriptor ? args->structureInputDescriptor->getLength()
                                                     : args->structureInputSize)) {
            return kIOReturnBadArgument;
        }
        count = dispatch->checkScalarOutputCount;
        if (count != kIOUCVariableStructureSize && count != args->scalarOutputCount) {
            return kIOReturnBadArgument;
        }
        count = dispatch->checkStructureOutputSize;
        if (count != kIOUCVariableStructureSize &&
            count != (args->structureOutputDescriptor ? args->structureOutputDescriptor->getLength()
                                                      : args->structureOutputSize)) {
            return kIOReturnBadArgument;
        }
        if (dispatch->function) {
            return (*dispatch->function)(target, reference, args);
        }
        return kIOReturnNoCompletion;
    }
    if (args->structureInputDescriptor || args->structureOutputDescriptor) {
        return kIOReturnIPCError;
    }
    /* The legacy getTargetAndMethodForIndex tables are not modelled: none is declared. */
    return kIOReturnUnsupported;
}

IOReturn IOUserClient::clientHasPrivilege(void *securityToken, const char *privilegeName)
{
    if (!privilegeName || strcmp(privilegeName, kIOClientPrivilegeAdministrator) != 0) {
        xsim_unmodelled("IOUserClient::clientHasPrivilege with a privilege other than administrator");
    }
    xsim_task *task = taskOf(securityToken);
    if (!task) {
        return kIOReturnBadArgument;
    }
    return task->euid == 0 ? kIOReturnSuccess : kIOReturnNotPrivileged;
}

/* ---- ports ---- */

/* Takes the port's reference away from the connection; the caller releases it. */
static IOUserClient *detachPort(xsim_connection &connection)
{
    IOUserClient *client = connection.client;
    if (client) {
        std::lock_guard<std::recursive_mutex> guard(xsim_registry::lock());
        xsim_registry::state(client).connection = nullptr;
        connection.client = nullptr;
    }
    return client;
}

/* object_ports.cpp: the victim's IKOT_IOKIT_OBJECT ports (IOMachPort::releasePortForObject). */
void xsim_object_ports_destroy(IOService *victim);

void xsim_destroy_user_references(IOService *victim)
{
    xsim_object_ports_destroy(victim);
    IOUserClient *client = OSDynamicCast(IOUserClient, victim);
    if (!client) {
        return;
    }
    IOUserClient *portReference = nullptr;
    {
        std::lock_guard<std::mutex> guard(sPortsLock);
        xsim_connection *connection;
        {
            std::lock_guard<std::recursive_mutex> guard2(xsim_registry::lock());
            connection = xsim_registry::state(client).connection;
        }
        if (connection) {
            portReference = detachPort(*connection);
            xsim_count("connection.destroyed_by_terminate");
        }
    }
    if (portReference) {
        portReference->release();
    }
}

/* The last send right died: clientDied on the releasing thread, then the port goes. */
static void lastSendRightDied(const std::shared_ptr<xsim_connection> &connection)
{
    IOUserClient *client;
    {
        std::lock_guard<std::mutex> guard(sPortsLock);
        client = connection->client;
        if (client) {
            client->retain();
        }
    }
    if (client) {
        {
            xsim_close_lock locked(*connection);
            xsim_count("clientDied");
            client->clientDied();
        }
        client->release();
    }
    IOUserClient *portReference;
    {
        std::lock_guard<std::mutex> guard(sPortsLock);
        portReference = detachPort(*connection);
        sConnections.erase(connection->id);
    }
    if (portReference) {
        portReference->release();
    }
}

void xsim_tasks_reset()
{
    std::lock_guard<std::mutex> guard(sPortsLock);
    if (!sConnections.empty()) {
        xsim_violation("boot with %zu connections still open", sConnections.size());
    }
    sTasks.clear();
}

extern "C" uint32_t xsim_task_spawn(uint32_t euid, const char *name)
{
    std::lock_guard<std::mutex> guard(sPortsLock);
    auto task = std::make_unique<xsim_task>();
    task->id = sNextTask++;
    task->euid = euid;
    task->pid = 1000 + (int)task->id;
    task->name = name ? name : "task";
    uint32_t id = task->id;
    sTasks.emplace(id, std::move(task));
    return id;
}

static xsim_task *liveTask(uint32_t id)
{
    auto found = sTasks.find(id);
    return found != sTasks.end() && found->second->alive ? found->second.get() : nullptr;
}

/* seteuid: the task's credential changes (kauth_cred_proc_update -> set_security_token);
 * clientHasPrivilege reads it at the next open. False for a dead or unknown task. */
extern "C" bool xsim_task_set_euid(uint32_t id, uint32_t euid)
{
    std::lock_guard<std::mutex> guard(sPortsLock);
    xsim_task *task = liveTask(id);
    if (task) {
        task->euid = euid;
    }
    return task != nullptr;
}

extern "C" void xsim_task_kill(uint32_t id)
{
    std::vector<std::shared_ptr<xsim_connection>> connections;
    {
        std::lock_guard<std::mutex> guard(sPortsLock);
        xsim_task *task = liveTask(id);
        if (!task) {
            return;
        }
        task->alive = false;
        for (auto &entry : sConnections) {
            if (entry.second->task == task) {
                connections.push_back(entry.second);
            }
        }
    }
    for (auto &connection : connections) {
        lastSendRightDied(connection);
    }
}

void xsim_tasks_kill_all()
{
    std::vector<uint32_t> ids;
    {
        std::lock_guard<std::mutex> guard(sPortsLock);
        for (auto &entry : sTasks) {
            ids.push_back(entry.first);
        }
    }
    for (uint32_t id : ids) {
        xsim_task_kill(id);
    }
}

extern "C" int32_t xsim_open(uint32_t taskID, const char *className, uint32_t type,
                             uint64_t *connectionOut)
{
    xsim_task *task;
    {
        std::lock_guard<std::mutex> guard(sPortsLock);
        task = liveTask(taskID);
    }
    if (!task) {
        return MACH_SEND_INVALID_DEST;
    }
    /* IOServiceGetMatchingService: a port holding a reference, released right after opening. */
    std::vector<IOService *> matching = xsim_registry::copyMatching(className);
    if (matching.empty()) {
        return MACH_SEND_INVALID_DEST; /* IOServiceOpen(IO_OBJECT_NULL, ...) */
    }
    IOService *service = matching.front();
    for (size_t i = 1; i < matching.size(); i++) {
        matching[i]->release();
    }
    IOUserClient *client = nullptr;
    IOReturn result;
    {
        xsim_task_scope scope(task);
        result = service->newUserClient(reinterpret_cast<task_t>(task), task, type, nullptr,
                                        &client);
    }
    if (result == kIOReturnSuccess && !OSDynamicCast(IOUserClient, client)) {
        result = kIOReturnError;
    }
    if (result == kIOReturnSuccess) {
        int32_t failWith;
        {
            std::unique_lock<std::mutex> held(sHooksLock);
            if (sPauseNextOpen) {
                sPauseNextOpen = false;
                sOpenPaused = true;
                sOpenReleased = false;
                sHooksChanged.notify_all();
                sHooksChanged.wait(held, [] { return sOpenReleased; });
                sOpenPaused = false;
            }
            failWith = sFailNextOpen;
            sFailNextOpen = 0;
        }
        if (failWith != 0) {
            /* entitlement / mac_iokit_check_open / the sandbox filter / registerOwner failed */
            xsim_count("open.failed_after_newUserClient");
            {
                xsim_task_scope scope(task);
                client->clientClose(); /* `closed` stays unset */
            }
            if (!xsim_catalina()) {
                client->setTerminateDefer(service, false);
            }
            client->release();
            service->release();
            return failWith;
        }
        client->setTerminateDefer(service, false);
        auto connection = std::make_shared<xsim_connection>();
        connection->task = task;
        connection->client = client; /* the reference newUserClient returned */
        bool terminatedMeanwhile;
        bool taskDied;
        {
            std::lock_guard<std::mutex> guard(sPortsLock);
            connection->id = sNextConnection++;
            sConnections.emplace(connection->id, connection);
            taskDied = !task->alive;
            std::lock_guard<std::recursive_mutex> guard2(xsim_registry::lock());
            terminatedMeanwhile = xsim_registry::state(client).inactive;
            if (!terminatedMeanwhile) {
                xsim_registry::state(client).connection = connection.get();
            } else {
                connection->client = nullptr;
            }
        }
        if (terminatedMeanwhile) {
            client->release();
        }
        xsim_count("connection.opened");
        if (taskDied) {
            /* The reply with the send right goes to a dead task: the right dies with it. */
            xsim_count("connection.opened_by_dead_task");
            lastSendRightDied(connection);
            result = MACH_SEND_INVALID_DEST;
        } else {
            *connectionOut = connection->id;
        }
    }
    service->release();
    return result;
}

/* Looks up a connection whose port still refers to its client; retains the client. */
static std::shared_ptr<xsim_connection> lookup(uint64_t id, IOUserClient **client)
{
    std::lock_guard<std::mutex> guard(sPortsLock);
    auto found = sConnections.find(id);
    if (found == sConnections.end() || !found->second->client || !found->second->task->alive) {
        return nullptr;
    }
    *client = found->second->client;
    (*client)->retain();
    return found->second;
}

/* mach_port_deallocate of a connection's last send right without IOServiceClose: clientDied on
 * this thread (iokit_client_died), then the port goes. False if the port was already destroyed
 * (the task held a dead name). */
extern "C" bool xsim_connection_deallocate(uint64_t id)
{
    IOUserClient *client = nullptr;
    std::shared_ptr<xsim_connection> connection = lookup(id, &client);
    if (!connection) {
        std::lock_guard<std::mutex> guard(sPortsLock);
        sConnections.erase(id);
        return false;
    }
    client->release();
    lastSendRightDied(connection);
    return true;
}

extern "C" int32_t xsim_call(uint64_t id, uint32_t selector, const uint64_t *scalarIn,
                             uint32_t scalarInCount, const void *structIn, size_t structInSize,
                             uint64_t *scalarOut, uint32_t *scalarOutCount, void *structOut,
                             size_t *structOutSize)
{
    if (scalarInCount > kScalarMax) {
        return MIG_ARRAY_TOO_LARGE; /* the MIG stub refuses to send */
    }
    if (structInSize > UINT32_MAX || *structOutSize > UINT32_MAX) {
        return kIOReturnIPCError;
    }
    IOUserClient *client = nullptr;
    std::shared_ptr<xsim_connection> connection = lookup(id, &client);
    if (!connection) {
        return MACH_SEND_INVALID_DEST;
    }
    uint64_t scalarsIn[kScalarMax] = {};
    memcpy(scalarsIn, scalarIn, scalarInCount * sizeof(uint64_t));
    /* The reply's buffers are not zeroed by MIG; here they hold a pattern, so that a refused call
     * that wrote them anyway is seen (counted: the reply discards them, a client never sees it). */
    const unsigned char kUnwritten = 0xa5;
    uint64_t scalarsOut[kScalarMax];
    memset(scalarsOut, kUnwritten, sizeof(scalarsOut));
    std::vector<unsigned char> structInCopy((const unsigned char *)structIn,
                                            (const unsigned char *)structIn + structInSize);
    std::vector<unsigned char> structOutBuffer(*structOutSize, kUnwritten);

    IOExternalMethodArguments args = {};
    args.version = kIOExternalMethodArgumentsCurrentVersion;
    args.selector = selector;
    args.scalarInput = scalarsIn;
    args.scalarInputCount = scalarInCount;
    /* As IOConnectCallMethod: structs above 4096 bytes travel out of line. */
    if (structInSize > kInbandStructMax) {
        args.structureInputDescriptor = IOMemoryDescriptor::xsimWithBytes(structInCopy.data(),
                                                                          structInSize);
    } else {
        args.structureInput = structInSize ? structInCopy.data() : nullptr;
        args.structureInputSize = (uint32_t)structInSize;
    }
    args.scalarOutput = scalarsOut;
    args.scalarOutputCount = *scalarOutCount < kScalarMax ? *scalarOutCount : kScalarMax;
    if (*structOutSize > kInbandStructMax) {
        args.structureOutputDescriptor = IOMemoryDescriptor::xsimWithBytes(structOutBuffer.data(),
                                                                           *structOutSize);
        args.structureOutputDescriptorSize = (uint32_t)*structOutSize;
    } else {
        args.structureOutput = structOutBuffer.data();
        args.structureOutputSize = (uint32_t)*structOutSize;
    }

    IOReturn result;
    {
        /* 11+: ipcEnter(kIPCLockRead); 10.15: no lock at all. */
        std::shared_lock<std::shared_mutex> ipc(connection->ipc, std::defer_lock);
        if (!xsim_catalina()) {
            ipc.lock();
        }
        {
            std::unique_lock<std::mutex> held(sHooksLock);
            if (sParkConnection == id) {
                sParkConnection = 0;
                sMethodParked = true;
                sMethodReleased = false;
                sHooksChanged.notify_all();
                sHooksChanged.wait(held, [] { return sMethodReleased; });
                sMethodParked = false;
            }
        }
        xsim_task_scope scope(connection->task);
        result = client->externalMethod(selector, &args, nullptr, nullptr, nullptr);
    }
    client->release();
    OSSafeReleaseNULL(args.structureInputDescriptor);
    OSSafeReleaseNULL(args.structureOutputDescriptor);
    if (result != kIOReturnSuccess) {
        bool written = false;
        for (uint32_t i = 0; i < kScalarMax; i++) {
            uint64_t unwritten;
            memset(&unwritten, kUnwritten, sizeof(unwritten));
            written |= scalarsOut[i] != unwritten;
        }
        for (unsigned char b : structOutBuffer) {
            written |= b != kUnwritten;
        }
        xsim_count("externalMethod.refused");
        if (written) {
            xsim_count("externalMethod.refused_wrote_outputs");
        }
        return result; /* a MIG error reply carries no out data */
    }
    uint32_t scalarsWritten = args.scalarOutputCount;
    if (scalarsWritten > *scalarOutCount || scalarsWritten > kScalarMax) {
        xsim_violation("externalMethod reported %u output scalars for a capacity of %u",
                       scalarsWritten, *scalarOutCount);
    }
    memcpy(scalarOut, scalarsOut, scalarsWritten * sizeof(uint64_t));
    *scalarOutCount = scalarsWritten;
    size_t bytesWritten = *structOutSize > kInbandStructMax ? args.structureOutputDescriptorSize
                                                            : args.structureOutputSize;
    if (bytesWritten > *structOutSize) {
        xsim_violation("externalMethod reported %zu output bytes for a capacity of %zu",
                       bytesWritten, *structOutSize);
    }
    memcpy(structOut, structOutBuffer.data(), bytesWritten);
    *structOutSize = bytesWritten;
    return result;
}

extern "C" int32_t xsim_close(uint64_t id)
{
    IOUserClient *client = nullptr;
    std::shared_ptr<xsim_connection> connection = lookup(id, &client);
    if (!connection) {
        std::lock_guard<std::mutex> guard(sPortsLock);
        sConnections.erase(id); /* mach_port_deallocate of the dead name */
        return MACH_SEND_INVALID_DEST;
    }
    {
        xsim_count("ipc.close_waiting_for_lock");
        xsim_close_lock locked(*connection);
        xsim_count("ipc.close_has_lock");
        xsim_task_scope scope(connection->task);
        if (__sync_bool_compare_and_swap(&client->closed, 0, 1)) {
            xsim_count("clientClose");
            client->clientClose();
        } else {
            IOLog("ignored is_io_service_close(0x%llx,%s)\n",
                  (unsigned long long)client->getRegistryEntryID(), client->getName());
        }
    }
    client->release();
    /* IOServiceClose deallocates the caller's send right: the last one. */
    lastSendRightDied(connection);
    return kIOReturnSuccess;
}

/* is_io_connect_get_service: client->getService() (no IPC lock taken for it); NULL ->
 * kIOReturnUnsupported. */
extern "C" int32_t xsim_connect_get_service(uint64_t id, char *className, size_t capacity)
{
    IOUserClient *client = nullptr;
    std::shared_ptr<xsim_connection> connection = lookup(id, &client);
    if (!connection) {
        return MACH_SEND_INVALID_DEST;
    }
    IOService *service = client->getService();
    if (service) {
        service->retain();
        snprintf(className, capacity, "%s", service->getMetaClass()->getClassName());
        service->release(); /* the io_object_t user space would IOObjectRelease */
    }
    client->release();
    return service ? kIOReturnSuccess : kIOReturnUnsupported;
}

void xsim_userclient_hooks_reset()
{
    std::lock_guard<std::mutex> guard(sHooksLock);
    sFailNextOpen = 0;
    sPauseNextOpen = false;
    sParkConnection = 0;
}

extern "C" void xsim_hook_fail_next_open(int32_t code)
{
    std::lock_guard<std::mutex> guard(sHooksLock);
    sFailNextOpen = code;
}

extern "C" void xsim_hook_pause_next_open(void)
{
    std::lock_guard<std::mutex> guard(sHooksLock);
    sPauseNextOpen = true;
}

extern "C" bool xsim_hook_wait_open_paused(uint32_t timeoutMs)
{
    std::unique_lock<std::mutex> held(sHooksLock);
    return sHooksChanged.wait_for(held, std::chrono::milliseconds(timeoutMs),
                                  [] { return sOpenPaused; });
}

extern "C" void xsim_hook_release_open(void)
{
    std::lock_guard<std::mutex> guard(sHooksLock);
    sPauseNextOpen = false;
    sOpenReleased = true;
    sHooksChanged.notify_all();
}

extern "C" void xsim_hook_park_next_method(uint64_t connection)
{
    std::lock_guard<std::mutex> guard(sHooksLock);
    sParkConnection = connection;
}

extern "C" bool xsim_hook_wait_method_parked(uint32_t timeoutMs)
{
    std::unique_lock<std::mutex> held(sHooksLock);
    return sHooksChanged.wait_for(held, std::chrono::milliseconds(timeoutMs),
                                  [] { return sMethodParked; });
}

extern "C" void xsim_hook_release_method(void)
{
    std::lock_guard<std::mutex> guard(sHooksLock);
    sParkConnection = 0;
    sMethodReleased = true;
    sHooksChanged.notify_all();
}
