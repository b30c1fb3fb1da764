/*
 * thread_call: one callout thread runs entered calls in order. Semantics as xnu's:
 * thread_call_enter returns TRUE if the call was already pending; thread_call_cancel dequeues a
 * pending call (TRUE) and never waits for a running one; thread_call_free returns FALSE and
 * frees nothing while the call is pending, and frees a running call when its invocation returns.
 */
#include <kern/thread_call.h>

#include <deque>
#include <thread>

#include "sim.hpp"

struct thread_call {
    thread_call_func_t func;
    thread_call_param_t param0;
    thread_call_param_t param1;
    bool pending;
    int running;
    bool freeWhenDone;
};

namespace {

/* Never destroyed: the service thread waits on it until the process exits. */
std::mutex &sCalloutLock = *new std::mutex;
/* Never destroyed: the service thread waits on it until the process exits. */
std::condition_variable &sCalloutChanged = *new std::condition_variable;
std::deque<thread_call *> sPending;

void calloutMain()
{
    std::unique_lock<std::mutex> held(sCalloutLock);
    for (;;) {
        sCalloutChanged.wait(held, [] { return !sPending.empty(); });
        thread_call *call = sPending.front();
        sPending.pop_front();
        call->pending = false;
        call->running++;
        thread_call_func_t func = call->func;
        thread_call_param_t param0 = call->param0;
        thread_call_param_t param1 = call->param1;
        held.unlock();
        func(param0, param1);
        held.lock();
        call->running--;
        if (call->freeWhenDone && !call->running && !call->pending) {
            delete call;
        }
        xsim_busy_end();
    }
}

} // namespace

void xsim_thread_call_start()
{
    static std::once_flag started;
    std::call_once(started, [] { std::thread(calloutMain).detach(); });
}

extern "C" thread_call_t thread_call_allocate(thread_call_func_t func, thread_call_param_t param0)
{
    thread_call *call = new thread_call();
    call->func = func;
    call->param0 = param0;
    return call;
}

extern "C" boolean_t thread_call_enter1(thread_call_t call, thread_call_param_t param1)
{
    std::lock_guard<std::mutex> guard(sCalloutLock);
    if (call->freeWhenDone) {
        xsim_violation("thread_call_enter of a freed thread call");
    }
    call->param1 = param1;
    if (call->pending) {
        return TRUE;
    }
    call->pending = true;
    sPending.push_back(call);
    xsim_busy_begin();
    sCalloutChanged.notify_all();
    return FALSE;
}

extern "C" boolean_t thread_call_enter(thread_call_t call)
{
    return thread_call_enter1(call, nullptr);
}

extern "C" boolean_t thread_call_cancel(thread_call_t call)
{
    std::lock_guard<std::mutex> guard(sCalloutLock);
    if (!call->pending) {
        return FALSE;
    }
    for (auto it = sPending.begin(); it != sPending.end(); ++it) {
        if (*it == call) {
            sPending.erase(it);
            break;
        }
    }
    call->pending = false;
    xsim_busy_end();
    return TRUE;
}

extern "C" boolean_t thread_call_free(thread_call_t call)
{
    std::lock_guard<std::mutex> guard(sCalloutLock);
    if (call->pending) {
        return FALSE;
    }
    if (call->running) {
        call->freeWhenDone = true;
        return TRUE;
    }
    delete call;
    return TRUE;
}
