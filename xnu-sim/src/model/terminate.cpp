/*
 * Termination of an IOService, following xnu's IOService.cpp (same in 6153, 7195 and 11417):
 *
 * terminatePhase1 (caller's thread): each victim goes inactive and busy (_adjustBusy(1)), its
 * user references are destroyed, and each client is asked requestTerminate(victim), whose base
 * calls victim->terminateClient(client, options | kIOServiceRecursing), i.e. the client's own
 * (virtual) terminate(); clients that went inactive become victims too. Then
 * scheduleTerminatePhase2:
 *  - asynchronous: queue the victim for the terminate worker thread (terminateThread);
 *  - kIOServiceSynchronous: waitToBecomeTerminateThread() WITHOUT a timeout
 *    (IOLockSleepWithInheritor(..., TIMEOUT_WAIT_FOREVER)), then run terminateWorker() itself,
 *    everybody's queued work included; then, while the victim is still busy, release the role
 *    and sleep until more terminate work arrives, bounded by ONE 15 s deadline
 *    (clock_interval_to_deadline(15, kSecondScale)); when that runs out, log "PLEASE FIX!" and go on.
 * terminateWorker: phase 2 (a victim whose clients hold kIOServiceStartState is deferred):
 * actionWillTerminate (clients' willTerminate), then per victim actionDidTerminate (clients'
 * didTerminate -> scheduleStop), finalize of victims without clients; phase 3: actionFinalize,
 * then actionStop(provider, client) = stop + detach, a client's stop deferred until it is
 * finalized. Every action runs through _workLoopAction (gate.cpp): on IOResources, inside the
 * platform work-loop gate.
 */
#include <algorithm>
#include <deque>
#include <memory>
#include <thread>

#include "sim.hpp"

namespace {

struct Stop {
    IOService *client;   /* retained */
    IOService *provider; /* retained */
};

/* gJobsLock and its lists. Never destroyed: the worker waits on them until the process exits. */
std::mutex &sJobsLock = *new std::mutex;
std::condition_variable &sJobsChanged = *new std::condition_variable;
std::deque<IOService *> sPhase2List;   /* gIOTerminatePhase2List, retained */
std::deque<Stop> sStopList;            /* gIOStopList + gIOStopProviderList */
std::deque<IOService *> sFinalizeList; /* gIOFinalizeList, retained */
unsigned sWork = 0;                    /* gIOTerminateWork */
uint64_t sWorkWakeups = 0;             /* IOLockWakeup(&gIOTerminateWork) */
thread_t sTerminateThread = nullptr;   /* gIOTerminateThread */
/* Test hook: the worker stops once it holds the role. */
bool sHoldWorker = false;
bool sWorkerHeld = false;

const uint64_t kSynchronousBusyBoundNs = 15ull * 1000 * 1000 * 1000;

/* Called with sJobsLock held. */
void wakeWork()
{
    sWorkWakeups++;
    sJobsChanged.notify_all();
}

void addWork()
{
    if (sWork++ == 0) {
        wakeWork();
    }
}

void waitToBecomeTerminateThread(std::unique_lock<std::mutex> &held)
{
    if (sTerminateThread) {
        xsim_count("terminate.role_waits");
        sJobsChanged.wait(held, [] { return sTerminateThread == nullptr; });
    }
    sTerminateThread = current_thread();
}

void releaseRole()
{
    sTerminateThread = nullptr;
    sJobsChanged.notify_all();
    xsim_quiet_changed();
}

std::vector<IOService *> copyClients(IOService *service)
{
    std::lock_guard<std::recursive_mutex> guard(xsim_registry::lock());
    std::vector<IOService *> clients = xsim_registry::state(service).clients;
    for (IOService *client : clients) {
        client->retain();
    }
    return clients;
}

void actionStop(IOService *provider, IOService *client)
{
    const char *className = client->getMetaClass()->getClassName();
    {
        std::lock_guard<std::recursive_mutex> guard(xsim_registry::lock());
        if (xsim_registry::state(client).stops++ > 0) {
            xsim_violation("%s stopped twice", className);
        }
    }
    xsim_gate_run(provider, client, "stop", [&] { client->stop(provider); });
    xsim_count(std::string("stop:") + className);
    client->detach(provider);
}

/* IOService::terminateWorker, entered and left with sJobsLock held. */
void terminateWorker(std::unique_lock<std::mutex> &held, IOOptionBits options)
{
    options |= kIOServiceRequired;
    std::vector<IOService *> freeList;
    bool moreToDo;
    do {
        unsigned workDone = sWork;
        while (!sPhase2List.empty()) {
            IOService *victim = sPhase2List.front();
            sPhase2List.pop_front();
            held.unlock();
            std::deque<IOService *> doPhase2List;
            std::deque<IOService *> didPhase2List;
            while (victim) {
                bool doPhase2;
                {
                    std::lock_guard<std::recursive_mutex> guard(xsim_registry::lock());
                    xsim_service &state = xsim_registry::state(victim);
                    doPhase2 = state.inactive && !state.termPhase1 && !state.termPhase2;
                    for (IOService *client : state.clients) {
                        if (doPhase2 && xsim_registry::state(client).startState) {
                            doPhase2 = false;
                            xsim_count("terminate.phase2_deferred");
                        }
                    }
                    if (doPhase2) {
                        state.termPhase2 = true;
                    }
                }
                if (doPhase2) {
                    /* actionWillTerminate(victim), on the victim's work loop. */
                    for (IOService *client : copyClients(victim)) {
                        xsim_gate_run(victim, client, "willTerminate",
                                      [&] { client->willTerminate(victim, options); });
                        doPhase2List.push_back(client); /* keeps the copy's reference */
                    }
                    victim->retain();
                    didPhase2List.push_front(victim);
                }
                victim->release();
                victim = nullptr;
                if (!doPhase2List.empty()) {
                    victim = doPhase2List.front();
                    doPhase2List.pop_front();
                }
            }
            for (IOService *done : didPhase2List) {
                bool scheduleFinalize;
                {
                    std::lock_guard<std::recursive_mutex> guard(xsim_registry::lock());
                    xsim_service &state = xsim_registry::state(done);
                    state.termPhase3 = true;
                    scheduleFinalize = state.clients.empty();
                }
                /* actionDidTerminate(victim): each client's didTerminate schedules its stop. */
                for (IOService *client : copyClients(done)) {
                    bool defer = false;
                    xsim_gate_run(done, client, "didTerminate",
                                  [&] { client->didTerminate(done, options, &defer); });
                    client->release();
                }
                if (scheduleFinalize) {
                    xsim_terminate_schedule_finalize(done);
                }
                done->release();
            }
            held.lock();
        }

        /* phase 3 */
        bool doPhase3;
        do {
            doPhase3 = false;
            while (!sFinalizeList.empty()) {
                IOService *victim = sFinalizeList.front();
                held.unlock();
                bool sendFinal;
                {
                    std::lock_guard<std::recursive_mutex> guard(xsim_registry::lock());
                    xsim_service &state = xsim_registry::state(victim);
                    sendFinal = !state.finalized;
                    state.finalized = true;
                }
                if (sendFinal) {
                    xsim_gate_run(victim, victim, "finalize", [&] { victim->finalize(options); });
                }
                held.lock();
                freeList.push_back(victim); /* hold off free */
                sFinalizeList.pop_front();
            }
            for (size_t idx = 0; !doPhase3 && idx < sStopList.size();) {
                Stop stop = sStopList[idx];
                bool isChild;
                bool deferStop;
                {
                    std::lock_guard<std::recursive_mutex> guard(xsim_registry::lock());
                    xsim_service &state = xsim_registry::state(stop.client);
                    isChild = state.provider == stop.provider;
                    /* a terminated client is not ready for stop until it is finalized */
                    deferStop = state.inactive && !state.finalized;
                }
                if (isChild) {
                    if (deferStop) {
                        idx++;
                        continue;
                    }
                    held.unlock();
                    actionStop(stop.provider, stop.client);
                    held.lock();
                    doPhase3 = true;
                }
                freeList.push_back(stop.client);
                freeList.push_back(stop.provider);
                sStopList.erase(sStopList.begin() + (long)idx);
                idx = 0;
            }
        } while (doPhase3);

        sWork -= workDone;
        moreToDo = sWork != 0;
    } while (moreToDo);

    held.unlock();
    for (IOService *service : freeList) {
        service->release();
    }
    held.lock();
}

void workerMain()
{
    std::unique_lock<std::mutex> held(sJobsLock);
    for (;;) {
        sJobsChanged.wait(held, [] { return sWork > 0; });
        waitToBecomeTerminateThread(held);
        if (sHoldWorker) {
            sWorkerHeld = true;
            sJobsChanged.notify_all();
            sJobsChanged.wait(held, [] { return !sHoldWorker; });
            sWorkerHeld = false;
        }
        while (sWork) {
            /* The worker is a kernel thread: fixed priority BASEPRI_KERNEL. */
            xsim_cpu_job job("terminate worker", 81);
            terminateWorker(held, 0);
        }
        releaseRole();
    }
}

} // namespace

void xsim_terminate_start_worker()
{
    static std::once_flag started;
    std::call_once(started, [] { std::thread(workerMain).detach(); });
}

bool xsim_terminate_idle()
{
    std::lock_guard<std::mutex> guard(sJobsLock);
    return sWork == 0 && sPhase2List.empty() && sTerminateThread == nullptr;
}

void xsim_terminate_reset()
{
    std::lock_guard<std::mutex> guard(sJobsLock);
    if (sWork != 0 || !sPhase2List.empty() || !sStopList.empty() || !sFinalizeList.empty()) {
        xsim_violation("boot with termination work pending");
    }
    sHoldWorker = false;
    sJobsChanged.notify_all();
}

void xsim_terminate_schedule_stop(IOService *client, IOService *provider)
{
    client->retain();
    provider->retain();
    std::lock_guard<std::mutex> guard(sJobsLock);
    sStopList.push_back({client, provider});
    addWork();
}

void xsim_terminate_schedule_finalize(IOService *victim)
{
    victim->retain();
    std::lock_guard<std::mutex> guard(sJobsLock);
    sFinalizeList.push_back(victim);
    addWork();
}

void xsim_terminate_schedule_phase2(IOService *victim, IOOptionBits options)
{
    {
        std::lock_guard<std::recursive_mutex> guard(xsim_registry::lock());
        xsim_service &state = xsim_registry::state(victim);
        if (!state.inactive || state.termPhase1) {
            return;
        }
    }
    options |= kIOServiceRequired;
    victim->retain(); /* ours, until we return */
    victim->retain(); /* the list's */
    std::unique_lock<std::mutex> held(sJobsLock);
    if ((options & kIOServiceSynchronous) && current_thread() != sTerminateThread) {
        waitToBecomeTerminateThread(held);
        sPhase2List.push_back(victim);
        sWork++;
        bool wait = false;
        bool timedOut = false;
        bool haveDeadline = false;
        uint64_t deadline = 0;
        do {
            while (sWork) {
                terminateWorker(held, options);
            }
            {
                std::lock_guard<std::recursive_mutex> guard(xsim_registry::lock());
                wait = xsim_registry::state(victim).busy != 0;
            }
            if (wait) {
                /* wait for the victim to go non-busy */
                if (!haveDeadline) {
                    deadline = xsim_now_ns() + kSynchronousBusyBoundNs;
                    haveDeadline = true;
                }
                /* let others do work while we wait */
                releaseRole();
                xsim_count("terminate.busy_waits");
                uint64_t seen = sWorkWakeups;
                if (!xsim_wait_until_ns(held, sJobsChanged, deadline,
                                        [seen] { return sWorkWakeups != seen; })) {
                    timedOut = true;
                    IOLog("%s[0x%llx]::terminate(kIOServiceSynchronous): THREAD_TIMED_OUT. "
                          "Attempting to auto-resolve your deadlock. PLEASE FIX!\n",
                          victim->getName(), (unsigned long long)victim->getRegistryEntryID());
                }
                waitToBecomeTerminateThread(held);
            }
        } while (sWork || (wait && !timedOut));
        releaseRole();
    } else {
        sPhase2List.push_back(victim);
        addWork();
    }
    held.unlock();
    victim->release();
}

bool xsim_terminate_phase1(IOService *self, IOOptionBits options)
{
    const char *selfClass = self->getMetaClass()->getClassName();
    /* -- compat: a client asked through terminateClient only goes inactive here. */
    if (options & kXsimServiceRecursing) {
        std::lock_guard<std::recursive_mutex> guard(xsim_registry::lock());
        xsim_service &state = xsim_registry::state(self);
        if (!state.inactive) {
            state.inactive = true;
            state.registered = false;
            state.recursing = true;
            state.termPhase1 = true;
            xsim_count(std::string("terminate.inactive:") + selfClass);
        }
        return true;
    }
    std::deque<IOService *> makeInactive;
    std::vector<IOService *> waitingInactive;
    bool startPhase2 = false;
    IOService *victim = self;
    victim->retain();
    while (victim) {
        bool didInactive;
        bool waitPhase1 = false;
        {
            std::lock_guard<std::recursive_mutex> guard(xsim_registry::lock());
            xsim_service &state = xsim_registry::state(victim);
            didInactive = (state.recursing && state.termPhase1) || !state.inactive;
            if (!didInactive) {
                /* a multiply visited or concurrently terminated service */
                waitPhase1 = state.termPhase1 &&
                             std::find(waitingInactive.begin(), waitingInactive.end(), victim) ==
                                 waitingInactive.end();
            } else {
                if (!state.inactive) {
                    xsim_count(std::string("terminate.inactive:") +
                               victim->getMetaClass()->getClassName());
                }
                state.inactive = true;
                state.registered = false;
                state.recursing = false;
                state.termPhase1 = true;
                victim->retain();
                waitingInactive.insert(waitingInactive.begin(), victim);
            }
        }
        if (waitPhase1) {
            xsim_registry_terminate_wait_phase1(victim);
        }
        if (didInactive) {
            xsim_registry::adjustBusy(victim, 1);
        }
        if (victim == self) {
            startPhase2 = didInactive;
        }
        if (didInactive) {
            xsim_destroy_user_references(victim);
            for (IOService *client : copyClients(victim)) {
                if (client->requestTerminate(victim, options)) {
                    makeInactive.push_back(client); /* keeps the copy's reference */
                } else {
                    client->release();
                }
            }
        }
        victim->release();
        victim = nullptr;
        if (!makeInactive.empty()) {
            victim = makeInactive.front();
            makeInactive.pop_front();
        }
    }
    for (IOService *waiting : waitingInactive) {
        {
            std::lock_guard<std::recursive_mutex> guard(xsim_registry::lock());
            xsim_registry::state(waiting).termPhase1 = false;
        }
        xsim_registry_phase1_done();
        waiting->release();
    }
    if (startPhase2) {
        xsim_terminate_schedule_phase2(self, options);
    }
    return true;
}

extern "C" void xsim_hook_hold_terminate_worker(bool hold)
{
    std::lock_guard<std::mutex> guard(sJobsLock);
    sHoldWorker = hold;
    sJobsChanged.notify_all();
}

extern "C" bool xsim_hook_wait_worker_held(uint32_t timeoutMs)
{
    std::unique_lock<std::mutex> held(sJobsLock);
    return sJobsChanged.wait_for(held, std::chrono::milliseconds(timeoutMs),
                                 [] { return sWorkerHeld; });
}
