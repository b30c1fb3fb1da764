/*
 * Termination of an IOService (KERNEL-FACTS.md "Termination of an IOService").
 *
 * Phase 1 runs on the caller's thread: the victim goes inactive, its user references (the
 * connection of a user client) are destroyed, and each client is asked requestTerminate and,
 * having no other provider, terminated with it. Phases 2 and 3 (willTerminate, didTerminate,
 * stop, detach; clients before their provider) run on whichever thread holds the terminate
 * role: the worker thread, or a kIOServiceSynchronous caller, which waits at most 15 s and logs
 * xnu's "PLEASE FIX" line when that runs out. (xnu bounds the wait for busy victims; the model
 * has no busy state, so it bounds the wait for the terminate role, held by a slow stop().)
 */
#include <atomic>
#include <chrono>
#include <deque>
#include <memory>
#include <thread>

#include "sim.hpp"

namespace {

struct Victim {
    IOService *service;  /* retained */
    IOService *provider; /* retained */
};

struct Batch {
    std::vector<Victim> victims; /* phase-1 order: providers before their clients */
    IOOptionBits options;
};

/* Never destroyed: the service thread waits on it until the process exits. */
std::mutex &sJobsLock = *new std::mutex;
/* Never destroyed: the service thread waits on it until the process exits. */
std::condition_variable &sJobsChanged = *new std::condition_variable;
std::deque<std::unique_ptr<Batch>> sQueue;
thread_t sTerminateThread = nullptr; /* holder of the terminate role */
std::atomic<uint32_t> sSynchronousBoundMs{15000};

/* Marks victim inactive and collects it and the clients that agree to go with it. */
void collect(IOService *victim, Batch &batch)
{
    std::vector<IOService *> clients;
    IOService *provider;
    {
        std::lock_guard<std::recursive_mutex> guard(xsim_registry::lock());
        xsim_service &state = xsim_registry::state(victim);
        if (state.inactive) {
            return;
        }
        state.inactive = true;
        provider = state.provider;
        clients = state.clients;
        for (IOService *client : clients) {
            client->retain();
        }
        victim->retain();
        if (provider) {
            provider->retain();
        }
    }
    batch.victims.push_back({victim, provider});
    xsim_count(std::string("terminate.inactive:") + victim->getMetaClass()->getClassName());
    xsim_destroy_user_references(victim);
    for (IOService *client : clients) {
        if (client->requestTerminate(victim, batch.options)) {
            collect(client, batch);
        }
        client->release();
    }
}

void stopAndDetach(const Victim &v, IOOptionBits options, bool isClient)
{
    const char *className = v.service->getMetaClass()->getClassName();
    if (isClient) {
        bool defer = false;
        v.service->didTerminate(v.provider, options, &defer);
    }
    if (!v.provider) {
        return;
    }
    {
        std::lock_guard<std::recursive_mutex> guard(xsim_registry::lock());
        if (xsim_registry::state(v.service).stops++ > 0) {
            xsim_violation("%s stopped twice", className);
        }
    }
    xsim_kauth_stop_begin();
    v.service->stop(v.provider);
    xsim_kauth_stop_end(className);
    xsim_count(std::string("stop:") + className);
    v.service->detach(v.provider);
}

void runPhases2And3(Batch &batch)
{
    for (size_t i = 1; i < batch.victims.size(); i++) {
        batch.victims[i].service->willTerminate(batch.victims[i].provider, batch.options);
    }
    for (size_t i = batch.victims.size(); i-- > 0;) {
        stopAndDetach(batch.victims[i], batch.options, i > 0);
    }
    for (const Victim &v : batch.victims) {
        if (v.provider) {
            v.provider->release();
        }
        v.service->release();
    }
}

/* Called with sJobsLock held by the holder of the terminate role. */
void drainQueue(std::unique_lock<std::mutex> &held)
{
    while (!sQueue.empty()) {
        std::unique_ptr<Batch> batch = std::move(sQueue.front());
        sQueue.pop_front();
        held.unlock();
        runPhases2And3(*batch);
        batch.reset();
        xsim_busy_end();
        held.lock();
    }
}

void workerMain()
{
    std::unique_lock<std::mutex> held(sJobsLock);
    for (;;) {
        sJobsChanged.wait(held, [] { return !sQueue.empty() && !sTerminateThread; });
        sTerminateThread = current_thread();
        drainQueue(held);
        sTerminateThread = nullptr;
        sJobsChanged.notify_all();
    }
}

} // namespace

void xsim_terminate_start_worker()
{
    static std::once_flag started;
    std::call_once(started, [] { std::thread(workerMain).detach(); });
}

bool xsim_terminate_phase1(IOService *victim, IOOptionBits options)
{
    auto batch = std::make_unique<Batch>();
    batch->options = options;
    collect(victim, *batch);
    if (batch->victims.empty()) {
        return true; /* already inactive: nothing more to do, as in xnu */
    }
    xsim_busy_begin();
    std::unique_lock<std::mutex> held(sJobsLock);
    sQueue.push_back(std::move(batch));
    if (!(options & kIOServiceSynchronous) || current_thread() == sTerminateThread) {
        sJobsChanged.notify_all();
        return true;
    }
    auto deadline = std::chrono::steady_clock::now() +
                    std::chrono::milliseconds(sSynchronousBoundMs.load());
    while (sTerminateThread) {
        if (sJobsChanged.wait_until(held, deadline) == std::cv_status::timeout && sTerminateThread) {
            IOLog("%s[0x%llx]::terminate(kIOServiceSynchronous): THREAD_TIMED_OUT. "
                  "Attempting to auto-resolve your deadlock. PLEASE FIX!\n",
                  victim->getName(), (unsigned long long)victim->getRegistryEntryID());
            sJobsChanged.notify_all();
            return true;
        }
    }
    sTerminateThread = current_thread();
    drainQueue(held);
    sTerminateThread = nullptr;
    sJobsChanged.notify_all();
    return true;
}

extern "C" void xsim_set_synchronous_terminate_bound_ms(uint32_t milliseconds)
{
    sSynchronousBoundMs.store(milliseconds);
}
