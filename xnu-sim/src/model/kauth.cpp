/*
 * kauth FILEOP scope (KERNEL-FACTS.md "kauth"): 15 listener slots; callers read a slot's
 * listener, callback and idata, then call with no kauth lock held, from any number of threads.
 * kauth_unlisten_scope only clears the listener pointer and returns without waiting, so a caller
 * that read the slot just before can still call the old callback with the old idata.
 *
 * The model also watches the kext's side of the contract: a callback of a listener that was
 * unlistened during a stop() must not be running, or start, after that stop() returned.
 */
#include <sys/kauth.h>

#include <atomic>
#include <chrono>
#include <cstring>

#include "sim.hpp"

struct kauth_listener {
    kauth_scope_callback_t callback;
    void *idata;
    std::atomic<int> inFlight{0};
    std::atomic<bool> unlistened{false};
    std::atomic<bool> ownerStopped{false};
};

struct ucred {
    int unused;
};

namespace {

const int kSlots = 15;

struct Slot {
    std::atomic<kauth_listener *> listener{nullptr};
    std::atomic<kauth_scope_callback_t> callback{nullptr};
    std::atomic<void *> idata{nullptr};
};

Slot sSlots[kSlots];
std::mutex sScopeLock;
/* Kept until the next boot (xnu frees them) so that late callers can be recognised. */
std::vector<kauth_listener *> sListeners;

/* The straggler hook. */
std::mutex sStragglerLock;
std::condition_variable sStragglerChanged;
bool sStragglerArmed = false;
bool sStragglerAfterStop = false; /* resume once the owner's stop() returned, not at unlisten */
kauth_listener *sStragglerParkedOn = nullptr;
bool sStragglerEntered = false;

/* Listeners unlistened by the stop() running on this thread. */
thread_local std::vector<std::vector<kauth_listener *>> tStopFrames;

ucred sCredential;

/* Parks the armed straggler after it read the slot, until unlisten cleared it. */
void parkIfStraggler(kauth_listener *listener)
{
    std::unique_lock<std::mutex> held(sStragglerLock);
    if (!sStragglerArmed) {
        return;
    }
    sStragglerArmed = false;
    sStragglerParkedOn = listener;
    sStragglerChanged.notify_all();
    const bool afterStop = sStragglerAfterStop;
    if (!sStragglerChanged.wait_for(held, std::chrono::seconds(30), [listener, afterStop] {
            return afterStop ? listener->ownerStopped.load() : listener->unlistened.load();
        })) {
        xsim_violation("kauth straggler: its listener was never unlistened");
    }
    xsim_count("kauth.straggler_calls");
}

void stragglerEntered(kauth_listener *listener)
{
    std::lock_guard<std::mutex> held(sStragglerLock);
    if (sStragglerParkedOn == listener) {
        sStragglerEntered = true;
        sStragglerParkedOn = nullptr;
        sStragglerChanged.notify_all();
    }
}

} // namespace

extern "C" kauth_listener_t kauth_listen_scope(const char *identifier,
                                               kauth_scope_callback_t callback, void *idata)
{
    if (!identifier || strcmp(identifier, KAUTH_SCOPE_FILEOP) != 0) {
        xsim_unmodelled("kauth_listen_scope on a scope other than " KAUTH_SCOPE_FILEOP);
    }
    std::lock_guard<std::mutex> guard(sScopeLock);
    for (Slot &slot : sSlots) {
        if (!slot.listener.load()) {
            kauth_listener *listener = new kauth_listener;
            listener->callback = callback;
            listener->idata = idata;
            sListeners.push_back(listener);
            slot.callback.store(callback);
            slot.idata.store(idata);
            slot.listener.store(listener);
            return listener;
        }
    }
    return nullptr;
}

extern "C" void kauth_unlisten_scope(kauth_listener_t listener)
{
    {
        std::lock_guard<std::mutex> guard(sScopeLock);
        bool found = false;
        for (Slot &slot : sSlots) {
            if (listener && slot.listener.load() == listener) {
                slot.listener.store(nullptr); /* callback and idata stay, as in xnu */
                found = true;
            }
        }
        if (!found) {
            xsim_violation("kauth_unlisten_scope of a listener that is not registered");
        }
        listener->unlistened.store(true);
    }
    if (!tStopFrames.empty()) {
        tStopFrames.back().push_back(listener);
    }
    /* A parked straggler goes now; unlisten returns once it is inside the old callback, so that
     * its call lands in the window the kext must cover (after unlisten, before stop returns). */
    std::unique_lock<std::mutex> held(sStragglerLock);
    if (sStragglerParkedOn == listener && !sStragglerAfterStop) {
        sStragglerEntered = false;
        sStragglerChanged.notify_all();
        sStragglerChanged.wait_for(held, std::chrono::seconds(5),
                                   [] { return sStragglerEntered; });
    }
}

extern "C" uint32_t xsim_fileop(int32_t action, uintptr_t arg0, uintptr_t arg1, uintptr_t arg2,
                                uintptr_t arg3)
{
    uint32_t called = 0;
    for (Slot &slot : sSlots) {
        kauth_listener *listener = slot.listener.load();
        if (!listener) {
            continue;
        }
        kauth_scope_callback_t callback = slot.callback.load();
        void *idata = slot.idata.load();
        if (!callback) {
            continue;
        }
        parkIfStraggler(listener);
        listener->inFlight.fetch_add(1);
        if (listener->ownerStopped.load()) {
            xsim_count("kauth.callbacks_entered_after_stop");
        }
        stragglerEntered(listener);
        callback(&sCredential, idata, action, arg0, arg1, arg2, arg3);
        listener->inFlight.fetch_sub(1);
        called++;
    }
    xsim_count("kauth.fileop_events");
    xsim_count("kauth.callbacks", called);
    return called;
}

extern "C" uint32_t xsim_kauth_listener_count(void)
{
    uint32_t n = 0;
    for (Slot &slot : sSlots) {
        n += slot.listener.load() ? 1 : 0;
    }
    return n;
}

extern "C" void xsim_kauth_arm_straggler(bool afterStop)
{
    std::lock_guard<std::mutex> held(sStragglerLock);
    sStragglerArmed = true;
    sStragglerAfterStop = afterStop;
    sStragglerParkedOn = nullptr;
    sStragglerEntered = false;
}

extern "C" bool xsim_kauth_wait_straggler_parked(uint32_t timeoutMs)
{
    std::unique_lock<std::mutex> held(sStragglerLock);
    return sStragglerChanged.wait_for(held, std::chrono::milliseconds(timeoutMs),
                                      [] { return sStragglerParkedOn != nullptr; });
}

void xsim_kauth_stop_begin() { tStopFrames.emplace_back(); }

void xsim_kauth_stop_end(const char *className)
{
    std::vector<kauth_listener *> unlistened = std::move(tStopFrames.back());
    tStopFrames.pop_back();
    for (kauth_listener *listener : unlistened) {
        {
            std::lock_guard<std::mutex> held(sStragglerLock);
            listener->ownerStopped.store(true);
            sStragglerChanged.notify_all();
        }
        if (listener->inFlight.load() > 0) {
            xsim_count("kauth.callbacks_running_after_stop");
            fprintf(stderr, "xnu-sim: %s::stop returned with a FILEOP callback still running\n",
                    className);
        }
    }
}

void xsim_kauth_forget_listeners()
{
    std::lock_guard<std::mutex> guard(sScopeLock);
    std::vector<kauth_listener *> kept;
    for (kauth_listener *listener : sListeners) {
        bool registered = false;
        for (Slot &slot : sSlots) {
            registered |= slot.listener.load() == listener;
        }
        if (registered || listener->inFlight.load() > 0) {
            kept.push_back(listener);
        } else {
            delete listener;
        }
    }
    sListeners = kept;
}

void xsim_kauth_reset()
{
    xsim_kauth_forget_listeners();
    std::lock_guard<std::mutex> guard(sScopeLock);
    for (Slot &slot : sSlots) {
        if (slot.listener.load()) {
            xsim_violation("boot with a kauth listener still registered");
        }
        slot.callback.store(nullptr);
        slot.idata.store(nullptr);
    }
    std::lock_guard<std::mutex> held(sStragglerLock);
    sStragglerArmed = false;
    sStragglerParkedOn = nullptr;
}

/* ---- other kexts' listeners, to fill the scope's slots ---- */

static std::vector<kauth_listener_t> sOtherListeners;

static int otherKextListener(kauth_cred_t, void *, kauth_action_t, uintptr_t, uintptr_t, uintptr_t,
                             uintptr_t)
{
    xsim_count("kauth.other_listener_calls");
    return KAUTH_RESULT_DEFER;
}

extern "C" bool xsim_kauth_listen_other(void)
{
    kauth_listener_t listener = kauth_listen_scope(KAUTH_SCOPE_FILEOP, &otherKextListener, nullptr);
    if (listener) {
        sOtherListeners.push_back(listener);
    }
    return listener != nullptr;
}

extern "C" void xsim_kauth_unlisten_others(void)
{
    for (kauth_listener_t listener : sOtherListeners) {
        kauth_unlisten_scope(listener);
    }
    sOtherListeners.clear();
}
