/*
 * kauth FILEOP scope (docs/kernel-facts.md "kauth"; bsd/kern/kern_authorization.c): 15 listener
 * slots. kauth_authorize_action reads a slot as separate loads: kll_listenerp (NULL -> skip),
 * kll_callback (NULL -> skip), then calls kll_callback with kll_idata, with no kauth lock held,
 * from any number of threads. kauth_unlisten_scope only clears kll_listenerp ("do not clear
 * kll_callback or kll_idata here") and returns without waiting; kauth_add_callback_to_scope
 * fills the first slot whose listener is NULL. So a caller that read a slot just before can
 * still call the old callback with the old idata after unlisten returned, and, if the slot was
 * reused meanwhile, the old callback with the NEW listener's idata. Unlisten of a listener that
 * is not registered returns silently (it only searches the dangling list).
 *
 * The model checks the kext's side of the contract where xnu would crash: a callback whose code
 * belongs to a kext is reported (and not made) once that kext's code is unmapped, and the
 * unmapping reports callbacks still running in it (modules.cpp).
 *
 * Hooks make the races deterministic: a straggler parks after reading a slot and is released at
 * unlisten, a kernel-time delay after it, or after the kext's code is unmapped; a torn pair
 * parks after loading the callback and loads the idata of another kext's listener that took the
 * slot. Parked threads are known by their own thread, never by the listener they read.
 */
#include <sys/kauth.h>

#include <atomic>
#include <chrono>
#include <cstring>

#include "sim.hpp"

struct kauth_listener {
    kauth_scope_callback_t callback;
    void *idata;
    const xsim_module *module;
    uint64_t generation;
    std::atomic<bool> unlistened{false};
    std::atomic<uint64_t> unlistenedAtNs{0};
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

/* ---- the straggler and torn-pair hooks ---- */
enum Mode { kAtUnlisten = 0, kAfterDelay = 1, kAfterUnmap = 2 };

std::mutex sHookLock;
std::condition_variable sHookChanged;
bool sStragglerArmed = false;
Mode sStragglerMode = kAtUnlisten;
uint64_t sStragglerDelayNs = 0;
/* the straggler's own state */
kauth_listener *sStragglerListener = nullptr; /* the listener it read; set while parked */
bool sStragglerParked = false;
bool sStragglerReleased = false;
bool sStragglerInside = false; /* entered its late call (or was refused it) */
bool sStragglerDone = false;
bool sStragglerTicket = false; /* a pending kernel-time release other sleeps must not overtake */
uint64_t sStragglerReleaseNs = 0;
bool sUnmapped = false;

thread_local bool tIsStraggler = false;

bool sTornArmed = false;
int sTornSlot = -1;
bool sTornParked = false;
bool sTornReleased = false;
bool sTornDone = false;
unsigned char *sCanary = nullptr;
const size_t kCanarySize = 4096;

ucred sCredential;

/* Runs on the straggler's thread: parks until its release condition holds. */
void parkStraggler(kauth_listener *listener)
{
    std::unique_lock<std::mutex> held(sHookLock);
    sStragglerListener = listener;
    sStragglerParked = true;
    sHookChanged.notify_all();
    if (!sHookChanged.wait_for(held, std::chrono::seconds(60), [] { return sStragglerReleased; })) {
        xsim_violation("kauth straggler: its listener was never unlistened");
    }
    if (sStragglerMode == kAfterDelay) {
        /* released at unlisten; enters at unlisten + delay, kernel time */
        xsim_wait_until_ns(held, sHookChanged, sStragglerReleaseNs, [] { return false; });
    }
    xsim_count("kauth.straggler_calls");
}

/* Called on the straggler's thread once it entered (or was refused) its late call. */
void stragglerInside()
{
    std::lock_guard<std::mutex> held(sHookLock);
    sStragglerInside = true;
    sStragglerTicket = false;
    sHookChanged.notify_all();
}

void stragglerDone()
{
    std::lock_guard<std::mutex> held(sHookLock);
    sStragglerDone = true;
    sStragglerParked = false;
    sStragglerListener = nullptr;
    sHookChanged.notify_all();
}

void callListener(kauth_listener *listener, kauth_scope_callback_t callback, void *idata,
                  int action, uintptr_t arg0, uintptr_t arg1, uintptr_t arg2, uintptr_t arg3,
                  uint32_t *called)
{
    bool ok = xsim_module_check_call(listener->module, listener->generation, "a kauth FILEOP callback");
    if (tIsStraggler) {
        stragglerInside();
    }
    if (!ok) {
        return;
    }
    xsim_module_enter(listener->module);
    callback(&sCredential, idata, action, arg0, arg1, arg2, arg3);
    xsim_module_exit(listener->module);
    (*called)++;
}

int otherKextListener(kauth_cred_t, void *, kauth_action_t, uintptr_t, uintptr_t, uintptr_t, uintptr_t)
{
    xsim_count("kauth.other_listener_calls");
    return KAUTH_RESULT_DEFER;
}

std::vector<kauth_listener_t> sOtherListeners;
std::mutex sOthersLock;

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
            listener->module = xsim_module_of_code(reinterpret_cast<const void *>(callback));
            listener->generation = xsim_module_generation(listener->module);
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
    int slotIndex = -1;
    {
        std::lock_guard<std::mutex> guard(sScopeLock);
        for (int i = 0; i < kSlots; i++) {
            if (listener && sSlots[i].listener.load() == listener) {
                sSlots[i].listener.store(nullptr); /* callback and idata stay, as in xnu */
                slotIndex = i;
            }
        }
        if (slotIndex < 0) {
            xsim_count("kauth.unlisten_unknown");
            return;
        }
        listener->unlistened.store(true);
        listener->unlistenedAtNs.store(xsim_now_ns());
    }
    std::unique_lock<std::mutex> held(sHookLock);
    /* A torn pair parked on this slot: another kext takes it at once, then the parked caller
     * loads the new idata and calls the old callback; unlisten returns once that call returned,
     * so it lands while the unlistening kext's code is certainly mapped. */
    if (sTornParked && sTornSlot == slotIndex) {
        held.unlock();
        kauth_listener_t other = kauth_listen_scope(KAUTH_SCOPE_FILEOP, &otherKextListener, sCanary);
        {
            std::lock_guard<std::mutex> guard(sOthersLock);
            sOtherListeners.push_back(other);
        }
        held.lock();
        sTornReleased = true;
        sHookChanged.notify_all();
        sHookChanged.wait_for(held, std::chrono::seconds(10), [] { return sTornDone; });
    }
    if (sStragglerParked && sStragglerListener == listener && !sStragglerReleased) {
        switch (sStragglerMode) {
        case kAtUnlisten:
            /* goes now; unlisten returns once it is inside the old callback, so its call lands
             * in the window the kext must cover (after unlisten, before its code goes) */
            sStragglerReleased = true;
            sHookChanged.notify_all();
            sHookChanged.wait_for(held, std::chrono::seconds(10), [] { return sStragglerInside; });
            break;
        case kAfterDelay:
            sStragglerReleaseNs = listener->unlistenedAtNs.load() + sStragglerDelayNs;
            sStragglerTicket = true;
            sStragglerReleased = true;
            sHookChanged.notify_all();
            break;
        case kAfterUnmap:
            break; /* released by xsim_kauth_module_unmapped */
        }
    }
}

extern "C" uint32_t xsim_fileop(int32_t action, uintptr_t arg0, uintptr_t arg1, uintptr_t arg2,
                                uintptr_t arg3)
{
    uint32_t called = 0;
    for (int i = 0; i < kSlots; i++) {
        Slot &slot = sSlots[i];
        kauth_listener *listener = slot.listener.load();
        if (!listener) {
            continue;
        }
        kauth_scope_callback_t callback = slot.callback.load();
        if (!callback) {
            continue;
        }
        bool straggler = false;
        bool torn = false;
        {
            std::unique_lock<std::mutex> held(sHookLock);
            if (sStragglerArmed) {
                sStragglerArmed = false;
                straggler = true;
            } else if (sTornArmed) {
                sTornArmed = false;
                torn = true;
                sTornSlot = i;
                sTornParked = true;
                sHookChanged.notify_all();
                if (!sHookChanged.wait_for(held, std::chrono::seconds(60), [] { return sTornReleased; })) {
                    xsim_violation("kauth torn pair: its slot was never unlistened");
                }
            }
        }
        if (straggler) {
            tIsStraggler = true;
            parkStraggler(listener);
        }
        /* the second load: the idata now in the slot */
        void *idata = slot.idata.load();
        if (torn) {
            xsim_count("kauth.torn_pair_calls");
        }
        callListener(listener, callback, idata, action, arg0, arg1, arg2, arg3, &called);
        if (straggler) {
            tIsStraggler = false;
            stragglerDone();
        }
        if (torn) {
            std::lock_guard<std::mutex> held(sHookLock);
            sTornParked = false;
            sTornDone = true;
            sHookChanged.notify_all();
        }
    }
    xsim_count("kauth.fileop_events");
    xsim_count("kauth.callbacks", called);
    return called;
}

void xsim_kauth_wait_earlier_stragglers(uint64_t deadlineNs)
{
    if (tIsStraggler) {
        return;
    }
    std::unique_lock<std::mutex> held(sHookLock);
    if (sStragglerTicket && sStragglerReleaseNs <= deadlineNs) {
        /* kernel time runs in order: the straggler due first goes first */
        sHookChanged.wait_for(held, std::chrono::seconds(10), [] { return !sStragglerTicket; });
    }
}

void xsim_kauth_module_unmapped(const xsim_module *module)
{
    std::unique_lock<std::mutex> held(sHookLock);
    if (sStragglerParked && sStragglerMode == kAfterUnmap && sStragglerListener &&
        sStragglerListener->module == module && !sStragglerReleased) {
        sStragglerReleased = true;
        sHookChanged.notify_all();
    }
}

extern "C" uint32_t xsim_kauth_listener_count(void)
{
    uint32_t n = 0;
    for (Slot &slot : sSlots) {
        n += slot.listener.load() ? 1 : 0;
    }
    return n;
}

extern "C" void xsim_kauth_arm_straggler(int mode, uint64_t delayNs)
{
    std::lock_guard<std::mutex> held(sHookLock);
    if (sStragglerParked) {
        xsim_violation("kauth straggler armed while another is parked");
    }
    sStragglerArmed = true;
    sStragglerMode = static_cast<Mode>(mode);
    sStragglerDelayNs = delayNs;
    sStragglerListener = nullptr;
    sStragglerReleased = false;
    sStragglerInside = false;
    sStragglerDone = false;
    sStragglerTicket = false;
    sUnmapped = false;
}

extern "C" bool xsim_kauth_wait_straggler_parked(uint32_t timeoutMs)
{
    std::unique_lock<std::mutex> held(sHookLock);
    return sHookChanged.wait_for(held, std::chrono::milliseconds(timeoutMs),
                                 [] { return sStragglerParked || sTornParked; });
}

extern "C" bool xsim_kauth_wait_straggler_done(uint32_t timeoutMs)
{
    std::unique_lock<std::mutex> held(sHookLock);
    return sHookChanged.wait_for(held, std::chrono::milliseconds(timeoutMs),
                                 [] { return sStragglerDone; });
}

extern "C" void xsim_kauth_arm_torn_pair(void)
{
    std::lock_guard<std::mutex> held(sHookLock);
    if (!sCanary) {
        sCanary = new unsigned char[kCanarySize];
    }
    memset(sCanary, 0xA5, kCanarySize);
    sTornArmed = true;
    sTornSlot = -1;
    sTornParked = false;
    sTornReleased = false;
    sTornDone = false;
}

extern "C" bool xsim_kauth_torn_canary_intact(void)
{
    std::lock_guard<std::mutex> held(sHookLock);
    if (!sCanary) {
        return true;
    }
    for (size_t i = 0; i < kCanarySize; i++) {
        if (sCanary[i] != 0xA5) {
            return false;
        }
    }
    return true;
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
        if (registered) {
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
    std::lock_guard<std::mutex> held(sHookLock);
    sStragglerArmed = false;
    sStragglerParked = false;
    sStragglerListener = nullptr;
    sStragglerTicket = false;
    sTornArmed = false;
    sTornParked = false;
}

/* ---- other kexts' listeners, to fill the scope's slots ---- */

extern "C" bool xsim_kauth_listen_other(void)
{
    kauth_listener_t listener = kauth_listen_scope(KAUTH_SCOPE_FILEOP, &otherKextListener, nullptr);
    if (listener) {
        std::lock_guard<std::mutex> guard(sOthersLock);
        sOtherListeners.push_back(listener);
    }
    return listener != nullptr;
}

extern "C" void xsim_kauth_unlisten_others(void)
{
    std::vector<kauth_listener_t> others;
    {
        std::lock_guard<std::mutex> guard(sOthersLock);
        others.swap(sOtherListeners);
    }
    for (kauth_listener_t listener : others) {
        kauth_unlisten_scope(listener);
    }
}
