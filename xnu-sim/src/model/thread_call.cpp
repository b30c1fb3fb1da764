/*
 * thread_call, as xnu's osfmk/kern/thread_call.c for what the kernel and the kexts here use:
 * thread_call_allocate puts a call in the "high" group (BASEPRI_PREEMPT_HIGH 93, fixed priority,
 * target of 4 threads); thread_call_enter returns TRUE if the call was already pending (a
 * pending delayed call becomes immediate); thread_call_enter_delayed (re)arms it for a deadline
 * in absolute time; thread_call_cancel dequeues a pending call (TRUE) and never waits for a
 * running one; thread_call_free returns FALSE and frees nothing while the call is pending, and
 * frees a running call when its invocation returns (tc_refs: "Delay free until we're done").
 *
 * A call whose function lies in a kext's code is checked at each invocation: running it after
 * that code was unmapped is a crash (reported, not run).
 */
#include <kern/thread_call.h>

#include <deque>
#include <map>
#include <thread>

#include "sim.hpp"

struct thread_call {
    uint64_t id;
    thread_call_func_t func;
    thread_call_param_t param0;
    thread_call_param_t param1;
    bool pending;         /* queued to run now */
    uint64_t delayedSeq;  /* nonzero: armed for a deadline (its timer's sequence) */
    uint64_t timer;
    int running;
    bool freeWhenDone;
    const xsim_module *module;
    uint64_t generation;
};

namespace {

const unsigned kMaxThreads = 4; /* the high group's target_thread_count */

/* Never destroyed: the callout threads wait on it until the process exits. */
std::mutex &sCalloutLock = *new std::mutex;
std::condition_variable &sCalloutChanged = *new std::condition_variable;
std::deque<thread_call *> sPending;
std::map<uint64_t, thread_call *> sCalls;
uint64_t sNextCall = 1;
uint64_t sNextSeq = 1;
unsigned sThreads = 0;
unsigned sRunning = 0;

void calloutMain();

/* Called with sCalloutLock held. */
void dispatch()
{
    if (sRunning >= sThreads && sThreads < kMaxThreads && !sPending.empty()) {
        sThreads++;
        std::thread(calloutMain).detach();
    }
    sCalloutChanged.notify_all();
}

void calloutMain()
{
    std::unique_lock<std::mutex> held(sCalloutLock);
    for (;;) {
        sCalloutChanged.wait(held, [] { return !sPending.empty(); });
        thread_call *call = sPending.front();
        sPending.pop_front();
        call->pending = false;
        call->running++;
        sRunning++;
        if (!sPending.empty()) {
            dispatch();
        }
        thread_call_func_t func = call->func;
        thread_call_param_t param0 = call->param0;
        thread_call_param_t param1 = call->param1;
        const xsim_module *module = call->module;
        uint64_t generation = call->generation;
        held.unlock();
        {
            xsim_cpu_job job("thread call (high group)", 93);
            if (xsim_module_check_call(module, generation, "a thread call")) {
                xsim_module_enter(module);
                func(param0, param1);
                xsim_module_exit(module);
            }
        }
        held.lock();
        call->running--;
        sRunning--;
        if (call->freeWhenDone && !call->running && !call->pending && !call->delayedSeq) {
            sCalls.erase(call->id);
            delete call;
        }
        held.unlock();
        xsim_quiet_changed();
        held.lock();
    }
}

struct Fire {
    uint64_t call;
    uint64_t seq;
};

void dropFire(void *arg) { delete static_cast<Fire *>(arg); }

void fireDelayed(void *arg)
{
    Fire *fire = static_cast<Fire *>(arg);
    {
        std::lock_guard<std::mutex> guard(sCalloutLock);
        auto found = sCalls.find(fire->call);
        if (found != sCalls.end() && found->second->delayedSeq == fire->seq) {
            thread_call *call = found->second;
            call->delayedSeq = 0;
            call->timer = 0;
            call->pending = true;
            sPending.push_back(call);
            dispatch();
        }
    }
    delete fire;
}

/* Called with sCalloutLock held: forgets an armed deadline. */
void disarm(thread_call *call)
{
    if (call->delayedSeq) {
        xsim_timer_cancel(call->timer);
        call->delayedSeq = 0;
        call->timer = 0;
    }
}

void dequeue(thread_call *call)
{
    if (call->pending) {
        for (auto it = sPending.begin(); it != sPending.end(); ++it) {
            if (*it == call) {
                sPending.erase(it);
                break;
            }
        }
        call->pending = false;
    }
}

} // namespace

void xsim_thread_call_start()
{
    std::lock_guard<std::mutex> guard(sCalloutLock);
    if (sThreads == 0) {
        sThreads = 1;
        std::thread(calloutMain).detach();
    }
}

bool xsim_thread_calls_idle()
{
    std::lock_guard<std::mutex> guard(sCalloutLock);
    return sPending.empty() && sRunning == 0;
}

extern "C" thread_call_t thread_call_allocate(thread_call_func_t func, thread_call_param_t param0)
{
    thread_call *call = new thread_call();
    call->func = func;
    call->param0 = param0;
    call->module = xsim_module_of_code(reinterpret_cast<const void *>(func));
    call->generation = xsim_module_generation(call->module);
    std::lock_guard<std::mutex> guard(sCalloutLock);
    call->id = sNextCall++;
    sCalls.emplace(call->id, call);
    return call;
}

extern "C" boolean_t thread_call_enter1(thread_call_t call, thread_call_param_t param1)
{
    std::lock_guard<std::mutex> guard(sCalloutLock);
    if (call->freeWhenDone) {
        xsim_violation("thread_call_enter of a freed thread call");
    }
    call->param1 = param1;
    bool wasPending = call->pending || call->delayedSeq;
    disarm(call);
    if (!call->pending) {
        call->pending = true;
        sPending.push_back(call);
        dispatch();
    }
    return wasPending ? TRUE : FALSE;
}

extern "C" boolean_t thread_call_enter(thread_call_t call)
{
    return thread_call_enter1(call, nullptr);
}

extern "C" boolean_t thread_call_enter_delayed(thread_call_t call, uint64_t deadline)
{
    std::lock_guard<std::mutex> guard(sCalloutLock);
    if (call->freeWhenDone) {
        xsim_violation("thread_call_enter_delayed of a freed thread call");
    }
    bool wasPending = call->pending || call->delayedSeq;
    dequeue(call);
    disarm(call);
    call->delayedSeq = sNextSeq++;
    call->timer = xsim_timer_add(deadline, fireDelayed, dropFire, new Fire{call->id, call->delayedSeq});
    return wasPending ? TRUE : FALSE;
}

extern "C" boolean_t thread_call_cancel(thread_call_t call)
{
    bool cancelled;
    {
        std::lock_guard<std::mutex> guard(sCalloutLock);
        cancelled = call->pending || call->delayedSeq;
        dequeue(call);
        disarm(call);
    }
    xsim_quiet_changed();
    return cancelled ? TRUE : FALSE;
}

extern "C" boolean_t thread_call_free(thread_call_t call)
{
    std::lock_guard<std::mutex> guard(sCalloutLock);
    if (call->pending || call->delayedSeq) {
        return FALSE;
    }
    if (call->running) {
        call->freeWhenDone = true;
        return TRUE;
    }
    sCalls.erase(call->id);
    delete call;
    return TRUE;
}
